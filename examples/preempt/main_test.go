package main

import (
	"testing"
	"time"
)

func TestRunShort(t *testing.T) {
	lat, err := run(300*time.Millisecond, 2, 50, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(lat) == 0 {
		t.Fatal("no wake-ups recorded")
	}
	if r := summarize(lat); r.N != len(lat) || r.P50 > r.Max {
		t.Fatalf("bad summary %+v", r)
	}
}
