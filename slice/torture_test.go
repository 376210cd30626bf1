package slice

import (
	"fmt"
	"math/rand"
	"runtime"
	"testing"
)

// The torture workload: many coroutines whose frames hold the only
// references to heap objects, stack objects pointing at each other, and
// pointers to stack objects, suspended at random depths, with GCs and
// garbage between switches, resumed on other goroutines at other stack
// depths. Every coroutine checks everything it can see after every yield.
//
// Run it under GOGC=1 GODEBUG=gccheckmark=1,clobberfree=1 (CI does) so a
// heap object the engine failed to keep alive is freed and clobbered, and a
// pointer it failed to relocate points at dead stack.

type tnode struct {
	id   int
	val  [4]int
	next *tnode
	peer *tnode
}

// newTnode allocates on the heap (not inlined, so the result escapes).
//
//go:noinline
func newTnode(id int) *tnode {
	n := &tnode{id: id}
	for i := range n.val {
		n.val[i] = id*10 + i
	}
	return n
}

func (n *tnode) ok(id int) bool {
	if n == nil || n.id != id {
		return false
	}
	for i, v := range n.val {
		if v != id*10+i {
			return false
		}
	}
	return true
}

// tortureFrame recurses to depth, then yields rounds times, checking its
// locals (heap-only and stack objects) after each yield; it records the
// first mismatch in *bad.
//
//go:noinline
func tortureFrame(id, depth, rounds int, rng *rand.Rand, bad *string) {
	heap := newTnode(id)       // referenced only from this frame
	local := tnode{id: id + 1} // a stack object...
	other := tnode{id: id + 2} // ...pointing at another one
	local.next, other.peer = &other, &local
	for i := range local.val {
		local.val[i] = (id+1)*10 + i
		other.val[i] = (id+2)*10 + i
	}
	p := &local // a live pointer into this frame
	if depth > 0 {
		tortureFrame(id+3, depth-1, rounds, rng, bad)
	}
	for r := 0; r < rounds; r++ {
		if rng.Intn(3) == 0 {
			heap = newTnode(id) // replace it: the old one becomes garbage
		}
		Yield()
		switch {
		case *bad != "":
		case !heap.ok(id):
			*bad = fmt.Sprintf("frame %d: heap object lost or clobbered", id)
		case p != &local || local.next != &other:
			*bad = fmt.Sprintf("frame %d: pointer to a stack object not relocated", id)
		case !p.ok(id+1) || !p.next.ok(id+2) || p.next.peer != p:
			*bad = fmt.Sprintf("frame %d: stack objects corrupted", id)
		}
	}
}

// runTorture runs n coroutines for rounds rounds and returns the first
// mismatch found.
func runTorture(n, rounds int, seed int64) string {
	rng := rand.New(rand.NewSource(seed))
	cs := make([]*Coroutine, n)
	bad := make([]string, n)
	for i := range cs {
		depth := rng.Intn(6)
		crng := rand.New(rand.NewSource(int64(i)))
		cs[i] = New(func() { tortureFrame(i*100, depth, rounds, crng, &bad[i]) })
	}
	var garbage [][]byte
	for live := n; live > 0; {
		live = 0
		for i, c := range cs {
			if c.Done() {
				continue
			}
			if c.done(rng.Intn(1000)) && bad[i] != "" {
				return bad[i]
			}
			if !c.Done() {
				live++
			}
			garbage = append(garbage, make([]byte, 64+rng.Intn(512)))
			if len(garbage) > 64 {
				garbage = garbage[:0]
				runtime.GC()
			}
		}
	}
	for _, b := range bad {
		if b != "" {
			return b
		}
	}
	return ""
}

func TestTorture(t *testing.T) {
	n, rounds := 64, 8
	if testing.Short() {
		n, rounds = 16, 4
	}
	if bad := runTorture(n, rounds, 1); bad != "" {
		t.Fatal(bad)
	}
}

// TestHundredThousandSuspended suspends 100,000 coroutines, collects
// garbage, resumes them all, and checks that the heap returns to its
// baseline. The baseline is taken after one warm-up round of the same size,
// so that what the runtime keeps for reuse on purpose (the fallback's dead
// goroutines' g structs) is in it.
func TestHundredThousandSuspended(t *testing.T) {
	n := 100_000
	if testing.Short() || !Engine().StackSlicing { // the fallback costs a goroutine each
		n = 10_000
	}
	suspendAll(t, n)
	before := heapAfterGC()
	suspendAll(t, n)
	after := heapAfterGC()
	t.Logf("heap before %d, after all finished %d (%s)", before, after, Engine())
	if after > before+1<<20 {
		t.Fatalf("heap grew by %d bytes after all coroutines finished: a leak", after-before)
	}
}

func suspendAll(t *testing.T, n int) {
	cs := make([]*Coroutine, n)
	sums := make([]int, n)
	for i := range cs {
		cs[i] = New(func() { sums[i] = suspendedAt(3, i) })
		if cs[i].Resume() {
			t.Fatal("finished before yielding")
		}
	}
	runtime.GC()
	for i, c := range cs {
		if !c.Resume() {
			t.Fatal("did not finish")
		}
		if sums[i] != i*2+3 {
			t.Fatalf("coroutine %d: got %d, want %d", i, sums[i], i*2+3)
		}
	}
}

//go:noinline
func suspendedAt(depth, i int) int {
	if depth > 0 {
		return suspendedAt(depth-1, i) + 1
	}
	h := &[2]int{i, i}
	Yield()
	return h[0] + h[1]
}

func heapAfterGC() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
