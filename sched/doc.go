// Package sched runs very many coroutines (package slice) as tasks on a
// few carrier goroutines, the way the Go runtime runs goroutines on
// threads, with priorities, cancellation, time slices, work stealing,
// channels and locks that park a task instead of blocking its carrier,
// and bridges to ordinary goroutines.
//
//	s := sched.New()                        // carriers: GOMAXPROCS
//	ch := sched.NewChan[int](0)
//	s.Go(func(ctx context.Context) { ch.Send(42) })
//	s.Go(func(ctx context.Context) { v, _ := ch.Recv(); fmt.Println(v) })
//	err := s.Run(ctx)                       // until all tasks are done
//
// # Model
//
// A task is a coroutine (package slice) plus a small Task record. A
// scheduler has a fixed number of carriers (like the Go runtime's Ps),
// each served by one worker goroutine at a time (like an M). A worker
// takes a task from its carrier's run queues and resumes its coroutine on
// the worker's own stack; the task runs until it yields (Yield,
// Checkpoint), parks (Park, and everything built on it: Sleep, Chan,
// Mutex, Cond, WaitGroup, Semaphore, Await, Task.Wait) or returns. A
// parked task is only its saved block and its records, a few hundred
// bytes; it may resume on any carrier.
//
// Runnable tasks are picked by priority, then in order; a task readied by
// another runs next on the same carrier, so a producer and its consumer
// hand over directly; idle carriers steal from busy ones. A monitor
// goroutine, running while any carrier is busy, runs due timers and
// notices a task that has held its carrier past the time slice: it asks
// the task to yield at its next Checkpoint and moves the carrier's other
// runnable tasks to the other carriers.
//
// A task that blocks its worker outside the scheduler (time.Sleep, a Go
// channel, a sync.Mutex, a system call, cgo) for a few milliseconds, or is
// still running a moment after its Checkpoint request (a hog, or a block
// the engine cannot see), keeps the worker; like the Go runtime handing a
// P to another thread when its thread blocks in a system call, the
// monitor then gives the carrier a stand-in worker, so that its other
// tasks run; the blocked worker ends once its task switches out.
// Stand-ins are capped (WithStandIns) and counted in Stats; Dump shows
// such a task as blocked outside the scheduler, with what its goroutine
// waits for, for how long, and its stack.
//
// Idle carriers sleep; one of them waits in the Poller's Poll if one is
// set (package poll installs one), so I/O readiness wakes tasks; busy
// carriers look for readiness between tasks now and then.
//
// Tasks parked for a second are packed by default (DefaultCompression,
// WithCompression): the scheduler decides when, package slice does the
// packing. They are packed against templates shared by the tasks parked
// at the same place, so a task that differs from the others parked there
// only in the objects it points to costs no block at all. A parked task
// costs nothing until then; the unpack happens in its next resume.
//
// # Parking
//
// Every blocking call of this package parks the same way, and so does
// Park for code outside it; the shape is the Go runtime's gopark with its
// unlockf:
//
//  1. The task publishes "parking" in its state word with a new
//     generation; the park's Waker carries that generation.
//  2. arm registers the Waker with whatever will ready it (a queue of the
//     primitive, under the primitive's own lock; a timer; a poller), or
//     calls the park off by returning false when what the task waits for
//     has happened and arm took it: Park then returns nil, whatever the
//     cancellation, so nothing arm took is dropped.
//  3. The task checks its cancellation, and its ctx if it has one (after
//     step 1, in either order with step 2: a Cancel that comes later sees
//     "parking" and wakes the park itself).
//  4. It switches out, unless a waker came first; its worker then marks
//     it parked, or queues it at once if a waker came during the switch.
//
// Ready, the task's cancellation and the ctx each try to move the state
// on with one compare-and-swap that also advances the generation: exactly
// one of them wins, and the others, like any Waker of an earlier park,
// fail. Losing the race must not lose what was granted, so a grant is made
// under the primitive's own lock and marked on the waiter (a granted flag,
// a claim) before the Waker is readied; a waiter woken by its cancellation
// takes that lock to leave, and if it was granted meanwhile it keeps what
// it got and reports success. A call that completed is never undone by a
// cancellation that comes after it.
//
// How each primitive follows it:
//
//   - Mutex, Semaphore, WaitGroup, Cond: one sync.Mutex guards a count and
//     a FIFO of waiters. Unlock hands the lock to the first waiter, Release
//     grants waiters in order while units last, an Add that brings the
//     counter to zero grants every waiter, Signal and Broadcast grant
//     waiters: each sets granted under the mutex, then readies. A
//     cancelled waiter that was not granted leaves the queue (a Semaphore
//     then grants the waiters behind it, which may fit now; a WaitGroup
//     uncounts it). Cond.Wait's re-lock ignores cancellation: Wait returns
//     with L held, always.
//   - Chan: a counterpart claims a single operation's waiter under the
//     Chan's lock (its done flag) before completing the exchange, and
//     copies the waiter's Waker before unlocking; a cancelled waiter
//     claims itself to leave, and if a counterpart claimed it first, the
//     operation completed and counts. Close claims every waiter.
//   - Select: the waiters of one select share a selector, claimed with a
//     compare-and-swap by a counterpart, by Close, or by the select itself
//     to abandon; two selects are claimed together, in address order. A
//     select cancelled after one of its cases was claimed returns that
//     case. From a goroutine or with a ctx, Select polls its cases in arm
//     and calls the park off if one completes.
//   - Task.Wait: arm registers the Waker under the task's lock, or calls
//     the park off if the task has finished; a cancelled Wait removes its
//     Waker.
//   - Await: arm hands the job to the pool, whose goroutine readies the
//     Waker when fn returns; a cancelled Await returns at once, and fn
//     runs to its end.
//   - Sleep: a timer readies the Waker; a cancelled Sleep stops it.
//   - Package poll's reads and writes park through Park with an
//     arm that calls the park off when readiness came first; its
//     per-direction I/O lock grants under the descriptor's lock with a
//     granted flag, and Close readies every lock waiter.
//
// The primitives' own fast paths do steps 1 to 4 inline (publish and check
// cancellation, queue the waiter, switch out) rather than through Park and
// an arm function, because the frame that parks is saved with every
// parked task; the order and the rules are the same.
//
// # Cancellation
//
// Every task's function receives its context: the Task itself seen as a
// context.Context, so none is allocated. Task.Cancel, Close and a parent
// given with WithContext cancel it; every blocking call of this package in
// the task then returns the context's error promptly, removing its waiter
// (an operation that completed before the cancellation still counts).
// Sleep takes no context argument: it reads the task's.
//
// # Limits
//
//   - A task that neither blocks nor checkpoints keeps its worker; its
//     carrier gets a stand-in, as for a task blocked outside the scheduler.
//   - A panic in a task ends the program, as one in a goroutine does,
//     unless the scheduler has a panic handler (WithPanicHandler, LogPanic);
//     Task.Wait then returns it as a *slice.PanicError.
//   - runtime.Goexit in a task ends its worker goroutine (see slice); the
//     scheduler starts a replacement and Task.Wait reports ErrGoexit.
//   - Code running inside a coroutine nested in a task (a slice.Pull
//     iterator, say) is not the task: blocking calls there block the
//     carrier, like in a goroutine.
//   - Blocking outside this package (a Go channel, sync.Mutex, syscalls)
//     blocks the worker, and the carrier's other tasks wait about a time
//     slice for a stand-in; with stand-ins at their cap they wait for the
//     block to end. Await says it up front: it runs a blocking call on a
//     bounded goroutine pool and parks the task meanwhile.
//   - Close waits for every task to return, including tasks blocked
//     outside the scheduler, which only their own wait can end.
//   - Deadlock detection sees tasks and Await calls, not goroutines that
//     may use a Chan later: Run reports a deadlock only after everything
//     has been parked for a grace period with no goroutine blocked on this
//     package, no timer, no Poller, no Await and no Notify.
package sched

