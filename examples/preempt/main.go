// Command preempt is Coco's bench_preempt for package sched: one task hogs
// a carrier with a busy loop that never calls sched.Checkpoint, while 1,000
// tasks sleep 10ms in a loop; it reports how late the sleepers wake up
// (p50, p99, max). The scheduler's monitor notices the hog after one time
// slice and moves the other tasks of its carrier away, so the sleepers
// keep running on the other carrier.
//
//	go run ./examples/preempt            # text
//	go run ./examples/preempt -json      # {"p50_ms":..,"p99_ms":..,"max_ms":..}
//
// It runs for -d (default 3s) and stops by itself.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/stackslice/stackslice/sched"
)

func main() {
	d := flag.Duration("d", 3*time.Second, "how long to run")
	carriers := flag.Int("carriers", 2, "carrier goroutines")
	sleepers := flag.Int("sleepers", 1000, "sleeping tasks")
	period := flag.Duration("period", 10*time.Millisecond, "sleep period")
	asJSON := flag.Bool("json", false, "print JSON")
	flag.Parse()

	lat, err := run(*d, *carriers, *sleepers, *period)
	if err != nil {
		fmt.Fprintln(os.Stderr, "preempt:", err)
		os.Exit(1)
	}
	r := summarize(lat)
	if *asJSON {
		json.NewEncoder(os.Stdout).Encode(r)
		return
	}
	fmt.Printf("%d wake-ups of %d sleepers (period %v) next to a hog, %d carriers, %v\n",
		len(lat), *sleepers, *period, *carriers, *d)
	fmt.Printf("wake-up latency: p50 %.2f ms  p99 %.2f ms  max %.2f ms\n", r.P50, r.P99, r.Max)
}

type result struct {
	P50 float64 `json:"p50_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
	N   int     `json:"wakeups"`
}

// run starts the sleepers, then the hog, and collects every sleeper's
// lateness until d has passed.
func run(d time.Duration, carriers, sleepers int, period time.Duration) ([]time.Duration, error) {
	s := sched.New(sched.WithCarriers(carriers))
	defer s.Close()
	var mu sync.Mutex
	var all []time.Duration
	warmup := time.Now().Add(3 * period) // skip start-up effects
	for i := 0; i < sleepers; i++ {
		if _, err := s.Go(func(ctx context.Context) {
			var mine []time.Duration
			for {
				due := time.Now().Add(period)
				if sched.Sleep(period) != nil {
					break
				}
				if now := time.Now(); now.After(warmup) {
					mine = append(mine, now.Sub(due))
				}
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}); err != nil {
			return nil, err
		}
	}
	if _, err := s.Go(hog); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := s.Run(ctx); err != nil && err != context.DeadlineExceeded {
		return nil, err
	}
	return all, nil
}

// hog spins without ever blocking or checkpointing; it looks at its
// context only to stop at the end of the run.
func hog(ctx context.Context) {
	x := 0
	for ctx.Err() == nil {
		for i := 0; i < 1000; i++ {
			x += i
		}
	}
	sink = x
}

var sink int

func summarize(lat []time.Duration) result {
	if len(lat) == 0 {
		return result{}
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return result{
		P50: ms(lat[len(lat)/2]),
		P99: ms(lat[len(lat)*99/100]),
		Max: ms(lat[len(lat)-1]),
		N:   len(lat),
	}
}
