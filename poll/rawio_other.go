//go:build !linux

package poll

import "golang.org/x/sys/unix"

// readNB and writeNB are unix.Read and unix.Write here: the raw calls of
// rawio_linux.go are Linux's only.
func readNB(fd int, b []byte) (int, error)  { return unix.Read(fd, b) }
func writeNB(fd int, b []byte) (int, error) { return unix.Write(fd, b) }
