package timers

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a manual clock safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

func newTestWheel(opts ...Option) (*Wheel, *fakeClock) {
	c := newFakeClock()
	return New(append([]Option{WithClock(c.Now)}, opts...)...), c
}

// Interesting starting values of the internal tick counter.
var tickBases = []uint64{0, 1, math.MaxUint64 - 100, math.MaxUint64 - 70000, 1<<63 - 5000, 1<<63 + 17, 0xdeadbeefcafe}

func TestFireOrderNeverEarly(t *testing.T) {
	for _, base := range tickBases {
		w, c := newTestWheel(withTickBase(base))
		start := c.Now()
		type rec struct {
			due, at time.Duration
		}
		var fired []rec
		rng := rand.New(rand.NewPCG(1, base))
		const n = 2000
		for range n {
			d := time.Duration(rng.Int64N(int64(10 * time.Second)))
			w.Add(d, func() { fired = append(fired, rec{d, c.Now().Sub(start)}) })
		}
		// Advance in uneven steps, sometimes not on a tick boundary.
		for c.Now().Sub(start) < 11*time.Second {
			w.Advance(c.Add(time.Duration(rng.Int64N(int64(3 * time.Millisecond)))))
		}
		if len(fired) != n {
			t.Fatalf("base %x: fired %d of %d", base, len(fired), n)
		}
		for i, r := range fired {
			if r.at < r.due {
				t.Fatalf("base %x: timer due %v fired early at %v", base, r.due, r.at)
			}
			if i > 0 && ceilMs(r.due) < ceilMs(fired[i-1].due) {
				t.Fatalf("base %x: out of order: %v after %v", base, r.due, fired[i-1].due)
			}
		}
		if w.Len() != 0 {
			t.Fatalf("Len = %d", w.Len())
		}
	}
}

func ceilMs(d time.Duration) time.Duration {
	return (d + time.Millisecond - 1) / time.Millisecond
}

// TestLateness checks that a timer fires at the first Advance at or after
// its due time rounded up to the resolution.
func TestLateness(t *testing.T) {
	for _, res := range []time.Duration{time.Millisecond, 10 * time.Millisecond, time.Nanosecond, 3 * time.Microsecond} {
		w, c := newTestWheel(WithResolution(res))
		start := c.Now()
		c.Add(res / 3) // start off the tick grid
		for _, d := range []time.Duration{1, res / 2, res, res + 1, 5*res - 1, 64 * res, 4097*res + res/2} {
			if d <= 0 {
				continue
			}
			due := c.Now().Sub(start) + d
			fired := false
			w.Add(d, func() { fired = true })
			// Deadline by which it must have fired: due rounded up to a tick.
			deadline := (due + res - 1) / res * res
			for !fired {
				now := c.Now().Sub(start)
				w.Advance(c.Now())
				if fired && now < due {
					t.Fatalf("res %v d %v: fired early at %v, due %v", res, d, now, due)
				}
				if !fired && now >= deadline {
					t.Fatalf("res %v d %v: not fired at %v, due %v", res, d, now, due)
				}
				if !fired {
					c.Add(max(res/4, 1))
				}
			}
		}
	}
}

func TestZeroAndNegativeFireOnNextAdvance(t *testing.T) {
	w, c := newTestWheel()
	c.Add(time.Millisecond / 2) // between ticks
	n := 0
	w.Add(0, func() { n++ })
	w.Add(-time.Hour, func() { n++ })
	w.AddAt(c.Now(), func() { n++ })
	w.AddAt(c.Now().Add(-time.Microsecond), func() { n++ })
	if d, ok := w.Next(); !ok || d != 0 {
		t.Fatalf("Next = %v, %v; want 0, true", d, ok)
	}
	if got := w.Advance(c.Now().Add(-time.Second)); got != 4 || n != 4 {
		t.Fatalf("Advance fired %d (n=%d), want 4", got, n)
	}
	tm := w.Add(time.Millisecond, func() { n++ })
	if tm.Reset(0) != true {
		t.Fatal("Reset of pending timer returned false")
	}
	if w.Advance(c.Now()); n != 5 {
		t.Fatalf("Reset(0) did not fire on next Advance")
	}
}

