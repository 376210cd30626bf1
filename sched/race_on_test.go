//go:build race

package sched

// raceEnabled reports whether the tests run under the race detector,
// which slows the stress tests about tenfold: they run fewer rounds.
const raceEnabled = true
