package slice

import "iter"

// Pull converts the push-style iterator seq into a pull-style iterator, like
// iter.Pull, but runs seq as a stack-slicing coroutine: no goroutine is
// created and a suspended iterator holds only its saved block.
//
// next returns the next value and true, or the zero value and false when seq
// has finished or stop was called. stop ends the iteration: a pending yield
// in seq returns false. Both may be called from any goroutine, one at a time,
// and stop any number of times. If seq panics, next (or stop) panics with
// the same value, and if seq calls runtime.Goexit, so does next (or stop);
// the iterator is then finished. As in iter.Pull, calling next from inside
// seq, or seq's yield function when no next waits for a value (outside
// seq's own call), panics; so does calling stop from inside seq.
func Pull[V any](seq iter.Seq[V]) (next func() (V, bool), stop func()) {
	p := newPuller(seq, "slice.Pull: ")
	return p.next, p.stop
}

// Pull2 is Pull for iter.Seq2, a drop-in replacement for iter.Pull2.
func Pull2[K, V any](seq iter.Seq2[K, V]) (next func() (K, V, bool), stop func()) {
	type kv struct {
		k K
		v V
	}
	p := newPuller(func(yield func(kv) bool) {
		seq(func(k K, v V) bool { return yield(kv{k, v}) })
	}, "slice.Pull2: ")
	return func() (K, V, bool) {
		e, ok := p.next()
		return e.k, e.v, ok
	}, p.stop
}

// puller is the state of one Pull iterator. Its coroutine runs seq; every
// field is touched only by whoever holds the coroutine (next or stop, or seq
// inside it), one at a time.
type puller[V any] struct {
	c        *Coroutine
	v        V
	ok       bool
	done     bool   // stop called, or seq returned, panicked or called Goexit
	wantNext bool   // next is waiting for a value
	seqDone  bool   // seq returned: a finish without it and without a panic is a Goexit
	name     string // "slice.Pull: " or "slice.Pull2: ", for misuse panics
	panicked any    // what seq panicked with, for next or stop to panic with
}

func newPuller[V any](seq iter.Seq[V], name string) *puller[V] {
	p := &puller[V]{name: name}
	p.c = New(func() {
		if p.done {
			return // stopped before the first next
		}
		defer p.finished()
		seq(p.yield)
		p.seqDone = true
	})
	return p
}

// finished runs when seq returns, panics or calls runtime.Goexit. A panic
// is recovered here, so that next or stop can panic with seq's own value, as
// iter.Pull's do. A Goexit cannot be stopped: it goes on to end the goroutine
// that called next or stop, as iter.Pull's Goexit does (the fallback
// re-raises it there).
func (p *puller[V]) finished() {
	if r := recover(); r != nil {
		p.panicked = r
	}
	var zero V
	p.v, p.ok = zero, false
	p.done = true
}

// yield is seq's yield function.
func (p *puller[V]) yield(v V) bool {
	if p.done {
		return false
	}
	if !p.wantNext {
		panic(p.name + "yield called again before next: seq's yield function was called outside seq's own call of it (kept and called later, or from another goroutine); call yield only from seq while it runs")
	}
	p.wantNext = false
	p.v, p.ok = v, true
	Yield()
	return !p.done
}

func (p *puller[V]) next() (v V, ok bool) {
	if p.done {
		return v, false
	}
	if p.wantNext {
		panic(p.name + "next called again before yield: next was called from inside seq, or from two goroutines at once; call next from one place at a time, outside seq")
	}
	p.wantNext = true
	p.c.Resume()
	p.repanic()
	v, ok = p.v, p.ok
	var zero V
	p.v, p.ok = zero, false
	return v, ok
}

func (p *puller[V]) stop() {
	if p.done {
		return
	}
	if p.wantNext {
		// iter.Pull has no check here: its stop then switches back to the
		// caller of next and leaves seq suspended for good.
		panic(p.name + "stop called while next runs: stop was called from inside seq, or from another goroutine at the same time; call stop from one place at a time, outside seq")
	}
	p.done = true
	// A coroutine that never ran has nothing to unwind, except on the
	// fallback, where it holds a goroutine that must end.
	if p.c.state.Load() != stateNew || p.c.ext != nil && p.c.ext.fb != nil {
		p.c.Resume() // seq sees yield return false, and returns
		p.repanic()
	}
}

// repanic panics with what seq panicked with, if it did.
func (p *puller[V]) repanic() {
	if r := p.panicked; r != nil {
		p.panicked = nil
		panic(r)
	}
}
