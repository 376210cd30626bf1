//go:build !race && !msan && !asan

package poll

// sanitized: see rawio_sanitized.go.
const sanitized = false
