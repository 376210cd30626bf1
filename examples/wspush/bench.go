package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/stackslice/stackslice/examples/internal/childproc"
)

// bench runs servers; it owns the peers binary it builds.
type bench struct {
	o      options
	stderr io.Writer

	peers childproc.Peers // built on first use; tests set its Env and Timeout

	nextSrc int // last octet of the next client source address, 127.0.0.x

}

// result is one server measured at one N.
type result struct {
	name string
	n    int
	err  error // the run failed, or the server is not available

	base, loaded Sample
	connected    int
	delivered    int           // connections that had every message, in order
	delays       []int64       // per timed broadcast: until the last client had it, ns (-1: never)
	dropped      int64         // connections the server dropped for falling behind
	slow         int           // extra connections that stop reading (-slow)
	slowDropped  bool          // every one of them was dropped
	cpu          time.Duration // the server's CPU time during the timed broadcasts
	fanout       time.Duration // the longest hand-over of one of them to every connection
	elapsed      time.Duration
}

func (r *result) deliveredOK() bool {
	return r.err == nil && r.connected == r.n && r.delivered == r.n &&
		len(r.delays) > 0 && !slices.Contains(r.delays, -1) &&
		(r.slow == 0 && r.dropped == 0 || r.slow > 0 && r.slowDropped)
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
	return perConn(r.loaded.RSS-r.base.RSS, r.connected)
}

func (r *result) heapPerConn() *float64 {
	if r.err != nil {
		return nil
	}
	return perConn(r.loaded.Heap+r.loaded.Stack-r.base.Heap-r.base.Stack, r.connected)
}

// delayQuantile returns quantile q of the broadcast delays in
// milliseconds (nearest rank), or nil.
func (r *result) delayQuantile(q float64) *float64 {
	if r.err != nil || len(r.delays) == 0 || slices.Contains(r.delays, -1) {
		return nil
	}
	d := slices.Clone(r.delays)
	slices.Sort(d)
	i := int(q*float64(len(d))+0.999999) - 1
	v := float64(d[max(0, min(i, len(d)-1))]) / 1e6
	return &v
}

// cleanup removes what the bench built.
func (b *bench) cleanup() {
	b.peers.Cleanup()
}

// serverCommand returns how to start server v.
func (b *bench) serverCommand(ctx context.Context, v string) (path string, args, env []string, err error) {
	switch v {
	case "stackslice", "nethttp":
		exe, err := os.Executable()
		if err != nil {
			return "", nil, nil, err
		}
		return exe, nil, []string{envRole + "=server", envVariant + "=" + v}, nil
	case "nbhttp":
		bin, err := b.buildPeers(ctx)
		if err != nil {
			return "", nil, nil, err
		}
		return bin, []string{"-variant", v}, nil, nil
	}
	return "", nil, nil, fmt.Errorf("unknown server %q", v)
}

// runServer measures server v with n connections, within a time limit.
func (b *bench) runServer(ctx context.Context, v string, n int) (r result) {
	r = result{name: v, n: n, slow: b.o.slow}
	start := time.Now()
	defer func() { r.elapsed = time.Since(start) }()
	path, args, env, err := b.serverCommand(ctx, v)
	if err != nil {
		r.err = err
		return r
	}
	limit := 90*time.Second + 2*b.o.idle + time.Duration(b.o.broadcasts)*b.o.interval + time.Duration(n)*3*time.Millisecond
	ctx, cancel := context.WithTimeoutCause(ctx, limit, fmt.Errorf("run took longer than %v", limit))
	defer cancel()
	r.err = b.measure(ctx, &r, path, args, env)
	if b.o.verbose && r.err == nil {
		for _, x := range []struct {
			name string
			s    Sample
		}{{"base", r.base}, {"loaded", r.loaded}} {
			fmt.Fprintf(b.stderr, "wspush: %s: N=%d %-6s rss %d (anon %d) heap %d stack %d conns %d\n",
				v, n, x.name, x.s.RSS, x.s.RSSAnon, x.s.Heap, x.s.Stack, x.s.Conns)
		}
		fmt.Fprintf(b.stderr, "wspush: %s: delays (ms):", v)
		for _, d := range r.delays {
			fmt.Fprintf(b.stderr, " %.1f", float64(d)/1e6)
		}
		fmt.Fprintf(b.stderr, "\nwspush: %s: server CPU during the broadcasts %v, longest fan-out %v; took %v\n", v, r.cpu, r.fanout, time.Since(start).Round(time.Millisecond))
	}
	return r
}

