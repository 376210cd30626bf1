// Command idleserver is a long-poll style server: clients connect and stay
// idle, and the server pushes a message to every one of them on an
// interval. Each connection is one coroutine in plain blocking style
// (sleep until the next tick, write); between pushes it is a small saved
// block, not a parked goroutine with a stack.
//
//	go run ./examples/idleserver                         # serve on 127.0.0.1:7008 until interrupted
//	go run ./examples/idleserver -clients 1000 -d 5s     # with 1,000 in-process idle clients
//	go run ./examples/idleserver -tls -clients 100 -d 3s # TLS with a self-signed certificate
//
// A client that stops reading is dropped when a push cannot be written
// within -wtimeout.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stackslice/stackslice/poll"
	"github.com/stackslice/stackslice/sched"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "idleserver:", err)
		os.Exit(1)
	}
}

type config struct {
	interval, wtimeout time.Duration
	tls                *tls.Config
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("idleserver", flag.ContinueOnError)
	fs.SetOutput(out)
	addr := fs.String("addr", "127.0.0.1:7008", "listen address (loopback by default; :0 picks a port)")
	dur := fs.Duration("d", 0, "stop after this long (0: run until interrupted)")
	interval := fs.Duration("interval", time.Second, "push interval")
	wtimeout := fs.Duration("wtimeout", 5*time.Second, "drop a client whose push cannot be written within this")
	useTLS := fs.Bool("tls", false, "serve TLS with a self-signed certificate made at start-up")
	clients := fs.Int("clients", 0, "in-process idle clients (std net goroutines) that count the pushes they receive")
	enough := fs.Int64("received", 0, "with -clients: stop once they have received this many pushes (-d bounds the wait)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *dur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *dur)
		defer cancel()
	}
	ctx, enoughReceived := context.WithCancel(ctx)
	defer enoughReceived()
	cfg := &config{interval: *interval, wtimeout: *wtimeout}
	var clientTLS *tls.Config
	if *useTLS {
		var err error
		if cfg.tls, clientTLS, err = selfSigned(); err != nil {
			return err
		}
	}

	s := sched.New()
	defer s.Close()
	ln, err := poll.Listen(s, "tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "idleserver: listening on %s (tls=%v, push every %v)\n", ln.Addr(), *useTLS, *interval)
	var live, pushes atomic.Int64
	epoch := time.Now()
	srv := &poll.Server{Handler: func(ctx context.Context, c *poll.Conn) {
		live.Add(1)
		defer live.Add(-1)
		serve(ctx, c, cfg, epoch, &pushes)
	}}
	if _, err := s.Go(func(context.Context) { srv.Serve(ln) }); err != nil {
		ln.Close()
		return err
	}

	var received atomic.Int64
	var wg sync.WaitGroup
	for range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := client(ctx, ln.Addr().String(), clientTLS, &received, *enough, enoughReceived); err != nil && ctx.Err() == nil {
				fmt.Fprintln(out, "idleserver: client:", err)
			}
		}()
	}
	tick := time.NewTicker(max(*interval, time.Second))
	defer tick.Stop()
	report := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Fprintf(out, "idleserver: %d connections, %d pushes sent, %d received by clients, heap %d KiB\n",
			live.Load(), pushes.Load(), received.Load(), ms.HeapInuse>>10)
	}
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
			report()
		}
	}
	wg.Wait()
	srv.Close() // stop accepting; the pushes stop (their tasks are cancelled)
	report()
	return nil
}

// serve pushes a message to c at every interval boundary until the
// connection fails or ctx is cancelled (the server closes, or the
// scheduler). The Server closes c when serve returns.
func serve(ctx context.Context, c *poll.Conn, cfg *config, epoch time.Time, pushes *atomic.Int64) {
	var conn net.Conn = c
	if cfg.tls != nil {
		tc := tls.Server(c, cfg.tls)
		c.SetDeadline(time.Now().Add(cfg.wtimeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			return
		}
		c.SetDeadline(time.Time{})
		conn = tc
		defer tc.Close() // sends close_notify before the Server closes c
	}
	msg := make([]byte, 0, 64)
	for n := 1; ; n++ {
		next := epoch.Add(time.Duration((time.Since(epoch)/cfg.interval)+1) * cfg.interval)
		if err := sched.Sleep(time.Until(next)); err != nil {
			return
		}
		msg = fmt.Appendf(msg[:0], "push %d at %s\n", n, time.Now().Format(time.TimeOnly))
		c.SetWriteDeadline(time.Now().Add(cfg.wtimeout))
		if _, err := conn.Write(msg); err != nil {
			return // gone, or not reading
		}
		pushes.Add(1)
	}
}

// client connects, stays idle, and counts the pushes it reads.
func client(ctx context.Context, addr string, cfg *tls.Config, received *atomic.Int64, enough int64, enoughReceived func()) error {
	var c net.Conn
	var err error
	if cfg != nil {
		c, err = tls.Dial("tcp", addr, cfg)
	} else {
		c, err = net.Dial("tcp", addr)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	buf := make([]byte, 256)
	for {
		n, err := c.Read(buf)
		for _, b := range buf[:n] {
			if b == '\n' {
				if n := received.Add(1); enough > 0 && n >= enough {
					enoughReceived()
				}
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// selfSigned returns a server config with a fresh self-signed certificate
// for 127.0.0.1 and localhost, and a client config that trusts it.
func selfSigned() (server, client *tls.Config, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "idleserver"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}}}
	client = &tls.Config{RootCAs: pool}
	return server, client, nil
}
