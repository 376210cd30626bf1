//go:build (amd64 || arm64) && !race && !purego

package slice

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"unsafe"

	"github.com/stackslice/stackslice/arch"
	"github.com/stackslice/stackslice/stackmap"
)

// selfTest checks, before the engine is trusted, every runtime layout it
// depends on, by running tiny coroutines through yield, GC, carrier stack
// growth and resume on another goroutine. Any failure selects the fallback.
// It runs before engineOn reports true, so it calls the engine directly
// (resumeSlice) rather than through Resume; Yield works while the mode is
// modeTesting.
func selfTest() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	if err := stackmap.SelfCheck(); err != nil {
		return err
	}
	if err := checkG(); err != nil {
		return err
	}
	f, ok := stackmap.FindFunc(reflect.ValueOf((*Coroutine).resumeSlice).Pointer())
	if !ok {
		return errors.New("cannot find resumeSlice's function table entry")
	}
	carrierEntry = f.Entry()
	if err := probeFnCall(); err != nil {
		return err
	}
	return roundTrip()
}

// checkG verifies g's stack bounds against a local's address, and the word
// that records the running coroutine (gCurrent) by its neighbours on a new
// goroutine: startpc (its function's entry) and gopc (the go statement, in
// checkGSlot) around a racectx that is zero.
func checkG() error {
	var local int
	g := arch.G()
	a := uintptr(unsafe.Pointer(&local))
	if lo, hi := gword(g, gStackLo), gword(g, gStackHi); !(lo < a && a < hi && hi-lo >= 2048) {
		return fmt.Errorf("g.stack is not at the expected offsets (lo=%#x hi=%#x, local at %#x)", lo, hi, a)
	}
	// The status is only for Carrier.Blocked: a mismatch turns that off,
	// not the engine.
	gStatusChecked = gstatus(g) == gsRunning
	return checkGSlot()
}

// gProbe runs on its own goroutine for checkGSlot and sends its g's words.
func gProbe() {
	g := arch.G()
	gProbeOut <- [3]uintptr{gword(g, gGoPC), gword(g, gStartPC), gword(g, gCurrent)}
}

var gProbeOut = make(chan [3]uintptr)

//go:noinline
func checkGSlot() error {
	go gProbe()
	w := <-gProbeOut
	f, ok := stackmap.FindFunc(w[0])
	self, ok2 := stackmap.FindFunc(reflect.ValueOf(checkGSlot).Pointer())
	if !ok || !ok2 || f.Entry() != self.Entry() || w[1] != reflect.ValueOf(gProbe).Pointer() || w[2] != 0 {
		return fmt.Errorf("g.gopc, startpc and racectx are not at the expected offsets (%#x %#x %#x)", w[0], w[1], w[2])
	}
	return nil
}

// probeFnCall checks that a coroutine's function returns into resumeSlice
// (its return address is the carrier's), and that the coroutine finds
// itself through g's current word, which is back to zero afterwards.
func probeFnCall() error {
	var ret uintptr
	var found *Coroutine
	c := &Coroutine{}
	c.fn = func() {
		var pcs [1]uintptr
		runtime.Callers(2, pcs[:])
		ret = pcs[0]
		found, _ = findCurrent()
	}
	c.state.Store(stateRunning)
	if !c.resumeSlice(nil, false) {
		return errors.New("probe coroutine did not finish")
	}
	if f, ok := stackmap.FindFunc(ret); !ok || f.Entry() != carrierEntry {
		return fmt.Errorf("probe coroutine does not return into resumeSlice (return pc %#x)", ret)
	}
	if found != c {
		return errors.New("a coroutine does not find itself through g")
	}
	if w := gword(arch.G(), gCurrent); w != 0 {
		return fmt.Errorf("g's current word is %#x after the coroutine returned", w)
	}
	return nil
}

// roundTrip runs a coroutine that keeps heap pointers, a stack object and a
// pointer to it, and a stack-allocated defer record across yields, with a GC
// while it is suspended, a resume from a deeper, grown stack on another
// goroutine, and checks every value.
func roundTrip() error {
	var got []int
	deferRan := false
	c := &Coroutine{fn: func() { selfTestBody(&got, &deferRan) }}
	step := func() bool { c.state.Store(stateRunning); return c.resumeSlice(nil, false) }
	if step() {
		if c.ext != nil && c.ext.panic != nil {
			return fmt.Errorf("coroutine panicked: %v", c.ext.panic.Value)
		}
		return errors.New("coroutine finished before its first yield")
	}
	if c.savedSize() == 0 {
		return errors.New("no block saved")
	}
	if fc, _ := findCurrent(); fc != nil {
		return errors.New("findCurrent found a coroutine on the carrier")
	}
	runtime.GC()
	done := make(chan bool)
	go func() {
		growStack(64 << 10)
		done <- step()
	}()
	if <-done {
		return errors.New("coroutine finished before its second yield")
	}
	runtime.GC()
	if !step() {
		return errors.New("coroutine did not finish")
	}
	want := []int{1, 2, 3, 42, 7}
	if fmt.Sprint(got) != fmt.Sprint(want) || !deferRan {
		return fmt.Errorf("coroutine computed %v (deferred call ran: %v), want %v (true)", got, deferRan, want)
	}
	return nil
}

//go:noinline
func selfTestBody(got *[]int, deferRan *bool) {
	defer func() { *deferRan = true }()
	type node struct {
		v    int
		next *node
	}
	heap := &node{v: 1}
	local := node{v: 2, next: heap} // a stack object, pointed to by p
	p := &local
	if c, _ := findCurrent(); c == nil {
		panic("findCurrent found no coroutine inside one")
	}
	Yield()
	*got = append(*got, p.next.v, p.v)
	arr := [4]*node{{v: 3}, {v: 42}}
	q := &arr
	Yield()
	*got = append(*got, q[0].v, q[1].v, len(fmt.Sprint(p.v*3500000)))
}
