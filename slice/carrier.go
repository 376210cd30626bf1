package slice

import "unsafe"

// A Carrier is a goroutine that resumes coroutines, as another goroutine
// sees it: a scheduler's monitor asks whether the goroutine running one of
// its coroutines is blocked, so that it can hand that goroutine's work to
// another one without waiting for a time slice to pass.
type Carrier struct{ g unsafe.Pointer }

// CurrentCarrier returns the calling goroutine as a Carrier. On the
// goroutine-backed fallback (and if the engine could not verify the
// runtime's goroutine layout at start-up) it returns the zero Carrier.
func CurrentCarrier() Carrier {
	if !engineOn() {
		return Carrier{}
	}
	return Carrier{g: carrierG()}
}

// Blocked reports whether the carrier goroutine is blocked in the Go
// runtime (on a channel, a mutex, a sleep, network I/O) or in a system
// call, rather than running or waiting for a thread. It reports false when
// it cannot tell: for the zero Carrier. The answer is a snapshot: the
// goroutine may be running again by the time the caller looks at it.
func (c Carrier) Blocked() bool {
	if c.g == nil {
		return false
	}
	return gBlocked(c.g)
}
