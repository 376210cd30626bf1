package sched

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"unsafe"
)

// TestParkReasons checks that Park's reason, any string, shows in Dump and
// Tasks: both one that fits the table of reasons and one past its end.
func TestParkReasons(t *testing.T) {
	for i := 0; internReason(fmt.Sprintf("filler %d", i)) != reasonOther; i++ {
	}
	if internReason("chan receive") != reasonChanRecv || reasonChanRecv == reasonOther {
		t.Fatal("the package's own reasons must stay in the table")
	}
	s := newSched(t)
	for _, reason := range []string{"filler 7", "a reason past the table"} {
		var wk Waker
		armed := make(chan struct{})
		tk := mustGo(t, s, func(ctx context.Context) {
			if err := ParkCtx(nil, reason, func(w Waker) bool { wk = w; close(armed); return true }); err != nil {
				t.Errorf("Park = %v", err)
			}
		})
		recv(t, "the park to arm", armed)
		waitParked(t, tk)
		var b strings.Builder
		s.Dump(&b)
		if !strings.Contains(b.String(), "["+reason+",") {
			t.Errorf("dump lacks %q:\n%s", reason, b.String())
		}
		found := false
		for _, ti := range s.Tasks() {
			found = found || ti.ID == tk.ID() && ti.Reason == reason
		}
		if !found {
			t.Errorf("Tasks lacks %q: %+v", reason, s.Tasks())
		}
		if !wk.Ready() {
			t.Fatal("Ready failed")
		}
		if err := waitTask(t, tk); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTaskSize guards the Task's size class: every task holds one.
func TestTaskSize(t *testing.T) {
	if size := unsafe.Sizeof(Task{}); unsafe.Sizeof(uintptr(0)) == 8 && size > 96 {
		t.Fatalf("Task is %d bytes, want at most 96 (a size class of its own)", size)
	}
}
