// Package poll serves network connections to coroutines: it turns OS
// readiness (epoll on Linux, kqueue on macOS and FreeBSD) into wake-ups of
// parked coroutines, and offers net.Listener, net.Conn and Dial on top, so
// that a connection's coroutine is plain blocking code.
//
//	s := sched.New()
//	ln, _ := poll.Listen(s, "tcp", "127.0.0.1:8080")
//	s.Go(func(ctx context.Context) {
//		for {
//			c, err := ln.AcceptConn() // parks the coroutine
//			if err != nil {
//				return
//			}
//			s.Go(func(ctx context.Context) { serve(c) })
//		}
//	})
//
// # Design
//
// Each scheduler has one poller, created by the first Listen or Dial for
// it and installed with sched.Scheduler.SetPoller, so that the scheduler's
// idle carrier sleeps in epoll_wait until the next timer and is woken by
// readiness or by Wake (an eventfd; EVFILT_USER on kqueue). The scheduler
// owns it (sched.Scheduler.Poller finds it; nothing global refers to it)
// and closes it when it closes, after its carriers have stopped: the
// poller then closes every connection and listener still open (their
// operations, parked or later, fail with net.ErrClosed, as after their own
// Close), waits until nobody polls, and closes its own descriptors; Listen
// and Dial on a closed scheduler fail with net.ErrClosed.
//
// The poller owns a table from descriptor number to netFD: the part of a
// Conn or Listener that waits (the descriptor, the per-direction wait
// state, deadlines), a separate object that never points back. So the
// table does not keep a Conn alive, and one dropped without Close is
// closed by a cleanup (runtime.AddCleanup) once it is unreachable, as
// package net's finalizers close a dropped *net.TCPConn, and counted in
// Stats.Collected. An operation parked on a Conn keeps it reachable (its
// frame holds the Conn), so only a Conn nobody can use again is collected.
//
// Every socket is registered once, edge-triggered, for input and output
// (EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET); an operation tries its system
// call and parks (sched.Park) only on EAGAIN. Deadlines are
// timers on the scheduler's wheel (deadline.go): a direction with a
// deadline holds one wheel node and a 4-byte reference to it, so an idle
// connection with an idle timeout costs one node (48 bytes) more. The same
// connection works from ordinary goroutines (crypto/tls, net/http): Park
// blocks them instead.
//
// Listen and Dial take package net's defaults, TCP keep-alive included
// (15 s); ListenConfig and Dialer, modelled on net's, set keep-alive,
// Control hooks, ReusePort, Backlog, Timeout, Deadline and LocalAddr. A
// host name is looked up through sched.Await: the coroutine parks, its
// carrier runs on.
//
// Conn implements io.ReaderFrom and io.WriterTo, so io.Copy between two
// Conns (a relay) moves the bytes with splice(2) through a cached pipe on
// Linux, never through user space, parking on EAGAIN like Read and Write;
// other readers and writers, and other systems, copy with a pooled buffer
// (copy.go, splice_linux.go).
//
// The scheduler waits in Poll only from an idle carrier; while all its
// carriers are busy, on Linux they look for readiness between tasks
// (PollBusy, at most every 20us and only while somebody waits). A helper
// goroutine (helper.go) polls while somebody waits and the scheduler has
// not polled for 10ms: before its carriers start, or while they are all
// busy elsewhere (kqueue, or one long task per carrier). It runs the due
// timers through sched.Scheduler.AdvanceTimers, under the scheduler's own
// guard, so that the wheel never has two drivers at once.
//
// # Invariants
//
//   - No lost wake-up: each direction of a descriptor has a readiness
//     sequence number, bumped by the poller on every edge; it shares one
//     atomic word with the direction's waiting and expired flags. A waiter
//     loads the number before its system call and, on EAGAIN, parks with
//     an arm function that publishes the waker and sets waiting, reading
//     the word as it was in the same atomic operation, then checks that
//     number, the closing bit and the deadline; the poller bumps the
//     number and reads waiting in one atomic operation. The two are
//     ordered on the one word, so one sees the other.
//   - At most one waiter per direction: operations of one direction are
//     serialised by a lock that parks the coroutine, not the carrier
//     (like net's fdMutex); a Write is therefore atomic with respect to
//     other Writes.
//   - A descriptor number is closed only when no operation uses it: every
//     operation holds a reference, including while parked; Close sets the
//     closing bit, readies both waiters (they fail with net.ErrClosed) and
//     drops the creation reference; the last reference closes it. A netFD
//     closes its number once, whoever asks (Close, the cleanup of a dropped
//     Conn, the poller's Close): the cleanup holds the netFD, not the
//     number, so a number closed and reused is never closed by a late
//     cleanup. An event that arrives for a closed number carries the old
//     registration's generation (epoll data) and is dropped.
//   - The netFD never refers to its Conn or Listener; only the Conn's
//     cleanup and the table refer to the netFD.
//   - The poller's own descriptors are used only between enter and exit
//     (Poll, PollBusy, Wake, registration, the helper's polls), and Close
//     closes them only after every such use has ended.
//   - A lock of one direction is never left held: a grant (a lock that arm
//     found free, or that unlock handed over) wins over a cancellation,
//     so the waiter keeps it and releases it; Close readies every lock
//     waiter, which then fails with net.ErrClosed.
//   - Spurious readiness is harmless: every waiter retries its system call.
//   - An idle connection holds no buffer and no timer: WaitRead parks
//     without one, ReadWith borrows a BufferPool buffer only while data is
//     processed; deadline timers exist only once a deadline was set. A
//     splicing copy waiting for its source holds no pipe.
//
// # Errors
//
// Errors are *net.OpError as package net returns them (Op, Net, Source,
// Addr), wrapping *os.SyscallError, net.ErrClosed, os.ErrDeadlineExceeded
// (a timeout) or io.EOF (unwrapped, as net does). Accept never fails for
// EMFILE, ENFILE, ENOBUFS or ENOMEM: it backs off (5ms doubling to 1s,
// counted in Stats.AcceptBackoffs) and retries until a descriptor frees or
// the listener closes. Out of descriptors, it first closes the idle splice
// pipes kept for reuse (at most a few per carrier, never left for the
// garbage collector to close).
//
// # Limits
//
//   - Host names are looked up on the scheduler's bounded Await pool (the
//     coroutine parks, its carrier runs on); lookups beyond its size queue.
//   - Closing a scheduler closes its connections and listeners, also
//     those its tasks handed to goroutines: they cannot outlive the poller
//     that serves them. A listener's socket file (unix) is not removed
//     then; Close the listener for that.
//   - An Accept sleeping in its EMFILE backoff when the scheduler closes
//     wakes only when the listener is closed (its timer has no driver
//     left).
//   - Every Conn and Listener carries a runtime cleanup: about 56 bytes of
//     runtime records and 24 of heap per connection (Go 1.26), the price of
//     closing dropped connections. A listener's socket file (unix) is not
//     removed when the garbage collector closes it (as with package net).
//   - The kqueue implementation builds and vets but is not run here.
package poll
