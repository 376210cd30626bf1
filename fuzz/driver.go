package fuzz

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/stackslice/stackslice/slice"
)

// The driver side: it resumes a program's coroutines as its schedule says,
// in every way (see program.schedule), and checks each resume's outcome.

// maxResumes bounds the resumes of one run.
const maxResumes = 100000

// drive resumes the coroutines as the schedule says until all have finished.
func (p *program) drive(cs []*co, st *runState) error {
	st.cos = cs
	st.running = make([]bool, len(cs))
	st.done = make([]bool, len(cs))
	for _, c := range cs {
		c.self = slice.New(c.main)
	}
	defer func() {
		if st.w != nil {
			st.w.close()
		}
	}()
	sched, rr := p.schedule, 0
	for resumes := 0; ; resumes++ {
		var live []int
		for i, d := range st.done {
			if !d {
				live = append(live, i)
			}
		}
		if len(live) == 0 {
			return nil
		}
		if resumes > maxResumes {
			return errors.New("too many resumes")
		}
		j, how, depth := rr%len(live), byte(0), 0
		if len(sched) > 0 {
			b := sched[0]
			sched = sched[1:]
			j, how = int(b&7)%len(live), b>>3&7
			if how == 2 || how == 4 || how == 7 {
				if len(sched) > 0 {
					depth = int(sched[0]) % 64
					sched = sched[1:]
				}
			}
		} else {
			rr++
		}
		st.resumeCo(cs[live[j]], how, depth, nil)
		if st.err != nil {
			return st.err
		}
	}
}

// resumeCo resumes c in the given way (see program.schedule) and checks the
// outcome; outer is the coroutine the caller runs in (nil on the driver). A
// failure is kept in st.err.
func (st *runState) resumeCo(c *co, how byte, depth int, outer *slice.Coroutine) {
	cr := c.self
	st.running[c.id] = true
	var done bool
	var err error
	switch how {
	case 0:
		done, err = resume(c)
	case 1:
		st.gc()
		done, err = resume(c)
	case 2:
		done, err = resumeDeep(c, depth)
	case 3:
		done, err = onGoroutine(func() (bool, error) { return resume(c) })
	case 4:
		done, err = onGoroutine(func() (bool, error) { return resumeDeep(c, depth) })
	case 5:
		if st.w == nil {
			st.w = newWorker()
		}
		done, err = st.w.do(func() (bool, error) { return resume(c) })
	case 6:
		done, err = resumeBig(c)
	case 7:
		st.gc()
		runtime.Gosched()
		done, err = onGoroutine(func() (bool, error) { return resumeDeep(c, depth/4) })
	}
	st.running[c.id] = false
	switch {
	case err != nil:
	case cr.Done() != done:
		err = fmt.Errorf("Resume reported done=%v but Done() = %v", done, cr.Done())
	case slice.Current() != outer:
		err = fmt.Errorf("slice.Current() = %p after Resume, want %p", slice.Current(), outer)
	case !done && slice.Engine().StackSlicing && cr.Size() <= 0:
		err = fmt.Errorf("Size() = %d while suspended", cr.Size())
	}
	if err != nil {
		if st.err == nil {
			st.err = fmt.Errorf("coroutine %d (resumed in way %d, depth %d): %w", c.id, how, depth, err)
		}
		return
	}
	st.done[c.id] = done
}

// resumeSibling resumes, from inside coroutine c, another coroutine of the
// run that is neither running nor finished, if there is one, so that its
// region lies on top of c's on the carrier. It does nothing in the
// sequential run: it changes no coroutine's trace.
func (c *co) resumeSibling(b byte) {
	st := c.st
	if !c.coroutines || st.err != nil {
		return
	}
	n := len(st.cos)
	for i := 1; i < n; i++ {
		j := (c.id + i + int(b)) % n
		if st.running[j] || st.done[j] {
			continue
		}
		how := byte(0)
		if b&8 != 0 {
			how = 4
		} else if b&16 != 0 {
			how = 2
		}
		st.resumeCo(st.cos[j], how, int(b)%8, c.self)
		return
	}
}

