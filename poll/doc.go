// Package poll serves network connections to the tasks of a scheduler
// (package sched): Listen, Dial, Listener and Conn work as package net's
// do, except that a call that must wait parks the calling task instead of
// blocking its carrier, so that a connection's task is plain blocking code.
// Readiness comes from epoll on Linux and kqueue on macOS and FreeBSD.
//
//	s := sched.New()
//	ln, err := poll.Listen(s, "tcp", "127.0.0.1:8080")
//	if err != nil {
//		return err
//	}
//	s.Go(func(ctx context.Context) {
//		poll.Serve(ln, func(ctx context.Context, c *poll.Conn) {
//			io.Copy(c, c) // a task per connection; Serve closes c after
//		})
//	})
//	return s.Run(ctx)
//
// Serve, and Server with its graceful Shutdown and its Close, start a task
// per accepted connection, as net/http starts a goroutine per connection;
// ListenConfig and Dialer, modelled on package net's, set keep-alive,
// Control hooks, SO_REUSEPORT, the backlog, timeouts and the local address.
// Package poll/httpserve serves HTTP/1.1 to any http.Handler on these
// connections, a task per connection.
//
// # Tasks, goroutines and schedulers
//
// A Conn or Listener works from any task and from ordinary goroutines
// (crypto/tls, net/http): where a task parks, a goroutine blocks. Each
// scheduler has one poller, made by the first Listen or Dial on it, in
// which its idle carriers wait for readiness; the scheduler owns it and
// closes it when it closes. Every Conn and Listener the poller serves is
// then closed, also those handed to goroutines: their calls, waiting or
// later, fail with net.ErrClosed, and so do Listen and Dial on that
// scheduler.
//
// In a task, a call that waits (Accept, Read, Write, WaitRead, ReadWith, a
// copy, Dial) also ends when the task is cancelled (sched.Task.Cancel,
// Server.Close, the scheduler's Close): it fails with a *net.OpError that
// errors.Is matches with the task context's error. A host name is looked
// up on the scheduler's Await pool while the task parks.
//
// # Memory
//
// An idle connection holds no buffer if its task waits with ReadWith,
// which borrows a BufferPool buffer only while data is processed, or with
// WaitRead; it holds a timer only while it has a deadline. io.Copy
// between two Conns (a relay) moves the bytes with splice(2) on Linux,
// never through user space, and holds no pipe while it waits for data.
//
// # Errors
//
// Errors are *net.OpError as package net returns them (Op, Net, Source,
// Addr), wrapping the cause: an *os.SyscallError, net.ErrClosed,
// os.ErrDeadlineExceeded (a timeout: Timeout reports true), a context's
// error, or a *net.DNSError or *net.AddrError for an address; io.EOF is returned as it is, as package net does, and so is the
// error of WaitRead's ctx. The methods of a zero or nil *Conn or *Listener
// return syscall.EINVAL.
//
// Accept does not fail when the process or the system is out of
// descriptors or socket memory (EMFILE, ENFILE, ENOBUFS, ENOMEM): it waits
// (5 ms, doubling up to 1 s) and tries again, until it can accept or the
// listener closes, counting the waits in Stats.AcceptBackoffs; out of
// descriptors, it first closes the idle pipes kept for splicing. It tries
// again at once after ECONNABORTED and EPROTO (Stats.AcceptRetries).
//
// # Limits
//
//   - Networks are "tcp", "tcp4", "tcp6" and "unix" (streams): no UDP.
//   - A unix listener's socket file is removed by its Close only, not when
//     its scheduler closes it, nor when a dropped one is closed by the
//     garbage collector (as with package net).
//   - A Conn or Listener dropped without Close is closed once the garbage
//     collector finds it unreachable (counted in Stats.Collected), as
//     package net's finalizers close a dropped connection; every Conn
//     carries a runtime cleanup for that.
//   - A goroutine (not a task) whose Accept waits out a lack of
//     descriptors when the scheduler closes wakes only when the listener
//     is closed.
//   - Name lookups queue when the scheduler's Await pool is busy.
//   - The kqueue implementation (macOS, FreeBSD) builds and passes go vet,
//     but its tests are not run on this project's machines.
package poll

