package main

// The load client: a child process that opens up to clientMax connections
// to the server from one loopback source address and, on command, sends one
// message on each and checks the echo (with FOOTPRINT_PROTO=http: makes one
// GET on each and checks the response).
//
// It prints "progress K" while connecting and "connected OK FAILED" when
// done, then answers commands on stdin:
//
//	exchange -> "exchanged OK FAILED": one message on every live connection
//	wake     -> "woke OK FAILED": the same again, after the server idled
//
// Connections that fail are closed and not used again. When stdin closes
// the client resets every connection and exits.

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stackslice/stackslice/examples/internal/childproc"
)

const (
	// clientMax is the most connections one client process opens: below
	// the open-files limit (20000, hard) and well below the ephemeral
	// ports one source address has (32768-60999).
	clientMax = 5000
	// msgLen is the size of each message, newline included.
	msgLen = 32
)

// runClient is the client role; its parameters come from the environment.
func runClient() error {
	addr := os.Getenv(envAddr)
	src := net.ParseIP(os.Getenv(envSrc))
	count, err := strconv.Atoi(os.Getenv(envCount))
	if err != nil || src == nil || src.To4() == nil || !src.IsLoopback() || count < 1 || count > clientMax {
		return fmt.Errorf("bad client parameters: addr %q src %q count %q", os.Getenv(envAddr), os.Getenv(envSrc), os.Getenv(envCount))
	}
	if host, _, err := net.SplitHostPort(addr); err != nil || !net.ParseIP(host).IsLoopback() {
		return fmt.Errorf("server address %q is not loopback", addr)
	}
	proto := os.Getenv(envProto)
	conns := dialAll(addr, src, count)
	ok := 0
	for _, c := range conns {
		if c != nil {
			ok++
		}
	}
	fmt.Printf("connected %d %d\n", ok, count-ok)

	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch cmd := sc.Text(); cmd {
		case "exchange":
			ok := roundTrip(conns, proto, 'x')
			fmt.Printf("exchanged %d %d\n", ok, count-ok)
		case "wake":
			ok := roundTrip(conns, proto, 'w')
			fmt.Printf("woke %d %d\n", ok, count-ok)
		default:
			fmt.Printf("error unknown command %q\n", cmd)
		}
	}
	closeAll(conns)
	return sc.Err()
}

// closeAll resets every connection instead of closing it gracefully, so
// that no socket lingers in TIME_WAIT: those would hold ports and kernel
// memory into the next run and blur its Slab reading.
func closeAll(conns []net.Conn) {
	for _, c := range conns {
		if c == nil {
			continue
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		c.Close()
	}
}

// dialAll opens count connections to addr from source address src; failed
// ones are nil.
func dialAll(addr string, src net.IP, count int) []net.Conn {
	d := net.Dialer{
		LocalAddr: &net.TCPAddr{IP: src},
		Timeout:   10 * time.Second,
		KeepAlive: -1,
		Control:   childproc.BindAddressNoPort,
	}
	conns := make([]net.Conn, count)
	var next, connected atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= count {
					return
				}
				for attempt := 0; ; attempt++ {
					c, err := d.Dial("tcp4", addr)
					if err == nil {
						conns[i] = c
						connected.Add(1)
						break
					}
					if attempt == 2 {
						firstErr.CompareAndSwap(nil, err)
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	stop := make(chan struct{})
	ticked := make(chan struct{})
	go func() {
		defer close(ticked)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		last := int64(-1)
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if n := connected.Load(); n != last {
					fmt.Printf("progress %d\n", n)
					last = n
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-ticked
	if err := firstErr.Load(); err != nil {
		fmt.Fprintf(os.Stderr, "dial: %v\n", err)
	}
	return conns
}

// roundTrip makes one exchange of protocol proto on every live connection
// (a message and its echo, or a GET); it closes and forgets the connections
// that fail. It returns how many succeeded.
func roundTrip(conns []net.Conn, proto string, tag byte) int {
	var next, ok atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			exchange := newExchanger(proto)
			for {
				i := int(next.Add(1) - 1)
				if i >= len(conns) {
					return
				}
				c := conns[i]
				if c == nil {
					continue
				}
				if err := exchange(c, tag, i); err != nil {
					firstErr.CompareAndSwap(nil, err)
					c.Close()
					conns[i] = nil
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if err := firstErr.Load(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", proto, err)
	}
	return int(ok.Load())
}

// message fills msg with a line naming tag and connection i.
func message(msg []byte, tag byte, i int) {
	for j := range msg {
		msg[j] = '.'
	}
	msg[0] = tag
	s := strconv.Itoa(i)
	copy(msg[2:], s)
	msg[len(msg)-1] = '\n'
}

// echo writes msg to c and reads it back into got.
func echo(c net.Conn, msg, got []byte) error {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(msg); err != nil {
		return err
	}
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if !bytes.Equal(msg, got) {
		return fmt.Errorf("echo mismatch: sent %q, got %q", msg, got)
	}
	return nil
}
