package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/stackslice/stackslice/examples/internal/childproc"

	"github.com/stackslice/stackslice/examples/internal/procstat"
)

// bench runs variants; it owns the peers binary it builds.
type bench struct {
	o      options
	stderr io.Writer

	peers childproc.Peers // built on first use; tests set its Env and Timeout

	nextSrc int // last octet of the next client source address, 127.0.0.x

}

// result is one variant measured at one N.
type result struct {
	name string
	n    int
	err  error // the run failed, or the variant is not available

	base, fresh, loaded  Sample
	connected, exchanged int
	woke                 int
	slabBase, slabLoaded int64 // bytes
	elapsed              time.Duration
}

func (r *result) wakeOK() bool {
	return r.err == nil && r.connected == r.n && r.exchanged == r.n && r.woke == r.n
}

// perConn returns delta/count, or nil when nothing was measured.
func perConn(delta int64, count int) *float64 {
	if count <= 0 {
		return nil
	}
	v := float64(delta) / float64(count)
	return &v
}

func (r *result) rssPerConn() *float64 {
	if r.err != nil {
		return nil
	}
	return perConn(r.loaded.RSS-r.base.RSS, r.exchanged)
}

func (r *result) heapPerConn() *float64 {
	if r.err != nil {
		return nil
	}
	return perConn(r.loaded.Heap+r.loaded.Stack-r.base.Heap-r.base.Stack, r.exchanged)
}

func (r *result) rssFreshPerConn() *float64 {
	if r.err != nil {
		return nil
	}
	return perConn(r.fresh.RSS-r.base.RSS, r.connected)
}

// kernelPerConn is the Slab growth per server socket: both ends of a
// loopback connection are on this host, so it is divided by 2 live.
func (r *result) kernelPerConn() *float64 {
	if r.err != nil {
		return nil
	}
	return perConn(r.slabLoaded-r.slabBase, 2*r.exchanged)
}

// cleanup removes what the bench built.
func (b *bench) cleanup() {
	b.peers.Cleanup()
}

// runVariant measures variant v with n connections, within a time limit.
func (b *bench) runVariant(ctx context.Context, v string, n int) (r result) {
	r = result{name: v, n: n}
	start := time.Now()
	defer func() { r.elapsed = time.Since(start) }()

	var path string
	var args, env []string
	_, stackslice := stacksliceVariants[v]
	stackslice = stackslice || v == "stackslice-http"
	switch {
	case v == "net" || v == "nethttp" || stackslice:
		if stackslice && stacksliceServe == nil {
			r.err = fmt.Errorf("%w: packages sched and poll are not part of this build (-tags footprint_nostackslice)", errNotAvailable)
			return r
		}
		exe, err := os.Executable()
		if err != nil {
			r.err = err
			return r
		}
		path, env = exe, []string{envRole + "=server", envVariant + "=" + v}
	case v == "nbio" || v == "gnet" || v == "nbhttp":
		bin, err := b.buildPeers(ctx)
		if err != nil {
			r.err = err
			return r
		}
		path, args = bin, []string{"-variant", v}
	default:
		r.err = fmt.Errorf("unknown variant %q", v)
		return r
	}

	if b.o.profile != "" {
		env = append(env, envMemProfileRate+"=1")
	}

	// Bound the run: connecting goes at several thousand per second here.
	limit := 60*time.Second + 2*b.o.idle + time.Duration(n)*3*time.Millisecond // two idle periods: warm-up and measured
	ctx, cancel := context.WithTimeoutCause(ctx, limit, fmt.Errorf("run took longer than %v", limit))
	defer cancel()
	r.err = b.measure(ctx, &r, path, args, env)
	if b.o.verbose && r.err == nil {
		for _, x := range []struct {
			name string
			s    Sample
		}{{"base", r.base}, {"fresh", r.fresh}, {"loaded", r.loaded}} {
			fmt.Fprintf(b.stderr, "footprint: %s: N=%d %-6s rss %d (anon %d) heap %d stack %d conns %d\n",
				v, n, x.name, x.s.RSS, x.s.RSSAnon, x.s.Heap, x.s.Stack, x.s.Conns)
		}
		fmt.Fprintf(b.stderr, "footprint: %s: N=%d slab %d -> %d (%+d bytes, %.0f per connection), took %v\n",
			v, n, r.slabBase, r.slabLoaded, r.slabLoaded-r.slabBase,
			float64(r.slabLoaded-r.slabBase)/float64(max(r.exchanged, 1)), time.Since(start).Round(time.Millisecond))
	}
	return r
}

