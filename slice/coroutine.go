package slice

import (
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"

	"github.com/stackslice/stackslice/stackmap"
)

// Coroutine states. A coroutine moves new -> running -> (suspended ->
// running)* -> done; only Resume moves it to running, with a compare-and-swap,
// so two goroutines can never run it at once.
const (
	stateNew uint32 = iota
	stateSuspended
	stateRunning
	stateDone
	stateBusy // suspended, and held by another goroutine (Compress, Callers, Packed): Resume waits
)

// A Coroutine is a function that can suspend itself with Yield and be
// continued later with Resume, from any goroutine.
//
// While it runs, a coroutine is ordinary Go code on the stack of the goroutine
// that called Resume (its carrier). While it is suspended, the stack-slicing
// engine keeps it as a compact heap block: see Size.
type Coroutine struct {
	fn    func()
	state atomic.Uint32
	// flags are written only by the goroutine that holds the coroutine in
	// stateRunning or stateBusy (or by Resume just before it enters): see
	// flag* below.
	flags uint32
	// nshadow and shadowCap count the pointer shadow's live entries and
	// its capacity (engine).
	nshadow, shadowCap uint32
	// blk is the saved block while suspended (engine), else nil.
	blk unsafe.Pointer
	// shadow points at the first element of the pointer shadow: the heap
	// pointers the saved block holds, kept where the GC sees them.
	shadow *unsafe.Pointer
	// ext holds what few coroutines need: the fallback's goroutine state,
	// detached defer records, a panic on its way to Resume.
	ext *extra
}

// Flags, see Coroutine.flags.
const (
	flagSaved  uint32 = 1 << iota // engine: the coroutine's region is in its block
	flagPacked                    // engine: the block is packed (mode in flagModeMask)
	flagBare                      // engine: packed against a template with no diff: blk is the template
	flagDirect                    // engine: a yield returns from ResumeFor directly (see switchOut)

	flagModeShift = 6
	flagModeMask  = 7 << flagModeShift // the Compression of a packed block
	// The coroutine's own mode of packing at yield (SetCompression),
	// plus one: zero means none of its own, the global one applies.
	flagOwnModeShift = 9
	flagOwnModeMask  = 7 << flagOwnModeShift
	// Where the plan of the coroutine's last save sits in stackmap's
	// cache (a stackmap.LookupHint hint; engine).
	flagHintShift = 12
	flagHintMask  = 1<<(flagHintShift+stackmap.HintBits) - 1<<flagHintShift
)

// extra is the rarely needed part of a Coroutine.
type extra struct {
	fb     *fallback   // goroutine-backed implementation, when in use
	defers *deferState // engine: defer records detached at the last yield
	panic  *PanicError // a panic that ended the coroutine, for Resume

	// How the coroutine ended, if not by returning: set before the state
	// becomes stateDone, for resumeMisuse.
	panicked bool // its function panicked
	goexit   bool // its function called runtime.Goexit
}

func (c *Coroutine) ext_() *extra {
	if c.ext == nil {
		c.ext = new(extra)
	}
	return c.ext
}

// New returns a coroutine that will run fn when first resumed. It does not
// start it.
func New(fn func()) *Coroutine {
	if fn == nil {
		panic("slice: New called with a nil function")
	}
	c := &Coroutine{fn: fn}
	if !engineOn() {
		c.ext_().fb = newFallback(c)
	}
	return c
}

// Resume runs c until it yields or returns, and reports whether it returned
// (done). It may be called from any goroutine, one call at a time.
//
// If fn panics, the coroutine is finished and Resume panics with a
// *PanicError holding the value and the coroutine's stack trace. Resuming a
// running or finished coroutine panics.
func (c *Coroutine) Resume() (done bool) { return c.ResumeFor(nil) }

