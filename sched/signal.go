package sched

import (
	"os"
	"os/signal"
	"sync"
)

// sigState tracks the signal bridges of a scheduler, to stop them in Close.
type sigState struct {
	mu    sync.Mutex
	stops map[*sigBridge]struct{}
}

type sigBridge struct {
	gch  chan os.Signal
	quit chan struct{}
	once sync.Once
}

// Notify delivers the given os signals (all, if none are given) to tasks
// through the returned Chan, as signal.Notify does to a channel: a
// goroutine forwards them, and drops a signal when the Chan's buffer (8)
// is full. stop ends the delivery and closes the Chan; Close calls it too.
// While a Notify is active the scheduler never reports a deadlock: a
// signal may come.
func (s *Scheduler) Notify(sig ...os.Signal) (ch *Chan[os.Signal], stop func()) {
	ch = NewChan[os.Signal](8)
	b := &sigBridge{gch: make(chan os.Signal, 8), quit: make(chan struct{})}
	signal.Notify(b.gch, sig...)
	s.bridges.Add(1)
	s.sigs.mu.Lock()
	if s.sigs.stops == nil {
		s.sigs.stops = make(map[*sigBridge]struct{})
	}
	s.sigs.stops[b] = struct{}{}
	s.sigs.mu.Unlock()
	go func() {
		for {
			select {
			case v := <-b.gch:
				ch.TrySend(v)
			case <-b.quit:
				return
			}
		}
	}()
	stop = func() {
		b.once.Do(func() {
			signal.Stop(b.gch)
			close(b.quit)
			ch.Close()
			s.sigs.mu.Lock()
			delete(s.sigs.stops, b)
			s.sigs.mu.Unlock()
			s.bridges.Add(-1)
		})
	}
	return ch, stop
}

func (s *Scheduler) stopSignals() {
	s.sigs.mu.Lock()
	var bs []*sigBridge
	for b := range s.sigs.stops {
		bs = append(bs, b)
	}
	s.sigs.mu.Unlock()
	for _, b := range bs {
		b.once.Do(func() {
			signal.Stop(b.gch)
			close(b.quit)
			s.bridges.Add(-1)
		})
		s.sigs.mu.Lock()
		delete(s.sigs.stops, b)
		s.sigs.mu.Unlock()
	}
}
