//go:build !amd64 || purego

package arch

// Available reports that this build has no switch routines: the engine is
// not built and slice uses its goroutine-backed implementation.
const Available = false