// Implementation notes (for maintainers; not part of the package
// documentation).
//
// Each carrier has a FIFO per priority and a FIFO per priority of tasks
// pinned to it; each worker has a "next" slot for the task the running
// task just readied. Only the worker's own goroutine fills and empties its
// next slot (the monitor may take the task away, with an atomic swap), so
// a task that readies another and then parks hands its worker straight
// over: no queue lock, no counter, no wake-up of another carrier. A chain
// of picks from next yields to the carrier's queue after nextChainMax picks,
// so a pair of tasks that ready each other cannot starve it. There is
// also a global FIFO per priority, for tasks readied from outside any task
// (timer callbacks, goroutines, pollers). An idle carrier steals half of
// another carrier's queue. The first idle carrier becomes the watcher,
// which runs due timers and sleeps until the next one, in the Poller's
// Poll if one is set; the others sleep until a task is queued for them
// (idle.go). Busy carriers let a BusyPoller look for readiness every few
// picks.
//
// Stand-ins (standin.go): the monitor detaches a worker whose goroutine is
// blocked in the same resume at three ticks in a row (slice.Carrier's
// Blocked), or whose task did not yield a tick after its Checkpoint
// request.
//
// Code running in a task finds its task through slice.Owner: a worker
// resumes every task's coroutine with the task as the owner
// (slice.Coroutine.ResumeFor), and the task names its worker, and so its
// carrier, by index (Task.worker). Nothing is scanned. Every task's
// coroutine runs taskMain, which finds its Task through its worker: no
// closure per task. Park, for library code whose waits end without a
// context, has a smaller frame (saved with every parked task) than
// ParkCtx's, and holds no task pointer while parked.
//
// Packing (compact.go): a sweeper goroutine walks the registry every After/2
// and packs (slice.Coroutine.Compress) the tasks parked for the policy's
// After, with their pointers named by shadow entry; a task it has dealt
// with moves to a swept list that no pass walks, until it runs again, so
// idle tasks cost no CPU. A policy with After zero has no sweeper: each
// task is packed at every switch-out.
//
// Invariants:
//
//   - A task's state word (see task.go) holds its park generation, the
//     kind of park, status and wake cause. Only the task moves itself from
//     running to parking; exactly one waker wins the CAS that moves a
//     parking or parked task on, and it advances the generation, so every
//     older Waker is stale.
//   - A waker that comes before the coroutine has switched out marks it
//     woken; the worker, when Resume returns, queues it instead of
//     completing the park. No Ready is lost, none is doubled.
//   - A queued task is in exactly one queue (or next slot) and is counted
//     in the nrun counter of its priority unless it sits in a next slot or
//     is pinned; idle carriers register before they read the counters and
//     producers raise the counters before they look for idle carriers.
//   - One worker serves a carrier at a time. A worker's resume count and
//     an in-task bit share one word with a detached bit: the worker clears
//     the in-task bit with an atomic add when its task comes back (or, going
//     straight on to its next slot's task, adds a resume and keeps the bit),
//     and the monitor sets the detached bit with a compare-and-swap that
//     expects the bit and count it saw, so exactly one of them decides
//     whether the worker still serves its carrier. A detached worker only
//     passes its task and next slot on (to its old carrier's queues, under
//     their lock) and exits.
//   - A task in a next slot is held there as a uintptr (no write barrier):
//     the scheduler's registry keeps every unfinished task alive.
//   - Heap objects never point into a coroutine's stack: every waiter
//     record (Chan, Mutex, ...) is on the heap, because a suspended stack
//     is moved. A Chan operation's waiter is reused: a task takes it from
//     a spare slot of the worker it runs on and puts it back there when
//     the operation is over (only that worker's goroutine touches the
//     slot). A counterpart copies a waiter's Waker under the Chan's lock
//     and never touches the waiter after unlocking, so a finished waiter
//     has no other user.
//   - Nothing blocking runs in a deferred call: the engine cannot yield
//     there.
//