func TestAddAt(t *testing.T) {
	w, c := newTestWheel()
	at := c.Now().Add(1500 * time.Microsecond)
	fired := false
	w.AddAt(at, func() { fired = true })
	w.Advance(c.Add(time.Millisecond))
	if fired {
		t.Fatal("fired early")
	}
	w.Advance(c.Add(time.Millisecond))
	if !fired {
		t.Fatal("not fired")
	}
}

// TestLongDurations covers every level and durations beyond the wheel's
// span (2^36 ticks), advancing with large jumps.
func TestLongDurations(t *testing.T) {
	durs := []time.Duration{
		time.Millisecond, 63 * time.Millisecond, 64 * time.Millisecond, 4095 * time.Millisecond,
		4096 * time.Millisecond, time.Minute, time.Hour, 24 * time.Hour, 30 * 24 * time.Hour,
		365 * 24 * time.Hour, 3 * 365 * 24 * time.Hour, 50 * 365 * 24 * time.Hour,
		math.MaxInt64 / 4, math.MaxInt64,
	}
	for _, base := range tickBases {
		w, c := newTestWheel(withTickBase(base))
		start := c.Now()
		firedAt := make([]time.Duration, len(durs))
		for i, d := range durs {
			w.Add(d, func() { firedAt[i] = c.Now().Sub(start) })
			if d < math.MaxInt64/2 {
				w.Add(d+time.Millisecond/3, func() {}) // neighbour, due a tick later
			}
		}
		// Jump straight to each due time (and a bit before).
		for i, d := range durs[:len(durs)-1] {
			due := ceilMs(d) * time.Millisecond
			w.Advance(c.Add(due - c.Now().Sub(start) - time.Millisecond))
			if firedAt[i] != 0 {
				t.Fatalf("base %x: %v fired early", base, d)
			}
			w.Advance(c.Add(time.Millisecond))
			if firedAt[i] != due {
				t.Fatalf("base %x: %v fired at %v", base, d, firedAt[i])
			}
		}
		if w.Len() != 2 { // MaxInt64, and MaxInt64/4's neighbour
			t.Fatalf("Len = %d, want 2", w.Len())
		}
	}
}

func TestStopSemantics(t *testing.T) {
	w, c := newTestWheel()
	n := 0
	a := w.Add(time.Millisecond, func() { n++ })
	if !a.Stop() {
		t.Fatal("Stop of pending timer = false")
	}
	if a.Stop() {
		t.Fatal("second Stop = true")
	}
	w.Advance(c.Add(time.Second))
	if n != 0 {
		t.Fatal("stopped timer fired")
	}
	b := w.Add(time.Millisecond, func() { n++ })
	w.Advance(c.Add(time.Second))
	if n != 1 || b.Stop() {
		t.Fatalf("n = %d; Stop after fire must be false", n)
	}
	var zero Timer
	if zero.Stop() {
		t.Fatal("zero Timer Stop = true")
	}
	// Stop inside its own callback.
	var self Timer
	var inside bool
	self = w.Add(time.Millisecond, func() { inside = self.Stop() })
	w.Advance(c.Add(time.Second))
	if inside {
		t.Fatal("Stop inside own callback = true")
	}
	// A callback stops another timer due at the same tick: it must not fire.
	var second Timer
	secondFired, stopped := false, false
	w.Add(time.Millisecond, func() { stopped = second.Stop() })
	second = w.Add(time.Millisecond, func() { secondFired = true })
	// (Order within a tick is unspecified but is FIFO in practice.)
	w.Advance(c.Add(time.Millisecond))
	if !stopped || secondFired {
		t.Fatalf("stopped=%v secondFired=%v", stopped, secondFired)
	}
	if w.Len() != 0 {
		t.Fatalf("Len = %d", w.Len())
	}
}

