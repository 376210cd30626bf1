package sched

import (
	"context"
	"testing"

	"github.com/stackslice/stackslice/slice"
)

// A task is its coroutine's owner, so currentTask finds it, and code in a
// coroutine nested in a task is not the task. ready's shortcut,
// lastWorkerHere, names the caller's own worker only for a task that last
// ran on it, and only inside a resume: never from another goroutine or
// for a task of another worker.
func TestCurrentTaskAndLastWorkerHere(t *testing.T) {
	s := newSched(t, WithCarriers(2))
	ch := NewChan[int](0)
	// other, pinned to carrier 1, has run there and parks.
	other := mustGo(t, s, func(context.Context) { ch.Recv() }, WithPin(1))
	waitParked(t, other)
	type result struct {
		self, nested     *Task
		peer, sameWorker bool
		otherHere        *worker
	}
	res := make(chan result, 1)
	// While me looks, carrier 1's worker is inside a resume too (hold
	// blocks it), and while the test looks, carrier 0's is (me blocks
	// it): only the goroutine check tells their workers from the caller's.
	release := make(chan struct{})
	holding := make(chan struct{})
	hold := mustGo(t, s, func(context.Context) { close(holding); <-release }, WithPin(1))
	recv(t, "the holding task to run", holding)
	var peer *Task
	peer = mustGo(t, s, func(context.Context) { ch.Recv() }, WithPin(0))
	waitParked(t, peer)
	var me *Task
	me = mustGo(t, s, func(context.Context) {
		r := result{self: currentTask()}
		w := currentWorker()
		r.peer = s.lastWorkerHere(peer) == w && w != nil
		r.otherHere = s.lastWorkerHere(other)
		inner := slice.New(func() {
			r.nested = currentTask()
			r.sameWorker = !slice.Engine().StackSlicing || s.lastWorkerHere(peer) == w
		})
		inner.Resume()
		res <- r
		<-release
	}, WithPin(0))
	r := recv(t, "the task's findings", res)
	outside := s.lastWorkerHere(peer)
	close(release)
	if r.self != me {
		t.Errorf("currentTask in a task = %v, want the task %v", r.self, me)
	}
	if r.nested != nil {
		t.Errorf("currentTask in a coroutine nested in a task = %v, want nil", r.nested)
	}
	if slice.Engine().StackSlicing {
		if !r.peer || !r.sameWorker {
			t.Errorf("lastWorkerHere for a task that last ran on the caller's worker: in the task %v, nested %v; want both", r.peer, r.sameWorker)
		}
	} else if r.peer {
		t.Error("lastWorkerHere named a worker on the fallback, which has no goroutine identity")
	}
	if r.otherHere != nil {
		t.Error("lastWorkerHere named the worker of another carrier")
	}
	if outside != nil {
		t.Error("lastWorkerHere named a worker from the test's goroutine")
	}
	if currentTask() != nil {
		t.Error("currentTask outside any task is not nil")
	}
	ch.Close()
	waitTask(t, me)
	waitTask(t, peer)
	waitTask(t, other)
	waitTask(t, hold)
}