// measure runs one server and its clients and fills in r.
func (b *bench) measure(ctx context.Context, r *result, path string, args, env []string) error {
	fmt.Fprintf(b.stderr, "wspush: %s: N=%d: starting server\n", r.name, r.n)
	srv, err := childproc.Start(ctx, r.name+" server", path, args, env, b.stderr)
	if err != nil {
		return err
	}
	defer srv.Stop()
	addr, err := srv.Expect(ctx, "ready", b.stderr)
	if err != nil {
		return err
	}
	if err := b.warmUp(ctx, srv, addr); err != nil {
		return fmt.Errorf("warm-up connection: %w", err)
	}
	if err := waitCount(ctx, srv, b.stderr, func(c int64) bool { return c == 0 }); err != nil {
		return fmt.Errorf("after warm-up: %w", err)
	}
	if r.base, err = sample(ctx, srv, b.stderr); err != nil {
		return err
	}

	// Clients, each from its own source address; the slow ones last.
	var clients, slow []*childproc.Child
	defer func() {
		for _, c := range append(clients, slow...) {
			c.Stop()
		}
	}()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	start := func(count int, extra ...string) (*childproc.Child, error) {
		src := b.source()
		return childproc.Start(ctx, fmt.Sprintf("%s client %s", r.name, src), exe, nil, append([]string{
			envRole + "=client", envAddr + "=" + addr, envSrc + "=" + src, envCount + "=" + strconv.Itoa(count),
		}, extra...), b.stderr)
	}
	for left := r.n; left > 0; left -= clientMax {
		c, err := start(min(left, clientMax))
		if err != nil {
			return err
		}
		clients = append(clients, c)
	}
	if r.connected, err = b.connect(ctx, r, clients); err != nil {
		return err
	}
	if b.o.slow > 0 {
		c, err := start(b.o.slow, envSlow+"=1")
		if err != nil {
			return err
		}
		slow = append(slow, c)
		if _, err := b.connect(ctx, r, slow); err != nil {
			return err
		}
	}
	want := int64(r.connected + b.o.slow)
	if err := waitCount(ctx, srv, b.stderr, func(c int64) bool { return c >= want }); err != nil {
		return fmt.Errorf("server did not see every subscription: %w", err)
	}

	// One broadcast, then idle, then the memory.
	p1, err := publish(ctx, srv, 1, 0, b.o.size, b.stderr)
	if err != nil {
		return err
	}
	first := p1.first
	if _, _, err := askReport(ctx, clients, first, first, b.stderr); err != nil {
		return err
	}
	fmt.Fprintf(b.stderr, "wspush: %s: %d connections subscribed and had a first broadcast; idle for %v\n", r.name, r.connected, b.o.idle)
	select {
	case <-time.After(b.o.idle):
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	if r.loaded, err = sample(ctx, srv, b.stderr); err != nil {
		return err
	}

	// The timed broadcasts.
	fmt.Fprintf(b.stderr, "wspush: %s: %d broadcasts, one every %v\n", r.name, b.o.broadcasts, b.o.interval)
	p, err := publish(ctx, srv, b.o.broadcasts, b.o.interval, b.o.size, b.stderr)
	if err != nil {
		return err
	}
	last, dropped := p.last, p.dropped
	r.dropped, r.cpu, r.fanout = dropped, p.cpu, p.fanout
	// Whether the first message got everywhere counts too: report from it.
	ok, delays, err := askReport(ctx, clients, first, last, b.stderr)
	if err != nil {
		return err
	}
	r.delivered, r.delays = ok, delays[1:]
	if b.o.slow > 0 {
		r.slowDropped = dropped == int64(b.o.slow)
		if err := waitCount(ctx, srv, b.stderr, func(c int64) bool { return c == int64(r.connected) }); err != nil {
			fmt.Fprintf(b.stderr, "wspush: %s: slow clients still held: %v\n", r.name, err)
			r.slowDropped = false
		}
	}
	fmt.Fprintf(b.stderr, "wspush: %s: %d of %d connections had all %d messages in order; %d dropped for falling behind\n",
		r.name, r.delivered, r.n, last-first+1, dropped)
	return nil
}

// publish asks the server to broadcast k messages, one every interval,
// and returns its answer.
func publish(ctx context.Context, srv *childproc.Child, k int, interval time.Duration, size int, stderr io.Writer) (p published, err error) {
	if err := srv.Send(fmt.Sprintf("publish %d %d %d", k, interval.Milliseconds(), size)); err != nil {
		return p, err
	}
	rest, err := srv.Expect(ctx, "published", stderr)
	if err != nil {
		return p, err
	}
	var ms, us int64
	if _, err := fmt.Sscan(rest, &p.first, &p.last, &p.dropped, &ms, &us); err != nil {
		return p, fmt.Errorf("%s: bad answer %q", srv.Name(), rest)
	}
	p.cpu, p.fanout = time.Duration(ms)*time.Millisecond, time.Duration(us)*time.Microsecond
	return p, nil
}

// published is the server's answer to a publish command.
type published struct {
	first, last int64         // sequence numbers
	dropped     int64         // connections dropped so far for falling behind
	cpu         time.Duration // the server's CPU time meanwhile
	fanout      time.Duration // the longest hand-over of one message to every connection
}

// askReport asks every client what it received from first to last, and
// returns how many connections had every message and, per message, the
// delay until the last client had it (-1 if a client had it nowhere).
func askReport(ctx context.Context, clients []*childproc.Child, first, last int64, stderr io.Writer) (int, []int64, error) {
	for _, c := range clients {
		if err := c.Send(fmt.Sprintf("report %d %d", first, last)); err != nil {
			return 0, nil, err
		}
	}
	ok := 0
	delays := make([]int64, last-first+1)
	for _, c := range clients {
		rest, err := c.Expect(ctx, "report", stderr)
		if err != nil {
			return 0, nil, err
		}
		f := strings.Fields(rest)
		if len(f) != 2+len(delays) {
			return 0, nil, fmt.Errorf("%s: bad report %q", c.Name(), rest)
		}
		k, err := strconv.Atoi(f[0])
		if err != nil {
			return 0, nil, fmt.Errorf("%s: bad report %q", c.Name(), rest)
		}
		ok += k
		for i := range delays {
			d, err := strconv.ParseInt(f[2+i], 10, 64)
			if err != nil {
				return 0, nil, fmt.Errorf("%s: bad report %q", c.Name(), rest)
			}
			if d < 0 || delays[i] < 0 {
				delays[i] = -1
			} else {
				delays[i] = max(delays[i], d)
			}
		}
	}
	return ok, delays, nil
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
func (b *bench) connect(ctx context.Context, r *result, clients []*childproc.Child) (int, error) {
	type done struct {
		ok  int
		err error
	}
	progress := make([]atomic.Int64, len(clients))
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
	want := 0
	for _, c := range clients {
		k, _ := strconv.Atoi(c.Getenv(envCount))
		want += k
	}
	tty := isTerminal(b.stderr)
	show := func(final bool) {
		var sum int64
		for i := range progress {
			sum += progress[i].Load()
		}
		if tty {
			fmt.Fprintf(b.stderr, "\rwspush: %s: connecting %d/%d", r.name, sum, want)
			if final {
				fmt.Fprintln(b.stderr)
			}
		} else {
			fmt.Fprintf(b.stderr, "wspush: %s: connecting %d/%d\n", r.name, sum, want)
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

// warmUp opens one WebSocket and takes it through what the measured ones
// go through: subscribe, ping, a broadcast, idle (long enough for a
// server that packs idle connections to pack it), another broadcast; then
// closes it. So the code and fixed structures of every phase are in place
// before the base measurement, not counted per connection.
func (b *bench) warmUp(ctx context.Context, srv *childproc.Child, addr string) error {
	c, r, err := open(ctx, dialer(net.IPv4(127, 0, 0, 1), false), addr)
	if err != nil {
		return err
	}
	defer reset(c)
	for i := range 2 {
		if i == 1 {
			select {
			case <-time.After(b.o.idle):
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		}
		if _, err := publish(ctx, srv, 1, 0, b.o.size, b.stderr); err != nil {
			return err
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		h, err := ws.ReadHeader(r)
		if err == nil && h.OpCode != ws.OpText {
			err = fmt.Errorf("got a %v frame, want text", h.OpCode)
		}
		if err == nil {
			_, err = io.CopyN(io.Discard, r, h.Length)
		}
		if err != nil {
			return err
		}
	}
	return writeClientFrame(c, ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
}

// buildPeers builds the peers module (the nbhttp server) once.
func (b *bench) buildPeers(ctx context.Context) (string, error) {
	if b.peers.Dir == "" {
		b.peers.Dir = b.o.peersDir
	}
	return b.peers.Build(ctx, "wspush", "the nbhttp server", b.stderr)
}
