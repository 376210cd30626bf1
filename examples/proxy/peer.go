package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/stackslice/stackslice/examples/internal/childproc"
)

// The load of -bench (the echo backend and the load client) runs in a
// child process, this program started again with envPeer set, so that the
// relays have their process, and the Go scheduler's Ps, to themselves, as
// a proxy has in production. In one process the relay under test shares
// the Ps with 64 client and 32 backend goroutines, and how the Go
// scheduler shares them out differs between the two designs (64 relay
// goroutines, or a carrier goroutine per P running 64 relay tasks), which
// is not what the bench means to compare. In a process of its own the
// relay's system calls and CPU time can also be counted apart from the
// load's (by process id, in perf or strace output). -inproc keeps the
// single-process layout.

// envPeer, set in the child's environment, makes the program the bench's
// peer process (runPeer).
const envPeer = "STACKSLICE_PROXY_PEER"

// peer runs the echo backend and the load client of -bench.
type peer interface {
	// backend is the echo backend's address.
	backend() string
	// load streams data through the relay at addr (see load).
	load(addr string, conns, chunk int, dur time.Duration) (float64, error)
	close()
}

// inprocPeer runs the backend and the client in this process (-inproc).
type inprocPeer struct{ ln net.Listener }

func newInprocPeer() (*inprocPeer, error) {
	ln, err := startEcho()
	if err != nil {
		return nil, err
	}
	return &inprocPeer{ln: ln}, nil
}

func (p *inprocPeer) backend() string { return p.ln.Addr().String() }
func (p *inprocPeer) close()          { p.ln.Close() }
func (p *inprocPeer) load(addr string, conns, chunk int, dur time.Duration) (float64, error) {
	return load(addr, conns, chunk, dur)
}

// childPeer runs them in a child process, which takes commands on its
// stdin and answers on its stdout (runPeer).
type childPeer struct {
	c    *childproc.Child
	addr string
}

func newChildPeer() (*childPeer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	c, err := childproc.Start(context.Background(), "proxy peer", exe, nil, []string{envPeer + "=1"}, os.Stderr)
	if err != nil {
		return nil, err
	}
	addr, err := c.Expect(context.Background(), "backend", os.Stderr)
	if err != nil {
		c.Stop()
		return nil, err
	}
	return &childPeer{c: c, addr: addr}, nil
}

func (p *childPeer) backend() string { return p.addr }
func (p *childPeer) close()          { p.c.Stop() }

func (p *childPeer) load(addr string, conns, chunk int, dur time.Duration) (float64, error) {
	if err := p.c.Send(fmt.Sprintf("load %s %d %d %d", addr, conns, chunk, dur)); err != nil {
		return 0, err
	}
	// A round takes dur plus the time to drain what is in flight: allow
	// that generously, only to detect a hang.
	ctx, cancel := context.WithTimeout(context.Background(), dur+time.Minute)
	defer cancel()
	ans, err := p.c.Expect(ctx, "mbps", os.Stderr)
	if err != nil {
		return 0, err
	}
	return strconv.ParseFloat(ans, 64)
}

// runPeer is the peer process: it starts the echo backend, prints
// "backend ADDR", then runs each "load ADDR CONNS CHUNK DUR_NS" command it
// reads and answers "mbps X" or "error MESSAGE", until its input ends.
func runPeer(in io.Reader, out io.Writer) error {
	ln, err := startEcho()
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Fprintf(out, "backend %s\n", ln.Addr())
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		var addr string
		var conns, chunk int
		var dur time.Duration
		if _, err := fmt.Sscanf(sc.Text(), "load %s %d %d %d", &addr, &conns, &chunk, &dur); err != nil {
			fmt.Fprintf(out, "error bad command %q: %v\n", sc.Text(), err)
			continue
		}
		mbs, err := load(addr, conns, chunk, dur)
		if err != nil {
			fmt.Fprintf(out, "error %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
			continue
		}
		fmt.Fprintf(out, "mbps %g\n", mbs)
	}
	return sc.Err()
}

// startEcho starts the echo backend (std net): every connection gets its
// bytes back.
func startEcho() (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln, nil
}
