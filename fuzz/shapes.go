package fuzz

import (
	"fmt"
	"hash/fnv"
	"iter"
	"strconv"

	"github.com/stackslice/stackslice/slice"
)

// The frame shapes the operations call, each holding a kind of stack
// content across the yields in its body, and the helpers they use.

// Bounds on the frame shapes' stack use in one run.
const (
	maxFrames = 400       // recursion frames in use at once (H)
	maxHuge   = 1         // 560 KiB frames over a run, in coroutine 0 only (for speed)
	hugePart  = 112 << 10 // five of them: 560 KiB
)

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

// shapeP: a deferred recover for opPanic in the body.
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
			// An opPanic is fine so (the same in both runs), but a
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
	depth := int(c.byteArg()) % (maxRecursion + 1)
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
