package main

// Child processes: every server and load client runs in its own process,
// in its own process group, and is killed with that group when its run
// ends, fails or times out, or when the parent dies (Pdeathsig, and every
// child also exits when its stdin closes).

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a running child process speaking a line protocol: commands on
// its stdin, answers on its stdout.
type child struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string   // stdout, line by line; closed at EOF
	done  chan struct{} // closed when the process has been waited for
	err   error         // Wait's result, once done is closed
}

// startChild starts path with args and extra environment variables. Its
// stderr goes to stderr, each line prefixed with name.
func startChild(ctx context.Context, name, path string, args, env []string, stderr io.Writer) (*child, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error { return killGroup(cmd) }
	cmd.WaitDelay = 2 * time.Second
	cmd.Stderr = &prefixWriter{w: stderr, prefix: name + ": "}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, stdin: stdin, lines: make(chan string, 4096), done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		pw.Close()
		close(c.done)
	}()
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		io.Copy(io.Discard, pr) // an overlong line: keep the child unblocked
	}()
	return c, nil
}

// killGroup kills cmd's process group.
func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}

// send writes one command line to the child.
func (c *child) send(command string) error {
	if _, err := io.WriteString(c.stdin, command+"\n"); err != nil {
		return fmt.Errorf("%s: sending %q: %w", c.name, command, err)
	}
	return nil
}

// expect returns the rest of the next stdout line that starts with word
// and a space. Other lines are reported on stderr and skipped.
func (c *child) expect(ctx context.Context, word string, stderr io.Writer) (string, error) {
	for {
		select {
		case line, ok := <-c.lines:
			if !ok {
				<-c.done
				return "", fmt.Errorf("%s exited while waiting for %q: %v", c.name, word, c.err)
			}
			if rest, found := strings.CutPrefix(line, word+" "); found {
				return rest, nil
			}
			if rest, found := strings.CutPrefix(line, "error "); found {
				return "", fmt.Errorf("%s: %s", c.name, rest)
			}
			fmt.Fprintf(stderr, "%s: %s\n", c.name, line)
		case <-ctx.Done():
			return "", fmt.Errorf("%s: waiting for %q: %w", c.name, word, context.Cause(ctx))
		}
	}
}

// stop closes the child's stdin, which asks it to exit, and kills its
// process group if it has not exited within a few seconds.
func (c *child) stop() {
	c.stdin.Close()
	select {
	case <-c.done:
		return
	case <-time.After(3 * time.Second):
	}
	killGroup(c.cmd)
	<-c.done
}

// prefixWriter prefixes every line written to w, and serializes writers.
type prefixWriter struct {
	w      io.Writer
	prefix string
	buf    []byte
}

var stderrMu sync.Mutex

func (p *prefixWriter) Write(b []byte) (int, error) {
	stderrMu.Lock()
	defer stderrMu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		if _, err := fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i]); err != nil {
			return 0, err
		}
		p.buf = p.buf[i+1:]
	}
	if len(p.buf) > 4096 { // a very long line: flush it
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf)
		p.buf = p.buf[:0]
	}
	return len(b), nil
}

// errNotAvailable marks a variant that this build cannot run.
var errNotAvailable = errors.New("not available yet")
