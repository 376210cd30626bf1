package sched

import (
	"context"
	"runtime"
	"sync"
	"testing"

	"github.com/stackslice/stackslice/slice"
)

// Benchmarks. Figures and commands are in the package README; for example:
//
//	go test -run XXX -bench . -benchtime 2s ./sched/
//	go test -run XXX -bench IdleTasks -benchtime 1x ./sched/

// BenchmarkSpawn starts b.N tasks (goroutines) that do nothing and waits
// for all of them: the cost of starting and finishing one.
func BenchmarkSpawn(b *testing.B) {
	b.Run("sched", func(b *testing.B) {
		s := New()
		defer s.Close()
		var wg WaitGroup
		fn := func(ctx context.Context) { wg.Done() }
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			wg.Add(1)
			s.Go(fn)
		}
		wg.Wait()
	})
	b.Run("goroutine", func(b *testing.B) {
		var wg sync.WaitGroup
		fn := func() { wg.Done() }
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			wg.Add(1)
			go fn()
		}
		wg.Wait()
	})
}

// BenchmarkPingPong passes a value back and forth between two tasks over
// unbuffered Chans (two goroutines over unbuffered channels); one op is one
// round trip. "engine" is the part of sched's figure that package slice
// does: two coroutine round trips.
func BenchmarkPingPong(b *testing.B) {
	b.Run("sched", func(b *testing.B) {
		s := New()
		defer s.Close()
		ping, pong := NewChan[int](0), NewChan[int](0)
		s.Go(func(ctx context.Context) {
			for {
				v, err := ping.Recv()
				if err != nil {
					return
				}
				pong.Send(v)
			}
		})
		b.ReportAllocs()
		b.ResetTimer()
		t, _ := s.Go(func(ctx context.Context) {
			for i := 0; i < b.N; i++ {
				ping.Send(i)
				pong.Recv()
			}
			ping.Close()
		})
		t.Wait()
	})
	b.Run("engine", func(b *testing.B) {
		// The floor under sched's figure: the two engine round trips of
		// an exchange, with nothing of the scheduler. Two coroutines,
		// suspended as deep as the tasks above (the function, Recv, recv,
		// Yield), resumed in turn with an owner, as a worker does.
		var v int
		stop := false
		body := func() {
			for !stop {
				pingPongFrame(&v)
			}
		}
		a, c := slice.New(body), slice.New(body)
		owner := new(int)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			a.ResumeFor(owner)
			c.ResumeFor(owner)
		}
		b.StopTimer()
		stop = true
		if !a.Resume() || !c.Resume() {
			b.Fatal("a coroutine did not finish")
		}
	})
	b.Run("goroutine", func(b *testing.B) {
		ping, pong := make(chan int), make(chan int)
		go func() {
			for v := range ping {
				pong <- v
			}
		}()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			ping <- i
			<-pong
		}
		close(ping)
	})
}

// pingPongFrame and pingPongYield stand for Chan.Recv and Chan.recv: the
// frames between a ping-pong task's function and slice.Yield.
//
//go:noinline
func pingPongFrame(v *int) { pingPongYield(v) }

//go:noinline
func pingPongYield(v *int) {
	*v++
	slice.Yield()
}

const idleTasks = 100_000

// BenchmarkIdleTasks parks 100,000 tasks (goroutines), each receiving from
// its own Chan (channel), and reports the memory they hold: B/task is
// (HeapInuse+StackInuse after GC, minus the same before) / 100,000, which
// counts every byte of bookkeeping: task, coroutine block, context, the
// Chan and its waiter, queue and registry entries. Run it with -benchtime 1x.
func BenchmarkIdleTasks(b *testing.B) {
	b.Run("sched", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			s := New()
			chans := make([]*Chan[int], idleTasks)
			tasks := make([]*Task, idleTasks)
			base := inUse()
			for j := range chans {
				ch := NewChan[int](0)
				chans[j] = ch
				tasks[j], _ = s.Go(func(ctx context.Context) { ch.Recv() })
			}
			for s.Stats().Parked < idleTasks { // all parked
				runtime.Gosched()
			}
			used := inUse() - base
			b.ReportMetric(float64(used)/idleTasks, "B/task")
			for _, ch := range chans {
				ch.Close()
			}
			for _, t := range tasks {
				t.Wait()
			}
			s.Close()
		}
	})
	b.Run("goroutine", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			chans := make([]chan int, idleTasks)
			var started, done sync.WaitGroup
			base := inUse()
			for j := range chans {
				ch := make(chan int)
				chans[j] = ch
				started.Add(1)
				done.Add(1)
				go func() { started.Done(); <-ch; done.Done() }()
			}
			started.Wait()
			used := inUse() - base
			b.ReportMetric(float64(used)/idleTasks, "B/task")
			for _, ch := range chans {
				close(ch)
			}
			done.Wait()
		}
	})
}

func inUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}

// BenchmarkCheckpoint is the cost of a Checkpoint that does not yield, in a
// running task.
func BenchmarkCheckpoint(b *testing.B) {
	s := New(WithCarriers(1))
	defer s.Close()
	t, _ := s.Go(func(ctx context.Context) {
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			Checkpoint()
		}
	})
	t.Wait()
}
