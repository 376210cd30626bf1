//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package slice

import (
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// debug.SetPanicOnFault is goroutine state: on the engine a coroutine uses
// its carrier's setting (see the package documentation), on the fallback its
// own goroutine's. Either way, a coroutine that sets it and restores it
// without yielding in between gets a recoverable fault, wherever it runs.

// readOnlyPage maps a page a write to which faults at an address the
// runtime does not take for a nil dereference (as runtime/debug's own
// TestPanicOnFault does).
func readOnlyPage(t *testing.T) []byte {
	t.Helper()
	m, err := syscall.Mmap(-1, 0, 0x1000, syscall.PROT_READ, syscall.MAP_SHARED|syscall.MAP_ANON)
	if err != nil {
		t.Fatalf("can't map anonymous memory: %s", err)
	}
	t.Cleanup(func() { syscall.Munmap(m) })
	return m
}

// faultWith writes to m[off] with panic-on-fault set, restoring the setting
// before it returns, and returns the address the fault reported (0 if it
// did not fault or panicked otherwise).
//
//go:noinline
func faultWith(m []byte, off int) (addr uintptr) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if a, ok := recover().(interface{ Addr() uintptr }); ok {
			addr = a.Addr()
		}
	}()
	m[off] = 1
	return 0
}

func TestPanicOnFaultAfterMigration(t *testing.T) {
	m := readOnlyPage(t)
	var got []uintptr
	c := New(func() {
		for off := 0x10; off < 0x1000; off += 0x3e0 {
			Yield() // resumed on another goroutine, at another depth
			got = append(got, faultWith(m, off))
		}
	})
	for i := 0; ; i++ {
		done := false
		fresh := make(chan bool)
		go func() {
			done = atDepth(i%7*13, c.Resume)
			// The coroutine restored the setting: the carrier's is unset.
			fresh <- debug.SetPanicOnFault(false)
		}()
		if <-fresh {
			t.Fatalf("resume %d left panic-on-fault set on its carrier", i)
		}
		if done {
			break
		}
	}
	if len(got) != 5 {
		t.Fatalf("%d faults, want 5", len(got))
	}
	for i, a := range got {
		if want := uintptr(unsafe.Pointer(&m[0x10+i*0x3e0])); a != want {
			t.Errorf("fault %d: address %#x, want %#x", i, a, want)
		}
	}
}

// What the package documentation says: on the engine, a setting left across
// a Yield stays with the carrier that ran the coroutine, and the coroutine
// finds the setting of the carrier that resumes it; on the fallback, the
// coroutine keeps its own.
func TestPanicOnFaultIsTheCarriers(t *testing.T) {
	var seen bool
	c := New(func() {
		debug.SetPanicOnFault(true)
		Yield()
		seen = debug.SetPanicOnFault(false)
	})
	left := make(chan bool)
	go func() {
		c.Resume()
		left <- debug.SetPanicOnFault(false)
	}()
	carrierKept := <-left
	go func() {
		c.Resume()
		left <- debug.SetPanicOnFault(false)
	}()
	secondKept := <-left
	if Engine().StackSlicing {
		if !carrierKept || seen || secondKept {
			t.Fatalf("engine: first carrier kept %v (want true), coroutine then saw %v (want false), second carrier kept %v (want false)", carrierKept, seen, secondKept)
		}
		return
	}
	if carrierKept || !seen || secondKept {
		t.Fatalf("fallback: first carrier kept %v (want false), coroutine then saw %v (want true), second carrier kept %v (want false)", carrierKept, seen, secondKept)
	}
}

// The consequence on the engine: a setting made before a Yield does not
// follow the coroutine to the goroutine that resumes it, and a fault there
// is fatal. Run in a child process, which dies.
func TestPanicOnFaultLostAcrossMigration(t *testing.T) {
	if !Engine().StackSlicing {
		t.Skip("the fallback's coroutine keeps its own goroutine's setting")
	}
	if os.Getenv("SLICE_FAULT_CHILD") == "1" {
		m := readOnlyPage(t)
		c := New(func() {
			debug.SetPanicOnFault(true)
			Yield()
			defer func() { recover() }()
			m[0x3e7] = 1
		})
		c.Resume()
		done := make(chan bool)
		go func() { done <- c.Resume() }()
		<-done
		fmt.Println("recovered the fault")
		return
	}
	cmd := childCommand("-test.run=^TestPanicOnFaultLostAcrossMigration$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SLICE_FAULT_CHILD=1", "GOTRACEBACK=single")
	out, err := cmd.CombinedOutput()
	skipIfCannotExec(t, err)
	if err == nil || !strings.Contains(string(out), "unexpected fault address") || strings.Contains(string(out), "recovered the fault") {
		t.Fatalf("child: %v, output:\n%s\nwant a fatal \"unexpected fault address\"", err, out)
	}
}
