package sched_test

import (
	"context"
	"fmt"
	"time"

	"github.com/stackslice/stackslice/sched"
)

func Example() {
	s := sched.New()
	defer s.Close()
	ch := sched.NewChan[string](0)
	s.Go(func(ctx context.Context) {
		for _, w := range []string{"hello", "from", "a", "task"} {
			ch.Send(w)
		}
		ch.Close()
	})
	// A goroutine can receive from a Chan too: it blocks, a task parks.
	for w := range ch.All() {
		fmt.Println(w)
	}
	// Output:
	// hello
	// from
	// a
	// task
}

func ExampleSelect() {
	s := sched.New()
	defer s.Close()
	nums, quit := sched.NewChan[int](0), sched.NewChan[struct{}](0)
	t, _ := s.Go(func(ctx context.Context) {
		var n int
		for {
			i, _ := sched.Select(nums.CaseRecv(&n, nil), quit.CaseRecv(nil, nil))
			if i == 1 {
				fmt.Println("quit")
				return
			}
			fmt.Println("got", n)
		}
	})
	nums.Send(1)
	nums.Send(2)
	quit.Send(struct{}{})
	t.Wait()
	// Output:
	// got 1
	// got 2
	// quit
}

func ExampleTask_Cancel() {
	s := sched.New()
	defer s.Close()
	t, _ := s.Go(func(ctx context.Context) {
		err := sched.Sleep(time.Hour)
		fmt.Println("Sleep returned:", err)
	})
	t.Cancel()
	t.Wait()
	// Output: Sleep returned: context canceled
}

func ExampleScheduler_Run() {
	s := sched.New()
	defer s.Close()
	var wg sched.WaitGroup
	total := 0
	var mu sched.Mutex
	for i := 1; i <= 10; i++ {
		s.Go(func(ctx context.Context) {
			sched.Sleep(time.Millisecond)
			mu.Lock()
			total += i
			mu.Unlock()
		}, sched.WithWaitGroup(&wg))
	}
	fmt.Println(s.Run(context.Background()), total)
	// Output: <nil> 55
}

func ExampleAwait() {
	s := sched.New()
	defer s.Close()
	t, _ := s.Go(func(ctx context.Context) {
		// A blocking call runs on the pool; the task parks meanwhile.
		n, err := sched.AwaitValue(func() (int, error) { return len("blocking call"), nil })
		fmt.Println(n, err)
	})
	t.Wait()
	// Output: 13 <nil>
}
