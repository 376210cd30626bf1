// Command proxy is a TCP relay: every accepted connection is paired with a
// connection to the backend, and two coroutines copy the bytes, one per
// direction, in plain blocking style (poll.Conn.ReadFrom, which splices on
// Linux).
//
//	go run ./examples/proxy -listen 127.0.0.1:7009 -backend 127.0.0.1:7007
//	go run ./examples/proxy -bench              # relay throughput vs an io.Copy goroutine relay
//	go run ./examples/proxy -bench -json        # the same as one JSON object
//	go run ./examples/proxy -bench -relay ours  # one relay alone (for perf or strace)
//
// -bench runs, over loopback only, an echo backend (std net) and a load
// client (-conns connections, all dialed before the clock starts, each
// streaming data and reading back its echo) in a child process (this
// program again; -inproc runs them in this one), and measures through this
// relay and through the relay people write with goroutines (two io.Copy
// per pair, which splices on Linux too), both in this process, with the
// same connections, write size and duration, and prints MB/s for both and
// their ratio. The time (-d, 10s per relay) is split into -rounds rounds
// (20) that alternate which relay goes first (ours, net; net, ours; ...),
// so that warm-up and drift on a shared machine do not favour either. It
// also prints the CPU time the relays' process spent per MB through each
// relay, and how often per MB our relay's carriers ran out of work and
// slept. With -json it prints one object: {"ours_mbps", "net_mbps",
// "ratio"}, the CPU per MB ("ours_cpu_ns_per_mb", "net_cpu_ns_per_mb"),
// the sleeps per MB ("ours_idles_per_mb"), and the settings and rounds
// they come from.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stackslice/stackslice/poll"
	"github.com/stackslice/stackslice/sched"
)

func main() {
	if os.Getenv(envPeer) != "" {
		if err := runPeer(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "proxy peer:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Args[1:], os.Stdout); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "proxy:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	fs.SetOutput(out)
	listen := fs.String("listen", "127.0.0.1:7009", "listen address")
	backend := fs.String("backend", "127.0.0.1:7007", "backend address")
	dur := fs.Duration("d", 0, "stop after this long (0: until interrupted); with -bench: the time per relay (default 10s)")
	bench := fs.Bool("bench", false, "measure relay throughput against a goroutine io.Copy relay, in-process over loopback")
	conns := fs.Int("conns", 32, "with -bench: load connections")
	chunk := fs.Int("chunk", 32<<10, "with -bench: bytes per client write")
	rounds := fs.Int("rounds", 20, "with -bench: alternating rounds the time is split into")
	asJSON := fs.Bool("json", false, "with -bench: print the result as one JSON object")
	only := fs.String("relay", "both", "with -bench: the relays to run: both, ours or net (one alone, for strace or perf)")
	inproc := fs.Bool("inproc", false, "with -bench: run the echo backend and the load client in this process, not in a child")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *bench {
		if *dur == 0 {
			*dur = 10 * time.Second
		}
		if *rounds < 1 {
			return fmt.Errorf("proxy: -rounds %d: want at least 1", *rounds)
		}
		if *conns < 1 || *chunk < 1 {
			return fmt.Errorf("proxy: -conns %d -chunk %d: want at least 1 each", *conns, *chunk)
		}
		if *only != "both" && *only != "ours" && *only != "net" {
			return fmt.Errorf("proxy: -relay %q: want both, ours or net", *only)
		}
		rep, err := runBench(*conns, *chunk, *rounds, *dur, *only, *inproc)
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(out)
			enc.SetIndent("", "  ")
			return enc.Encode(rep)
		}
		rep.print(out)
		return nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *dur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *dur)
		defer cancel()
	}
	s := sched.New()
	defer s.Close()
	ln, err := poll.Listen(s, "tcp", *listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "proxy: relaying %s -> %s\n", ln.Addr(), *backend)
	var pairs atomic.Int64
	srv, err := startRelay(s, ln, *backend, &pairs)
	if err != nil {
		return err
	}
	<-ctx.Done()
	srv.Close()
	fmt.Fprintf(out, "proxy: %d connections relayed\n", pairs.Load())
	return nil
}

// startRelay serves ln, relaying every connection to backend, until the
// returned Server is closed.
func startRelay(s *sched.Scheduler, ln *poll.Listener, backend string, pairs *atomic.Int64) (*poll.Server, error) {
	srv := &poll.Server{Handler: func(ctx context.Context, c *poll.Conn) {
		pairs.Add(1)
		relay(ctx, s, c, backend)
	}}
	if _, err := s.Go(func(context.Context) { srv.Serve(ln) }); err != nil {
		ln.Close()
		return nil, err
	}
	return srv, nil
}

// relay connects c to backend and copies both ways until both are done
// (the Server closes c after).
func relay(ctx context.Context, s *sched.Scheduler, c *poll.Conn, backend string) {
	b, err := poll.Dial(ctx, s, "tcp", backend)
	if err != nil {
		return
	}
	defer b.Close()
	t, err := s.Go(func(context.Context) { pipe(c, b) })
	if err != nil {
		return
	}
	pipe(b, c)
	t.Wait() // parks this coroutine (a channel receive would block the carrier)
}

