//go:build darwin || freebsd

package poll

// spliceCopy is the Linux splice path (splice_linux.go); elsewhere a
// Conn-to-Conn copy always falls back to the pooled buffer of copy.go.
func spliceCopy(dst, src *Conn, remain int64) (written int64, fallback bool, err error) {
	return 0, true, nil
}

// releaseIdlePipes closes the idle splice pipes (there are none here).
func releaseIdlePipes() int { return 0 }
