//go:build linux || darwin || freebsd

package httpserve

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The load generator of BenchmarkHTTP runs in a child process (this test
// binary, run again), so that the client's allocations and garbage do not
// count against the server measured. The child runs as poll's tests run
// theirs (poll/shared_test.go, whose childCommand this copies, with the
// same environment variables): STACKSLICE_TEST_CHILD names its role, and
// STACKSLICE_TEST_EXEC the program, if any, through which the binary runs
// (an emulator).
const (
	childEnv = "STACKSLICE_TEST_CHILD"
	execEnv  = "STACKSLICE_TEST_EXEC"

	loadRole = "http-load"
	// loadEnv carries the load's parameters to the child: address,
	// connections, requests ("127.0.0.1:8080 256 100000").
	loadEnv = "STACKSLICE_TEST_HTTP_LOAD"
)

// childCommand returns the command that runs the test binary's test named
// test (alone, once, verbose) in a child process playing role, with env
// added to this process's environment, killed if ctx ends first.
func childCommand(ctx context.Context, test, role string, env ...string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	args := []string{"-test.run=^" + test + "$", "-test.count=1", "-test.v"}
	name := exe
	if w := strings.Fields(os.Getenv(execEnv)); len(w) > 0 {
		name, args = w[0], append(append(w[1:len(w):len(w)], exe), args...)
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(append(os.Environ(), childEnv+"="+role), env...)
	return cmd
}

// A loadGen is a running load generator child: it has connected its
// connections, and starts sending when told.
type loadGen struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string // the child's stdout, line by line
	output bytes.Buffer
	mu     sync.Mutex // guards output
}

// startLoad starts a child that opens conns keep-alive connections to addr
// and waits for go to send requests GETs over them, each connection one
// at a time (as wrk does).
func startLoad(ctx context.Context, addr string, conns, requests int) (*loadGen, error) {
	cmd := childCommand(ctx, "TestHTTPLoadChild", loadRole, fmt.Sprintf("%s=%s %d %d", loadEnv, addr, conns, requests))
	lg := &loadGen{cmd: cmd, lines: make(chan string, 16)}
	var err error
	if lg.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		defer close(lg.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lg.mu.Lock()
			fmt.Fprintln(&lg.output, sc.Text())
			lg.mu.Unlock()
			if strings.HasPrefix(sc.Text(), "loadgen: ") {
				lg.lines <- strings.TrimPrefix(sc.Text(), "loadgen: ")
			}
		}
	}()
	if err := lg.expect("ready"); err != nil {
		return nil, err
	}
	return lg, nil
}

// expect waits for the child to say what.
func (lg *loadGen) expect(what string) error {
	line, ok := <-lg.lines
	if ok && line == what {
		return nil
	}
	lg.cmd.Process.Kill()
	err := lg.cmd.Wait()
	lg.mu.Lock()
	defer lg.mu.Unlock()
	return fmt.Errorf("load generator: said %q, not %q (%v); output:\n%s", line, what, err, lg.output.String())
}

// run tells the child to go and waits until it has had every response.
func (lg *loadGen) run() error {
	if _, err := io.WriteString(lg.stdin, "go\n"); err != nil {
		return err
	}
	return lg.expect("done")
}

// wait waits for the child to exit.
func (lg *loadGen) wait() error {
	lg.stdin.Close()
	for range lg.lines {
		// the rest of the child's output, up to its end: Wait closes the pipe
	}
	err := lg.cmd.Wait()
	if err != nil {
		lg.mu.Lock()
		defer lg.mu.Unlock()
		return fmt.Errorf("load generator: %v; output:\n%s", err, lg.output.String())
	}
	return nil
}

// TestHTTPLoadChild is the load generator, in a child process.
func TestHTTPLoadChild(t *testing.T) {
	if os.Getenv(childEnv) != loadRole {
		t.Skip("the load generator of BenchmarkHTTP, run in a child process")
	}
	var addr string
	var conns, requests int
	if _, err := fmt.Sscanf(os.Getenv(loadEnv), "%s %d %d", &addr, &conns, &requests); err != nil {
		t.Fatalf("%s=%q: %v", loadEnv, os.Getenv(loadEnv), err)
	}
	cs := make([]net.Conn, conns)
	for i := range cs {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		cs[i] = c
	}
	fmt.Println("loadgen: ready")
	if line, err := bufio.NewReader(os.Stdin).ReadString('\n'); line != "go\n" {
		t.Fatalf("told %q (%v), not go", line, err)
	}
	errs := make(chan error, conns)
	var wg sync.WaitGroup
	for i, c := range cs {
		n := requests / conns
		if i < requests%conns {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := getLoop(c, n); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	fmt.Println("loadgen: done")
}

var getRequest = []byte("GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: loadgen\r\n\r\n")

// getLoop sends n GETs over c, one at a time, and reads each response:
// status 200 and a Content-Length body. It parses no more than it must, so
// that the client's CPU, shared with the server on a small machine, goes
// mostly to the system calls.
func getLoop(c net.Conn, n int) error {
	c.SetDeadline(time.Now().Add(10 * time.Minute)) // only a hang is that slow
	br := bufio.NewReaderSize(c, 4<<10)
	for range n {
		if _, err := c.Write(getRequest); err != nil {
			return err
		}
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
			return fmt.Errorf("status line %q", line)
		}
		length := -1
		for {
			line, err = br.ReadSlice('\n')
			if err != nil {
				return err
			}
			if len(line) <= 2 {
				break
			}
			if k, v, ok := bytes.Cut(line, []byte(":")); ok && strings.EqualFold(string(k), "Content-Length") {
				length, err = strconv.Atoi(string(bytes.TrimSpace(v)))
				if err != nil {
					return fmt.Errorf("header %q", line)
				}
			}
		}
		if length < 0 {
			return errors.New("no Content-Length in the response")
		}
		if _, err := br.Discard(length); err != nil {
			return err
		}
	}
	return nil
}
