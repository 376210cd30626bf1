//go:build !(amd64 || arm64) || race || purego

package slice

import (
	"runtime"
	"unsafe"
)

// This build has no stack-slicing engine: these are the engine's entry
// points, never reached because engineOn reports false.

func engineUnavailable() string {
	switch {
	case raceEnabled:
		return "built with -race (the race detector's shadow call stack cannot follow stack switches)"
	case puregoEnabled:
		return "built with the purego tag"
	default:
		return "no engine for GOARCH=" + runtime.GOARCH
	}
}

func selfTest() error { return nil }
func (c *Coroutine) resumeSlice(any, bool) bool {
	panic("slice: internal error: engine entry point reached without an engine")
}
func (c *Coroutine) savedSize() int { return 0 }
func currentSlice() *Coroutine      { return nil }
func ownerSlice() any               { return nil }
func carrierG() unsafe.Pointer      { return nil }
func gBlocked(unsafe.Pointer) bool  { return false }

type deferState struct{}

// Yield suspends the calling coroutine; the Resume that ran it returns false.
// Yield returns when the coroutine is next resumed.
//
// Yield panics if called outside a coroutine or inside a cgo callback. (The
// engine, which this build does not have, also refuses some places: see the
// package documentation.)
func Yield() { yieldFallback() }

func (c *Coroutine) savedCallers() []uintptr { return nil }

func (c *Coroutine) pack(Compression) bool { return false }
func templateCounts() (inUse, users, unpacked, packedBytes, unpackedBytes, barePacks, bareUnpacked int64) {
	return 0, 0, 0, 0, 0, 0, 0
}
func currentWord() uintptr { return 0 }
