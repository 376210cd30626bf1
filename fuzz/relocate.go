package fuzz

import (
	"errors"
	"fmt"
	"hash/fnv"
	"iter"
	"runtime"
	"strconv"
	"strings"

	"github.com/stackslice/stackslice/slice"
)

// Bounds on one program, so that a run stays well under 50 ms.
const (
	MaxInput      = 4096 // bytes of input decoded; the rest is ignored
	MaxOps        = 2000 // operation bytes over all coroutines
	MaxCoroutines = 8
	MaxRecursion  = 40 // depth of one H operation

	maxNest     = 24  // nested frame shapes; deeper shape operations yield instead
	maxFrames   = 400 // recursion frames in use at once (H)
	maxBig      = 6   // E frames in use at once
	maxHuge     = 1   // 560 KiB frames over a run, in coroutine 0 only (for speed)
	maxGC       = 3   // runtime.GC calls per run, driver and coroutines together
	maxResumes  = 100000
	hugePart    = 112 << 10 // five of them: 560 KiB
	garbageSize = 256 << 10
)

// Operations. An operation byte holds the opcode in its low 4 bits and an
// argument (0-15) in its high 4 bits. Frame shapes run a body of k following
// operations (k from the argument) between setting up their locals and
// checking them; operations in a body may be shapes themselves.
const (
	OpYield  = iota // yield
	OpA             // pointer-heavy locals
	OpB             // stack objects pointing into each other (arg bit 0: struct cycle or array)
	OpC             // closures capturing stack variables (arg bit 0: also called from a callee)
	OpDStack        // nine defers, not in a loop: stack-allocated defer records
	OpDHeap         // defers in a loop: heap defer records
	OpDOpen         // open-coded defers (arg bit 0: one of them conditional)
	OpP             // deferred recover; OpPanic below it panics
	OpE             // large frame (arg bits 0-1: [2048]byte, [600]*uint64, both, 560 KiB)
	OpF             // interfaces, maps, strings
	OpG             // method values
	OpH             // recursion; the next byte is the depth (mod 41), arg bit 0: yield at a random level
	OpR             // range-over-func loop whose body yields
	OpN             // nested coroutine (slice.Pull)
	OpMisc          // arg 0-3: runtime.GC, 4-6: grow the stack, 7-9: garbage, 10: Gosched, 11: resume another coroutine (next byte: how), 12-15: end the body
	OpPanic         // panic, recovered by the nearest OpP frame; without one, a no-op, except with arg 15, which ends the coroutine
)

var opNames = [16]string{"yield", "A", "B", "C", "Dstack", "Dheap", "Dopen", "P", "E", "F", "G", "H", "R", "N", "misc", "panic"}

// Op returns the operation byte for opcode op with argument arg (0-15).
func Op(op, arg byte) byte { return op&15 | arg<<4 }

// A Program is a decoded fuzz input.
type Program struct {
	// Coroutines holds each coroutine's operation stream.
	Coroutines [][]byte
	// Schedule drives the resumes: each byte picks a live coroutine (bits
	// 0-2, modulo the number still live) and how to resume it (bits 3-5:
	// directly, after runtime.GC, from a carrier recursion, on a fresh
	// goroutine, on a fresh goroutine from a recursion, on a worker
	// goroutine, from a frame with a large array, after runtime.GC and
	// Gosched on a fresh goroutine from a recursion); the recursive ways
	// take the depth (mod 64) from the next byte. When the schedule runs
	// out, the live coroutines are resumed round-robin.
	Schedule []byte
}

// Decode turns any input into a program: the first byte gives the number of
// coroutines (1 + b%8); each coroutine's stream follows as a length byte and
// that many bytes (cut to what the input holds and to MaxOps in all); the
// remaining bytes are the schedule.
func Decode(data []byte) *Program {
	if len(data) > MaxInput {
		data = data[:MaxInput]
	}
	p := &Program{}
	n := 1
	if len(data) > 0 {
		n = 1 + int(data[0])%MaxCoroutines
		data = data[1:]
	}
	total := 0
	for i := 0; i < n; i++ {
		l := 0
		if len(data) > 0 {
			l = int(data[0])
			data = data[1:]
		}
		l = min(l, len(data), MaxOps-total)
		p.Coroutines = append(p.Coroutines, data[:l:l])
		data = data[l:]
		total += l
	}
	p.Schedule = data
	return p
}

