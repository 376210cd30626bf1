package sched

import (
	"context"
	"os"
	"syscall"
	"testing"
)

func TestNotify(t *testing.T) {
	s := newSched(t)
	ch, stop := s.Notify(syscall.SIGUSR1)
	defer stop()
	got := make(chan os.Signal, 1)
	mustGo(t, s, func(ctx context.Context) {
		v, err := ch.Recv()
		if err == nil {
			got <- v
		}
	})
	parkedIn(t, s, "chan receive", 1)
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	if v := recv(t, "the signal", got); v != syscall.SIGUSR1 {
		t.Fatalf("got %v", v)
	}
}
