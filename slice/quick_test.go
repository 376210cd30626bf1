package slice

import (
	"errors"
	"fmt"
	"runtime"
	"testing"
)

// The engine's quick save (stackmap's Quick, straight into the block's and
// the shadow's spare room) gives up when a save finds more than that room
// holds, and hands the region to the general scan as it found it. These
// tests make the pointers a coroutine holds at one yield change from
// yield to yield, so that the quick save fits at some and not at others.

type quickObj struct{ v int }

// quickFrame holds n heap pointers (n = 0, 3 or 6 by round) across a
// yield, with a GC while suspended, and checks them afterwards.
//
//go:noinline
func quickFrame(round int, errs *[]error) {
	// Six variables, not an array, and no composite literals: those would
	// be stack objects, and this test is about live slots (see
	// TestQuickSaveWithObjects for objects).
	var p0, p1, p2, p3, p4, p5 *quickObj
	n := 0
	switch round % 3 {
	case 1:
		n = 3
	case 2:
		n = 6
	}
	if n >= 3 {
		p0, p1, p2 = newQuickObj(round, 0), newQuickObj(round, 1), newQuickObj(round, 2)
	}
	if n >= 6 {
		p3, p4, p5 = newQuickObj(round, 3), newQuickObj(round, 4), newQuickObj(round, 5)
	}
	Yield()
	runtime.GC()
	if n >= 3 {
		checkQuickObj(errs, round, 0, p0)
		checkQuickObj(errs, round, 1, p1)
		checkQuickObj(errs, round, 2, p2)
	}
	if n >= 6 {
		checkQuickObj(errs, round, 3, p3)
		checkQuickObj(errs, round, 4, p4)
		checkQuickObj(errs, round, 5, p5)
	}
}

//go:noinline
func newQuickObj(round, i int) *quickObj { return &quickObj{round*10 + i} }

func checkQuickObj(errs *[]error, round, i int, p *quickObj) {
	if p == nil || p.v != round*10+i {
		*errs = append(*errs, fmt.Errorf("round %d: pointer %d lost across the yield", round, i))
	}
}

// quickBox is a stack object of quickObjFrame: heap pointers and a
// pointer to itself, all in the object's words.
type quickBox struct {
	p    [6]*quickObj
	self *quickBox
}

// quickObjFrame is quickFrame with the pointers in stack objects: a box
// holding n heap pointers and its own address, and a deferred closure
// that checks the box when the frame returns. A quick save must find
// both objects live (the closure through the defer's slot, the box
// through the closure and the argument of useBox's call) and relocate the
// box's pointer to itself.
//
//go:noinline
func quickObjFrame(round int, errs *[]error) {
	var box quickBox
	n := round % 3 * 3
	for i := 0; i < n; i++ {
		box.p[i] = newQuickObj(round, i)
	}
	box.self = &box
	defer func() {
		if box.self != &box {
			*errs = append(*errs, fmt.Errorf("round %d: the box's pointer to itself was not relocated", round))
		}
		for i := 0; i < n; i++ {
			checkQuickObj(errs, round, i, box.p[i])
		}
	}()
	useBox(&box)
	Yield()
	runtime.GC()
	if box.self != &box {
		*errs = append(*errs, fmt.Errorf("round %d: the box's pointer to itself was not relocated", round))
	}
	for i := 0; i < n; i++ {
		checkQuickObj(errs, round, i, box.p[i])
	}
}

//go:noinline
func useBox(b *quickBox) {
	if b.self != b {
		panic("quickBox not set up")
	}
}

// quickRoundTrips runs a coroutine through rounds of frame (quickFrame or
// quickObjFrame), resumed on several goroutines (other addresses), and
// returns what went wrong, including a panic out of Resume.
func quickRoundTrips(rounds int, frame func(int, *[]error)) (err error) {
	var errs []error
	c := New(func() {
		for r := 0; r < rounds; r++ {
			frame(r, &errs)
		}
	})
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("Resume panicked: %v", r)
		}
	}()
	for i := 0; ; i++ {
		done := make(chan bool)
		go func() {
			defer func() {
				if r := recover(); r != nil {
					errs = append(errs, fmt.Errorf("Resume %d panicked: %v", i, r))
					done <- true
				}
			}()
			deep(i % 4 * 64) // resume from deeper frames, on a grown stack
			done <- c.Resume()
		}()
		if <-done {
			break
		}
	}
	return errors.Join(errs...)
}

func TestQuickSaveFallsBack(t *testing.T) {
	if err := quickRoundTrips(24, quickFrame); err != nil {
		t.Fatal(err)
	}
}

// TestQuickSaveWithObjects is TestQuickSaveFallsBack with the pointers in
// stack objects, which the quick save tracks too.
func TestQuickSaveWithObjects(t *testing.T) {
	if err := quickRoundTrips(24, quickObjFrame); err != nil {
		t.Fatal(err)
	}
}