// Encode returns the input that Decode turns into p. Streams longer than 255
// bytes are cut.
func (p *Program) Encode() []byte {
	n := min(max(len(p.Coroutines), 1), MaxCoroutines)
	out := []byte{byte(n - 1)}
	for i := 0; i < n; i++ {
		var ops []byte
		if i < len(p.Coroutines) {
			ops = p.Coroutines[i]
		}
		ops = ops[:min(len(ops), 255)]
		out = append(out, byte(len(ops)))
		out = append(out, ops...)
	}
	return append(out, p.Schedule...)
}

// Dump prints p's operations, one coroutine a line, and its schedule.
func (p *Program) Dump() string {
	var b strings.Builder
	for i, ops := range p.Coroutines {
		fmt.Fprintf(&b, "coroutine %d:", i)
		for j := 0; j < len(ops); j++ {
			op, arg := ops[j]&15, ops[j]>>4
			fmt.Fprintf(&b, " %s/%d", opNames[op], arg)
			switch {
			case j+1 >= len(ops):
			case op == OpH:
				j++
				fmt.Fprintf(&b, "(depth %d)", int(ops[j])%(MaxRecursion+1))
			case op == OpMisc && arg == 11:
				j++
				fmt.Fprintf(&b, "(%#x)", ops[j])
			}
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "schedule: % x\n", p.Schedule)
	return b.String()
}

// Run runs the program that Decode makes of program, with real coroutines
// (useCoroutines) or sequentially with Yield a no-op, and returns a summary of
// every coroutine's trace: two runs of the same program must return the same
// result. err reports a failed check or a panic.
func Run(program []byte, useCoroutines bool) (result string, err error) {
	out, err := Decode(program).run(useCoroutines)
	if err != nil {
		return "", err
	}
	return out.summary(), nil
}

// Check runs program both ways and reports the first difference between the
// traces, a failed check or a panic.
func Check(program []byte) error {
	p := Decode(program)
	want, err := p.run(false)
	if err != nil {
		return fmt.Errorf("sequential run failed (a harness bug): %v\nprogram:\n%s", err, p.Dump())
	}
	got, err := p.run(true)
	if err != nil {
		return fmt.Errorf("coroutine run (%s): %v\nprogram:\n%s", slice.Engine(), err, p.Dump())
	}
	if d := diff(want, got); d != "" {
		return fmt.Errorf("coroutine run (%s) differs from the sequential run: %s\nprogram:\n%s", slice.Engine(), d, p.Dump())
	}
	return nil
}

type event struct {
	label string
	v     uint64
}

type outcome struct {
	traces [][]event
	ops    []int
	yields []int
}

func (o *outcome) summary() string {
	var b strings.Builder
	for i, tr := range o.traces {
		h := fnv.New64a()
		for _, e := range tr {
			h.Write([]byte(e.label))
			h.Write([]byte(strconv.FormatUint(e.v, 16)))
		}
		fmt.Fprintf(&b, "coroutine %d: %d ops, %d yields, %d events, trace %016x\n", i, o.ops[i], o.yields[i], len(tr), h.Sum64())
	}
	return b.String()
}

func diff(want, got *outcome) string {
	for i := range want.traces {
		w, g := want.traces[i], got.traces[i]
		for j := 0; j < len(w) || j < len(g); j++ {
			switch {
			case j >= len(w):
				return fmt.Sprintf("coroutine %d: extra event %d %s=%#x", i, j, g[j].label, g[j].v)
			case j >= len(g):
				return fmt.Sprintf("coroutine %d: missing event %d %s=%#x", i, j, w[j].label, w[j].v)
			case w[j] != g[j]:
				return fmt.Sprintf("coroutine %d: event %d is %s=%#x, want %s=%#x", i, j, g[j].label, g[j].v, w[j].label, w[j].v)
			}
		}
		if want.yields[i] != got.yields[i] || want.ops[i] != got.ops[i] {
			return fmt.Sprintf("coroutine %d: %d ops and %d yields, want %d and %d", i, got.ops[i], got.yields[i], want.ops[i], want.yields[i])
		}
	}
	return ""
}

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

// progPanic is what OpPanic panics with.
type progPanic struct{ v uint64 }

func (p *Program) newCos(coroutines bool, st *runState) []*co {
	cs := make([]*co, len(p.Coroutines))
	for i, ops := range p.Coroutines {
		h := fnv.New64a()
		h.Write(ops)
		cs[i] = &co{id: i, ops: ops, rng: h.Sum64() ^ uint64(i+1)*0x9E3779B97F4A7C15, coroutines: coroutines, st: st}
	}
	return cs
}

func (p *Program) run(coroutines bool) (*outcome, error) {
	st := &runState{}
	if coroutines {
		st.gcLeft = maxGC // the sequential run needs none
	}
	cs := p.newCos(coroutines, st)
	var err error
	if coroutines {
		err = p.drive(cs, st)
	} else {
		for _, c := range cs {
			if err = runSequential(c); err != nil {
				err = fmt.Errorf("coroutine %d: %w", c.id, err)
				break
			}
		}
	}
	if err != nil {
		return nil, err
	}
	o := &outcome{}
	for _, c := range cs {
		o.traces = append(o.traces, c.events)
		o.ops = append(o.ops, c.nops)
		o.yields = append(o.yields, c.yields)
	}
	return o, nil
}

func runSequential(c *co) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if pp, ok := r.(progPanic); ok {
				c.rec("died", pp.v)
				return
			}
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	c.main()
	return nil
}

