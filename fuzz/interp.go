package fuzz

import (
	"fmt"
	"hash/fnv"
	"runtime"

	"github.com/stackslice/stackslice/slice"
)

// The coroutine side: the interpreter that runs one coroutine's operation
// stream and records what it observes in its trace.

// Bounds on one run, so that it stays short (see also shapes.go).
const (
	maxNest     = 24 // nested frame shapes; deeper shape operations yield instead
	maxBig      = 6  // E frames in use at once
	maxGC       = 3  // runtime.GC calls per run, driver and coroutines together
	garbageSize = 256 << 10
)

// runState is what a run's coroutines share: only limits, never anything
// that reaches a trace.
type runState struct {
	gcLeft int

	// The coroutine run's driver state (see drive).
	cos     []*co
	running []bool // being resumed (by the driver or by a sibling)
	done    []bool
	w       *worker
	err     error // the first failure
}

func (st *runState) gc() {
	if st.gcLeft > 0 {
		st.gcLeft--
		runtime.GC()
	}
}

// co is one coroutine's private state.
type co struct {
	id         int
	ops        []byte
	pc         int
	rng        uint64
	coroutines bool
	self       *slice.Coroutine
	st         *runState
	events     []event
	escaped    any // a failure recovered by fmt, see bodyStringer
	nops       int
	yields     int
	frameState
}

// frameState counts the frames in use; a recovering P frame restores it.
type frameState struct {
	nest, frames, big, huge, recovers int
	hugeTotal                         int
}

// checkError is a failed check inside a coroutine.
type checkError struct{ msg string }

func (e *checkError) Error() string { return e.msg }

// progPanic is what opPanic panics with.
type progPanic struct{ v uint64 }

func (p *program) newCos(coroutines bool, st *runState) []*co {
	cs := make([]*co, len(p.streams))
	for i, ops := range p.streams {
		h := fnv.New64a()
		h.Write(ops)
		cs[i] = &co{id: i, ops: ops, rng: h.Sum64() ^ uint64(i+1)*0x9E3779B97F4A7C15, coroutines: coroutines, st: st}
	}
	return cs
}

func (c *co) main() {
	c.body(-1)
	c.rec("end.yields", uint64(c.yields))
}

// r returns the coroutine's next pseudo-random number (splitmix64).
func (c *co) r() uint64 {
	c.rng += 0x9E3779B97F4A7C15
	z := c.rng
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}

func (c *co) rec(label string, v uint64) { c.events = append(c.events, event{label, v}) }

func (c *co) fail(format string, args ...any) {
	panic(&checkError{fmt.Sprintf("coroutine %d, op %d: ", c.id, c.nops) + fmt.Sprintf(format, args...)})
}

// want records got and checks it against want.
func (c *co) want(label string, got, want uint64) {
	c.rec(label, got)
	if got != want {
		c.fail("%s = %#x, want %#x", label, got, want)
	}
}

func (c *co) ok(label string, cond bool) {
	if !cond {
		c.fail("%s: check failed", label)
	}
}

func (c *co) yield() {
	c.yields++
	if !c.coroutines {
		return
	}
	slice.Yield()
	if cur := slice.Current(); cur != c.self {
		c.fail("slice.Current() = %p after a yield, want the coroutine %p", cur, c.self)
	}
}

// byteArg consumes the next byte of the stream (0 at its end).
func (c *co) byteArg() byte {
	if c.pc >= len(c.ops) {
		return 0
	}
	b := c.ops[c.pc]
	c.pc++
	return b
}

// body runs k operations of the stream (all of them if k < 0), or fewer if
// the stream ends or an end operation comes.
//
//go:noinline
func (c *co) body(k int) {
	for i := 0; (k < 0 || i < k) && c.pc < len(c.ops); i++ {
		if !c.step() {
			return
		}
	}
}

// step runs one operation; it reports false for an end operation.
func (c *co) step() bool {
	b := c.ops[c.pc]
	c.pc++
	c.nops++
	op, arg := b&15, b>>4
	if op >= opA && op <= opN && c.nest >= maxNest {
		op = opYield
	}
	k := int(arg>>1) + 1
	c.nest++
	switch op {
	case opYield:
		c.yield()
	case opA:
		shapeA(c, k, arg)
	case opB:
		shapeB(c, k, arg)
	case opC:
		shapeC(c, k, arg)
	case opDStack:
		shapeDStack(c, k)
	case opDHeap:
		shapeDHeap(c, k, arg)
	case opDOpen:
		shapeDOpen(c, k, arg)
	case opP:
		shapeP(c, k)
	case opE:
		if c.big >= maxBig {
			c.yield()
			break
		}
		c.big++
		shapeE(c, arg)
		c.big--
	case opF:
		shapeF(c, k, arg)
	case opG:
		shapeG(c, k)
	case opH:
		shapeH(c, k, arg)
	case opR:
		shapeR(c, k, arg)
	case opN:
		shapeN(c, k, arg)
	case opMisc:
		switch {
		case arg < 4:
			c.st.gc()
		case arg < 7:
			growStack(int(arg) * 8)
		case arg < 10:
			makeGarbage()
		case arg == 10:
			runtime.Gosched()
		case arg == 11:
			c.resumeSibling(c.byteArg())
		default:
			c.nest--
			return false
		}
	case opPanic:
		if c.recovers > 0 || arg == 15 {
			v := c.r()
			c.rec("panic", v)
			panic(progPanic{v})
		}
	}
	c.nest--
	return true
}

var sink any

// growStack uses about n KiB of stack, so that the carrier's stack grows
// (and is copied, with the running coroutine's region in it).
//
//go:noinline
func growStack(n int) byte {
	var pad [1024]byte
	pad[n%1024] = byte(n)
	if n > 0 {
		return growStack(n-1) + pad[n%1024]
	}
	return pad[0]
}

// makeGarbage allocates and drops garbageSize bytes in small pieces, to make
// the GC run (often, at a low GOGC) while coroutines are suspended.
//
//go:noinline
func makeGarbage() {
	for i := 0; i < garbageSize/512; i++ {
		sink = make([]*hnode, 64)
	}
	sink = nil
}