// TestStaleHandle checks that a handle whose timer fired or was stopped
// never affects a later timer reusing the same storage.
func TestStaleHandle(t *testing.T) {
	w, c := newTestWheel()
	old := w.Add(time.Millisecond, func() {})
	old.Stop()
	fired := false
	fresh := w.Add(time.Millisecond, func() { fired = true })
	if fresh.idx != old.idx {
		t.Fatalf("test assumption: node not reused (%d vs %d)", fresh.idx, old.idx)
	}
	if old.Stop() {
		t.Fatal("stale Stop returned true")
	}
	w.Advance(c.Add(time.Millisecond))
	if !fired {
		t.Fatal("stale Stop cancelled a different timer")
	}
	// A stale copy after Reset of a fired timer is inert, too.
	n := 0
	a := w.Add(time.Millisecond, func() { n++ })
	w.Advance(c.Add(time.Millisecond))
	cp := a
	if a.Reset(time.Millisecond) {
		t.Fatal("Reset after fire = true")
	}
	if cp.Stop() {
		t.Fatal("copy from before Reset stopped the new registration")
	}
	w.Advance(c.Add(time.Millisecond))
	if n != 2 {
		t.Fatalf("n = %d, want 2", n)
	}
}

func TestResetSemantics(t *testing.T) {
	w, c := newTestWheel()
	start := c.Now()
	var at []time.Duration
	rec := func() { at = append(at, c.Now().Sub(start)) }
	a := w.Add(10*time.Millisecond, rec)
	if !a.Reset(20 * time.Millisecond) {
		t.Fatal("Reset of pending = false")
	}
	for range 30 {
		w.Advance(c.Add(time.Millisecond))
	}
	if !slices.Equal(at, []time.Duration{20 * time.Millisecond}) {
		t.Fatalf("fired at %v", at)
	}
	// Reset after fire re-arms.
	if a.Reset(5 * time.Millisecond) {
		t.Fatal("Reset after fire = true")
	}
	for range 10 {
		w.Advance(c.Add(time.Millisecond))
	}
	if !slices.Equal(at, []time.Duration{20 * time.Millisecond, 35 * time.Millisecond}) {
		t.Fatalf("fired at %v", at)
	}
	// Reset after Stop re-arms.
	a.Reset(time.Millisecond)
	a.Stop()
	if a.Reset(time.Millisecond) {
		t.Fatal("Reset after Stop = true")
	}
	w.Advance(c.Add(time.Millisecond))
	if len(at) != 3 {
		t.Fatalf("fired %d times, want 3", len(at))
	}
}

// TestResetInCallback makes a periodic timer by re-arming from the callback.
func TestResetInCallback(t *testing.T) {
	w, c := newTestWheel()
	start := c.Now()
	var at []time.Duration
	var tm Timer
	tm = w.Add(7*time.Millisecond, func() {
		at = append(at, c.Now().Sub(start))
		if len(at) < 5 {
			if tm.Reset(7 * time.Millisecond) {
				t.Error("Reset inside own callback = true")
			}
		}
	})
	for range 100 {
		w.Advance(c.Add(time.Millisecond))
	}
	want := []time.Duration{7, 14, 21, 28, 35}
	for i := range want {
		want[i] *= time.Millisecond
	}
	if !slices.Equal(at, want) {
		t.Fatalf("fired at %v, want %v", at, want)
	}
	if w.Len() != 0 {
		t.Fatalf("Len = %d", w.Len())
	}
}

// TestCallbackAddsDueTimer checks that a timer added as due from inside a
// callback fires on the next Advance, not in the running one.
func TestCallbackAddsDueTimer(t *testing.T) {
	w, c := newTestWheel()
	n := 0
	var again func()
	again = func() { n++; w.Add(0, again) }
	w.Add(0, again)
	for i := 1; i <= 3; i++ {
		if got := w.Advance(c.Now()); got != 1 || n != i {
			t.Fatalf("Advance %d fired %d, n=%d", i, got, n)
		}
	}
}