// The coroutine side.

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
	if op >= OpA && op <= OpN && c.nest >= maxNest {
		op = OpYield
	}
	k := int(arg>>1) + 1
	c.nest++
	switch op {
	case OpYield:
		c.yield()
	case OpA:
		shapeA(c, k, arg)
	case OpB:
		shapeB(c, k, arg)
	case OpC:
		shapeC(c, k, arg)
	case OpDStack:
		shapeDStack(c, k)
	case OpDHeap:
		shapeDHeap(c, k, arg)
	case OpDOpen:
		shapeDOpen(c, k, arg)
	case OpP:
		shapeP(c, k)
	case OpE:
		if c.big >= maxBig {
			c.yield()
			break
		}
		c.big++
		shapeE(c, arg)
		c.big--
	case OpF:
		shapeF(c, k, arg)
	case OpG:
		shapeG(c, k)
	case OpH:
		shapeH(c, k, arg)
	case OpR:
		shapeR(c, k, arg)
	case OpN:
		shapeN(c, k, arg)
	case OpMisc:
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
	case OpPanic:
		if c.recovers > 0 || arg == 15 {
			v := c.r()
			c.rec("panic", v)
			panic(progPanic{v})
		}
	}
	c.nest--
	return true
}

// Helpers that put things on the heap, out of the compiler's sight.

type hnode struct {
	v    uint64
	next *hnode
	s    []uint64
	name string
}

//go:noinline
func newHeap(v uint64) *hnode { return &hnode{v: v, name: strconv.FormatUint(v, 36)} }

//go:noinline
func newU64(v uint64) *uint64 {
	p := new(uint64)
	*p = v
	return p
}

//go:noinline
func heapSlice(n int, v uint64) []uint64 {
	s := make([]uint64, n)
	for i := range s {
		s[i] = v + uint64(i)*0x100000001
	}
	return s
}

func sliceSum(n int, v uint64) uint64 {
	var sum uint64
	for i := 0; i < n; i++ {
		sum = sum*31 + v + uint64(i)*0x100000001
	}
	return sum
}

