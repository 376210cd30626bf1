//go:build (amd64 || arm64) && !purego && !race

package arch

import (
	"runtime"
	"strings"
	"testing"
	"unsafe"
)

// These tests drive SwitchIn and SwitchOut directly, without the engine's
// saving and restoring (package slice tests those): a coroutine started on
// the carrier's stack that returns, or that switches out for good. They
// leave g's GCurrent word as they found it, as slice does. (Not under -race,
// where the runtime owns that word.)

// gword returns the word of g at off.
func gword(off uintptr) uintptr { return *(*uintptr)(unsafe.Add(G(), off)) }

// at turns a stack address into a pointer (as slice does: the stack cannot
// move between taking the address and this use).
//
//go:nocheckptr
func at(a uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&a)) }

func setGword(off, v uintptr) { *(*uintptr)(unsafe.Add(G(), off)) = v }

// start runs fn as a new coroutine on this goroutine's stack, for co and
// owner, and restores GCurrent when SwitchIn returns.
//
//go:noinline
func start(fn func(), co unsafe.Pointer, owner any) {
	defer setGword(GCurrent, gword(GCurrent))
	ctx := Context{Fn: *(*unsafe.Pointer)(unsafe.Pointer(&fn)), Zero: 512}
	SwitchIn(&ctx, co, owner, gword(GCurrent))
	runtime.KeepAlive(fn)
	runtime.KeepAlive(owner)
}

// grow uses about n bytes of stack, so that the runtime copies it.
//
//go:noinline
func grow(n int) int {
	var pad [512]byte
	pad[n%512] = byte(n)
	if n <= 512 {
		return int(pad[n%512])
	}
	return grow(n-512) + int(pad[n%512])
}

// TestStartReturns: a started coroutine runs as a call from the carrier:
// its closure sees its variables, the GC and stack growth (which copies the
// carrier's stack with the coroutine's frames on it) walk through its
// frames into the carrier's, and its return returns from SwitchIn.
func TestStartReturns(t *testing.T) {
	ran, x := 0, 42
	var callers []string
	start(func() {
		runtime.GC()
		grow(64 << 10)
		ran += x
		pcs := make([]uintptr, 32)
		fs := runtime.CallersFrames(pcs[:runtime.Callers(1, pcs)])
		for more := true; more; {
			var f runtime.Frame
			f, more = fs.Next()
			callers = append(callers, f.Function)
		}
	}, nil, nil)
	if ran != 42 {
		t.Fatalf("the coroutine's function ran %d, want 42", ran)
	}
	if got := strings.Join(callers, " "); !strings.Contains(got, ".start\x20") || !strings.Contains(got, ".TestStartReturns ") {
		t.Errorf("from the coroutine, runtime.Callers sees %s: want the carrier's start and TestStartReturns", got)
	}
	if gword(GCurrent) != 0 {
		t.Errorf("GCurrent = %#x after SwitchIn returned, want 0", gword(GCurrent))
	}
}

// TestSwitchOut: SwitchOut, called inside a coroutine, returns from its
// SwitchIn; GCurrent names the running coroutine's top, where the carrier's
// co and owner arguments are.
func TestSwitchOut(t *testing.T) {
	type coroutine struct{ n int }
	co := &coroutine{}
	owner := any("owner")
	var seenCo unsafe.Pointer
	var seenOwner any
	after := false
	start(func() {
		off := gword(GCurrent)
		top := gword(8) - off // g.stack.hi - off
		seenCo = *(*unsafe.Pointer)(at(top + 16))
		seenOwner = *(*any)(at(top + 24))
		grow(32 << 10) // the stack moves: the offset stays right
		SwitchOut(gword(GCurrent))
		after = true
	}, unsafe.Pointer(co), owner)
	if after {
		t.Fatal("the coroutine went on after SwitchOut")
	}
	if seenCo != unsafe.Pointer(co) || seenOwner != owner {
		t.Errorf("at top+16 and top+24 the coroutine found %p and %v, want %p and %v", seenCo, seenOwner, co, owner)
	}
	runtime.GC() // the abandoned frames are below SP: nothing refers to them
}

// TestNested: a coroutine started inside a coroutine switches out to it,
// and GCurrent names the inner one while it runs.
func TestNested(t *testing.T) {
	var outerOff, innerOff uintptr
	order := ""
	start(func() {
		outerOff = gword(GCurrent)
		order += "o"
		start(func() {
			innerOff = gword(GCurrent)
			order += "i"
			SwitchOut(gword(GCurrent))
		}, nil, nil)
		if gword(GCurrent) != outerOff {
			t.Errorf("after the inner coroutine, GCurrent = %#x, want the outer's %#x", gword(GCurrent), outerOff)
		}
		order += "o"
	}, nil, nil)
	if order != "oio" || innerOff <= outerOff {
		t.Errorf("order %q, offsets outer %#x inner %#x: want \"oio\" and the inner deeper", order, outerOff, innerOff)
	}
}
