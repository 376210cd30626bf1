//go:build (amd64 || arm64) && !race && !purego

package slice

import (
	"unsafe"

	"github.com/stackslice/stackslice/arch"
)

// Defer records. Deferred calls that the compiler cannot open-code (all of
// them under -N, those in loops, more than eight) are runtime._defer records
// linked from g._defer, innermost first: stack-allocated ones inside the
// frames that deferred them, heap-allocated ones elsewhere. No stack map
// describes them; the runtime scans and adjusts them by walking g._defer.
//
// So on yield the coroutine's records (those whose sp lies in its region, a
// prefix of the chain) are unlinked from g and remembered; on resume they are
// relinked in front of whatever chain the new carrier has, with sp and the
// links rewritten for the new address. That happens before Yield calls any
// function that could grow the stack (copystack walks g._defer).

// rtDefer mirrors runtime._defer (identical in go1.26 and go1.27; the
// self-test checks a live record against it).
type rtDefer struct {
	heap      bool
	rangefunc bool
	sp        uintptr
	pc        uintptr
	fn        func()
	link      *rtDefer
	head      unsafe.Pointer
}

const deferFnOff = unsafe.Offsetof(rtDefer{}.fn)

// deferState is one coroutine's detached chain, innermost first.
type deferState struct {
	recs  []deferRec
	roots []uint32 // offsets of stack records' fn words, scanned as live slots
}

type deferRec struct {
	heap  *rtDefer // the record, if heap-allocated
	off   uint32   // else its offset in the region
	spOff uint32   // its sp, as an offset in the region
}

// checkFrames refuses to save a region that holds the runtime's record of a
// panic or Goexit in progress, or a range-over-func defer record, and counts
// the region's defer records. bp is suspend's frame pointer.
//
// The records it refuses: gopanic and Goexit link a _panic record in their
// frame to g._panic while they run deferred calls (including a call that
// recovers, until it returns), and the runtime keeps pointers to it; it is
// in the region when the coroutine itself panics. A deferred call run on a
// normal return (open-coded, or by deferreturn, whose _panic is not linked
// to g) is an ordinary call in the region, and may yield. A function whose
// range-over-func loop body has a defer statement holds a rangefunc record
// on g._defer from the loop's start until it returns (deferrangefunc), with
// the body's deferred calls on a list of its own: the engine does not move
// those.
//
//go:nosplit
//go:nocheckptr
func checkFrames(g unsafe.Pointer, topOff, bp uintptr) int {
	lo, top := regionStart(bp), gword(g, gStackHi)-topOff
	if p := gword(g, gPanic); p >= lo && p < top {
		yieldInDefer()
	}
	n := 0
	for d := *(**rtDefer)(unsafe.Add(g, gDefer)); d != nil && d.sp >= lo && d.sp < top; d = d.link {
		if d.rangefunc {
			yieldInRangeFuncDefer()
		}
		n++
	}
	return n
}

func yieldInDefer() {
	panic("slice: Yield called from a deferred function run by a panic or runtime.Goexit in the coroutine (even after it called recover): the runtime's panic record lies in the coroutine's frames and cannot be moved; yield before the panic, or in a deferred call run by a normal return or after the panic is recovered (those may yield)")
}

func yieldInRangeFuncDefer() {
	panic("slice: Yield called while a function has a range-over-func loop whose body has a defer statement (from the loop's start until the function returns): the runtime's record of those deferred calls cannot be moved; move the defer out of the loop body, or yield before the loop or after that function returns")
}

// newDeferState allocates room for n records, or returns nil when n is 0.
func newDeferState(n int) *deferState {
	if n == 0 {
		return nil
	}
	return &deferState{recs: make([]deferRec, n), roots: make([]uint32, 0, n)}
}

// fill records the region's first len(ds.recs) defer records, as offsets
// from lo where they live on the stack.
//
//go:nosplit
//go:nocheckptr
func (ds *deferState) fill(g unsafe.Pointer, lo, size uintptr) {
	if ds == nil {
		return
	}
	d := *(**rtDefer)(unsafe.Add(g, gDefer))
	for i := range ds.recs {
		r := &ds.recs[i]
		r.spOff = uint32(d.sp - lo)
		if a := uintptr(unsafe.Pointer(d)); a-lo < size {
			r.off = uint32(a - lo)
			if d.fn != nil {
				ds.roots = append(ds.roots, r.off+uint32(deferFnOff)) // within capacity
			}
		} else {
			r.heap = d
		}
		d = d.link
	}
}

// detachDefers unlinks the first n records from g. Heap records drop their
// links (which may point into the region, soon dead stack memory); they are
// relinked on resume.
//
//go:nosplit
func detachDefers(g unsafe.Pointer, n int) {
	head := (**rtDefer)(unsafe.Add(g, gDefer))
	d := *head
	for ; n > 0; n-- {
		next := d.link
		if d.heap {
			d.link = nil
		}
		d = next
	}
	*head = d
}

// reattachDefers relinks c's records in front of g's chain, at the region's
// new address. yieldBP is the resumed Yield frame's BP.
//
//go:nosplit
//go:nocheckptr
func reattachDefers(c *Coroutine, yieldBP uintptr) {
	ds := c.ext.defers
	lo := regionFromYieldBP(yieldBP)
	g := arch.G()
	head := (**rtDefer)(unsafe.Add(g, gDefer))
	next := *head
	for i := len(ds.recs) - 1; i >= 0; i-- {
		r := &ds.recs[i]
		d := r.heap
		if d == nil {
			d = (*rtDefer)(at(lo + uintptr(r.off)))
			// A stack word: store without a write barrier, as the
			// runtime does for stack records.
			*(*uintptr)(unsafe.Pointer(&d.link)) = uintptr(unsafe.Pointer(next))
		} else {
			d.link = next
		}
		d.sp = lo + uintptr(r.spOff)
		next = d
	}
	if ds.recs[0].heap == nil {
		*(*uintptr)(unsafe.Pointer(head)) = uintptr(unsafe.Pointer(next))
	} else {
		*head = next
	}
	c.ext.defers = nil
}
