package sched

import (
	"context"
	"errors"
	"sync"
	"testing"
)

func TestChanPingPong(t *testing.T) {
	for _, capacity := range []int{0, 1, 10} {
		s := newSched(t)
		ping, pong := NewChan[int](capacity), NewChan[int](capacity)
		const n = 1000
		a := mustGo(t, s, func(ctx context.Context) {
			for i := 0; i < n; i++ {
				if err := ping.Send(i); err != nil {
					t.Error(err)
					return
				}
				v, err := pong.Recv()
				if err != nil || v != i {
					t.Errorf("got %d, %v; want %d", v, err, i)
					return
				}
			}
			ping.Close()
		})
		b := mustGo(t, s, func(ctx context.Context) {
			for v := range ping.All() {
				pong.Send(v)
			}
		})
		waitTask(t, a)
		waitTask(t, b)
	}
}

func TestChanManyProducers(t *testing.T) {
	s := newSched(t)
	ch := NewChan[int](3)
	const P, N = 8, 500
	var wg sync.WaitGroup
	var producers []*Task
	for p := 0; p < P; p++ {
		producers = append(producers, mustGo(t, s, func(ctx context.Context) {
			for i := 0; i < N; i++ {
				ch.Send(1)
			}
		}))
	}
	// Half the receivers are goroutines (the bridge), half tasks.
	sums := make([]int, 4)
	for r := 0; r < 4; r++ {
		wg.Add(1)
		if r%2 == 0 {
			go func() {
				defer wg.Done()
				for v := range ch.All() {
					sums[r] += v
				}
			}()
		} else {
			mustGo(t, s, func(ctx context.Context) {
				defer wg.Done()
				for v := range ch.All() {
					sums[r] += v
				}
			})
		}
	}
	for _, pt := range producers {
		waitTask(t, pt)
	}
	ch.Close()
	within(t, "the receivers", wg.Wait)
	total := 0
	for _, v := range sums {
		total += v
	}
	if total != P*N {
		t.Fatalf("received %d, want %d", total, P*N)
	}
}

func TestChanClose(t *testing.T) {
	s := newSched(t)
	ch := NewChan[int](2)
	ch.Send(1)
	ch.Close()
	if v, err := ch.Recv(); v != 1 || err != nil {
		t.Fatalf("Recv = %d, %v", v, err)
	}
	if _, err := ch.Recv(); !errors.Is(err, ErrChanClosed) {
		t.Fatalf("Recv on drained closed = %v", err)
	}
	if err := ch.Send(1); !errors.Is(err, ErrChanClosed) {
		t.Fatalf("Send on closed = %v", err)
	}
	// Close wakes parked receivers and senders.
	rc, sc := NewChan[int](0), NewChan[int](0)
	started := NewChan[int](2)
	r := mustGo(t, s, func(ctx context.Context) {
		started.Send(0)
		if _, err := rc.Recv(); !errors.Is(err, ErrChanClosed) {
			t.Errorf("parked Recv got %v", err)
		}
	})
	w := mustGo(t, s, func(ctx context.Context) {
		started.Send(0)
		if err := sc.Send(1); !errors.Is(err, ErrChanClosed) {
			t.Errorf("parked Send got %v", err)
		}
	})
	within(t, "both tasks to start", func() { started.Recv(); started.Recv() })
	rc.Close()
	sc.Close()
	waitTask(t, r)
	waitTask(t, w)
}

func TestSelect(t *testing.T) {
	s := newSched(t)
	a, b := NewChan[int](0), NewChan[string](0)
	quit := NewChan[struct{}](0)
	task := mustGo(t, s, func(ctx context.Context) {
		var n int
		var str string
		var ok bool
		got := 0
		for {
			i, err := Select(a.CaseRecv(&n, &ok), b.CaseRecv(&str, nil), quit.CaseRecv(nil, nil))
			if err != nil {
				t.Error(err)
				return
			}
			if i == 2 {
				break
			}
			got++
		}
		if got != 200 {
			t.Errorf("got %d values, want 200", got)
		}
	})
	for i := 0; i < 100; i++ {
		a.Send(i)
		b.Send("x")
	}
	quit.Send(struct{}{})
	waitTask(t, task)
}

// Two selects that both send and receive on the same pair of Chans pair
// with each other from both sides at once.
func TestSelectVsSelect(t *testing.T) {
	s := newSched(t)
	x, y := NewChan[int](0), NewChan[int](0)
	const n = 2000
	var tasks []*Task
	counts := make([]int, 2)
	for k := 0; k < 2; k++ {
		tasks = append(tasks, mustGo(t, s, func(ctx context.Context) {
			var v int
			for i := 0; i < n; i++ {
				if _, err := Select(x.CaseSend(k), y.CaseRecv(&v, nil), y.CaseSend(k), x.CaseRecv(&v, nil)); err != nil {
					t.Error(err)
					return
				}
				counts[k]++
			}
		}))
	}
	for _, tk := range tasks {
		waitTask(t, tk)
	}
}

func TestCancelWhileParkedOnChan(t *testing.T) {
	for i := 0; i < 200; i++ {
		s := New(WithCarriers(2))
		ch := NewChan[int](0)
		var recvErr error
		var got int
		rt := mustGo(t, s, func(ctx context.Context) { got, recvErr = ch.Recv() })
		// Race a send against the cancellation: either the value is
		// received (and the send succeeded) or neither happened.
		sendDone := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() { rt.Wait(); cancel() }()
			sendDone <- ch.SendCtx(ctx, 42)
		}()
		rt.Cancel()
		waitTask(t, rt)
		serr := recv(t, "the racing SendCtx to return", sendDone)
		if (recvErr == nil) != (serr == nil) {
			t.Fatalf("recv %d,%v vs send %v: a value was lost or invented", got, recvErr, serr)
		}
		if recvErr == nil && got != 42 {
			t.Fatalf("got %d", got)
		}
		if recvErr != nil && !errors.Is(recvErr, context.Canceled) {
			t.Fatalf("recv err %v", recvErr)
		}
		s.Close()
	}
}
