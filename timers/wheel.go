package timers

import (
	"math"
	"math/bits"
	"sync"
	"time"
	"unsafe"
)

// Wheel geometry: levels of 64 slots each. Level k holds timers due in
// [64^k, 64^(k+1)) ticks from the wheel's current tick. Six levels cover
// 2^36 ticks (about 2.2 years at 1ms); timers further out are parked in the
// top level and re-filed when their slot comes up, so any duration works.
const (
	slotBits   = 6
	numSlots   = 1 << slotBits // slots per level
	slotMask   = numSlots - 1
	numLevels  = 6
	wheelSlots = numLevels * numSlots
	maxDelta   = 1<<(slotBits*numLevels) - 1 // farthest tick a slot can hold

	// Pseudo slots: list heads after the wheel slots.
	slotExpired = wheelSlots     // due; fired by the next Advance
	slotFiring  = wheelSlots + 1 // taken by a running Advance, not yet fired
	numLists    = wheelSlots + 2

	// Relative tick values are clamped to ±maxRel so that the difference
	// of two ticks always fits in an int64.
	maxRel = 1 << 61
)

// Option configures a Wheel.
type Option func(*Wheel)

// WithResolution sets the tick length (default 1ms). Values <= 0 are
// ignored.
func WithResolution(d time.Duration) Option {
	return func(w *Wheel) {
		if d > 0 {
			w.res = d
		}
	}
}

// WithClock replaces the time source (default: the monotonic clock). It is
// meant for tests with a fake clock; the clock must never go backwards.
func WithClock(now func() time.Time) Option {
	return func(w *Wheel) {
		if now != nil {
			w.clock = now
		}
	}
}

// withTickBase makes the internal tick counter start at base instead of 0
// (tests use it to exercise wrap-around of the uint64 counter).
func withTickBase(base uint64) Option {
	return func(w *Wheel) { w.base = base }
}

// Wheel is a hierarchical timing wheel. All methods are safe for
// concurrent use. The zero value is not usable; call New.
type Wheel struct {
	mu    sync.Mutex
	res   time.Duration
	start time.Time
	clock func() time.Time // nil: monotonic time.Since(start)
	base  uint64           // tick at start
	cur   uint64           // last processed tick
	count int              // pending timers
	seq   uint64           // last registration number handed out

	arena                    // timer nodes and list heads
	bitmap [numLevels]uint64 // non-empty wheel slots per level

	// Run support: while a Run loop sleeps until tick sleepUntil, adding
	// an earlier timer wakes it through wake.
	sleeping   bool
	sleepUntil uint64
	wake       chan struct{}
}

// New returns an empty wheel whose tick 0 is the current time.
func New(opts ...Option) *Wheel {
	w := &Wheel{res: time.Millisecond, wake: make(chan struct{}, 1)}
	for _, o := range opts {
		o(w)
	}
	w.start = w.now()
	w.cur = w.base
	w.initArena(numLists)
	return w
}

// now returns the current time per the wheel's clock.
func (w *Wheel) now() time.Time {
	if w.clock != nil {
		return w.clock()
	}
	return time.Now()
}

// elapsed returns the time since the wheel's start according to its clock.
func (w *Wheel) elapsed() time.Duration {
	if w.clock != nil {
		return w.clock().Sub(w.start)
	}
	return time.Since(w.start) // reads only the monotonic clock
}

// dueTick converts an elapsed time (since start) to the first tick at or
// after it, so that a timer is never early.
func (w *Wheel) dueTick(e time.Duration) uint64 {
	q, r := w.div(e)
	if r > 0 {
		q++
	}
	return w.base + uint64(clampRel(int64(q)))
}

// floorTick converts an elapsed time to the last tick at or before it.
func (w *Wheel) floorTick(e time.Duration) uint64 {
	q, r := w.div(e)
	if r < 0 {
		q--
	}
	return w.base + uint64(clampRel(int64(q)))
}

// div divides by the resolution (by a constant in the common 1ms case).
func (w *Wheel) div(e time.Duration) (q, r time.Duration) {
	if w.res == time.Millisecond {
		q = e / time.Millisecond
	} else {
		q = e / w.res
	}
	return q, e - q*w.res
}

func clampRel(v int64) int64 {
	return max(-maxRel, min(v, maxRel))
}

