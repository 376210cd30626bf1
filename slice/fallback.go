package slice

import (
	"iter"
	"runtime"
	"runtime/debug"
	"sync"
	"weak"
)

// The goroutine-backed implementation: each coroutine is an iter.Pull
// coroutine (a goroutine the runtime switches to directly). It has the same
// API and passes the same tests as the engine, at goroutine cost: it is what
// -race, the purego tag, unsupported Go versions and architectures, and a
// failed engine self-test get.

// fallback is the goroutine side of one coroutine. It holds its Coroutine
// only weakly, so that a suspended coroutine nobody can resume any more is
// collected, and a cleanup then ends its goroutine (see newFallback).
type fallback struct {
	next     func() (struct{}, bool)
	stop     func()
	yield    func(struct{}) bool
	self     weak.Pointer[Coroutine]
	cleanup  runtime.Cleanup // ends the goroutine if the Coroutine is collected while suspended
	panic    *PanicError
	returned bool
	owner    any // ResumeFor's, while the coroutine runs
}

// fallbacks maps the id of each fallback coroutine's goroutine to its state,
// so Yield and Current can find the coroutine they run in.
var fallbacks sync.Map // uint64 -> *fallback

// errAbandoned unwinds a suspended fallback coroutine whose Coroutine was
// garbage collected, so that its goroutine exits.
type abandoned struct{}

func newFallback(c *Coroutine) *fallback {
	fb := &fallback{self: weak.Make(c)}
	fn := c.fn // the goroutine must not reference c itself
	fb.next, fb.stop = iter.Pull(func(yield func(struct{}) bool) {
		fb.yield = yield
		id := goid()
		fallbacks.Store(id, fb)
		defer fallbacks.Delete(id)
		fb.run(fn)
	})
	fb.cleanup = runtime.AddCleanup(c, func(fb *fallback) { fb.stop() }, fb)
	return fb
}

// run calls fn and turns a panic into a *PanicError for Resume. A Goexit is
// left to propagate: iter.Pull re-raises it in the carrier, as the engine does.
func (fb *fallback) run(fn func()) {
	defer func() {
		if fb.returned {
			return
		}
		r := recover()
		if _, ok := r.(abandoned); ok || r == nil {
			return
		}
		fb.panic = &PanicError{Value: r, Stack: debug.Stack()}
	}()
	fn()
	fb.returned = true
}

func (fb *fallback) resume(owner any) (done bool) {
	fb.owner = owner
	goexit := true
	defer func() {
		if goexit {
			fb.goexited()
		}
	}()
	_, ok := fb.next() // re-raises the coroutine's Goexit here
	goexit = false
	fb.owner = nil
	if ok {
		return false
	}
	if c := fb.self.Value(); c != nil && fb.panic != nil {
		c.ext.panic = fb.panic
		c.ext.panicked = true
		fb.panic = nil
	}
	fb.exited()
	return true
}

// goexited finishes a coroutine whose function called runtime.Goexit: fb.next
// re-raised it in the goroutine that resumed the coroutine, which is exiting
// (as it does on the engine), so Resume will not finish the coroutine.
func (fb *fallback) goexited() {
	fb.owner = nil
	if c := fb.self.Value(); c != nil {
		c.ext.goexit = true
		c.state.Store(stateDone)
	}
	fb.exited()
}

// exited drops what would keep the state of the coroutine's goroutine alive,
// now that it has exited.
func (fb *fallback) exited() {
	fb.cleanup.Stop()
	fb.next, fb.stop, fb.yield = nil, nil, nil
}

// size is what a parked goroutine costs at the least: its initial stack.
func (fb *fallback) size() int { return 2048 }

func yieldFallback() {
	v, ok := fallbacks.Load(goid())
	if !ok {
		yieldOutside()
	}
	if inCgo() {
		// The runtime would die switching away from a callback's locked
		// thread (a fatal error, not a panic): refuse first.
		yieldInCgo()
	}
	if !v.(*fallback).yield(struct{}{}) {
		panic(abandoned{})
	}
}

func ownerFallback() any {
	if v, ok := fallbacks.Load(goid()); ok {
		return v.(*fallback).owner
	}
	return nil
}

func currentFallback() *Coroutine {
	if v, ok := fallbacks.Load(goid()); ok {
		return v.(*fallback).self.Value()
	}
	return nil
}

// inCgo reports whether the calling goroutine is inside a cgo callback. It
// is slow; only error paths and the fallback use it.
func inCgo() bool {
	pcs := make([]uintptr, 512)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	for {
		f, more := frames.Next()
		switch f.Function {
		case "runtime.cgocallback", "runtime.cgocallbackg", "runtime.cgocallbackg1":
			return true
		}
		if !more {
			return false
		}
	}
}

func yieldInCgo() {
	panic("slice: Yield called inside a cgo callback: C frames cannot be saved and the callback's thread cannot be switched away from; return to Go code running in the coroutine before yielding")
}

func yieldOutside() {
	panic("slice: Yield called outside a coroutine: only code running inside a function passed to slice.New (and resumed with Resume) can yield")
}

// goid returns the calling goroutine's id, parsed from the first line of its
// stack trace ("goroutine 42 [running]:"). It is slow (about a microsecond);
// only the fallback uses it.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	const prefix = "goroutine "
	if len(b) < len(prefix) || string(b[:len(prefix)]) != prefix {
		panic("slice: cannot parse goroutine id from runtime.Stack")
	}
	var id uint64
	for _, ch := range b[len(prefix):] {
		if ch < '0' || ch > '9' {
			break
		}
		id = id*10 + uint64(ch-'0')
	}
	return id
}
