//go:build !negcontrol

package sched

// Negative controls: switches that break a mechanism on purpose, so that a
// test can show it fails without it. They exist only in builds with the
// negcontrol tag (go test -tags negcontrol); in every other build they are
// constants the compiler removes, so nothing a user imports can flip them.

// dropGrant makes syncList.abandon drop a grant that raced with the
// waiter's cancellation: the waiter reports the cancellation although it
// was granted, so a Mutex stays locked by nobody, Semaphore units vanish
// and a WaitGroup uncounts its waiter twice (see abandon).
const dropGrant = false

// dropChanClaim makes Chan.abandon ignore a counterpart's claim: a single
// Send or Recv cancelled as a counterpart completed it reports the
// cancellation, so a received value is lost, or a sent one is received
// although its Send failed.
const dropChanClaim = false

// sweepAll makes the sweeper look at the tasks it has swept already, in
// every pass, as it did before swept tasks had a list of their own: an idle
// task costs the sweeper a visit per pass again.
const sweepAll = false

// unboundedNext makes findWork take the next slot's task however long the
// chain of next picks has run: a pair of tasks that ready each other
// starves the carrier's queue again.
const unboundedNext = false
