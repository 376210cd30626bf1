package poll

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The data path's system calls (read, write and splice on a Conn's
// socket) are made raw, without entersyscall, when they move at most
// maxRawIO bytes. The socket is non-blocking and splice's pipe end is too
// (SPLICE_F_NONBLOCK): such a call never sleeps on I/O. It copies what
// the socket's buffer holds, or has room for, and returns; its time is
// CPU time in the kernel, bounded by the bytes it may move. Made raw, the
// call keeps its P for that time, as Go code running as long would.
// Through entersyscall, sysmon takes the P from a call that lasts more
// than 20 µs and hands it to another thread, waking one if need be; a
// relay's splices of a few hundred kilobytes each do, and on a machine
// whose cores are all busy the new thread only adds context switches and
// keeps sysmon polling every 20 µs. (Measured with examples/proxy -bench
// on 2 cores: the relay's ratio to package net went from 0.96x to about
// 1.0x; see the commit that made this change.)
//
// The price of a raw call is that nothing can preempt it: a stop-the-world
// waits for it to return. maxRawIO bounds that wait: a call that may move
// more goes through entersyscall as before. Only the socket calls of the
// data path are raw; accept, connect, close and the poller's waits are
// not. With the race detector, msan or asan (sanitized), reads and writes
// go through unix, which tells them what the kernel did to the buffer.
const maxRawIO = 1 << 20

// A splice never moves more than maxRawIO (see spliceNB): this fails to
// compile if maxSpliceSize grows past it.
var _ [maxRawIO - maxSpliceSize]struct{}

// readNB is unix.Read for a non-blocking descriptor.
func readNB(fd int, b []byte) (int, error) {
	if len(b) > maxRawIO || sanitized {
		return unix.Read(fd, b)
	}
	return rawResult(unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(bufPtr(b)), uintptr(len(b))))
}

// writeNB is unix.Write for a non-blocking descriptor.
func writeNB(fd int, b []byte) (int, error) {
	if len(b) > maxRawIO || sanitized {
		return unix.Write(fd, b)
	}
	return rawResult(unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(bufPtr(b)), uintptr(len(b))))
}

// spliceNB splices up to n bytes from rfd to wfd (one of them a pipe)
// with spliceFlags, which make it non-blocking on the pipe. Every call is
// raw: n is at most the pipe's size, maxSpliceSize (fill asks for no more,
// pump for what the pipe holds), which is within maxRawIO.
func spliceNB(rfd, wfd, n int) (int, error) {
	return rawResult(unix.RawSyscall6(unix.SYS_SPLICE, uintptr(rfd), 0, uintptr(wfd), 0, uintptr(n), spliceFlags))
}

// rawResult turns a raw call's results into unix.Read's: -1 and the errno
// on failure. (An Errno below 256 converts to an error without allocating.)
func rawResult(r, _ uintptr, errno unix.Errno) (int, error) {
	if errno != 0 {
		return -1, errno
	}
	return int(r), nil
}

// bufPtr is b's first byte, or a valid address for an empty b.
func bufPtr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return unsafe.Pointer(&zeroByte)
	}
	return unsafe.Pointer(&b[0])
}

var zeroByte byte