// pipe copies src to dst until src's end, then passes the end on. On
// Linux dst.ReadFrom splices: the bytes go from socket to socket through a
// pipe, never through this process's memory, and the coroutine parks
// whenever src is empty or dst is full.
func pipe(dst, src *poll.Conn) {
	if _, err := dst.ReadFrom(src); err != nil {
		src.CloseRead() // dst failed (or src did): stop reading
	}
	dst.CloseWrite()
}

// goRelay is the comparison: the usual goroutine relay with io.Copy.
func goRelay(ln net.Listener, backend string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			b, err := net.Dial("tcp", backend)
			if err != nil {
				return
			}
			defer b.Close()
			done := make(chan struct{})
			go func() {
				defer close(done)
				io.Copy(b, c)
				b.(*net.TCPConn).CloseWrite()
			}()
			io.Copy(c, b)
			c.(*net.TCPConn).CloseWrite()
			<-done
		}()
	}
}

// BenchReport is the result of -bench (its -json output).
type BenchReport struct {
	// OursMBps and NetMBps are the relays' echoed throughput in MB/s
	// (1e6 bytes): the mean of their rounds, each as long as the other's.
	OursMBps float64 `json:"ours_mbps"`
	NetMBps  float64 `json:"net_mbps"`
	Ratio    float64 `json:"ratio"` // OursMBps / NetMBps
	Conns    int     `json:"conns"`
	Chunk    int     `json:"chunk"` // bytes per client write
	// Duration is each relay's total time, split into len(Rounds) rounds.
	Duration time.Duration `json:"duration_ns"`
	// InProcess: the backend and the client ran in the relays' process
	// (-inproc), not in a child process.
	InProcess bool `json:"in_process"`
	// OursCPU and NetCPU are the CPU time (user and system, all threads)
	// the relays' process spent per MB echoed, over all rounds: what each
	// relay costs, which the throughput hides when the cores are shared
	// with other work. Zero with InProcess (the client's and the
	// backend's CPU would count too).
	OursCPU time.Duration `json:"ours_cpu_ns_per_mb"`
	NetCPU  time.Duration `json:"net_cpu_ns_per_mb"`
	// OursIdles is how often per MB a carrier of our relay's scheduler ran
	// out of work and slept (sched.Stats.Idles): each sleep is a wake-up
	// to pay.
	OursIdles float64      `json:"ours_idles_per_mb"`
	Rounds    []BenchRound `json:"rounds"`
}

// BenchRound is one round: both relays, one after the other.
type BenchRound struct {
	OursFirst bool    `json:"ours_first"`
	OursMBps  float64 `json:"ours_mbps"`
	NetMBps   float64 `json:"net_mbps"`
}

func (r *BenchReport) print(out io.Writer) {
	fmt.Fprintf(out, "relay throughput, %d connections, %d-byte writes, %v each in %d alternating rounds, loopback echo backend:\n",
		r.Conns, r.Chunk, r.Duration, len(r.Rounds))
	fmt.Fprintf(out, "  stackslice (coroutine per direction)  %8.1f MB/s\n", r.OursMBps)
	fmt.Fprintf(out, "  goroutines (io.Copy pair)             %8.1f MB/s\n", r.NetMBps)
	fmt.Fprintf(out, "  ratio                                 %8.2fx\n", r.Ratio)
	if !r.InProcess {
		fmt.Fprintf(out, "  relay CPU per MB: stackslice %v, goroutines %v\n", r.OursCPU, r.NetCPU)
	}
	if r.OursMBps > 0 {
		fmt.Fprintf(out, "  stackslice carriers going idle per MB: %.1f\n", r.OursIdles)
	}
}

