//go:build !(amd64 || arm64) || purego

// This build has no switch routines: the package is empty, the engine is not
// built, and slice uses its goroutine-backed implementation.

package arch
