package slice

import (
	"runtime"
	"sync"
)

// engineState records which implementation runs, decided once: the engine
// when this build has it and its start-up self-test passes, else the
// goroutine-backed fallback.
var engineState struct {
	once sync.Once
	on   bool
	desc string
}

// engineOn reports whether the stack-slicing engine runs.
func engineOn() bool {
	engineState.once.Do(chooseEngine)
	return engineState.on
}

func chooseEngine() {
	platform := runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
	if why := engineUnavailable(); why != "" {
		engineState.desc = "goroutine fallback (" + platform + "): " + why
		return
	}
	if err := selfTest(); err != nil {
		engineState.desc = "goroutine fallback (" + platform + "): engine self-test failed: " + err.Error()
		return
	}
	engineState.on = true
	engineState.desc = "stack-slicing engine (" + platform + ")"
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
