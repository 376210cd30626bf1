package sched

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// goParked counts goroutines blocked in Park (on a Chan, say): such a
// goroutine can wake tasks once it is woken itself, or when its context
// ends, so no deadlock is reported while there is one.
var goParked atomic.Int32

// A DeadlockError is what Run returns when every task is parked in this
// package's primitives and nothing can wake any of them.
type DeadlockError struct {
	Tasks []TaskInfo // the parked tasks
}

func (e *DeadlockError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sched: deadlock: all %d tasks are parked and nothing can wake them:", len(e.Tasks))
	for i, t := range e.Tasks {
		if i == 10 {
			fmt.Fprintf(&b, "\n\t... and %d more", len(e.Tasks)-10)
			break
		}
		fmt.Fprintf(&b, "\n\ttask %d", t.ID)
		if t.Name != "" {
			fmt.Fprintf(&b, " %q", t.Name)
		}
		fmt.Fprintf(&b, " [%s, %v]", t.Reason, t.Waiting.Round(time.Millisecond))
	}
	return b.String()
}

// deadlock returns a *DeadlockError if s is deadlocked now, else nil.
func (s *Scheduler) deadlock() error {
	if !s.idleNow() || s.wheel.Len() > 0 || s.poller.Load() != nil ||
		s.bridges.Load() > 0 || goParked.Load() > 0 {
		return nil
	}
	var infos []TaskInfo
	for _, t := range s.tasks() {
		if v := t.state.Load(); v&kindInternal == 0 || v&statusMask != stParked {
			return nil
		}
		infos = append(infos, t.info(nanotime(), nil))
	}
	if len(infos) == 0 {
		return nil
	}
	return &DeadlockError{Tasks: infos}
}
