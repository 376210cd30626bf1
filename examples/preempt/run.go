package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stackslice/stackslice/sched"
)

// run starts the sleepers, then the hog or the blocker, and collects the
// sleepers' lateness until cfg.d has passed (or, with -block tls, until
// every client has echoed).
func run(cfg config) (result, error) {
	var opts []sched.Option
	if cfg.carriers > 0 {
		opts = append(opts, sched.WithCarriers(cfg.carriers))
	}
	if cfg.standIns >= 0 {
		opts = append(opts, sched.WithStandIns(cfg.standIns))
	}
	s := sched.New(opts...)
	defer s.Close()
	r := result{Block: cfg.block, Carriers: s.Carriers(), Sleepers: cfg.sleepers,
		Period: float64(cfg.period) / float64(time.Millisecond)}
	rec := &recorder{}
	if cfg.block == "" || cfg.block == "tls" {
		rec.begin(time.Now().Add(3 * cfg.period)) // skip start-up effects
	}
	for range cfg.sleepers {
		if _, err := s.Go(func(ctx context.Context) { sleeper(rec, cfg.period) }); err != nil {
			return r, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.d)
	defer cancel()
	var clients *tlsClients
	switch cfg.block {
	case "":
		if _, err := s.Go(hog); err != nil {
			return r, err
		}
	case "tls":
		var err error
		if clients, err = startTLSClients(s, cfg.clients); err != nil {
			return r, err
		}
		defer clients.close()
		go func() {
			select {
			case <-clients.done: // every client has echoed: stop
				cancel()
			case <-ctx.Done():
			}
		}()
	default:
		b, err := newBlocker(cfg.block, cfg.blockFor)
		if err != nil {
			return r, err
		}
		defer b.close()
		if _, err := s.Go(func(ctx context.Context) { blockLoop(ctx, rec, b) }); err != nil {
			return r, err
		}
	}
	if err := s.Run(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return r, err
	}
	r.StandIns = s.Stats().StandInsStarted
	if clients != nil {
		r.Clients, r.Completed = cfg.clients, int(clients.completed.Load())
	}
	r.Blocks = int(rec.blocks.Load())
	summarize(&r, rec.all())
	return r, nil
}

// recorder collects the sleepers' lateness for wake-ups due at or after
// from (set by begin; nothing is recorded before).
type recorder struct {
	from   atomic.Int64 // unix nanoseconds; 0: not yet
	blocks atomic.Int32
	mu     sync.Mutex
	lat    []time.Duration
}

func (r *recorder) begin(t time.Time) { r.from.CompareAndSwap(0, t.UnixNano()) }

func (r *recorder) add(mine []time.Duration) {
	r.mu.Lock()
	r.lat = append(r.lat, mine...)
	r.mu.Unlock()
}

func (r *recorder) all() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lat
}

// sleeper sleeps for period in a loop until its task is cancelled,
// recording how late each wake-up is.
func sleeper(rec *recorder, period time.Duration) {
	var mine []time.Duration
	for {
		due := time.Now().Add(period)
		if sched.Sleep(period) != nil {
			break
		}
		if from := rec.from.Load(); from != 0 && due.UnixNano() >= from {
			mine = append(mine, time.Since(due))
		}
	}
	rec.add(mine)
}

// A blocker blocks the calling goroutine outside the scheduler for about
// d at a time, in one way.
type blocker struct {
	block func(ctx context.Context)
	close func()
}

// blockLoop blocks its carrier every 300ms until ctx is done; the first
// block starts the lateness record.
func blockLoop(ctx context.Context, rec *recorder, b *blocker) {
	for ctx.Err() == nil {
		if sched.Sleep(300*time.Millisecond) != nil {
			return
		}
		rec.begin(time.Now())
		rec.blocks.Add(1)
		b.block(ctx)
	}
}

func newBlocker(kind string, d time.Duration) (*blocker, error) {
	switch kind {
	case "sleep":
		return &blocker{block: func(context.Context) { time.Sleep(d) }, close: func() {}}, nil
	case "chan":
		return &blocker{block: func(context.Context) {
			ch := make(chan struct{})
			time.AfterFunc(d, func() { close(ch) })
			<-ch
		}, close: func() {}}, nil
	case "mutex":
		return &blocker{block: mutexBlock(d), close: func() {}}, nil
	case "pipe":
		return pipeBlocker(d)
	case "file":
		return fifoBlocker(d)
	}
	return nil, fmt.Errorf("unknown block %q", kind)
}

// mutexBlock: another task locks a sync.Mutex and parks holding it for d
// (as crypto/tls holds its handshake mutex across reads); the blocking
// task then locks it, which blocks its carrier until the holder has run
// again, on another carrier or a stand-in.
func mutexBlock(d time.Duration) func(ctx context.Context) {
	return func(ctx context.Context) {
		var mu sync.Mutex
		locked := sched.NewChan[struct{}](1)
		s := sched.CurrentScheduler()
		holder, err := s.Go(func(context.Context) {
			mu.Lock()
			locked.Send(struct{}{})
			sched.Sleep(d) // parks holding mu (not cancellable: it returns anyway)
			mu.Unlock()
		})
		if err != nil {
			return
		}
		if _, err := locked.Recv(); err != nil {
			holder.Wait()
			return
		}
		mu.Lock()
		mu.Unlock()
		holder.Wait()
	}
}

// pipeBlocker blocks in a read(2) of a blocking pipe that a goroutine
// writes to after d.
func pipeBlocker(d time.Duration) (*blocker, error) {
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		return nil, err
	}
	return &blocker{
		block: func(context.Context) {
			time.AfterFunc(d, func() { syscall.Write(p[1], []byte{1}) })
			var b [1]byte
			syscall.Read(p[0], b[:])
		},
		close: func() { syscall.Close(p[0]); syscall.Close(p[1]) },
	}, nil
}

// fifoBlocker blocks in open(2) of a FIFO, which returns only when a
// writer opens it: a goroutine does after d.
func fifoBlocker(d time.Duration) (*blocker, error) {
	dir, err := os.MkdirTemp("", "preempt")
	if err != nil {
		return nil, err
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &blocker{
		block: func(context.Context) {
			time.AfterFunc(d, func() {
				if w, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
					w.Close()
				}
			})
			if f, err := os.Open(fifo); err == nil {
				f.Close()
			}
		},
		close: func() { os.RemoveAll(dir) },
	}, nil
}