func TestNext(t *testing.T) {
	w, c := newTestWheel()
	if _, ok := w.Next(); ok {
		t.Fatal("Next on empty wheel = true")
	}
	a := w.Add(5*time.Millisecond, func() {})
	if d, ok := w.Next(); !ok || d != 5*time.Millisecond {
		t.Fatalf("Next = %v, %v", d, ok)
	}
	c.Add(2 * time.Millisecond)
	if d, _ := w.Next(); d != 3*time.Millisecond {
		t.Fatalf("Next = %v, want 3ms", d)
	}
	c.Add(10 * time.Millisecond) // overdue, not yet advanced
	if d, _ := w.Next(); d != 0 {
		t.Fatalf("Next = %v, want 0", d)
	}
	a.Stop()
	if _, ok := w.Next(); ok {
		t.Fatal("Next after Stop = true")
	}
	// Off-grid: due time is rounded up to the tick.
	c.Add(time.Millisecond / 4)
	w.Add(time.Millisecond, func() {})
	if d, _ := w.Next(); d != 2*time.Millisecond-time.Millisecond/4 {
		t.Fatalf("Next = %v", d)
	}
}

// TestNextConverges follows Next like a poller would: sleep Next, Advance,
// repeat. A timer must never fire early, and be reached in at most one
// wake-up per level.
func TestNextConverges(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, base := range tickBases {
		w, c := newTestWheel(withTickBase(base))
		for range 200 {
			d := time.Duration(rng.Int64N(int64(400 * 24 * time.Hour)))
			if rng.IntN(2) == 0 {
				d = time.Duration(rng.Int64N(int64(10 * time.Second)))
			}
			d += time.Millisecond
			due := c.Now().Add(d)
			fired := false
			tm := w.Add(d, func() { fired = true })
			for wakeups := 0; !fired; wakeups++ {
				if wakeups > numLevels+1 {
					t.Fatalf("base %x d %v: %d wake-ups", base, d, wakeups)
				}
				next, ok := w.Next()
				if !ok {
					t.Fatalf("Next = false with a pending timer")
				}
				if now := c.Now(); now.Add(next).After(due.Add(time.Millisecond)) {
					t.Fatalf("Next %v past the due time %v", next, due.Sub(now))
				}
				w.Advance(c.Add(next))
				if fired && c.Now().Before(due) {
					t.Fatalf("fired early")
				}
			}
			tm.Stop()
		}
	}
}

// TestModel runs random operations against the wheel and a simple
// reference model (a list of due ticks) with a fake clock.
func TestModel(t *testing.T) {
	seeds := 30
	if testing.Short() {
		seeds = 5
	}
	for seed := range seeds {
		base := tickBases[seed%len(tickBases)]
		if seed >= len(tickBases) {
			base = rand.New(rand.NewPCG(uint64(seed), 99)).Uint64()
		}
		runModel(t, uint64(seed), base)
	}
}

