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
// the same value (a *PanicError carries the coroutine's stack trace; see
// Unwrap).
func Pull[V any](seq iter.Seq[V]) (next func() (V, bool), stop func()) {
	var p puller[V]
	p.c = New(func() {
		if p.done {
			return
		}
		seq(func(v V) bool {
			if p.done {
				return false
			}
			if !p.wantNext {
				panic("slice.Pull: yield called again before next")
			}
			p.wantNext = false
			p.v, p.ok = v, true
			Yield()
			return !p.done
		})
	})
	return p.next, p.stop
}

// Pull2 is Pull for iter.Seq2.
func Pull2[K, V any](seq iter.Seq2[K, V]) (next func() (K, V, bool), stop func()) {
	type kv struct {
		k K
		v V
	}
	n, stop := Pull(func(yield func(kv) bool) {
		seq(func(k K, v V) bool { return yield(kv{k, v}) })
	})
	return func() (K, V, bool) {
		p, ok := n()
		return p.k, p.v, ok
	}, stop
}

type puller[V any] struct {
	c        *Coroutine
	v        V
	ok       bool
	done     bool // stop called or seq finished
	wantNext bool // next is waiting for a value
}

func (p *puller[V]) next() (V, bool) {
	var zero V
	if p.done {
		return zero, false
	}
	if p.wantNext {
		panic("slice.Pull: next called again before yield")
	}
	p.wantNext = true
	p.ok = false
	p.resume()
	if !p.ok {
		return zero, false
	}
	v := p.v
	p.v = zero
	return v, true
}

func (p *puller[V]) stop() {
	if p.done {
		return
	}
	p.done = true
	if p.c.state.Load() != stateNew {
		p.resume() // let seq see yield return false and unwind
	}
}

// resume runs the coroutine one step; when it finishes, the iterator is done.
func (p *puller[V]) resume() {
	defer func() {
		if p.c.Done() {
			p.done = true
			p.wantNext = false
		}
	}()
	p.c.Resume()
}