// Design notes (the package documentation above is what package poll
// promises; this is how it keeps its promises).
//
// A scheduler's poller (poller.go) is installed with
// sched.Scheduler.SetPoller under pollerMu, so that two first uses do not
// both make one; the scheduler's idle watcher sleeps in its Poll (epoll_wait
// or kevent) until the next timer, and Wake (an eventfd, or EVFILT_USER
// on kqueue) interrupts it; a Wake while no Poll sleeps only sets a flag
// that the next Poll looks at before it sleeps (beginWait), so that a
// carrier readying tasks from its own Poll's events makes no system call
// to wake itself. Nothing global refers to a poller. Its Close
// (called by the scheduler's, after the carriers have stopped) waits until
// no goroutine uses its own descriptors (enter/exit), closes every netFD
// still in its table, then closes its own descriptors.
//
// The table maps descriptor numbers to netFDs (fd_unix.go): the part of a
// Conn or Listener that waits (the descriptor, the per-direction wait
// state, deadlines), a separate object that never points back, so that a
// Conn dropped without Close becomes unreachable and its cleanup
// (collectOnDrop: runtime.AddCleanup holding the netFD) closes it. An
// operation parked on a Conn keeps it reachable (its frame holds the Conn).
//
// Every socket is registered once, edge-triggered, for input and output
// (EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET; EV_CLEAR read and write filters on
// kqueue); an operation tries its system call and parks only on EAGAIN:
// reads and writes through sched.Park (parkIO: no context, a smaller
// frame, which every idle connection's saved stack holds), the others
// through sched.ParkCtx. Deadlines are timers on the scheduler's wheel
// (deadline.go): a direction with a deadline holds one wheel node (48
// bytes) and a 4-byte timers.Ref to it, nothing else.
//
// While all carriers are busy, on Linux they look for readiness between
// tasks (PollBusy: at most every 20us, only while somebody waits and no
// carrier is in Poll). A helper goroutine (helper.go) polls while somebody
// waits and the scheduler has not polled for 10ms (before its carriers
// start, after they stop, or while all are busy: on kqueue, or with one
// long task per carrier); it runs due
// timers through sched.Scheduler.AdvanceTimers, so that the wheel never
// has two drivers.
//
// On Linux, a Conn's reads, writes and splices of at most 1 MiB are raw
// system calls (rawio_linux.go): on a non-blocking socket they never sleep
// on I/O, and made without entersyscall they keep their P for the time
// they take, as Go code would, rather than have sysmon hand it to another
// thread after 20 µs. A stop-the-world waits for one to return. Under the
// race detector, msan or asan, reads and writes go through unix, which
// annotates the buffer for them.
//
// Conn-to-Conn copies splice through a cached pipe (splice_linux.go);
// other copies use a pooled buffer (copy.go). A Server (serve.go) records
// its connections' tasks in a table indexed by descriptor number.
//
// A Conn and its netFD are sized to fill their allocation classes (16 and
// 112 bytes): see netFD.peer. The cleanup of each Conn costs about 56
// bytes of runtime records and 24 of heap (Go 1.26).
//
// Invariants:
//
//   - No lost wake-up: each direction of a netFD (ioDir) keeps the
//     readiness edges it has seen and its waiting, expired and stale flags
//     in one atomic word. A waiter reads the edge count before its system
//     call and, on EAGAIN, parks with an arm function that stores its
//     waker under fd.mu and sets the waiting flag with one atomic Or,
//     which also returns the word as it was: if the edge count moved, the
//     descriptor is closing or the deadline has passed, arm calls the park
//     off. The poller adds an edge with one atomic Add, which also returns
//     the flags: it takes fd.mu and readies the waker only if a waiter was
//     there. Both act on the one word, so one sees the other.
//   - At most one waiter per direction: the operations of a direction are
//     serialised by an ioLock that parks the task, not the carrier (like
//     net's fdMutex); a Write is therefore atomic with respect to other
//     Writes.
//   - A lock of one direction is never left held: a grant (a lock that arm
//     found free, or that unlock handed over, under fd.mu) wins over a
//     cancellation, so the waiter keeps it and releases it; Close readies
//     every lock waiter, which then fails with net.ErrClosed.
//   - A descriptor number is closed only when no operation uses it: every
//     operation holds a reference, also while parked; Close sets the
//     closing bit, readies both waiters (they fail with net.ErrClosed) and
//     drops the creation reference; the last reference closes the number.
//     A netFD closes its number once, whoever asks (Close, the cleanup of
//     a dropped Conn, the poller's Close): the cleanup holds the netFD,
//     not the number, so a number closed and reused is never closed by a
//     late cleanup. On epoll, an event queued for a closed number carries
//     the old registration's generation and is dropped; kqueue has no room
//     for one, and such an event (rare: close removes the descriptor's
//     events) is a spurious readiness of the new owner.
//   - Spurious readiness is harmless: every waiter retries its system call.
//   - The netFD never refers to its Conn or Listener: only they, the
//     poller's table and their cleanups refer to it.
//   - The poller's own descriptors are used only between enter and exit
//     (Poll, PollBusy, Wake, registration, the helper's polls), and Close
//     closes them only after every such use has ended.
//   - An idle connection holds no buffer and no timer unless it asked for
//     one: WaitRead parks without a buffer, ReadWith borrows one only while
//     data is processed, deadline timers exist only while a deadline is
//     set, and a splicing copy waiting for its source holds no pipe.
