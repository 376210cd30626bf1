//go:build linux || darwin || freebsd

package poll

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stackslice/stackslice/sched"
)

// env runs a test body against one way of driving the poller: goroutines
// on a test-driven poller, or coroutines of a scheduler.
type env struct {
	name   string
	listen func(network, address string) (*Listener, error)
	dial   func(ctx context.Context, network, address string) (*Conn, error)
	// spawn runs fn concurrently the way this env's users would (a
	// goroutine, or a coroutine); done is closed when fn returns.
	spawn func(fn func()) (done <-chan struct{})
	// await waits for done from inside a spawned function: a coroutine
	// must park, not block its carrier on a channel.
	await func(done <-chan struct{})
}

func goroutineEnv(t testing.TB) env {
	p := newTestPoller(t)
	return env{
		name:   "goroutine",
		listen: func(n, a string) (*Listener, error) { return listen(p, n, a) },
		dial:   func(ctx context.Context, n, a string) (*Conn, error) { return dial(ctx, p, n, a) },
		spawn: func(fn func()) <-chan struct{} {
			done := make(chan struct{})
			go func() { defer close(done); fn() }()
			return done
		},
		await: func(done <-chan struct{}) { <-done },
	}
}

// schedEnv runs everything in coroutines of a scheduler with the real
// Listen and Dial.
func schedEnv(t testing.TB) env {
	s := sched.New()
	t.Cleanup(func() { s.Close() })
	return schedEnvOn(s)
}

// schedEnvOn is schedEnv on the scheduler s.
func schedEnvOn(s *sched.Scheduler) env {
	return env{
		name:   "coroutine",
		listen: func(n, a string) (*Listener, error) { return Listen(s, n, a) },
		dial:   func(ctx context.Context, n, a string) (*Conn, error) { return Dial(ctx, s, n, a) },
		spawn: func(fn func()) <-chan struct{} {
			done := make(chan struct{})
			if _, err := s.Go(func(context.Context) { defer close(done); fn() }); err != nil {
				panic(err)
			}
			return done
		},
		await: func(done <-chan struct{}) {
			sched.ParkCtx(nil, "test: await", func(w sched.Waker) bool {
				go func() { <-done; w.Ready() }()
				return true
			})
		},
	}
}

// envs lists the environments every behaviour test runs in.
var envs = []func(testing.TB) env{goroutineEnv, schedEnv}

func forEachEnv(t *testing.T, f func(t *testing.T, e env)) {
	for _, mk := range envs {
		e := mk(t)
		t.Run(e.name, func(t *testing.T) { f(t, e) })
	}
}

// echoServer accepts on ln and echoes every connection until ln closes.
func echoServer(e env, ln *Listener) <-chan struct{} {
	return e.spawn(func() {
		for {
			c, err := ln.AcceptConn()
			if err != nil {
				return
			}
			e.spawn(func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
			})
		}
	})
}

func TestEchoStdClient(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e env) {
		for _, nw := range []struct{ network, addr string }{
			{"tcp", "127.0.0.1:0"}, {"tcp4", "127.0.0.1:0"}, {"tcp6", "[::1]:0"}, {"tcp", ":0"},
			{"unix", t.TempDir() + "/s"},
		} {
			ln, err := e.listen(nw.network, nw.addr)
			if err != nil {
				if nw.network == "tcp6" {
					t.Logf("no IPv6: %v", err)
					continue
				}
				t.Fatal(err)
			}
			done := echoServer(e, ln)
			addr := ln.Addr().String()
			cnet := nw.network
			if nw.addr == ":0" {
				addr = net.JoinHostPort("127.0.0.1", port(ln.Addr()))
			}
			c, err := net.Dial(cnet, addr)
			if err != nil {
				t.Fatal(err)
			}
			msg := bytes.Repeat([]byte("hello "), 10000)
			go c.Write(msg)
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("%s: echo: %v", nw.network, err)
			}
			c.Close()
			ln.Close()
			wait(t, done, "server")
			if nw.network == "unix" {
				if _, err := os.Stat(nw.addr); !os.IsNotExist(err) {
					t.Errorf("unix socket file left behind: %v", err)
				}
			}
		}
	})
}

func port(a net.Addr) string {
	_, p, _ := net.SplitHostPort(a.String())
	return p
}

func TestDialEcho(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e env) {
		ln, err := e.listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		echoServer(e, ln)
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := range 20 {
			wg.Add(1)
			done := e.spawn(func() {
				defer wg.Done()
				c, err := e.dial(context.Background(), "tcp", ln.Addr().String())
				if err != nil {
					errs <- err
					return
				}
				defer c.Close()
				if c.RemoteAddr().String() != ln.Addr().String() {
					errs <- errors.New("RemoteAddr " + c.RemoteAddr().String())
				}
				msg := bytes.Repeat([]byte{byte(i)}, 100000)
				wdone := e.spawn(func() { c.Write(msg) })
				got := make([]byte, len(msg))
				if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
					errs <- errors.Join(errors.New("echo mismatch"), err)
				}
				e.await(wdone)
			})
			_ = done
		}
		waitGroup(t, &wg, "the echo clients")
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