// addSat adds two durations, saturating instead of overflowing.
func addSat(a, b time.Duration) time.Duration {
	s := a + b
	if b > 0 && s < a {
		return math.MaxInt64
	}
	if b < 0 && s > a {
		return math.MinInt64
	}
	return s
}

// Add schedules fn to run once after at least d and returns its handle.
// A d <= 0 makes the timer due at once: it fires on the next Advance.
// fn runs on the goroutine that calls Advance (or Run), never with the
// wheel's lock held, so it may use the wheel freely. Add does not allocate
// (beyond occasional growth of the wheel's node storage).
func (w *Wheel) Add(d time.Duration, fn func()) Timer {
	when, now := w.dueAfter(d)
	return w.add(when, now, fn)
}

// AddAt schedules fn to run once at or after t (per the wheel's clock). A t
// that is not in the future makes the timer fire on the next Advance.
func (w *Wheel) AddAt(t time.Time, fn func()) Timer {
	due, e := t.Sub(w.start), w.elapsed()
	if due <= e {
		return w.add(0, true, fn)
	}
	return w.add(w.dueTick(due), false, fn)
}

// dueAfter returns the due tick of a timer d from now, or now=true if it
// is already due (d <= 0): such a timer fires on the next Advance, whatever
// that Advance's time.
func (w *Wheel) dueAfter(d time.Duration) (when uint64, now bool) {
	if d <= 0 {
		return 0, true
	}
	return w.dueTick(addSat(w.elapsed(), d)), false
}

func (w *Wheel) add(when uint64, now bool, fn func()) Timer {
	w.mu.Lock()
	i, seq := w.arm(when, now, callFunc, funcArg(fn))
	w.mu.Unlock()
	return Timer{w: w, fn: fn, seq: seq, idx: i}
}

// funcArg and callFunc store a func() callback in a node: a func value is
// a pointer to its closure, which is what callFunc gets back as arg.
func funcArg(fn func()) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&fn)) }

func callFunc(p unsafe.Pointer) { (*(*func())(unsafe.Pointer(&p)))() }

// arm allocates a node for fn(arg) due at tick when (or already due) and
// queues it. w.mu must be held.
func (w *Wheel) arm(when uint64, now bool, fn func(unsafe.Pointer), arg unsafe.Pointer) (uint32, uint64) {
	if now {
		when = w.cur
	}
	i := w.alloc()
	n := w.node(i)
	w.seq++
	n.seq, n.fn, n.arg, n.when = w.seq, fn, arg, when
	w.count++
	w.insert(i, n)
	w.wakeRun(when)
	return i, n.seq
}

// release unlinks a pending node and returns it to the free list.
// w.mu must be held.
func (w *Wheel) release(i uint32, n *node) {
	w.unlink(i, n)
	w.count--
	w.free(i, n)
}

