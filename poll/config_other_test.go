//go:build darwin || freebsd

package poll

import "testing"

// listenBacklog is Linux-only (sock_diag).
func listenBacklog(t *testing.T, family int, ino uint64) int {
	t.Skip("no sock_diag")
	return -1
}
