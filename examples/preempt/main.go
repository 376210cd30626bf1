// Command preempt measures how late sleeping tasks wake up while another
// task keeps its carrier: by default a hog, a busy loop that never calls
// sched.Checkpoint, beside 1,000 tasks that sleep 10ms in a loop (Coco's
// bench_preempt); with -block, a task that blocks its carrier outside the
// scheduler for 200ms at a time, beside 1,000 tasks that sleep 1ms, on one
// carrier. It reports the sleepers' lateness (p50, p99, max).
//
// The scheduler's monitor notices a task that keeps its carrier for a time
// slice; if it does not yield at the next Checkpoint, the monitor gives the
// carrier a stand-in worker, so the other tasks go on.
//
//	go run ./examples/preempt                   # the hog, 2 carriers
//	go run ./examples/preempt -block mutex      # a blocked task, 1 carrier
//	go run ./examples/preempt -block tls -json  # 100 TLS clients
//
// -block takes sleep (time.Sleep), chan (a Go channel receive), mutex (a
// sync.Mutex held by another task across a park), pipe (a blocking read
// system call on a pipe), file (opening a FIFO, which blocks until a writer
// opens it), or tls (100 TLS clients over poll, each with a reading and a
// writing task that start at once, so that one of them blocks on
// crypto/tls's handshake mutex while the other is parked in the handshake;
// the run ends when all have echoed, or at -d). The lateness is that of
// the wake-ups due after the first block began. -json prints one line:
//
//	{"block":"mutex","carriers":1,"sleepers":1000,"period_ms":1,"p50_ms":..,"p99_ms":..,"max_ms":..,"wakeups":..,"blocks":..,"stand_ins":..}
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
	"time"
)

func main() {
	cfg := config{}
	flag.DurationVar(&cfg.d, "d", 3*time.Second, "how long to run")
	flag.IntVar(&cfg.carriers, "carriers", -1, "carrier goroutines (default: 2 for the hog, 1 with -block but tls, the scheduler's default (GOMAXPROCS) for tls; 0: GOMAXPROCS)")
	flag.IntVar(&cfg.sleepers, "sleepers", 1000, "sleeping tasks")
	flag.DurationVar(&cfg.period, "period", 0, "sleep period (default: 10ms for the hog, 1ms with -block)")
	flag.StringVar(&cfg.block, "block", "", "instead of the hog, a task that blocks its carrier: sleep, chan, mutex, pipe, file or tls")
	flag.DurationVar(&cfg.blockFor, "blockfor", 200*time.Millisecond, "how long each block lasts")
	flag.IntVar(&cfg.clients, "clients", 100, "TLS clients (-block tls)")
	flag.IntVar(&cfg.standIns, "standins", -1, "sched.WithStandIns (default: the scheduler's; 0 turns stand-ins off)")
	asJSON := flag.Bool("json", false, "print JSON")
	flag.Parse()
	if err := cfg.defaults(); err != nil {
		fmt.Fprintln(os.Stderr, "preempt:", err)
		os.Exit(2)
	}
	r, err := run(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "preempt:", err)
		os.Exit(1)
	}
	if *asJSON {
		json.NewEncoder(os.Stdout).Encode(r)
		return
	}
	r.print(os.Stdout)
	if r.Block == "tls" && r.Completed != r.Clients {
		os.Exit(1)
	}
}

// config is the command line.
type config struct {
	d                time.Duration
	carriers         int
	sleepers         int
	period, blockFor time.Duration
	block            string
	clients          int
	standIns         int
}

func (c *config) defaults() error {
	switch c.block {
	case "", "sleep", "chan", "mutex", "pipe", "file", "tls":
	default:
		return fmt.Errorf("unknown -block %q: use sleep, chan, mutex, pipe, file or tls", c.block)
	}
	if c.carriers < 0 {
		switch c.block {
		case "":
			c.carriers = 2
		case "tls":
			c.carriers = 0 // the scheduler's default
		default:
			c.carriers = 1
		}
	}
	if c.period <= 0 {
		c.period = time.Millisecond
		if c.block == "" {
			c.period = 10 * time.Millisecond
		}
	}
	return nil
}

type result struct {
	Block    string  `json:"block"`
	Carriers int     `json:"carriers"`
	Sleepers int     `json:"sleepers"`
	Period   float64 `json:"period_ms"`
	P50      float64 `json:"p50_ms"`
	P99      float64 `json:"p99_ms"`
	Max      float64 `json:"max_ms"`
	N        int     `json:"wakeups"`
	Blocks   int     `json:"blocks,omitempty"`
	// StandIns counts the stand-in workers the scheduler started.
	StandIns uint64 `json:"stand_ins"`
	// Clients and Completed: TLS clients started and echoed (-block tls).
	Clients   int `json:"clients,omitempty"`
	Completed int `json:"completed,omitempty"`
}

func (r result) print(w *os.File) {
	what := "a hog"
	if r.Block != "" {
		what = fmt.Sprintf("a task blocked (%s) %d times", r.Block, r.Blocks)
	}
	fmt.Fprintf(w, "%d wake-ups of %d sleepers (period %v) next to %s, %d carriers, %d stand-ins\n",
		r.N, r.Sleepers, time.Duration(r.Period*float64(time.Millisecond)), what, r.Carriers, r.StandIns)
	fmt.Fprintf(w, "wake-up latency: p50 %.2f ms  p99 %.2f ms  max %.2f ms\n", r.P50, r.P99, r.Max)
	if r.Block == "tls" {
		fmt.Fprintf(w, "TLS clients: %d of %d echoed\n", r.Completed, r.Clients)
	}
}

// summarize fills r's latency figures from lat.
func summarize(r *result, lat []time.Duration) {
	r.N = len(lat)
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	r.P50 = ms(lat[len(lat)/2])
	r.P99 = ms(lat[len(lat)*99/100])
	r.Max = ms(lat[len(lat)-1])
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