func TestDialErrors(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e env) {
		// A port nobody listens on: take one and close it.
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := l.Addr().String()
		l.Close()
		_, err := e.dial(context.Background(), "tcp", addr)
		var oe *net.OpError
		if !errors.As(err, &oe) || oe.Op != "dial" || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial refused: got %#v", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := e.dial(ctx, "tcp", addr); !errors.Is(err, context.Canceled) {
			t.Errorf("dial canceled: got %v", err)
		}
		if _, err := e.dial(context.Background(), "udp", addr); err == nil {
			t.Error("dial udp: no error")
		}
	})
}

// pair returns a connected (poll server side, std client side) pair.
func pair(t *testing.T, e env) (*Conn, net.Conn) {
	t.Helper()
	ln, err := e.listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan *Conn, 1)
	e.spawn(func() {
		c, err := ln.AcceptConn()
		if err != nil {
			t.Error(err)
		}
		ch <- c
	})
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc := recv(t, ch, "the accept")
	if sc == nil {
		t.FailNow()
	}
	t.Cleanup(func() { sc.Close(); cc.Close() })
	return sc, cc
}

func checkOpError(t *testing.T, err error, op string, target error) {
	t.Helper()
	var oe *net.OpError
	if !errors.As(err, &oe) {
		t.Fatalf("%s: error %T %v is not a *net.OpError", op, err, err)
	}
	if oe.Op != op || oe.Net != "tcp" || oe.Addr == nil || oe.Source == nil {
		t.Errorf("%s: OpError fields: %+v", op, oe)
	}
	if !errors.Is(err, target) {
		t.Errorf("%s: got %v, want %v", op, err, target)
	}
}

func TestCloseWakesBlockedRead(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e env) {
		for _, from := range []string{"same-env", "goroutine"} {
			sc, _ := pair(t, e)
			var rerr error
			started := make(chan struct{})
			done := e.spawn(func() {
				close(started)
				_, rerr = sc.Read(make([]byte, 10))
			})
			wait(t, started, "the reader to start")
			time.Sleep(10 * time.Millisecond) // let it park (not required for correctness)
			if from == "goroutine" {
				go sc.Close()
			} else {
				e.spawn(func() { sc.Close() })
			}
			wait(t, done, "blocked Read after Close")
			checkOpError(t, rerr, "read", net.ErrClosed)
			if _, err := sc.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
				t.Errorf("Write after Close: %v", err)
			}
			if err := sc.Close(); !errors.Is(err, net.ErrClosed) {
				t.Errorf("second Close: %v", err)
			}
		}
	})
}

func TestCloseListenerWakesAccept(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e env) {
		ln, err := e.listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var aerr error
		done := e.spawn(func() { _, aerr = ln.Accept() })
		time.Sleep(10 * time.Millisecond)
		ln.Close()
		wait(t, done, "Accept after Close")
		if !errors.Is(aerr, net.ErrClosed) {
			t.Errorf("Accept: %v", aerr)
		}
	})
}

func TestPeerReset(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e env) {
		sc, cc := pair(t, e)
		var rerr error
		done := e.spawn(func() {
			buf := make([]byte, 10)
			for rerr == nil {
				_, rerr = sc.Read(buf)
			}
		})
		cc.Write([]byte("x"))
		cc.(*net.TCPConn).SetLinger(0)
		cc.Close() // RST
		wait(t, done, "Read after peer reset")
		if !errors.Is(rerr, syscall.ECONNRESET) && rerr != io.EOF {
			t.Errorf("Read after reset: %v", rerr)
		}
		var werr error
		done = e.spawn(func() {
			for werr == nil {
				_, werr = sc.Write([]byte("data"))
			}
		})
		wait(t, done, "Write after peer reset")
		if !errors.Is(werr, syscall.EPIPE) && !errors.Is(werr, syscall.ECONNRESET) {
			t.Errorf("Write after reset: %v", werr)
		}
	})
}

func TestHalfClose(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e env) {
		sc, cc := pair(t, e)
		var got []byte
		var rerr error
		done := e.spawn(func() {
			got, rerr = io.ReadAll(sc) // until the client's CloseWrite
			if rerr == nil {
				_, rerr = sc.Write([]byte("reply"))
			}
			if rerr == nil {
				rerr = sc.CloseWrite()
			}
		})
		cc.Write([]byte("request"))
		cc.(*net.TCPConn).CloseWrite()
		reply, err := io.ReadAll(cc)
		wait(t, done, "half-close server")
		if rerr != nil || string(got) != "request" || err != nil || string(reply) != "reply" {
			t.Errorf("server got %q (%v); client got %q (%v)", got, rerr, reply, err)
		}
	})
}

