package sched

import (
	"sync"
	"sync/atomic"
)

// awaitPool runs Await's blocking calls on at most max goroutines, started
// on demand; a worker exits when the queue is empty, so an idle scheduler
// holds none.
type awaitPool struct {
	mu      sync.Mutex
	q       []*awaitJob
	workers int
}

type awaitJob struct {
	fn    func()
	w     Waker
	panic any
	done  atomic.Bool
	s     *Scheduler
}

// Await runs fn, a blocking call (file I/O, DNS, cgo...), on the
// scheduler's bounded goroutine pool and parks the calling task until it
// returns. It returns nil, or the task context's error if the task is
// cancelled first: fn then keeps running to its end on the pool and its
// effects are not undone (a task cancelled already gets the error without
// fn being started). A panic in fn is raised again in the task.
// Outside a task, Await calls fn directly.
func Await(fn func()) error {
	t := currentTask()
	if t == nil {
		fn()
		return nil
	}
	if t.canceled() {
		return t.cancelErr() // do not start fn for a task that will not wait for it
	}
	s := t.s
	j := &awaitJob{fn: fn, s: s}
	s.bridges.Add(1)
	err := park(t, nil, reasonAwait, func(w Waker) bool {
		j.w = w
		s.await.submit(j, s.awaitMax)
		return true
	}, 0)
	if err != nil {
		return err
	}
	if j.panic != nil {
		panic(j.panic)
	}
	return nil
}

// AwaitValue is Await for a function with results.
func AwaitValue[T any](fn func() (T, error)) (T, error) {
	var v T
	var ferr error
	if err := Await(func() { v, ferr = fn() }); err != nil {
		var zero T
		return zero, err
	}
	return v, ferr
}

func (p *awaitPool) submit(j *awaitJob, max int) {
	p.mu.Lock()
	p.q = append(p.q, j)
	start := p.workers < max
	if start {
		p.workers++
	}
	p.mu.Unlock()
	if start {
		go p.work()
	}
}

func (p *awaitPool) work() {
	for {
		p.mu.Lock()
		if len(p.q) == 0 {
			p.workers--
			p.mu.Unlock()
			return
		}
		j := p.q[0]
		p.q[0] = nil
		p.q = p.q[1:]
		p.mu.Unlock()
		j.run()
	}
}

func (j *awaitJob) run() {
	defer func() {
		j.panic = recover()
		j.done.Store(true)
		j.w.Ready()
		j.s.bridges.Add(-1)
	}()
	j.fn()
}
