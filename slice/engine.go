package slice

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// engineState records which implementation runs, decided once: the engine
// when this build has it and its start-up self-test passes, else the
// goroutine-backed fallback.
var engineState struct {
	mode atomic.Uint32 // modeUndecided, modeTesting, modeEngine or modeFallback
	mu   sync.Mutex    // held while deciding
	desc string        // written before mode leaves modeTesting
}

const (
	modeUndecided uint32 = iota
	modeTesting          // the self-test's coroutines are running
	modeEngine
	modeFallback
)

// engineOn reports whether the stack-slicing engine runs, deciding first if
// nobody has. New calls it, so no coroutine exists before the decision,
// except the self-test's own.
func engineOn() bool {
	if m := engineState.mode.Load(); m == modeEngine || m == modeFallback {
		return m == modeEngine
	}
	engineState.mu.Lock()
	defer engineState.mu.Unlock()
	if engineState.mode.Load() == modeUndecided {
		chooseEngine()
	}
	return engineState.mode.Load() == modeEngine
}

// engineMayRun is engineOn for Yield and Current: it does not wait for a
// decision in progress, because the self-test's coroutines call Yield while
// the decision is being made (and no other coroutine exists yet).
func engineMayRun() bool {
	switch engineState.mode.Load() {
	case modeEngine, modeTesting:
		return true
	case modeFallback:
		return false
	}
	return engineOn()
}

func chooseEngine() {
	platform := runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
	if why := engineUnavailable(); why != "" {
		engineState.desc = "goroutine fallback (" + platform + "): " + why
		engineState.mode.Store(modeFallback)
		return
	}
	engineState.mode.Store(modeTesting)
	if err := selfTest(); err != nil {
		engineState.desc = "goroutine fallback (" + platform + "): engine self-test failed: " + err.Error()
		engineState.mode.Store(modeFallback)
		return
	}
	engineState.desc = "stack-slicing engine (" + platform + ")"
	engineState.mode.Store(modeEngine)
}

// Engine says which implementation runs and, for the fallback, why: for
// example "stack-slicing engine (go1.26.8 linux/amd64)" or
// "goroutine fallback (go1.26.8 linux/amd64): built with -race".
func Engine() string {
	engineOn()
	return engineState.desc
}

// UsingEngine reports whether the stack-slicing engine runs (rather than the
// goroutine-backed fallback).
func UsingEngine() bool { return engineOn() }
