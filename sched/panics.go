package sched

import (
	"fmt"
	"log"

	"github.com/stackslice/stackslice/slice"
)

// WithPanicHandler makes the scheduler call h for a task whose function
// panicked, instead of ending the program. By default a panic in a task
// ends the program as an unrecovered panic in a goroutine does, with the
// task's stack in the message: a server that wants to log such a panic
// and go on serving its other connections (as net/http does for a
// handler) sets a handler, for example LogPanic.
//
// h runs on the carrier that ran the task, after the task's coroutine has
// ended and before Task.Wait returns the *slice.PanicError to its
// callers; it must not block.
func WithPanicHandler(h func(t *Task, p *slice.PanicError)) Option {
	return func(s *Scheduler) { s.panicHandler = h }
}

// LogPanic is a panic handler (WithPanicHandler) that logs the task's
// panic and its stack with the standard logger, as net/http logs a
// handler's panic.
func LogPanic(t *Task, p *slice.PanicError) {
	log.Printf("sched: panic in task %s: %v\n%s", t.describe(), p.Value, p.Stack)
}

// taskDone finishes a task whose coroutine has ended, by a return (pe nil)
// or a panic (pe), handing a panic to the scheduler's panic handler or,
// without one, ending the program.
func (s *Scheduler) taskDone(t *Task, pe *slice.PanicError) {
	if pe == nil {
		t.finish(nil) // not pe: a nil *PanicError is a non-nil error
		return
	}
	if s.panicHandler == nil {
		panic(&taskPanic{task: t.describe(), p: pe})
	}
	s.panicHandler(t, pe)
	t.finish(pe)
}

// taskPanic is the value a worker panics with for a task panic that no
// handler takes: the runtime prints it as the program's last words.
type taskPanic struct {
	task string
	p    *slice.PanicError
}

func (e *taskPanic) Error() string {
	return fmt.Sprintf("sched: task %s panicked: %v\n\ntask stack:\n%s", e.task, e.p.Value, e.p.Stack)
}

func (e *taskPanic) Unwrap() error { return e.p }

// describe names t for messages: its id, and its name if it has one.
func (t *Task) describe() string {
	if name := t.Name(); name != "" {
		return fmt.Sprintf("%d %q", t.id, name)
	}
	return itoa(t.id)
}
