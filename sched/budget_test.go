package sched

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stackslice/stackslice/slice"
)

// The Budget tests guard what an idle task costs, which the README
// promises and nothing else checks: the frames saved for a task parked in
// the package's waits (kept small by //go:noinline helpers and careful
// frames), and idle tasks parked at one place packing to a shared template
// with no block of their own. poll's Budget tests do the same for
// connections.

// parkBudgets are the figures of a task whose function (paddings[0])
// calls a function that only waits (see TestParkBudget), measured with
//
//	go test -count=1 -run Budget -v ./sched
//	GOTOOLCHAIN=go1.27.4 go test -count=1 -run Budget -v ./sched
//
// on go1.26.8 and go1.27.4, which agree, per architecture (arm64's under
// qemu: add GOARCH=arm64 and -exec qemu-aarch64-static; its frames keep
// the saved LR and 16-byte alignment). Should a Go release lay these
// frames out differently, key the table by release (runtime.Version).
// What to do when a change moves a figure: see checkParkBudget's message.
var parkBudgets = map[string]map[string]parkBudget{
	"amd64": {
		"Chan.Recv": {Size: 272, Headroom: 1},
		"Sleep":     {Size: 280, Headroom: 1},
		"Park":      {Size: 224, Headroom: 1},
	},
	"arm64": {
		"Chan.Recv": {Size: 272, Headroom: 1},
		"Sleep":     {Size: 296, Headroom: 1},
		"Park":      {Size: 240, Headroom: 1},
	},
}

// TestParkBudget measures what a task parked in Chan.Recv, Sleep and Park
// holds, and its headroom, against parkBudgets.
func TestParkBudget(t *testing.T) {
	budgets := archBudgets(t, parkBudgets)
	s := newSched(t, WithCarriers(1))
	ch := NewChan[int](0)
	places := []struct {
		name string
		wait func(context.Context)
	}{
		{"Chan.Recv", func(context.Context) { ch.Recv() }},
		{"Sleep", func(context.Context) { Sleep(time.Hour) }},
		{"Park", func(context.Context) { Park("test: budget", func(Waker) bool { return true }) }},
	}
	for _, p := range places {
		var frames []uintptr
		got := measureBudget(t, func(task func(wait func(context.Context)) func(context.Context)) int {
			tk := mustGo(t, s, task(p.wait))
			waitParked(t, tk)
			if frames == nil {
				frames = tk.co.Callers()
			}
			size := taskInfo(t, s, tk).Size
			tk.Cancel()
			waitTask(t, tk)
			return size
		})
		checkParkBudget(t, p.name, budgets[p.name], got, frames)
	}
}

// taskInfo returns tk's entry in s.Tasks.
func taskInfo(t testing.TB, s *Scheduler, tk *Task) TaskInfo {
	t.Helper()
	for _, ti := range s.Tasks() {
		if ti.ID == tk.id {
			return ti
		}
	}
	t.Fatalf("task %d is not in Tasks", tk.id)
	return TaskInfo{}
}

// templateBox is what each task of TestIdleTaskTemplateBudget points to:
// its own objects, so that the tasks' saved stacks differ in pointers.
type templateBox struct {
	ch     *Chan[int]
	wakers chan Waker
}

// wake ends the box's task's first wait.
func (b *templateBox) wake(t testing.TB) {
	if b.wakers == nil {
		b.ch.Send(1)
		return
	}
	recv(t, "the task's Waker", b.wakers).Ready()
}

// Idle tasks parked at one place that differ only in the objects they
// point to pack, under the scheduler's default policy, to a template they
// share, with no block of their own: what is left of each is its records
// and pointer shadow. Each waits twice there, as a connection's handler
// does, so that what a first wait leaves in the frames is in the second's
// block. Sleep is not among the places: its frame keeps the sleep's timer
// handle, whose generation differs from task to task, and packs to a diff
// block of its own (24 bytes today).
//
// One carrier: dead words left in parked frames (spill slots of calls
// made before the park, holding addresses on the carrier's stack) differ
// from carrier to carrier; a place has up to four templates, which absorb
// that on up to four carriers (or fewer, with other differences).
func TestIdleTaskTemplateBudget(t *testing.T) {
	skipUnlessFramesAsBuilt(t)
	const n = 100
	places := []struct {
		name string
		fn   func(*templateBox) func(context.Context)
	}{
		{"Chan.Recv", func(b *templateBox) func(context.Context) {
			return func(context.Context) {
				for {
					if _, err := b.ch.Recv(); err != nil {
						return
					}
				}
			}
		}},
		{"Park", func(b *templateBox) func(context.Context) {
			b.wakers = make(chan Waker, 2)
			return func(context.Context) {
				for Park("test: template", func(w Waker) bool { b.wakers <- w; return true }) == nil {
				}
			}
		}},
	}
	for _, p := range places {
		policy := DefaultCompression
		policy.After = 50 * time.Millisecond // rather than a second
		s := newSched(t, WithCarriers(1), WithCompression(policy))
		before := slice.ReadCompressionStats()
		tasks := make([]*Task, n)
		boxes := make([]*templateBox, n)
		for i := range tasks {
			boxes[i] = &templateBox{ch: NewChan[int](0)}
			tasks[i] = mustGo(t, s, p.fn(boxes[i]))
		}
		for i, b := range boxes {
			waitParked(t, tasks[i])
			b.wake(t) // readies it: it is no longer parked when wake returns
		}
		for _, tk := range tasks {
			waitParked(t, tk) // its second wait
		}
		waitFor(t, fmt.Sprintf("%d tasks parked in %s to be packed", n, p.name), func() bool {
			for _, tk := range tasks {
				if !tk.co.Packed() {
					return false
				}
			}
			return true
		})
		after := slice.ReadCompressionStats()
		sizes := map[int]int{} // what each packed task's coroutine holds: count
		for _, tk := range tasks {
			tk.inspect(func(uint64) { sizes[tk.co.Size()]++ })
		}
		packedBytes, users := after.PackedBytes-before.PackedBytes, after.TemplateUsers-before.TemplateUsers
		t.Logf("%d tasks parked in %s: coroutine sizes %v; %d packed bytes, %d template users, %d templates",
			n, p.name, sizes, packedBytes, users, after.Templates-before.Templates)
		if len(sizes) != 1 || packedBytes != 0 || users != n {
			t.Errorf("%d identical idle tasks parked in %s do not all pack to a shared template without a block of "+
				"their own: coroutine sizes (bytes: tasks) %v, %d packed bytes, %d template users; a word in their "+
				"frames differs from task to task (a dead slot holding a pointer or a count, a scalar kept live): "+
				"compare two tasks' saved blocks", n, p.name, sizes, packedBytes, users)
		}
		s.Close()
	}
}
