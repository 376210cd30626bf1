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

// An Implementation says which implementation of coroutines runs in this
// process: the stack-slicing engine, or the goroutine-backed fallback
// (with -race, the purego tag, an unsupported Go version or architecture,
// or a failed start-up self-test).
type Implementation struct {
	// StackSlicing reports whether the stack-slicing engine runs.
	StackSlicing bool
	// Description names the implementation and the platform and, for the
	// fallback, says why: "stack-slicing engine (go1.26.8 linux/amd64)",
	// "goroutine fallback (go1.26.8 linux/amd64): built with -race".
	Description string
}

// String returns the Description.
func (i Implementation) String() string { return i.Description }

// Engine says which implementation runs (deciding first, with the
// start-up self-test, if nothing has yet).
func Engine() Implementation {
	on := engineOn()
	return Implementation{StackSlicing: on, Description: engineState.desc}
}