// wakeRun wakes a sleeping Run loop if a timer due at when is earlier than
// its wake-up time. w.mu must be held.
func (w *Wheel) wakeRun(when uint64) {
	if w.sleeping && int64(when-w.sleepUntil) < 0 {
		w.sleeping = false
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// insert files node i by its due tick relative to w.cur. w.mu must be held.
func (w *Wheel) insert(i uint32, n *node) {
	delta := n.when - w.cur
	if int64(delta) <= 0 {
		w.pushBack(i, n, slotExpired)
		return
	}
	pos := n.when
	if delta > maxDelta {
		// Beyond the wheel's span: park it in the top level at the
		// farthest slot; it is re-filed when that slot is processed,
		// which happens before it is due.
		delta = maxDelta
		pos = w.cur + maxDelta
	}
	level := 0
	if delta >= numSlots {
		level = (bits.Len64(delta) - 1) / slotBits
	}
	idx := int(pos>>(uint(level)*slotBits)) & slotMask
	w.bitmap[level] |= 1 << uint(idx)
	w.pushBack(i, n, int32(level*numSlots+idx))
}

// unlink removes node i from its list, keeping the bitmap in sync.
// w.mu must be held.
func (w *Wheel) unlink(i uint32, n *node) {
	s := n.slot
	w.remove(i, n)
	if s < wheelSlots && w.empty(uint32(s)) {
		w.bitmap[s/numSlots] &^= 1 << uint(s%numSlots)
	}
}

// nextTick returns the earliest tick after w.cur at which a non-empty wheel
// slot must be processed. For level 0 that is the due tick of the slot's
// timers; for higher levels it is a lower bound. w.mu must be held.
func (w *Wheel) nextTick() (uint64, bool) {
	var best uint64
	found := false
	for k := 0; k < numLevels; k++ {
		bm := w.bitmap[k]
		if bm == 0 {
			continue
		}
		shift := uint(k) * slotBits
		idx := (w.cur >> shift) & slotMask
		// Slots are processed in the order idx+1, ..., 63, 0, ..., idx.
		j := uint64(bits.TrailingZeros64(bits.RotateLeft64(bm, -int(idx+1))))
		span := shift + slotBits
		t := (w.cur>>span)<<span + (idx+1+j)<<shift
		if !found || int64(t-best) < 0 {
			best, found = t, true
		}
	}
	return best, found
}

// process moves w.cur to tick and handles every slot due at it: higher
// levels are cascaded down, level-0 timers move to the firing list.
// w.mu must be held.
func (w *Wheel) process(tick uint64) {
	w.cur = tick
	for k := numLevels - 1; k > 0; k-- {
		shift := uint(k) * slotBits
		if tick&(1<<shift-1) != 0 {
			continue
		}
		idx := (tick >> shift) & slotMask
		if w.bitmap[k]&(1<<idx) == 0 {
			continue
		}
		w.bitmap[k] &^= 1 << idx
		w.drain(uint32(k*numSlots)+uint32(idx), w.refile)
	}
	idx := tick & slotMask
	if w.bitmap[0]&(1<<idx) != 0 {
		w.bitmap[0] &^= 1 << idx
		w.drain(uint32(idx), w.toFiring)
	}
}

func (w *Wheel) toFiring(i uint32, n *node) { w.pushBack(i, n, slotFiring) }

// refile re-inserts a cascaded node; one due now goes straight to the
// firing list, behind the timers of earlier ticks.
func (w *Wheel) refile(i uint32, n *node) {
	if n.when == w.cur {
		w.toFiring(i, n)
	} else {
		w.insert(i, n)
	}
}

// Advance fires every timer due at or before now and returns how many
// callbacks it ran. Callbacks run inline on the calling goroutine, one at
// a time, in order of due tick (ties in unspecified order), without the
// wheel's lock held. A timer stopped by an earlier callback of the same
// Advance does not fire. Timers that become due while the callbacks run
// (for example re-added with d <= 0) fire on the next Advance.
func (w *Wheel) Advance(now time.Time) int {
	target := w.floorTick(now.Sub(w.start))
	w.mu.Lock()
	w.drain(slotExpired, w.toFiring)
	for {
		t, ok := w.nextTick()
		if !ok || int64(t-target) > 0 {
			break
		}
		w.process(t)
	}
	if int64(target-w.cur) > 0 {
		w.cur = target
	}
	fired := 0
	for !w.empty(slotFiring) {
		i := w.node(slotFiring).next
		n := w.node(i)
		fn, arg := n.fn, n.arg
		w.release(i, n)
		w.mu.Unlock()
		fn(arg)
		fired++
		w.mu.Lock()
	}
	w.mu.Unlock()
	return fired
}

// Next returns how long from now until the earliest pending timer is due,
// and false if no timer is pending. It is 0 if a timer is already due. The
// result is never later than the earliest due time. It is exact (to the
// resolution) when that timer sits in the wheel's finest level, which is
// the case once it is less than 64 ticks away at an Advance; otherwise it
// is a lower bound: the time at which Advance must re-file a coarser slot,
// after which Next reports a later time. A poller can use it directly as
// its sleep timeout; reaching a timer takes at most one wake-up per level.
func (w *Wheel) Next() (time.Duration, bool) {
	e := w.elapsed()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.count == 0 {
		return 0, false
	}
	if !w.empty(slotExpired) || !w.empty(slotFiring) {
		return 0, true
	}
	t, _ := w.nextTick()
	return w.until(t, e), true
}

// until returns the time from elapsed e to the start of tick t, or 0 if
// that is in the past.
func (w *Wheel) until(t uint64, e time.Duration) time.Duration {
	rel := int64(t - w.base)
	if rel > math.MaxInt64/int64(w.res) {
		return math.MaxInt64
	}
	return max(0, time.Duration(rel)*w.res-e)
}

// Len returns the number of pending timers (armed and not yet fired or
// stopped).
func (w *Wheel) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.count
}
