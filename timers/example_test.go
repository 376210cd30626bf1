package timers_test

import (
	"fmt"
	"time"

	"github.com/stackslice/stackslice/timers"
)

func Example() {
	// A fake clock makes the example deterministic; by default the wheel
	// uses the monotonic clock.
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	w := timers.New(timers.WithClock(func() time.Time { return now }))

	w.Add(30*time.Millisecond, func() { fmt.Println("slice expired") })
	deadline := w.Add(10*time.Millisecond, func() { fmt.Println("deadline") })
	sleep := w.Add(20*time.Millisecond, func() { fmt.Println("wake sleeper") })

	fmt.Println("cancelled deadline:", deadline.Stop())
	d, _ := w.Next() // a poller would pass this to epoll_wait
	fmt.Println("next in", d)

	now = now.Add(d)
	fmt.Println("fired:", w.Advance(now))

	sleep.Reset(5 * time.Millisecond) // re-arm after it fired: due before the slice
	now = now.Add(time.Second)
	fmt.Println("fired:", w.Advance(now), "pending:", w.Len())
	// Output:
	// cancelled deadline: true
	// next in 20ms
	// wake sleeper
	// fired: 1
	// wake sleeper
	// slice expired
	// fired: 2 pending: 0
}
