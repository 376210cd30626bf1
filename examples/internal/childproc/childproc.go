// Package childproc runs the child processes of the examples that measure
// servers (footprint, wspush): every server and load client runs in its
// own process, in its own process group, and is killed with that group
// when its run ends, fails or times out, or when the parent dies
// (Pdeathsig, and every child also exits when its stdin closes).
package childproc

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Child is a running child process speaking a line protocol: commands on
// its stdin, answers on its stdout.
type Child struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string   // stdout, line by line; closed at EOF
	done  chan struct{} // closed when the process has been waited for
	err   error         // Wait's result, once done is closed
}

// ExecEnv names a program, with arguments, through which every child
// runs when it is set: an emulator (STACKSLICE_TEST_EXEC=qemu-aarch64-static
// for a program built with GOARCH=arm64, where binfmt_misc does not run
// the children by itself), as the tests of sched and poll do.
const ExecEnv = "STACKSLICE_TEST_EXEC"

// Start starts path with args and extra environment variables, through
// the program ExecEnv names if set. Its stderr goes to stderr, each line
// prefixed with name.
func Start(ctx context.Context, name, path string, args, env []string, stderr io.Writer) (*Child, error) {
	if w := strings.Fields(os.Getenv(ExecEnv)); len(w) > 0 {
		path, args = w[0], append(append(w[1:len(w):len(w)], path), args...)
	}
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
	c := &Child{name: name, cmd: cmd, stdin: stdin, lines: make(chan string, 4096), done: make(chan struct{})}
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

// Name is the name the child was started with.
func (c *Child) Name() string { return c.name }

// Lines returns the child's stdout, line by line; it is closed at the end
// of the output (Wait then returns the process's end).
func (c *Child) Lines() <-chan string { return c.lines }

// Wait waits for the process to end and returns what exec.Cmd.Wait did.
func (c *Child) Wait() error {
	<-c.done
	return c.err
}

// Getenv returns the value of key in the child's environment ("" if
// unset), as the child sees it: the last setting wins.
func (c *Child) Getenv(key string) string {
	for _, e := range slices.Backward(c.cmd.Env) {
		if v, ok := strings.CutPrefix(e, key+"="); ok {
			return v
		}
	}
	return ""
}

// Send writes one command line to the child.
func (c *Child) Send(command string) error {
	if _, err := io.WriteString(c.stdin, command+"\n"); err != nil {
		return fmt.Errorf("%s: sending %q: %w", c.name, command, err)
	}
	return nil
}

// Expect returns the rest of the next stdout line that starts with word
// and a space. Other lines are reported on stderr and skipped.
func (c *Child) Expect(ctx context.Context, word string, stderr io.Writer) (string, error) {
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

// Stop closes the child's stdin, which asks it to exit, and kills its
// process group if it has not exited within a few seconds.
func (c *Child) Stop() {
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
