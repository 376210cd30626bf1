package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestIdleTable(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"-n", "2000"}, &out, &errOut); code != 0 {
		t.Fatalf("exit status %d\nstdout:\n%s\nstderr:\n%s", code, &out, &errOut)
	}
	t.Logf("\n%s", &out)
	for _, s := range []string{"slice.New", "goroutine", "iter.Pull", "vs goroutine", "all 2000 coroutines resumed and checked"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("output lacks %q", s)
		}
	}
}

func TestIdleJSON(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"-n", "2000", "-depth", "12", "-json"}, &out, &errOut); code != 0 {
		t.Fatalf("exit status %d\nstdout:\n%s\nstderr:\n%s", code, &out, &errOut)
	}
	var rep Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, &out)
	}
	if !rep.Checked || rep.N != 2000 || rep.Depth != 12 || len(rep.Kinds) != 3 {
		t.Fatalf("report: %+v", rep)
	}
	for _, k := range rep.Kinds {
		if k.BytesEach <= 0 {
			t.Errorf("%s: %.0f bytes each", k.Kind, k.BytesEach)
		}
	}
	if rep.Kinds[1].Kind != "goroutine" || rep.Kinds[1].VsGoroutine != 1 {
		t.Errorf("goroutine row: %+v", rep.Kinds[1])
	}
}

func TestIdleBadFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"-n", "0"}, &out, &errOut); code != 2 {
		t.Fatalf("exit status %d for -n 0, want 2", code)
	}
}

func TestWant(t *testing.T) {
	for depth := 1; depth <= 7; depth++ {
		if got, w := frame(depth, &obj{3}, &obj{10}, 0, func() {}), want(depth, 3, 10); got != w {
			t.Errorf("depth %d: frame = %d, want = %d", depth, got, w)
		}
	}
}

func TestIdleCPUJSON(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"-idlecpu", "-n", "1000", "-window", "100ms", "-json"}, &out, &errOut); code != 0 {
		t.Fatalf("exit status %d\nstdout:\n%s\nstderr:\n%s", code, &out, &errOut)
	}
	var rep CPUReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, &out)
	}
	t.Logf("%+v", rep)
	if rep.Tasks != 1000 || rep.Parked != 1000 || rep.Window < 100*time.Millisecond || rep.CPU < 0 || rep.Error != "" {
		t.Fatalf("report: %+v", rep)
	}
	if rep.CorePercent != 100*float64(rep.CPU)/float64(rep.Window) {
		t.Errorf("core_percent %v is not 100 * cpu_ns / window_ns", rep.CorePercent)
	}
	if rep.UsingEngine && rep.Packed < 1000 {
		t.Errorf("%d coroutines packed after the window, want the 1000 idle tasks", rep.Packed)
	}
}

func TestIdleCPUBadFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"-idlecpu", "-window", "0s"}, &out, &errOut); code != 2 {
		t.Fatalf("exit status %d for -idlecpu -window 0s, want 2", code)
	}
}
