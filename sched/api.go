package sched

import (
	"runtime"
	"time"

	"github.com/stackslice/stackslice/slice"
	"github.com/stackslice/stackslice/timers"
)

// Current returns the task the caller runs in, or nil outside any task.
func Current() *Task { return currentTask() }

// Yield lets the other runnable tasks of the caller's carrier run, and
// puts the caller at the back of its queue. Outside a task it calls
// runtime.Gosched.
func Yield() {
	if t := currentTask(); t != nil {
		yieldTask(t)
		return
	}
	runtime.Gosched()
}

// yieldTask switches t out in stRunning: its carrier queues it again.
func yieldTask(t *Task) { slice.Yield() }

// Sleep pauses the calling task for at least d, using its scheduler's
// timing wheel (1ms resolution). It returns nil, or the task context's
// error if the task is cancelled first (at once if it already is). Outside
// a task it sleeps the goroutine and returns nil.
//
// Sleep takes no context because a task has one already: the one its
// function received, which Task.Cancel cancels.
func Sleep(d time.Duration) error {
	t := currentTask()
	if t == nil {
		time.Sleep(d)
		return nil
	}
	if t.canceled() {
		return (*taskCtx)(t).Err()
	}
	if d <= 0 {
		yieldTask(t)
		return nil
	}
	// Sleep parks by itself, as Park does: its frame is saved with the
	// sleeping task.
	tm := sleepTimer(t, t.beginPark(reasonSleep, 0), d)
	if t.state.Load()&statusMask != stWoke {
		slice.Yield()
	}
	if t.endPark() == causeReady {
		return nil
	}
	tm.Stop()
	return t.cancelErr()
}

// sleepTimer arms the timer that ends a Sleep.
//
//go:noinline
func sleepTimer(t *Task, w Waker, d time.Duration) timers.Timer {
	return t.s.wheel.Add(d, func() { w.Ready() })
}

// CurrentScheduler returns the scheduler of the calling coroutine, nil outside.
func CurrentScheduler() *Scheduler {
	if t := currentTask(); t != nil {
		return t.s
	}
	return nil
}

// InCoroutine reports whether the caller runs as a task of some Scheduler.
func InCoroutine() bool { return currentTask() != nil }
