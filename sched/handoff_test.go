package sched

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Values through one unbuffered Chan, with senders and receivers (single
// operations and Selects) cancelled at random while they wait: every Send
// that returned nil delivered its value to exactly one receiver, and every
// value received was sent. This exercises the reuse of single operations'
// waiters (parkWaiter) against counterparts and cancellations.
func TestChanCancelRacesKeepValues(t *testing.T) {
	rounds := 5
	if testing.Short() {
		rounds = 2
	}
	for r := 0; r < rounds; r++ {
		s := newSched(t)
		ch := NewChan[int](0)
		other := NewChan[int](0) // never ready: a second Select case
		const producers, perProducer, consumers = 4, 300, 4
		var (
			mu       sync.Mutex
			sent     = map[int]int{}
			received = map[int]int{}
		)
		var prod []*Task
		for p := 0; p < producers; p++ {
			prod = append(prod, mustGo(t, s, func(ctx context.Context) {
				for i := 0; i < perProducer; i++ {
					v := p*perProducer + i
					if err := ch.Send(v); err != nil {
						if !errors.Is(err, context.Canceled) {
							t.Errorf("Send: %v", err)
						}
						return
					}
					mu.Lock()
					sent[v]++
					mu.Unlock()
				}
			}))
		}
		var cons []*Task
		for c := 0; c < consumers; c++ {
			useSelect := c%2 == 1
			cons = append(cons, mustGo(t, s, func(ctx context.Context) {
				for {
					var v int
					var err error
					if useSelect {
						var ok bool
						var i int
						i, err = Select(ch.CaseRecv(&v, &ok), other.CaseRecv(nil, nil))
						if err == nil && (i != 0 || !ok) {
							err = ErrChanClosed
						}
					} else {
						v, err = ch.Recv()
					}
					if err != nil {
						return
					}
					mu.Lock()
					received[v]++
					mu.Unlock()
				}
			}))
		}
		// Cancel one producer and one consumer of each kind while they run.
		runtime.Gosched()
		prod[0].Cancel()
		cons[0].Cancel()
		cons[1].Cancel()
		for _, p := range prod {
			waitTask(t, p)
		}
		ch.Close()
		for _, c := range cons {
			waitTask(t, c)
		}
		for v, n := range sent {
			if n != 1 || received[v] != 1 {
				t.Fatalf("value %d: sent %d times, received %d times", v, n, received[v])
			}
		}
		for v := range received {
			if sent[v] != 1 {
				t.Fatalf("value %d received but not sent", v)
			}
		}
		if ch.sendq.head != nil || ch.recvq.head != nil {
			t.Fatal("waiters left behind in the Chan")
		}
	}
}

// A WaitGroup whose counter goes to zero and up again: a Wait that starts
// after the new Add waits for the new zero, while the Wait of the first
// round returns.
func TestWaitGroupReuse(t *testing.T) {
	s := newSched(t)
	var wg WaitGroup
	for round := 0; round < 50; round++ {
		wg.Add(1)
		var first atomic.Bool
		w1 := mustGo(t, s, func(ctx context.Context) {
			if err := wg.Wait(); err != nil {
				t.Error(err)
			}
			first.Store(true)
		})
		parkedIn(t, s, "waitgroup", 1) // waiting for this round's zero
		wg.Done()
		wg.Add(1)
		var second atomic.Bool
		w2 := mustGo(t, s, func(ctx context.Context) {
			if err := wg.Wait(); err != nil {
				t.Error(err)
			}
			second.Store(true)
		})
		waitTask(t, w1)
		if !first.Load() {
			t.Fatal("first Wait did not return")
		}
		time.Sleep(time.Millisecond)
		if second.Load() {
			t.Fatal("second Wait returned before its zero")
		}
		wg.Done()
		waitTask(t, w2)
		if !second.Load() {
			t.Fatal("second Wait did not return")
		}
	}
	if wg.state.Load() != 0 {
		t.Fatalf("WaitGroup state %#x after all rounds, want 0", wg.state.Load())
	}
}

// A task readied by the running task runs before the carrier's other
// queued tasks of its priority, and after queued tasks of a higher one.
func TestNextSlotOrder(t *testing.T) {
	s := newSched(t, WithCarriers(1))
	var order []string
	var mu sync.Mutex
	add := func(name string) {
		mu.Lock()
		order = append(order, name)
		mu.Unlock()
	}
	ch := NewChan[int](0)
	mustGo(t, s, func(ctx context.Context) {
		ch.Recv()
		add("readied")
	})
	main := mustGo(t, s, func(ctx context.Context) {
		for s.Stats().ParkedBy["chan receive"] < 1 {
			Yield()
		}
		s.Go(func(ctx context.Context) { add("queued") })
		s.Go(func(ctx context.Context) { add("high") }, WithPriority(High))
		ch.Send(1) // readies the receiver into next
		add("sender")
	})
	waitTask(t, main)
	if err := s.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{"sender", "high", "readied", "queued"}
	mu.Lock()
	defer mu.Unlock()
	if len(order) != len(want) {
		t.Fatalf("order %v, want %v", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("order %v, want %v", order, want)
		}
	}
}