// ResumeFor is Resume on behalf of owner: until the coroutine next yields
// or returns, code running in it (not in coroutines nested in it) gets
// owner from Owner. A scheduler passes the record of the carrier that
// resumes the coroutine, so that the coroutine's code finds its task and
// carrier without a lookup. owner is kept alive until ResumeFor returns.
//
//go:noinline
func (c *Coroutine) ResumeFor(owner any) (done bool) {
	// The one atomic read-modify-write of a round trip: it is what makes
	// two Resumes of one coroutine exclude each other.
	if !c.state.CompareAndSwap(stateSuspended, stateRunning) {
		c.acquire() // new, held by another goroutine, or misuse
	}
	if c.ext != nil && c.ext.fb != nil {
		done = c.ext.fb.resume(owner)
		if !done {
			c.state.Store(stateSuspended)
			return false
		}
	} else if done = c.resumeSlice(owner, true); !done {
		// (Usually a yield packs c and returns from ResumeFor itself,
		// publishing c as below: see switchOut. ResumeFor is never
		// inlined, for that. This is the way of a build without
		// optimizations.)
		if c.mayPackAtYield() {
			c.packAtYield()
		}
		c.publishSuspended() // after every write to c and its block
		return false
	}
	c.state.Store(stateDone)
	if c.ext != nil && c.ext.panic != nil {
		p := c.ext.panic
		c.ext.panic = nil
		panic(p)
	}
	return true
}

// acquire moves c to running for Resume, waiting while another goroutine
// holds it (busy).
func (c *Coroutine) acquire() {
	for !c.state.CompareAndSwap(stateSuspended, stateRunning) &&
		!c.state.CompareAndSwap(stateNew, stateRunning) {
		switch c.state.Load() {
		case stateBusy:
			runtime.Gosched() // held by Compress, Callers or Packed: briefly
		case stateRunning, stateDone:
			c.resumeMisuse()
		}
		// Suspended or new again: a hold ended after the CAS. Retry.
	}
}

// SetCompression gives c a mode of its own in which it is packed each time
// it yields, overriding the global one (SetCompression); CompressNone keeps
// it unpacked at its yields whatever the global mode. It has no effect on the
// goroutine-backed fallback. Call it before c starts, from inside c, or while
// c is suspended; not while another goroutine resumes it.
func (c *Coroutine) SetCompression(m Compression) {
	if m > CompressTemplate {
		panic("slice: SetCompression with an unknown Compression mode")
	}
	// Hold c still: Compress writes c.flags while it has c busy.
	if s := c.state.Load(); s != stateRunning && s != stateDone {
		defer c.state.Store(c.hold())
	}
	c.flags = c.flags&^flagOwnModeMask | (uint32(m)+1)<<flagOwnModeShift
}

// hold moves a new or suspended c to busy, waiting while another goroutine
// holds it, and returns the state to put back.
func (c *Coroutine) hold() uint32 {
	for {
		if c.state.CompareAndSwap(stateSuspended, stateBusy) {
			return stateSuspended
		}
		if c.state.CompareAndSwap(stateNew, stateBusy) {
			return stateNew
		}
		switch c.state.Load() {
		case stateBusy:
			runtime.Gosched() // held by Compress, Callers or Packed: briefly
		case stateRunning, stateDone:
			panic("slice: SetCompression while another goroutine resumes the coroutine; set its mode before it starts, from inside it, or while it is suspended")
		}
		// Suspended or new again: a hold ended after the CAS. Retry.
	}
}

// yieldMode is the mode c is packed in at its yields: its own, else the
// global one.
func (c *Coroutine) yieldMode() Compression {
	if own := c.flags & flagOwnModeMask; own != 0 {
		return Compression(own>>flagOwnModeShift - 1)
	}
	return Compression(globalMode.Load())
}

// mayPackAtYield reports whether c may have a mode that packs it at a
// yield (its own, or the global one): the inline test in front of
// packAtYield, which a round trip with no compression then never calls.
func (c *Coroutine) mayPackAtYield() bool {
	return c.flags&flagOwnModeMask != 0 || globalMode.Load() != uint32(CompressNone)
}

// packAtYield runs in Resume after c yielded, while Resume still owns it:
// it packs c if its mode says so.
func (c *Coroutine) packAtYield() {
	if m := c.yieldMode(); m != CompressNone {
		c.pack(m)
	}
}

// Compress packs a suspended coroutine's block now, in mode m, and reports
// whether it did (a block that would not shrink is left as it is, and so is
// a coroutine that is not suspended, is packed already, or runs on the
// fallback). Resume unpacks it transparently. It may be called from any
// goroutine.
func (c *Coroutine) Compress(m Compression) bool {
	if m > CompressTemplate {
		panic("slice: Compress with an unknown Compression mode")
	}
	if !c.state.CompareAndSwap(stateSuspended, stateBusy) {
		return false
	}
	defer c.state.Store(stateSuspended)
	if c.ext != nil && c.ext.fb != nil {
		return false
	}
	return c.pack(m)
}

