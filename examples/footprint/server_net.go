package main

import (
	"bufio"
	"errors"
	"net"
	"sync/atomic"
	"time"
)

// serveNet is the "net" variant, the common style with the standard
// library: one goroutine per connection, reading lines through a 4 KiB
// bufio.Reader and echoing each.
func serveNet(addr string) error {
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	var open atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				time.Sleep(10 * time.Millisecond) // EMFILE and the like
				continue
			}
			open.Add(1)
			go func() {
				defer open.Add(-1)
				defer c.Close()
				br := bufio.NewReaderSize(c, 4096)
				for {
					line, err := br.ReadSlice('\n')
					if err != nil {
						return
					}
					if _, err := c.Write(line); err != nil {
						return
					}
				}
			}()
		}
	}()
	return control(ln.Addr().String(), open.Load)
}
