package sched

import (
	"bytes"
	"context"
	"log"
	"strings"
	"testing"
	"time"

	"github.com/stackslice/stackslice/slice"
)

// An unhandled panic in a task ends the program, as one in a goroutine
// does, naming the task and showing its stack.
func TestTaskPanicEndsProgram(t *testing.T) {
	if childRole() == "panic" {
		s := New(WithCarriers(1))
		s.Go(func(ctx context.Context) { panickyHandler() }, WithTaskName("handler"))
		s.Run(context.Background())
		t.Fatal("the program went on after an unhandled task panic")
		return
	}
	out, err, hung := runChild("TestTaskPanicEndsProgram", "panic", time.Minute)
	skipIfCannotExec(t, err)
	if hung {
		t.Fatalf("child hung after the task panicked:\n%s", out)
	}
	if err == nil {
		t.Fatalf("child exited normally after an unhandled task panic:\n%s", out)
	}
	for _, want := range []string{
		`panic: sched: task 1 "handler" panicked: boom-42`,
		"task stack:",
		"sched.panickyHandler",
	} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("the child's output lacks %q:\n%s", want, out)
		}
	}
}

//go:noinline
func panickyHandler() { panic("boom-42") }

// With LogPanic, a panicking task is logged with its stack and the
// scheduler goes on.
func TestLogPanic(t *testing.T) {
	var buf bytes.Buffer
	defer log.SetOutput(log.Writer())
	log.SetOutput(&buf)
	s := newSched(t, WithPanicHandler(LogPanic))
	bad := mustGo(t, s, func(ctx context.Context) { panickyHandler() })
	if _, ok := waitTask(t, bad).(*slice.PanicError); !ok {
		t.Fatal("Wait of the panicking task did not return its *slice.PanicError")
	}
	if err := waitTask(t, mustGo(t, s, func(ctx context.Context) { Sleep(time.Millisecond) })); err != nil {
		t.Fatalf("a task after the panic: %v", err)
	}
	got := buf.String()
	if !strings.Contains(got, "sched: panic in task 1: boom-42") || !strings.Contains(got, "sched.panickyHandler") {
		t.Fatalf("log output lacks the panic or its stack:\n%s", got)
	}
}