// Packed reports whether c is suspended with its block packed, by Compress
// or at its last yield. It may be called from any goroutine; it reports
// false for a coroutine that is not suspended, and on the goroutine-backed
// fallback.
func (c *Coroutine) Packed() bool {
	for !c.state.CompareAndSwap(stateSuspended, stateBusy) {
		switch c.state.Load() {
		case stateBusy:
			runtime.Gosched() // held by Compress or Callers: briefly
		case stateSuspended:
			// A hold ended after the CAS. Retry.
		default:
			return false
		}
	}
	defer c.state.Store(stateSuspended)
	return c.flags&flagPacked != 0
}

func (c *Coroutine) resumeMisuse() {
	switch c.state.Load() {
	case stateRunning:
		panic("slice: Resume of a running coroutine: it is already running, either because another goroutine resumed it at the same time or because it tried to resume itself; resume a coroutine from one place at a time")
	case stateDone:
		panic("slice: Resume of a finished coroutine: " + c.howEnded() + "; create a new coroutine with New")
	default:
		panic("slice: Resume raced with another Resume of the same coroutine; resume a coroutine from one place at a time")
	}
}

// howEnded says how a finished coroutine's function ended.
func (c *Coroutine) howEnded() string {
	switch {
	case c.ext != nil && c.ext.panicked:
		return "its function panicked (the Resume that ran it panicked with a *PanicError)"
	case c.ext != nil && c.ext.goexit:
		return "its function called runtime.Goexit (which ended the goroutine that resumed it)"
	}
	return "its function already returned (Resume reported done)"
}

// Done reports whether c's function has finished: returned, panicked or
// called runtime.Goexit.
func (c *Coroutine) Done() bool { return c.state.Load() == stateDone }

// Callers returns the program counters of a suspended coroutine's frames,
// innermost (Yield) first, in the form runtime.CallersFrames takes: for
// dumps of coroutines that are not running. It may be called from any
// goroutine; it returns nil for a coroutine that is not suspended, and for
// the goroutine-backed fallback.
func (c *Coroutine) Callers() []uintptr {
	if c.ext != nil && c.ext.fb != nil || !c.state.CompareAndSwap(stateSuspended, stateBusy) {
		return nil
	}
	defer c.state.Store(stateSuspended)
	return c.savedCallers()
}

// Size returns the bytes c holds while suspended: its saved stack block,
// relocation table, pointer shadow and the Coroutine itself. For the
// goroutine-backed implementation it is the goroutine's stack size.
func (c *Coroutine) Size() int {
	if c.ext != nil && c.ext.fb != nil {
		return int(unsafe.Sizeof(*c)) + c.ext.fb.size()
	}
	return int(unsafe.Sizeof(*c)) + c.savedSize()
}

// Current returns the coroutine the caller runs in, or nil outside any
// coroutine. In nested coroutines it is the innermost.
func Current() *Coroutine {
	if !engineMayRun() {
		return currentFallback()
	}
	return currentSlice()
}

// Owner returns the owner given to ResumeFor by whoever resumed the
// coroutine the caller runs in (the innermost one), or nil: outside any
// coroutine, or when it was resumed with Resume.
func Owner() any {
	if !engineMayRun() {
		return ownerFallback()
	}
	return ownerSlice()
}

// PanicError is the value Resume panics with when the coroutine's function
// panicked. It wraps the original value: errors.As and errors.Is see through
// it when the value is an error.
type PanicError struct {
	Value any    // the value the coroutine panicked with
	Stack []byte // the coroutine's stack at the panic, as runtime/debug.Stack prints it
}

func (p *PanicError) Error() string {
	return fmt.Sprintf("slice: coroutine panicked: %v\n\ncoroutine stack:\n%s", p.Value, p.Stack)
}

// Unwrap returns the panic value when it is an error.
func (p *PanicError) Unwrap() error {
	if err, ok := p.Value.(error); ok {
		return err
	}
	return nil
}

var errGoexit = errors.New("slice: runtime.Goexit called inside a coroutine")