// measure runs one server and its clients and fills in r.
func (b *bench) measure(ctx context.Context, r *result, path string, args, env []string) error {
	fmt.Fprintf(b.stderr, "footprint: %s: N=%d: starting server\n", r.name, r.n)
	srv, err := childproc.Start(ctx, r.name+" server", path, args, env, b.stderr)
	if err != nil {
		return err
	}
	defer srv.Stop()
	addr, err := srv.Expect(ctx, "ready", b.stderr)
	if err != nil {
		return err
	}
	proto := protocol(r.name)
	if err := warmUp(ctx, addr, proto, b.o.idle); err != nil {
		return fmt.Errorf("warm-up connection: %w", err)
	}
	if err := waitCount(ctx, srv, b.stderr, func(c int64) bool { return c == 0 }); err != nil {
		return fmt.Errorf("after warm-up: %w", err)
	}
	if r.base, err = sample(ctx, srv, b.stderr); err != nil {
		return err
	}
	if r.slabBase, err = readSlab(); err != nil {
		return err
	}
	if err := b.heapProfile(ctx, srv, r, "base"); err != nil {
		return err
	}

	// Clients, each from its own source address.
	var clients []*childproc.Child
	defer func() {
		for _, c := range clients {
			c.Stop()
		}
	}()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var progress []atomic.Int64
	for left := r.n; left > 0; left -= clientMax {
		count := min(left, clientMax)
		src := b.source()
		c, err := childproc.Start(ctx, fmt.Sprintf("%s client %s", r.name, src), exe, nil, []string{
			envRole + "=client", envAddr + "=" + addr, envSrc + "=" + src, envCount + "=" + strconv.Itoa(count), envProto + "=" + proto,
		}, b.stderr)
		if err != nil {
			return err
		}
		clients = append(clients, c)
	}
	progress = make([]atomic.Int64, len(clients))
	r.connected, err = b.connect(ctx, r, clients, progress)
	if err != nil {
		return err
	}
	if err := waitCount(ctx, srv, b.stderr, func(c int64) bool { return c >= int64(r.connected) }); err != nil {
		return fmt.Errorf("server did not see every connection: %w", err)
	}
	if r.fresh, err = sample(ctx, srv, b.stderr); err != nil {
		return err
	}

	if r.exchanged, err = command(ctx, clients, "exchange", "exchanged", b.stderr); err != nil {
		return err
	}
	fmt.Fprintf(b.stderr, "footprint: %s: %d of %d connections answered; idle for %v\n", r.name, r.exchanged, r.n, b.o.idle)
	select {
	case <-time.After(b.o.idle):
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	if r.loaded, err = sample(ctx, srv, b.stderr); err != nil {
		return err
	}
	if r.slabLoaded, err = readSlab(); err != nil {
		return err
	}
	if err := b.heapProfile(ctx, srv, r, "loaded"); err != nil {
		return err
	}
	if r.woke, err = command(ctx, clients, "wake", "woke", b.stderr); err != nil {
		return err
	}
	fmt.Fprintf(b.stderr, "footprint: %s: %d of %d connections answered the wake-up message\n", r.name, r.woke, r.n)
	return nil
}

// heapProfile has the server write a heap profile to
// -heapprofile/VARIANT-N-PHASE.pb.gz, if -heapprofile is set.
func (b *bench) heapProfile(ctx context.Context, srv *childproc.Child, r *result, phase string) error {
	if b.o.profile == "" {
		return nil
	}
	path := filepath.Join(b.o.profile, fmt.Sprintf("%s-%d-%s.pb.gz", r.name, r.n, phase))
	if err := srv.Send("heapprofile " + path); err != nil {
		return err
	}
	if _, err := srv.Expect(ctx, "heapprofile", b.stderr); err != nil {
		return err
	}
	fmt.Fprintf(b.stderr, "footprint: %s: %s heap profile written to %s\n", r.name, phase, path)
	return nil
}

// source returns the next client source address, 127.0.0.2 and up.
func (b *bench) source() string {
	if b.nextSrc < 2 || b.nextSrc > 254 {
		b.nextSrc = 2
	}
	s := fmt.Sprintf("127.0.0.%d", b.nextSrc)
	b.nextSrc++
	return s
}

// connect waits for every client to finish connecting, showing progress,
// and returns how many connections are open.
func (b *bench) connect(ctx context.Context, r *result, clients []*childproc.Child, progress []atomic.Int64) (int, error) {
	type done struct {
		ok  int
		err error
	}
	results := make(chan done, len(clients))
	for i, c := range clients {
		go func() {
			for {
				select {
				case line, ok := <-c.Lines():
					if !ok {
						results <- done{err: fmt.Errorf("%s exited while connecting: %v", c.Name(), c.Wait())}
						return
					}
					word, rest, _ := strings.Cut(line, " ")
					switch word {
					case "progress":
						if k, err := strconv.Atoi(rest); err == nil {
							progress[i].Store(int64(k))
						}
						continue
					case "connected":
						var ok, failed int
						_, err := fmt.Sscan(rest, &ok, &failed)
						progress[i].Store(int64(ok))
						results <- done{ok: ok, err: err}
						return
					}
					fmt.Fprintf(b.stderr, "%s: %s\n", c.Name(), line)
				case <-ctx.Done():
					results <- done{err: context.Cause(ctx)}
					return
				}
			}
		}()
	}
	tty := isTerminal(b.stderr)
	show := func(final bool) {
		var sum int64
		for i := range progress {
			sum += progress[i].Load()
		}
		if tty {
			fmt.Fprintf(b.stderr, "\rfootprint: %s: connecting %d/%d", r.name, sum, r.n)
			if final {
				fmt.Fprintln(b.stderr)
			}
		} else {
			fmt.Fprintf(b.stderr, "footprint: %s: connecting %d/%d\n", r.name, sum, r.n)
		}
	}
	period := 200 * time.Millisecond
	if !tty {
		period = time.Second
	}
	tick := time.NewTicker(period)
	defer tick.Stop()
	total, pending := 0, len(clients)
	var firstErr error
	for pending > 0 {
		select {
		case d := <-results:
			pending--
			total += d.ok
			if d.err != nil && firstErr == nil {
				firstErr = d.err
			}
		case <-tick.C:
			show(false)
		}
	}
	show(true)
	return total, firstErr
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// command sends cmd to every client and sums the first number of their
// answers, lines starting with word.
func command(ctx context.Context, clients []*childproc.Child, cmd, word string, stderr io.Writer) (int, error) {
	for _, c := range clients {
		if err := c.Send(cmd); err != nil {
			return 0, err
		}
	}
	total := 0
	for _, c := range clients {
		rest, err := c.Expect(ctx, word, stderr)
		if err != nil {
			return 0, err
		}
		var ok, failed int
		if _, err := fmt.Sscan(rest, &ok, &failed); err != nil {
			return 0, fmt.Errorf("%s: bad answer %q", c.Name(), rest)
		}
		total += ok
	}
	return total, nil
}

// sample asks the server to measure itself.
func sample(ctx context.Context, srv *childproc.Child, stderr io.Writer) (Sample, error) {
	if err := srv.Send("measure"); err != nil {
		return Sample{}, err
	}
	for {
		select {
		case line, ok := <-srv.Lines():
			if !ok {
				return Sample{}, fmt.Errorf("%s exited while measuring: %v", srv.Name(), srv.Wait())
			}
			if !strings.HasPrefix(line, "{") {
				fmt.Fprintf(stderr, "%s: %s\n", srv.Name(), line)
				continue
			}
			var s Sample
			if err := json.Unmarshal([]byte(line), &s); err != nil {
				return Sample{}, fmt.Errorf("%s: bad sample %q: %v", srv.Name(), line, err)
			}
			if s.RSS < 0 {
				return Sample{}, fmt.Errorf("%s: cannot read VmRSS", srv.Name())
			}
			return s, nil
		case <-ctx.Done():
			return Sample{}, fmt.Errorf("%s: measuring: %w", srv.Name(), context.Cause(ctx))
		}
	}
}

// waitCount polls the server's connection count until ok accepts it.
func waitCount(ctx context.Context, srv *childproc.Child, stderr io.Writer, ok func(int64) bool) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := srv.Send("count"); err != nil {
			return err
		}
		rest, err := srv.Expect(ctx, "count", stderr)
		if err != nil {
			return err
		}
		c, err := strconv.ParseInt(rest, 10, 64)
		if err != nil {
			return fmt.Errorf("%s: bad count %q", srv.Name(), rest)
		}
		if ok(c) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s holds %d connections", srv.Name(), c)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// warmUp opens one connection to addr and takes it through what the
// measured connections go through: it makes one exchange of protocol proto,
// stays idle for idle (long enough for a server that packs idle
// connections to pack it), makes another and closes. So the code and fixed
// structures of every phase are in place before the base measurement, not
// counted per connection.
func warmUp(ctx context.Context, addr, proto string, idle time.Duration) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp4", addr)
	if err != nil {
		return err
	}
	defer closeAll([]net.Conn{c})
	exchange := newExchanger(proto)
	if err := exchange(c, 'u', 0); err != nil {
		return err
	}
	select {
	case <-time.After(idle):
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	return exchange(c, 'u', 1)
}

// readSlab returns Slab from /proc/meminfo, in bytes.
func readSlab() (int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("Slab:")); ok {
			if n := procstat.ParseKB(v); n >= 0 {
				return n, nil
			}
		}
	}
	return 0, fmt.Errorf("no Slab in /proc/meminfo")
}

// buildPeers builds the peers module (the nbio, gnet and nbhttp servers) once.
func (b *bench) buildPeers(ctx context.Context) (string, error) {
	if b.peers.Dir == "" {
		b.peers.Dir = b.o.peersDir
	}
	return b.peers.Build(ctx, "footprint", "the nbio, gnet and nbhttp servers", b.stderr)
}
