package poll

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRawIO: the raw calls of the data path report what unix.Read,
// unix.Write and unix.Splice report: bytes moved, EAGAIN as the value the
// callers compare with, -1 with the error, and other errors as they are.
func TestRawIO(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	buf := make([]byte, 16)
	if n, err := readNB(fds[0], buf); n != -1 || err != unix.EAGAIN {
		t.Fatalf("read of an empty socket: %d, %v; want -1, EAGAIN", n, err)
	}
	if n, err := writeNB(fds[1], []byte("hello")); n != 5 || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}
	if n, err := readNB(fds[0], buf); n != 5 || err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("read: %d, %v, %q", n, err, buf[:max(n, 0)])
	}
	if n, err := readNB(fds[0], nil); n != 0 || err != nil { // as unix.Read: 0, nil
		t.Fatalf("empty read of an empty socket: %d, %v; want 0, nil", n, err)
	}
	if n, err := writeNB(-1, []byte("x")); n != -1 || err != unix.EBADF {
		t.Fatalf("write to fd -1: %d, %v; want -1, EBADF", n, err)
	}

	// Through a pipe and back, as a splice copy does.
	p := getPipe()
	if p == nil {
		t.Fatal("no pipe")
	}
	defer putPipe(p, 0)
	if n, err := spliceNB(fds[0], p.wfd, 64); n != -1 || err != unix.EAGAIN {
		t.Fatalf("splice from an empty socket: %d, %v; want -1, EAGAIN", n, err)
	}
	msg := bytes.Repeat([]byte("0123456789"), 100)
	if n, err := writeNB(fds[1], msg); n != len(msg) || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}
	if n, err := spliceNB(fds[0], p.wfd, 1<<20); n != len(msg) || err != nil {
		t.Fatalf("splice into the pipe: %d, %v", n, err)
	}
	if n, err := spliceNB(p.rfd, fds[0], len(msg)); n != len(msg) || err != nil {
		t.Fatalf("splice out of the pipe: %d, %v", n, err)
	}
	got := make([]byte, 2*len(msg))
	if n, err := readNB(fds[1], got); n != len(msg) || err != nil || !bytes.Equal(got[:n], msg) {
		t.Fatalf("read back: %d, %v", n, err)
	}
}