func TestReadDeadline(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e env) {
		sc, cc := pair(t, e)
		// Idle connections whose read deadline expires.
		var rerr error
		done := e.spawn(func() {
			sc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			_, rerr = sc.Read(make([]byte, 10))
		})
		wait(t, done, "Read with deadline")
		checkOpError(t, rerr, "read", os.ErrDeadlineExceeded)
		var ne net.Error
		if !errors.As(rerr, &ne) || !ne.Timeout() {
			t.Errorf("deadline error is not a timeout net.Error: %v", rerr)
		}
		// Past deadline: fails at once; cleared: works again.
		done = e.spawn(func() {
			sc.SetReadDeadline(time.Now().Add(-time.Second))
			_, rerr = sc.Read(make([]byte, 10))
		})
		wait(t, done, "Read with past deadline")
		checkOpError(t, rerr, "read", os.ErrDeadlineExceeded)
		var n int
		done = e.spawn(func() {
			sc.SetReadDeadline(time.Time{})
			n, rerr = sc.Read(make([]byte, 10))
		})
		cc.Write([]byte("abc"))
		wait(t, done, "Read after clearing deadline")
		if n != 3 || rerr != nil {
			t.Errorf("Read after clearing deadline: %d, %v", n, rerr)
		}
		// A deadline extended while Read waits is honoured (no early fire).
		done = e.spawn(func() {
			sc.SetReadDeadline(time.Now().Add(time.Hour))
			n, rerr = sc.Read(make([]byte, 10))
		})
		time.Sleep(5 * time.Millisecond)
		cc.Write([]byte("de"))
		wait(t, done, "Read with far deadline")
		if n != 2 || rerr != nil {
			t.Errorf("Read with far deadline: %d, %v", n, rerr)
		}
		// Many idle connections, all expiring.
		const k = 50
		conns := make([]*Conn, k)
		for i := range conns {
			conns[i], _ = pair(t, e)
		}
		errs := make([]error, k)
		var dones []<-chan struct{}
		for i, c := range conns {
			dones = append(dones, e.spawn(func() {
				c.SetReadDeadline(time.Now().Add(time.Duration(i) * time.Millisecond))
				errs[i] = c.WaitRead(context.Background())
			}))
		}
		for i, d := range dones {
			wait(t, d, "idle WaitRead with deadline")
			if !errors.Is(errs[i], os.ErrDeadlineExceeded) {
				t.Errorf("conn %d: %v", i, errs[i])
			}
		}
	})
}

func TestWriteToStalledPeer(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e env) {
		sc, _ := pair(t, e) // the client never reads
		var n, total int
		var werr error
		done := e.spawn(func() {
			sc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			buf := make([]byte, 64<<10)
			for werr == nil {
				n, werr = sc.Write(buf)
				total += n
			}
		})
		wait(t, done, "Write to stalled peer")
		checkOpError(t, werr, "write", os.ErrDeadlineExceeded)
		if total == 0 {
			t.Error("nothing written before the deadline")
		}
		// Close while a Write is blocked also ends it.
		sc2, _ := pair(t, e)
		done = e.spawn(func() {
			buf := make([]byte, 64<<10)
			for {
				if _, err := sc2.Write(buf); err != nil {
					werr = err
					return
				}
			}
		})
		time.Sleep(20 * time.Millisecond)
		sc2.Close()
		wait(t, done, "blocked Write after Close")
		checkOpError(t, werr, "write", net.ErrClosed)
	})
}

func TestConcurrentWriters(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e env) {
		sc, cc := pair(t, e)
		const writers, msgs, size = 8, 50, 10000
		var dones []<-chan struct{}
		for w := range writers {
			dones = append(dones, e.spawn(func() {
				msg := bytes.Repeat([]byte{byte('a' + w)}, size)
				for range msgs {
					if _, err := sc.Write(msg); err != nil {
						t.Error(err)
						return
					}
				}
			}))
		}
		// Every Write is atomic: the stream is whole runs of size bytes.
		buf := make([]byte, size)
		for range writers * msgs {
			if _, err := io.ReadFull(cc, buf); err != nil {
				t.Fatal(err)
			}
			if bytes.Count(buf, buf[:1]) != size {
				t.Fatal("interleaved writes")
			}
		}
		for _, d := range dones {
			wait(t, d, "writer")
		}
	})
}

