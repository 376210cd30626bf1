//go:build race && (linux || darwin || freebsd)

package poll

// raceBuild: the race detector makes sync.Pool drop items at random, so
// allocation counts of pooled code are not exact.
const raceBuild = true
