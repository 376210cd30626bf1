package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stackslice/stackslice/examples/internal/childproc"
)

// lockedBuffer is a bytes.Buffer for the children's stderr.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serverStats is a server's answer to "stats".
type serverStats struct{ tasks, goroutines, fds int }

func stats(ctx context.Context, srv *childproc.Child, log *lockedBuffer) (serverStats, error) {
	var s serverStats
	if err := srv.Send("stats"); err != nil {
		return s, err
	}
	rest, err := srv.Expect(ctx, "stats", log)
	if err != nil {
		return s, err
	}
	if _, err := fmt.Sscan(rest, &s.tasks, &s.goroutines, &s.fds); err != nil {
		return s, fmt.Errorf("bad stats %q", rest)
	}
	return s, nil
}

// TestChurnNoLeak has clients connect and disconnect repeatedly, in every
// way the churn client knows (a half-sent upgrade, a reset after a
// broadcast, a close frame, a plain close, a frame too large), while
// broadcasts run and steady clients listen. The steady clients must have
// every message; afterwards the stackslice server must hold no connection,
// and as many tasks, goroutines and descriptors as before the churn.
func TestChurnNoLeak(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	log := &lockedBuffer{}
	defer func() {
		if t.Failed() {
			t.Logf("children's output:\n%s", log.String())
		}
	}()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := childproc.Start(ctx, "stackslice server", exe, nil, []string{envRole + "=server", envVariant + "=stackslice"}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	addr, err := srv.Expect(ctx, "ready", log)
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{o: options{idle: 100 * time.Millisecond, size: 64}, stderr: log}
	if err := b.warmUp(ctx, srv, addr); err != nil {
		t.Fatal(err)
	}
	if err := waitCount(ctx, srv, log, func(c int64) bool { return c == 0 }); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let the warm-up's tasks end
	before, err := stats(ctx, srv, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("before: %+v", before)

	client := func(src string, count int, extra ...string) *childproc.Child {
		t.Helper()
		c, err := childproc.Start(ctx, "client "+src, exe, nil, append([]string{envRole + "=client", envAddr + "=" + addr,
			envSrc + "=" + src, envCount + "=" + strconv.Itoa(count)}, extra...), log)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	const steadyN = 50
	steady := client("127.0.0.2", steadyN)
	defer steady.Stop()
	r := &result{name: "stackslice"}
	if n, err := b.connect(ctx, r, []*childproc.Child{steady}); err != nil || n != steadyN {
		t.Fatalf("steady clients: %d connected, %v", n, err)
	}
	churn := client("127.0.0.3", 64, envChurn+"=3s")
	defer churn.Stop()

	p, err := publish(ctx, srv, 40, 75*time.Millisecond, 64, log)
	if err != nil {
		t.Fatal(err)
	}
	first, last, dropped := p.first, p.last, p.dropped
	rest, err := churn.Expect(ctx, "churned", log)
	if err != nil {
		t.Fatal(err)
	}
	made, _ := strconv.Atoi(rest)
	t.Logf("churn: %d connections opened and closed during %d broadcasts", made, last-first+1)
	if made < 20 {
		t.Errorf("churn opened only %d connections", made)
	}
	ok, _, err := askReport(ctx, []*childproc.Child{steady}, first, last, log)
	if err != nil {
		t.Fatal(err)
	}
	if ok != steadyN || dropped != 0 {
		t.Errorf("%d of %d steady connections had every message; %d dropped", ok, steadyN, dropped)
	}
	churn.Stop()
	steady.Stop()

	if err := waitCount(ctx, srv, log, func(c int64) bool { return c == 0 }); err != nil {
		t.Fatal(err)
	}
	// Descriptors and tasks go when the server has seen the clients'
	// resets; goroutines may include the scheduler's monitor and
	// stand-ins, which come and go with load.
	var after serverStats
	for deadline := time.Now().Add(15 * time.Second); ; {
		if after, err = stats(ctx, srv, log); err != nil {
			t.Fatal(err)
		}
		if after.tasks == before.tasks && after.fds == before.fds && after.goroutines <= before.goroutines+2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the churn: %+v, before: %+v (tasks, goroutines or descriptors leaked)", after, before)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("after: %+v", after)
}