func TestWaitReadAndReadWith(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e env) {
		sc, cc := pair(t, e)
		ctx, cancel := context.WithCancel(context.Background())
		var werr error
		done := e.spawn(func() { werr = sc.WaitRead(ctx) })
		time.Sleep(5 * time.Millisecond)
		cancel()
		wait(t, done, "WaitRead cancel")
		if !errors.Is(werr, context.Canceled) {
			t.Errorf("WaitRead after cancel: %v", werr)
		}
		pool := NewBufferPool(64)
		var got bytes.Buffer
		done = e.spawn(func() {
			for {
				err := sc.ReadWith(pool, func(p []byte) error {
					got.Write(p)
					return nil
				})
				if err != nil {
					werr = err
					return
				}
			}
		})
		msg := bytes.Repeat([]byte("0123456789"), 100)
		cc.Write(msg)
		cc.Close()
		wait(t, done, "ReadWith")
		if werr != io.EOF || !bytes.Equal(got.Bytes(), msg) {
			t.Errorf("ReadWith: %d bytes, %v", got.Len(), werr)
		}
	})
}

func TestSyscallConn(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e env) {
		sc, cc := pair(t, e)
		rc, err := sc.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var fdv uintptr
		rc.Control(func(fd uintptr) { fdv = fd })
		if int(fdv) != sc.fd.sysfd() {
			t.Errorf("Control fd %d", fdv)
		}
		var n int
		done := e.spawn(func() {
			rc.Read(func(fd uintptr) bool {
				var err error
				n, err = syscall.Read(int(fd), make([]byte, 10))
				return err != syscall.EAGAIN
			})
		})
		time.Sleep(5 * time.Millisecond)
		cc.Write([]byte("raw"))
		wait(t, done, "raw read")
		if n != 3 {
			t.Errorf("raw read %d", n)
		}
	})
}

func selfSignedTLS(t testing.TB) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}},
		RootCAs:      pool,
		ServerName:   "localhost",
	}
}

func TestTLSEcho(t *testing.T) {
	forEachEnv(t, func(t *testing.T, e env) {
		cfg := selfSignedTLS(t)
		ln, err := e.listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		tln := tls.NewListener(ln, cfg)
		e.spawn(func() {
			for {
				c, err := tln.Accept()
				if err != nil {
					return
				}
				e.spawn(func() {
					defer c.Close()
					io.Copy(c, c)
				})
			}
		})
		// Client: poll.Conn under crypto/tls too.
		var got []byte
		var cerr error
		done := e.spawn(func() {
			raw, err := e.dial(context.Background(), "tcp", ln.Addr().String())
			if err != nil {
				cerr = err
				return
			}
			c := tls.Client(raw, cfg)
			defer c.Close()
			// Handshake first: a Write during the handshake blocks on
			// crypto/tls's sync.Mutex, which the reading task holds
			// while parked in the handshake, and with one carrier that
			// blocked carrier is the one the reader needs (see sched's
			// Limits).
			if cerr = c.Handshake(); cerr != nil {
				return
			}
			msg := bytes.Repeat([]byte("secret "), 5000)
			wd := e.spawn(func() { c.Write(msg) })
			got = make([]byte, len(msg))
			_, cerr = io.ReadFull(c, got)
			e.await(wd)
			if cerr == nil && !bytes.Equal(got, msg) {
				cerr = errors.New("TLS echo mismatch")
			}
		})
		wait(t, done, "TLS client")
		if cerr != nil {
			t.Fatal(cerr)
		}
		// And a std crypto/tls client against the poll server.
		c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("ping"))
		b := make([]byte, 4)
		if _, err := io.ReadFull(c, b); err != nil || string(b) != "ping" {
			t.Errorf("std TLS client: %q %v", b, err)
		}
		c.Close()
	})
}

// Accepted connections share their listener's local address until one
// builds its remote address: building it must not change the others'.
func TestAcceptedAddrs(t *testing.T) {
	e := goroutineEnv(t)
	ln, err := e.listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var clients []net.Conn
	var served []*Conn
	for i := 0; i < 3; i++ {
		nc, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		c, err := ln.AcceptConn()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients, served = append(clients, nc), append(served, c)
	}
	for i, c := range served {
		if got, want := c.RemoteAddr().String(), clients[i].LocalAddr().String(); got != want {
			t.Errorf("conn %d: RemoteAddr %s, want %s", i, got, want)
		}
		for j, d := range served {
			if got, want := d.LocalAddr().String(), ln.Addr().String(); got != want {
				t.Errorf("after conn %d's RemoteAddr: conn %d LocalAddr %s, want %s", i, j, got, want)
			}
		}
	}
	for i, c := range served {
		if got, want := c.RemoteAddr().String(), clients[i].LocalAddr().String(); got != want {
			t.Errorf("conn %d again: RemoteAddr %s, want %s", i, got, want)
		}
	}
}