// runBench measures both relays: each for dur in total, in rounds
// alternating which goes first.
func runBench(conns, chunk, rounds int, dur time.Duration, only string, inproc bool) (*BenchReport, error) {
	// Echo backend (std net) and load client, shared by both relays: in a
	// child process (peer.go) unless inproc.
	var p peer
	var err error
	if inproc {
		p, err = newInprocPeer()
	} else {
		p, err = newChildPeer()
	}
	if err != nil {
		return nil, err
	}
	defer p.close()
	backend := p.backend()

	// Relay under test: stackslice.
	s := sched.New()
	defer s.Close()
	pln, err := poll.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	var pairs atomic.Int64
	srv, err := startRelay(s, pln, backend, &pairs)
	if err != nil {
		return nil, err
	}
	defer srv.Close()

	// Comparison: goroutines with io.Copy.
	gln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer gln.Close()
	go goRelay(gln, backend)

	// Equal rounds, alternating which relay goes first: the mean of the
	// rounds' MB/s is each relay's throughput over its whole time.
	rep := &BenchReport{Conns: conns, Chunk: chunk, Duration: dur, InProcess: inproc}
	each := dur / time.Duration(rounds)
	var oursCPU, netCPU time.Duration // this process's CPU time during each relay's rounds
	var oursIdles uint64              // our relay's carriers' turns idle during its rounds
	for r := 0; r < rounds; r++ {
		round := BenchRound{OursFirst: r%2 == 0}
		for i := 0; i < 2; i++ {
			ours := (r+i)%2 == 0
			if only != "both" && ours != (only == "ours") {
				continue
			}
			if ours {
				idles := s.Stats().Idles
				mbs, cpu, err := loadCPU(p, pln.Addr().String(), conns, chunk, each)
				if err != nil {
					return nil, fmt.Errorf("stackslice relay: %w", err)
				}
				oursIdles += s.Stats().Idles - idles
				round.OursMBps = mbs
				rep.OursMBps += mbs / float64(rounds)
				oursCPU += cpu
			} else {
				mbs, cpu, err := loadCPU(p, gln.Addr().String(), conns, chunk, each)
				if err != nil {
					return nil, fmt.Errorf("goroutine relay: %w", err)
				}
				round.NetMBps = mbs
				rep.NetMBps += mbs / float64(rounds)
				netCPU += cpu
			}
		}
		rep.Rounds = append(rep.Rounds, round)
	}
	if rep.NetMBps > 0 {
		rep.Ratio = rep.OursMBps / rep.NetMBps
	}
	oursMB, netMB := rep.OursMBps*dur.Seconds(), rep.NetMBps*dur.Seconds() // each relay's MB over all rounds
	if oursMB > 0 {
		rep.OursIdles = float64(oursIdles) / oursMB
	}
	if !inproc {
		rep.OursCPU = perMB(oursCPU, oursMB)
		rep.NetCPU = perMB(netCPU, netMB)
	}
	return rep, nil
}

// loadCPU runs p's load against addr and returns, besides its MB/s, the CPU
// time this process spent meanwhile (the relay's, when p is a child).
func loadCPU(p peer, addr string, conns, chunk int, d time.Duration) (mbs float64, cpu time.Duration, err error) {
	c0 := processCPU()
	mbs, err = p.load(addr, conns, chunk, d)
	return mbs, processCPU() - c0, err
}

// perMB divides cpu by mb, the MB moved meanwhile.
func perMB(cpu time.Duration, mb float64) time.Duration {
	if mb <= 0 {
		return 0
	}
	return time.Duration(float64(cpu) / mb)
}

// processCPU returns the user and system CPU time of this process, all its
// threads, so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// dialAll dials n connections to addr, or none: on an error it closes
// those it made.
func dialAll(addr string, n int) ([]net.Conn, error) {
	cs := make([]net.Conn, 0, n)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			for _, c := range cs {
				c.Close()
			}
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, nil
}

// echoCheck checks a connection's echo: the stream of chunk-byte writes
// whose byte k is seed+k%chunk, read at most max bytes at a time.
type echoCheck struct {
	// want[k] is the byte expected at offset k of a chunk, for k up to a
	// chunk plus a read: a read at offset off is compared with want[off:]
	// in one bytes.Equal, so that checking costs the client little of the
	// CPU the relays share with it.
	want  []byte
	off   int
	chunk int
}

func newEchoCheck(seed byte, chunk, max int) *echoCheck {
	e := &echoCheck{want: make([]byte, chunk+max), chunk: chunk}
	for k := range e.want {
		e.want[k] = seed + byte(k%chunk)
	}
	return e
}

// next reports whether b is what comes next in the stream.
func (e *echoCheck) next(b []byte) bool {
	if e.off+len(b) > len(e.want) || !bytes.Equal(b, e.want[e.off:e.off+len(b)]) {
		return false
	}
	e.off = (e.off + len(b)) % e.chunk
	return true
}

// load streams data through addr on conns connections for dur and returns
// the echoed throughput in MB/s (1e6 bytes), checking the bytes.
//
// It dials every connection before the clock starts, so that all of them
// stream for all of dur. Dialing one after another while the first ones
// already stream took, on two busy cores, up to 0.7 s for the last of 32:
// longer than a round of the default -bench, which then measured fewer
// connections than it said, and how fast this client's own dial loop got
// its turns.
func load(addr string, conns, chunk int, dur time.Duration) (float64, error) {
	cs, err := dialAll(addr, conns)
	if err != nil {
		return 0, err
	}
	var total atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, conns)
	start := time.Now()
	deadline := start.Add(dur)
	for i, c := range cs {
		wg.Add(2)
		go func() { // writer
			defer wg.Done()
			buf := make([]byte, chunk)
			for j := range buf {
				buf[j] = byte(i + j)
			}
			for time.Now().Before(deadline) {
				if _, err := c.Write(buf); err != nil {
					errc <- err
					return
				}
			}
			c.(*net.TCPConn).CloseWrite()
		}()
		go func() { // reader: counts and checks the echo
			defer wg.Done()
			defer c.Close()
			buf := make([]byte, 64<<10)
			check := newEchoCheck(byte(i), chunk, len(buf))
			for {
				n, err := c.Read(buf)
				if !check.next(buf[:n]) {
					errc <- errors.New("relayed bytes differ")
					return
				}
				if time.Now().Before(deadline) {
					total.Add(int64(n))
				}
				if err == io.EOF {
					return
				}
				if err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return 0, err
	}
	return float64(total.Load()) / 1e6 / dur.Seconds(), nil
}