func runModel(t *testing.T, seed, base uint64) {
	t.Helper()
	const res = time.Millisecond
	rng := rand.New(rand.NewPCG(seed, 1))
	w, c := newTestWheel(withTickBase(base))
	start := c.Now()

	type entry struct {
		h       Timer
		pending bool
		now     bool  // due on next Advance
		due     int64 // due tick (ticks since start) unless now
	}
	var ents []*entry
	var fired []int

	// randDur picks durations across all levels and beyond the span.
	randDur := func() time.Duration {
		switch rng.IntN(10) {
		case 0:
			return -time.Duration(rng.Int64N(int64(time.Second)))
		case 1:
			return 0
		case 2, 3, 4:
			return time.Duration(rng.Int64N(int64(100 * time.Millisecond)))
		case 5, 6:
			return time.Duration(rng.Int64N(int64(10 * time.Second)))
		case 7:
			return time.Duration(rng.Int64N(int64(time.Hour)))
		case 8:
			return time.Duration(rng.Int64N(int64(5 * 365 * 24 * time.Hour)))
		default:
			return time.Duration(rng.Int64N(math.MaxInt64))
		}
	}
	// dueOf mirrors the wheel's rule: ceil((now + d) / res) in ticks.
	dueOf := func(d time.Duration) (int64, bool) {
		if d <= 0 {
			return 0, true
		}
		e := addSat(c.Now().Sub(start), d)
		q := e / res
		if e%res != 0 {
			q++
		}
		return int64(q), false
	}
	pendingCount := func() int {
		n := 0
		for _, e := range ents {
			if e.pending {
				n++
			}
		}
		return n
	}

	for step := range 3000 {
		switch op := rng.IntN(100); {
		case op < 35: // add
			d := randDur()
			id := len(ents)
			e := &entry{pending: true}
			e.due, e.now = dueOf(d)
			e.h = w.Add(d, func() { fired = append(fired, id) })
			ents = append(ents, e)
		case op < 50 && len(ents) > 0: // stop
			e := ents[rng.IntN(len(ents))]
			if got := e.h.Stop(); got != e.pending {
				t.Fatalf("seed %d step %d: Stop = %v, want %v", seed, step, got, e.pending)
			}
			e.pending = false
		case op < 62 && len(ents) > 0: // reset
			e := ents[rng.IntN(len(ents))]
			d := randDur()
			due, now := dueOf(d)
			if got := e.h.Reset(d); got != e.pending {
				t.Fatalf("seed %d step %d: Reset = %v, want %v", seed, step, got, e.pending)
			}
			e.pending, e.due, e.now = true, due, now
		default: // advance
			var d time.Duration
			switch rng.IntN(6) {
			case 0:
				d = 0
			case 1, 2:
				d = time.Duration(rng.Int64N(int64(5 * time.Millisecond)))
			case 3:
				d = time.Duration(rng.Int64N(int64(10 * time.Second)))
			case 4:
				d = time.Duration(rng.Int64N(int64(2 * time.Hour)))
			default:
				d = time.Duration(rng.Int64N(int64(180 * 24 * time.Hour)))
			}
			now := c.Add(d)
			nowTick := int64(now.Sub(start) / res)
			fired = fired[:0]
			n := w.Advance(now)
			var want []int
			for id, e := range ents {
				if e.pending && (e.now || e.due <= nowTick) {
					want = append(want, id)
					e.pending = false
				}
			}
			if n != len(fired) || len(fired) != len(want) {
				t.Fatalf("seed %d step %d: Advance returned %d, fired %d, want %d", seed, step, n, len(fired), len(want))
			}
			key := func(id int) int64 {
				if ents[id].now {
					return math.MinInt64
				}
				return ents[id].due
			}
			for i, id := range fired {
				if i > 0 && key(id) < key(fired[i-1]) {
					t.Fatalf("seed %d step %d: fired out of order", seed, step)
				}
			}
			got := slices.Clone(fired)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("seed %d step %d: fired %v, want %v", seed, step, got, want)
			}
		}
		if got, want := w.Len(), pendingCount(); got != want {
			t.Fatalf("seed %d step %d: Len = %d, want %d", seed, step, got, want)
		}
		// Next is 0 if something is due now, otherwise a lower bound on
		// the earliest due time.
		next, ok := w.Next()
		if ok != (pendingCount() > 0) {
			t.Fatalf("seed %d step %d: Next ok = %v", seed, step, ok)
		}
		if ok {
			earliest := time.Duration(math.MaxInt64)
			for _, e := range ents {
				if !e.pending {
					continue
				}
				var until time.Duration
				if !e.now && e.due <= math.MaxInt64/int64(res) {
					until = max(0, time.Duration(e.due)*res-c.Now().Sub(start))
				} else if !e.now {
					until = math.MaxInt64
				}
				earliest = min(earliest, until)
			}
			if next < 0 || next > earliest {
				t.Fatalf("seed %d step %d: Next = %v, earliest due in %v", seed, step, next, earliest)
			}
		}
	}
}

