//go:build linux || darwin || freebsd

package poll_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"syscall"
	"time"

	"github.com/stackslice/stackslice/poll"
	"github.com/stackslice/stackslice/sched"
)

// An echo server and its client in one program: the server runs a task per
// connection, and the client is a task too. Dial, Write, Read and Accept
// park their task, never a carrier.
func Example() {
	s := sched.New()
	defer s.Close()
	ln, err := poll.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	s.Go(func(ctx context.Context) {
		poll.Serve(ln, func(ctx context.Context, c *poll.Conn) {
			io.Copy(c, c) // until the client's end of stream; Serve then closes c
		})
	})

	client, _ := s.Go(func(ctx context.Context) {
		c, err := poll.Dial(ctx, s, "tcp", ln.Addr().String())
		if err != nil {
			log.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("hello, stackslice"))
		c.CloseWrite() // the end of the stream ends the server's io.Copy
		echo, err := io.ReadAll(c)
		fmt.Printf("%s (%v)\n", echo, err)
	})
	client.Wait()
	// Output: hello, stackslice (<nil>)
}

// Shutdown stops accepting, lets the connections being served finish, and
// returns once their handlers have returned.
func ExampleServer_Shutdown() {
	s := sched.New()
	defer s.Close()
	ln, err := poll.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	srv := &poll.Server{Handler: func(ctx context.Context, c *poll.Conn) {
		fmt.Fprintf(c, "hello, who are you?\n")
		name, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			return
		}
		fmt.Fprintf(c, "bye, %s", name)
	}}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }() // from a goroutine, Serve blocks it

	// A client of package net, in a goroutine.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	greeting, _ := r.ReadString('\n') // the handler is running now
	fmt.Print(greeting)

	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	fmt.Fprintf(c, "gopher\n") // the handler finishes, Shutdown waits for it
	reply, _ := io.ReadAll(r)  // until the Server closes the connection
	fmt.Print(string(reply))
	fmt.Println("Shutdown:", <-shut)
	fmt.Println("Serve:", <-served)
	// Output:
	// hello, who are you?
	// bye, gopher
	// Shutdown: <nil>
	// Serve: poll: Server closed
}

// ReadWith waits for data without a buffer and borrows one from a pool only
// while it is processed: a server whose connections are mostly idle holds
// buffers only for those with data in flight.
func ExampleConn_ReadWith() {
	s := sched.New()
	defer s.Close()
	ln, err := poll.Listen(s, "tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	pool := poll.NewBufferPool(4096) // shared by every connection
	s.Go(func(ctx context.Context) {
		poll.Serve(ln, func(ctx context.Context, c *poll.Conn) {
			for {
				err := c.ReadWith(pool, func(p []byte) error {
					_, err := c.Write(p) // p goes back to pool after this returns
					return err
				})
				if err != nil {
					return // io.EOF once the client is done
				}
			}
		})
	})

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("ping"))
	c.(*net.TCPConn).CloseWrite()
	echo, _ := io.ReadAll(c)
	fmt.Println(string(echo))
	// Output: ping
}

// A ListenConfig and a Dialer set options as package net's do: here
// keep-alive off, a small backlog, a Control hook that sees the socket
// before it is bound, and a dial timeout and local address.
func ExampleListenConfig() {
	s := sched.New()
	defer s.Close()
	lc := poll.ListenConfig{
		KeepAlive: -1, // accepted connections: no keep-alive probes
		Backlog:   16,
		Control: func(network, address string, rc syscall.RawConn) error {
			fmt.Println("control:", network, address)
			return nil
		},
	}
	ln, err := lc.Listen(context.Background(), s, "tcp4", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer ln.Close()

	d := poll.Dialer{
		Timeout:   5 * time.Second,
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)},
		KeepAlive: -1,
	}
	t, _ := s.Go(func(ctx context.Context) {
		c, err := d.DialContext(ctx, s, "tcp4", ln.Addr().String())
		if err != nil {
			log.Fatal(err)
		}
		defer c.Close()
		sc, err := ln.AcceptConn()
		if err != nil {
			log.Fatal(err)
		}
		defer sc.Close()
		fmt.Println("accepted from the dialer:", sc.RemoteAddr().String() == c.LocalAddr().String())
	})
	t.Wait()
	// Output:
	// control: tcp4 127.0.0.1:0
	// accepted from the dialer: true
}
