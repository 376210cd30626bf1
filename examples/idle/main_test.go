package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
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