func hashString(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

func hashBytes(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

// fillBytes fills b with a sequence derived from seed; fillHash hashes the
// same sequence without a buffer.
//
//go:noinline
func fillBytes(b []byte, seed uint64) {
	x := seed
	for i := range b {
		x = x*6364136223846793005 + 1442695040888963407
		b[i] = byte(x >> 56)
	}
}

func fillHash(n int, seed uint64) uint64 {
	h := fnv.New64a()
	var buf [256]byte
	x := seed
	for n > 0 {
		m := min(n, len(buf))
		for i := 0; i < m; i++ {
			x = x*6364136223846793005 + 1442695040888963407
			buf[i] = byte(x >> 56)
		}
		h.Write(buf[:m])
		n -= m
	}
	return h.Sum64()
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

// Frame shapes.

// shapeA: heap pointers, a heap slice, a stack-backed slice of heap pointers,
// an array of pointers and a concatenated string held across the body.
//
//go:noinline
func shapeA(c *co, k int, arg byte) {
	v1, v2, v3 := c.r(), c.r(), c.r()
	n := int(arg%8) + 1
	a := newHeap(v1)
	b := newHeap(v2)
	b.next = a
	hs := heapSlice(n, v3)
	ptrs := make([]*hnode, 3)
	ptrs[0], ptrs[1], ptrs[2] = b, a, newHeap(v1^v2)
	arr := [4]*hnode{a, nil, b, ptrs[2]}
	str := a.name + "/" + b.name
	c.body(k)
	c.want("A.a", a.v, v1)
	c.want("A.b", b.v, v2)
	c.ok("A.b.next", b.next == a)
	c.want("A.ptrs0.next", ptrs[0].next.v, v1)
	c.want("A.ptrs2", ptrs[2].v, v1^v2)
	c.ok("A.ptrs1", ptrs[1] == a)
	var sum uint64
	for _, x := range hs {
		sum = sum*31 + x
	}
	c.want("A.slice", sum, sliceSum(n, v3))
	c.ok("A.arr", arr[0] == a && arr[1] == nil && arr[2] == b && arr[3] == ptrs[2])
	c.want("A.str", hashString(str), hashString(strconv.FormatUint(v1, 36)+"/"+strconv.FormatUint(v2, 36)))
}

type snode struct {
	v    uint64
	next *snode
	h    *hnode
	arr  [3]*snode
}

// shapeB: stack objects that point to each other, reachable after the body
// only through one pointer.
//
//go:noinline
func shapeB(c *co, k int, arg byte) {
	v1, v2, v3 := c.r(), c.r(), c.r()
	if arg&1 == 0 {
		var x, y, z snode
		x.v, y.v, z.v = v1, v2, v3
		x.next, y.next, z.next = &y, &z, &x
		y.h = newHeap(v3 ^ 7)
		z.arr = [3]*snode{&x, &y, &z}
		p := &x
		c.body(k)
		q := p.next
		r := q.next
		c.ok("B.cycle", r.next == p)
		c.want("B.x", p.v, v1)
		c.want("B.y", q.v, v2)
		c.want("B.z", r.v, v3)
		c.want("B.y.h", q.h.v, v3^7)
		c.ok("B.z.arr", r.arr[0] == p && r.arr[1] == q && r.arr[2] == r)
		c.ok("B.addr", p == &x && q == &y && r == &z)
		return
	}
	var arr [8]snode
	for i := range arr {
		arr[i].v = v1 + uint64(i)*v2
		arr[i].next = &arr[(i*3+1)%8]
	}
	arr[0].h = newHeap(v3)
	p := &arr[5]
	c.body(k)
	q, idx := p, 5
	for range 4 {
		c.want("B.arr", q.v, v1+uint64(idx)*v2)
		q, idx = q.next, (idx*3+1)%8
	}
	c.ok("B.arr.cycle", q == p)
	c.ok("B.arr.addr", p == &arr[5] && p.next == &arr[0])
	c.want("B.arr.h", p.next.h.v, v3)
}

// shapeC: non-escaping closures capturing stack variables by reference.
//
//go:noinline
func shapeC(c *co, k int, arg byte) {
	acc, n := c.r(), c.r()
	var local snode
	local.v = c.r()
	lp := &local
	h := newHeap(c.r())
	f := func(d uint64) uint64 {
		acc += d
		n ^= d << 1
		lp.v += h.v
		return acc ^ n ^ lp.v
	}
	g := func() uint64 { return f(3) + local.v }
	r1 := f(1)
	if arg&1 != 0 {
		callAfter(c, k, f)
	} else {
		c.body(k)
	}
	r2 := f(2)
	r3 := g()
	c.ok("C.addr", lp == &local)
	c.rec("C.r1", r1)
	c.rec("C.r2", r2)
	c.rec("C.r3", r3)
	c.rec("C.acc", acc)
	c.rec("C.n", n)
	c.rec("C.local", local.v)
}

//go:noinline
func callAfter(c *co, k int, f func(uint64) uint64) {
	x := f(5)
	c.body(k)
	c.rec("C.after", f(x))
}

// shapeDStack: nine defers in straight-line code, too many to open-code: the
// compiler makes stack-allocated defer records.
//
//go:noinline
func shapeDStack(c *co, k int) {
	x := c.r()
	var st snode
	st.v = c.r()
	p := &st
	h := newHeap(c.r())
	defer func() { c.rec("Ds.0", x^p.v) }()
	defer func() { c.rec("Ds.1", x+h.v) }()
	defer func() { c.rec("Ds.2", p.v*3) }()
	defer c.rec("Ds.3", x)
	defer func() { c.rec("Ds.4", h.v^p.v) }()
	defer func() { p.v++ }()
	defer func() { c.rec("Ds.6", p.v) }()
	defer func() { x ^= 0xff }()
	defer func() { c.rec("Ds.8", x) }()
	// Resume another coroutine from a deferred call the runtime runs from
	// a defer record (deferreturn, or a panic): it runs, and may yield, on
	// top of the runtime's defer machinery.
	defer func() { c.resumeSibling(byte(x)) }()
	c.body(k)
	x += 11
	p.v ^= 0x5a5a
}

// shapeDHeap: defers in a loop, which get heap-allocated records.
//
//go:noinline
func shapeDHeap(c *co, k int, arg byte) {
	h := newHeap(c.r())
	base := c.r()
	n := int(arg%4) + 1
	for i := 0; i < n; i++ {
		defer func(i int) { c.rec("Dh", base+uint64(i)*h.v) }(i)
	}
	c.body(k)
	base ^= 1
}

// shapeDOpen: open-coded defers, one of them conditional.
//
//go:noinline
func shapeDOpen(c *co, k int, arg byte) {
	x := c.r()
	var st snode
	st.v = c.r()
	p := &st
	defer func() { c.rec("Do.0", x^p.v) }()
	if arg&1 != 0 {
		defer func() { c.rec("Do.1", p.v+1) }()
	}
	defer c.rec("Do.2", x)
	defer func() { c.resumeSibling(byte(p.v)) }()
	c.body(k)
	x *= 3
	p.v ^= 0x77
}

// shapeP: a deferred recover for OpPanic in the body.
//
//go:noinline
func shapeP(c *co, k int) {
	var st snode
	st.v = c.r()
	p := &st
	saved := c.frameState
	c.recovers++
	defer func() {
		c.frameState = saved
		r := recover()
		if r == nil {
			return
		}
		pp, ok := r.(progPanic)
		if !ok {
			panic(r)
		}
		c.rec("P.recovered", pp.v^p.v)
		c.resumeSibling(byte(pp.v)) // while the panic's unwinding is pending
	}()
	c.body(k)
	c.rec("P.done", p.v)
}

// shapeE: large frames.
func shapeE(c *co, arg byte) {
	k := int(arg>>2) + 1
	variant := arg & 3
	if variant == 3 && (c.id != 0 || c.huge > 0 || c.hugeTotal >= maxHuge) {
		variant = 2
	}
	switch variant {
	case 0:
		bigBytes(c, k, false)
	case 1:
		bigPtrs(c, k)
	case 2:
		bigBytes(c, k, true)
	case 3:
		c.huge++
		c.hugeTotal++
		hugeFrame(c, k)
		c.huge--
	}
}

// bigBytes runs the body, or bigPtrs if nested.
//
//go:noinline
func bigBytes(c *co, k int, nested bool) {
	var big [2048]byte
	seed := c.r()
	fillBytes(big[:], seed)
	h := newHeap(seed)
	if nested {
		bigPtrs(c, k)
	} else {
		c.body(k)
	}
	c.want("E.bytes", hashBytes(big[:]), fillHash(len(big), seed))
	c.want("E.bytes.h", h.v, seed)
}

//go:noinline
func bigPtrs(c *co, k int) {
	var ints [64]uint64
	var ptrs [600]*uint64
	seed := c.r()
	for i := range ints {
		ints[i] = seed + uint64(i)
	}
	for i := range ptrs {
		switch i % 3 {
		case 0:
			ptrs[i] = &ints[i%64]
		case 1:
			ptrs[i] = newU64(seed ^ uint64(i))
		}
	}
	c.body(k)
	var sum uint64
	for i, p := range ptrs {
		switch i % 3 {
		case 0:
			if p != &ints[i%64] {
				c.fail("E.ptrs[%d] does not point to ints[%d]", i, i%64)
			}
			if *p != seed+uint64(i%64) {
				c.fail("*E.ptrs[%d] = %#x, want %#x", i, *p, seed+uint64(i%64))
			}
		case 1:
			if *p != seed^uint64(i) {
				c.fail("*E.ptrs[%d] = %#x, want %#x (heap)", i, *p, seed^uint64(i))
			}
		case 2:
			if p != nil {
				c.fail("E.ptrs[%d] is not nil", i)
			}
			continue
		}
		sum = sum*31 + *p
	}
	c.rec("E.ptrs", sum)
}

// hugeFrame is larger than 512 KiB, so that the words of the frames above it
// need 32-bit relocation indexes. (The compiler puts no single variable over
// 128 KiB on the stack.)
//
//go:noinline
func hugeFrame(c *co, k int) {
	var h1, h2, h3, h4, h5 [hugePart]byte
	seed := c.r()
	h := newHeap(seed)
	h1[0], h3[len(h3)/2], h5[len(h5)-1] = byte(seed), byte(seed>>8), byte(seed>>16)
	h2[1], h4[2] = byte(seed>>24), byte(seed>>32)
	c.body(k)
	got := uint64(h1[0]) | uint64(h3[len(h3)/2])<<8 | uint64(h5[len(h5)-1])<<16 | uint64(h2[1])<<24 | uint64(h4[2])<<32
	c.want("E.huge", got, seed&0xffffffffff)
	c.want("E.huge.h", h.v, seed)
}

type strT string

func (s strT) String() string { return string(s) }

// shapeF: interface values (one pointing to a stack object), maps, strings,
// a substring and a byte slice.
//
//go:noinline
func shapeF(c *co, k int, arg byte) {
	v := c.r()
	var st snode
	st.v = v ^ 0x1234
	var e1 any = &st
	var e2 any = v
	var e3 fmt.Stringer = strT(strconv.FormatUint(v, 16))
	m := map[uint64]string{v: "a", v + 1: strconv.FormatUint(v, 7)}
	m2 := make(map[string]*hnode, 4)
	m2["x"] = newHeap(v)
	m2[strconv.FormatUint(v, 10)] = newHeap(v + 2)
	if arg&1 != 0 {
		for i := range 12 {
			m[v+uint64(i)+2] = strconv.Itoa(i)
		}
	}
	s := strconv.FormatUint(v, 16) + "-" + strconv.FormatUint(v>>3, 10)
	sub := s[2:]
	bs := []byte(s)
	if arg&2 != 0 {
		// The body runs (and may yield) inside fmt, which calls String.
		fs := fmt.Sprintf("%v|%x", bodyStringer{c, k}, v)
		if c.escaped != nil {
			r := c.escaped
			c.escaped = nil
			panic(r)
		}
		c.rec("F.fmt", hashString(fs))
	} else {
		c.body(k)
	}
	q, isSnode := e1.(*snode)
	c.ok("F.e1", isSnode && q == &st)
	c.want("F.e1.v", q.v, v^0x1234)
	e2v, isU64 := e2.(uint64)
	c.ok("F.e2.type", isU64)
	c.want("F.e2", e2v, v)
	c.want("F.e3", hashString(e3.String()), hashString(strconv.FormatUint(v, 16)))
	c.ok("F.m", m[v] == "a" && m[v+1] == strconv.FormatUint(v, 7))
	c.want("F.m.len", uint64(len(m)), uint64(2+12*int(arg&1)))
	if arg&1 != 0 {
		c.ok("F.m.more", m[v+13] == "11")
	}
	c.want("F.m2.x", m2["x"].v, v)
	c.want("F.m2.y", m2[strconv.FormatUint(v, 10)].v, v+2)
	ws := strconv.FormatUint(v, 16) + "-" + strconv.FormatUint(v>>3, 10)
	c.want("F.s", hashString(s), hashString(ws))
	c.ok("F.sub", sub == ws[2:])
	c.ok("F.bs", string(bs) == ws)
}

// bodyStringer runs a body when fmt formats it.
type bodyStringer struct {
	c *co
	k int
}

func (b bodyStringer) String() string {
	c := b.c
	saved := c.frameState
	defer func() {
		if r := recover(); r != nil {
			// fmt recovers panics in String methods and prints them.
			// An OpPanic is fine so (the same in both runs), but a
			// failure must not be lost.
			c.frameState = saved
			if _, ok := r.(progPanic); !ok {
				c.escaped = r
			}
			panic(r)
		}
	}()
	var local [4]uint64
	local[b.k%4] = c.r()
	c.body(b.k)
	return strconv.FormatUint(local[b.k%4], 36)
}

type counter struct {
	n, step uint64
	h       *hnode
}

func (t *counter) incr() uint64 { t.n += t.step; return t.n ^ t.h.v }
func (t counter) get() uint64   { return t.n + t.h.v }

type incrementer interface{ incr() uint64 }

// shapeG: method values bound to a stack receiver, by pointer, by value and
// through an interface.
//
//go:noinline
func shapeG(c *co, k int) {
	t := counter{n: c.r(), step: c.r() | 1, h: newHeap(c.r())}
	inc := t.incr
	get := t.get
	// An interface method value makes its receiver escape: t2 is on the heap.
	t2 := &counter{n: c.r(), step: 3, h: t.h}
	var iv incrementer = t2
	inc2 := iv.incr
	r1 := inc()
	c.body(k)
	r2 := inc()
	r3 := inc2()
	r4 := get()
	c.ok("G.addr", iv.(*counter) == t2)
	c.rec("G.r1", r1)
	c.rec("G.r2", r2)
	c.rec("G.r3", r3)
	c.rec("G.r4", r4)
	c.rec("G.n", t.n)
	c.rec("G.n2", t2.n)
}

type link struct {
	v     uint64
	up    *link
	depth int
}

// shapeH: recursion to a random depth, each frame pointing to its caller's,
// the body at the bottom, maybe a yield at a random level on the way down.
//
//go:noinline
func shapeH(c *co, k int, arg byte) {
	depth := int(c.byteArg()) % (MaxRecursion + 1)
	depth = max(0, min(depth, maxFrames-c.frames))
	yieldAt := -1
	if arg&1 != 0 {
		yieldAt = int(c.r() % uint64(depth+1))
	}
	c.frames += depth + 1
	var root link
	root.v = c.r()
	root.depth = -1
	rv := root.v
	r := recurseH(c, k, depth, yieldAt, &root)
	c.frames -= depth + 1
	c.rec("H", r)
	c.want("H.root", root.v, rv)
}

//go:noinline
func recurseH(c *co, k, n, yieldAt int, up *link) uint64 {
	var l link
	l.v = c.r()
	l.up = up
	l.depth = n
	v := l.v
	if n == yieldAt {
		c.yield()
	}
	var r uint64
	if n > 0 {
		r = recurseH(c, k, n-1, yieldAt, &l)
	} else {
		c.body(k)
		for q := &l; q != nil; q = q.up {
			r = r*31 + q.v + uint64(q.depth)
		}
	}
	c.ok("H.up", l.up == up)
	c.want("H.v", l.v, v)
	return r ^ l.v
}

// shapeR: a range-over-func loop whose body runs one operation per
// iteration (so it may yield inside the loop body).
//
//go:noinline
func shapeR(c *co, k int, arg byte) {
	var st snode
	st.v = c.r()
	p := &st
	var sum uint64
	seed := c.r()
	for i, v := range pairs(seed, k+1) {
		sum = sum*7 + v ^ p.v
		p.v++
		c.body(1)
		if arg&1 != 0 && i == k/2 {
			break
		}
	}
	c.rec("R.sum", sum)
	c.rec("R.p", p.v)
}

func pairs(seed uint64, n int) iter.Seq2[int, uint64] {
	return func(yield func(int, uint64) bool) {
		var local [4]uint64
		x := seed
		for i := 0; i < n; i++ {
			x = x*6364136223846793005 + 1442695040888963407
			local[i%4] = x
			if !yield(i, x^local[(i+3)%4]) {
				return
			}
		}
	}
}

// shapeN: a nested coroutine (slice.Pull; iter.Pull in the sequential run)
// advanced between operations of the outer one, stopped early or not.
//
//go:noinline
func shapeN(c *co, k int, arg byte) {
	seed := c.r()
	n := k + 1
	seq := func(yield func(uint64) bool) { genN(c, seed, n, yield) }
	var next func() (uint64, bool)
	var stop func()
	if c.coroutines {
		next, stop = slice.Pull(seq)
	} else {
		next, stop = iter.Pull(seq)
	}
	defer stop()
	steps := n + 1
	if arg&1 != 0 {
		steps = n / 2
	}
	for i := 0; i < steps; i++ {
		v, ok := next()
		c.rec("N.v", v)
		if !ok {
			c.rec("N.end", uint64(i))
		}
		c.body(1)
	}
	stop()
	_, ok := next()
	c.ok("N.stopped", !ok)
}

//go:noinline
func genN(c *co, seed uint64, n int, yield func(uint64) bool) {
	var st snode
	st.v = seed
	p := &st
	h := newHeap(seed ^ 99)
	if c.coroutines {
		if cur := slice.Current(); cur == nil || cur == c.self {
			panic(fmt.Sprintf("slice.Current() = %p inside a nested coroutine (outer %p)", cur, c.self))
		}
	}
	for i := 0; i < n; i++ {
		if !deepYield(i%4, yield, p.v^h.v) {
			return
		}
		p.v += h.v + uint64(i)
	}
}

//go:noinline
func deepYield(d int, yield func(uint64) bool, v uint64) bool {
	var pad [4]uint64
	pad[d%4] = v
	if d > 0 {
		return deepYield(d-1, yield, v*3) && pad[d%4] == v
	}
	return yield(v + pad[0])
}

// The driver side.

// drive resumes the coroutines as the schedule says until all have finished.
func (p *Program) drive(cs []*co, st *runState) error {
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
	sched, rr := p.Schedule, 0
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

// resumeCo resumes c in the given way (see Program.Schedule) and checks the
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
// unrecovered OpPanic, which ends c as it ends it in the sequential run.
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