// resume resumes c and turns a panic into an error, except the panic of an
// unrecovered opPanic, which ends c as it ends it in the sequential run.
func resume(c *co) (done bool, err error) {
	defer scribble(scribbleDepth)
	defer func() {
		if r := recover(); r != nil {
			var pe *slice.PanicError
			if e, ok := r.(error); ok && errors.As(e, &pe) {
				if pp, ok := pe.Value.(progPanic); ok {
					c.rec("died", pp.v)
					done, err = true, nil
					return
				}
				err = fmt.Errorf("coroutine panicked: %v\ncoroutine stack:\n%s", pe.Value, pe.Stack)
				return
			}
			err = fmt.Errorf("Resume panicked: %v", r)
		}
	}()
	return c.self.Resume(), nil
}

// scribble overwrites about depth KiB of the dead stack below its caller,
// where a coroutine that just yielded ran: a pointer the engine failed to
// relocate then reads garbage instead of the stale copy of the right value.
//
//go:noinline
func scribble(depth int) {
	var pad [1024]byte
	for i := range pad {
		pad[i] = 0xa5
	}
	if depth > 0 {
		scribble(depth - 1)
	}
	scribbleSink = pad[depth%len(pad)]
}

var scribbleSink byte

const scribbleDepth = 32

// resumeDeep resumes cr from depth frames down on the carrier, each holding
// locals it checks afterwards (the coroutine runs below them).
//
//go:noinline
func resumeDeep(c *co, depth int) (done bool, err error) {
	var mark [3]uint64
	mark[0], mark[1], mark[2] = uint64(depth), 0xfeedface, uint64(depth)*0x1234567
	h := newHeap(uint64(depth))
	pm := &mark
	if depth%4 == 1 {
		// A heap defer record on the carrier's chain: the coroutine's
		// records go in front of it while it runs.
		for i := 0; i < 1; i++ {
			defer func() {
				if err == nil && (pm != &mark || mark[1] != 0xfeedface) {
					err = fmt.Errorf("carrier frame at depth %d corrupted (seen by its deferred call)", depth)
				}
			}()
		}
	}
	if depth > 0 {
		done, err = resumeDeep(c, depth-1)
	} else {
		done, err = resume(c)
	}
	if pm != &mark || mark[0] != uint64(depth) || mark[1] != 0xfeedface || mark[2] != uint64(depth)*0x1234567 || h.v != uint64(depth) {
		return done, fmt.Errorf("carrier frame at depth %d corrupted: %x", depth, mark)
	}
	return done, err
}

// resumeBig resumes cr from below a frame with a large array.
//
//go:noinline
func resumeBig(c *co) (bool, error) {
	var big [4096]byte
	fillBytes(big[:], 77)
	done, err := resume(c)
	if err == nil && hashBytes(big[:]) != fillHash(len(big), 77) {
		err = errors.New("carrier frame with a large array corrupted")
	}
	return done, err
}

type result struct {
	done bool
	err  error
}

// onGoroutine runs f on a fresh goroutine and waits for it.
func onGoroutine(f func() (bool, error)) (bool, error) {
	ch := make(chan result)
	go func() {
		done, err := f()
		ch <- result{done, err}
	}()
	r := <-ch
	return r.done, r.err
}

// worker is a long-lived goroutine that resumes coroutines for the driver.
type worker struct {
	in  chan func() (bool, error)
	out chan result
}

func newWorker() *worker {
	w := &worker{in: make(chan func() (bool, error)), out: make(chan result)}
	go func() {
		for f := range w.in {
			done, err := f()
			w.out <- result{done, err}
		}
	}()
	return w
}

func (w *worker) do(f func() (bool, error)) (bool, error) {
	w.in <- f
	r := <-w.out
	return r.done, r.err
}

func (w *worker) close() { close(w.in) }