// TestConcurrentStop stops timers from several goroutines while another
// goroutine advances the wheel: every timer must either fire exactly once
// or be stopped (Stop true), never both, never neither. Run with -race.
func TestConcurrentStop(t *testing.T) {
	w, c := newTestWheel()
	const workers, perWorker = 4, 3000
	fires := make([]atomic.Int32, workers*perWorker)
	stops := make([]atomic.Int32, workers*perWorker)

	done := make(chan struct{})
	advDone := make(chan struct{})
	go func() {
		defer close(advDone)
		for {
			select {
			case <-done:
				return
			default:
			}
			w.Advance(c.Add(time.Millisecond))
		}
	}()
	var wg sync.WaitGroup
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 5))
			var hs []Timer
			for i := range perWorker {
				id := g*perWorker + i
				hs = append(hs, w.Add(time.Duration(rng.IntN(20))*time.Millisecond, func() {
					if fires[id].Add(1) > 1 {
						t.Errorf("timer %d fired twice", id)
					}
				}))
				if rng.IntN(3) > 0 {
					j := rng.IntN(len(hs))
					if hs[j].Stop() {
						stops[g*perWorker+j].Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	<-advDone
	w.Advance(c.Add(time.Hour))
	for i := range fires {
		if f, s := fires[i].Load(), stops[i].Load(); f+s != 1 {
			t.Fatalf("timer %d: fired %d, stopped %d", i, f, s)
		}
	}
	if w.Len() != 0 {
		t.Fatalf("Len = %d", w.Len())
	}
}

// TestConcurrentReset re-arms and stops timers from other goroutines and
// from callbacks while the wheel is being advanced.
func TestConcurrentReset(t *testing.T) {
	w, c := newTestWheel()
	const n = 500
	var fires atomic.Int64
	hs := make([]Timer, n)
	var hmu sync.Mutex // guards assignment of hs entries only
	hmu.Lock()
	for i := range hs {
		hs[i] = w.Add(time.Duration(i%50)*time.Millisecond, func() {
			fires.Add(1)
			if i%2 == 0 {
				hmu.Lock()
				h := &hs[i]
				hmu.Unlock()
				h.Stop()
			}
		})
	}
	hmu.Unlock()
	done := make(chan struct{})
	advDone := make(chan struct{})
	go func() {
		defer close(advDone)
		for {
			select {
			case <-done:
				return
			default:
			}
			w.Advance(c.Add(time.Millisecond))
		}
	}()
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 11))
			for range 5000 {
				h := &hs[rng.IntN(n)]
				if rng.IntN(4) == 0 {
					h.Stop()
				} else {
					h.Reset(time.Duration(rng.IntN(30)) * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	<-advDone
	for i := range hs {
		hs[i].Reset(time.Millisecond)
	}
	before := fires.Load()
	w.Advance(c.Add(time.Second))
	if got := fires.Load() - before; got != n {
		t.Fatalf("after final Reset of all, %d fired, want %d", got, n)
	}
	if w.Len() != 0 {
		t.Fatalf("Len = %d", w.Len())
	}
}

// TestArenaReuse checks that storage is recycled: a steady add/stop load
// does not grow the arena.
func TestArenaReuse(t *testing.T) {
	w, c := newTestWheel()
	for i := range 100000 {
		tm := w.Add(time.Duration(i%50)*time.Millisecond, func() {})
		if i%2 == 0 {
			tm.Stop()
		}
		if i%100 == 0 {
			w.Advance(c.Add(time.Millisecond))
		}
	}
	if got := len(w.chunks); got > 5 {
		t.Fatalf("arena has %d chunks", got)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	w := New()
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan struct{})
	go func() {
		w.Run(ctx)
		close(exited)
	}()
	// Run sleeps (no timers: an hour); adding a timer must wake it.
	fired := make(chan struct{})
	w.Add(time.Millisecond, func() { close(fired) })
	<-fired
	// A far timer makes Run sleep long; cancel must still end it.
	w.Add(time.Hour, func() {})
	cancel()
	<-exited
}

func TestRunWithFakeClock(t *testing.T) {
	w, c := newTestWheel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exited := make(chan struct{})
	go func() {
		w.Run(ctx)
		close(exited)
	}()
	fired := make(chan struct{})
	w.Add(0, func() { close(fired) })
	<-fired
	c.Add(time.Millisecond)
	cancel()
	<-exited
}
