package sched

import (
	"bytes"
	"runtime"
	"strconv"
	"strings"
)

// Stacks of running tasks, for Dump. A running task's frames are on the
// stack of the worker goroutine that resumed it, above the carrier's own
// frames; a Go goroutine dump of the process has them, under the worker's
// goroutine id.

// A goStack is one goroutine of a goroutine dump: what it waits for (the
// bracket of its header line: "sleep", "chan receive, 2 minutes", "syscall"
// or "running") and its frames above the carrier's.
type goStack struct {
	wait   string
	frames string
}

// waitPrefix is the goroutine's wait reason followed by ", ", or "".
func (g goStack) waitPrefix() string {
	if g.wait == "" {
		return ""
	}
	return g.wait + ", "
}

// goroutineStacks takes a dump of every goroutine and returns it by
// goroutine id, each trimmed to the frames of the task it runs: the
// frames from the innermost up to taskMain, the outermost frame of every
// task's coroutine.
func goroutineStacks() map[uint64]goStack {
	buf := make([]byte, 1<<16)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	stacks := map[uint64]goStack{}
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		header, body, _ := bytes.Cut(g, []byte("\n"))
		id, wait, ok := parseGoroutineHeader(string(header))
		if !ok {
			continue
		}
		stacks[id] = goStack{wait: wait, frames: taskFrames(body)}
	}
	return stacks
}

// parseGoroutineHeader parses "goroutine 42 [chan receive, 2 minutes]:".
func parseGoroutineHeader(h string) (id uint64, wait string, ok bool) {
	rest, found := strings.CutPrefix(h, "goroutine ")
	if !found {
		return 0, "", false
	}
	num, rest, found := strings.Cut(rest, " [")
	if !found {
		return 0, "", false
	}
	id, err := strconv.ParseUint(num, 10, 64)
	if err != nil {
		return 0, "", false
	}
	wait, _, found = strings.Cut(rest, "]")
	return id, wait, found
}

// taskFrames returns the lines of a goroutine's frames up to and including
// taskMain's (two lines a frame: function, then file:line), or "" if the
// goroutine runs no task.
func taskFrames(body []byte) string {
	lines := bytes.Split(body, []byte("\n"))
	for i := 0; i+1 < len(lines); i += 2 {
		if bytes.Contains(lines[i], []byte("stackslice/sched.taskMain(")) {
			return string(bytes.Join(lines[:i+2], []byte("\n"))) + "\n"
		}
	}
	return ""
}

// goidOrZero is w's goroutine id, or 0 for no worker.
func (w *worker) goidOrZero() uint64 {
	if w == nil {
		return 0
	}
	return w.goid.Load()
}

// blockedTasks maps the tasks of workers detached from their carriers
// (blocked outside the scheduler) to their workers.
func (s *Scheduler) blockedTasks() map[*Task]*worker {
	return s.tasksOn(s.blockedWorkers())
}

// runningTasks maps every task in a resume now to its worker.
func (s *Scheduler) runningTasks() map[*Task]*worker {
	ws := s.blockedWorkers()
	for _, c := range s.carriers {
		ws = append(ws, c.w.Load())
	}
	return s.tasksOn(ws)
}

// tasksOn maps the tasks that the workers ws run now to them: the running
// tasks whose worker index names one of the workers in a resume. Workers
// do not keep a pointer to their task, which would cost them an atomic
// store per resume; this walk costs Dump and Stats a look at every task,
// which they take anyway, and only while some of ws are in a resume.
func (s *Scheduler) tasksOn(ws []*worker) map[*Task]*worker {
	m := map[*Task]*worker{}
	byRef := map[int32]*worker{}
	for _, w := range ws {
		if w.seq.Load()&inTaskBit != 0 {
			byRef[w.idx+1] = w
		}
	}
	if len(byRef) == 0 {
		return m
	}
	for _, t := range s.tasks() {
		if t.state.Load()&statusMask != stRunning {
			continue
		}
		if w := byRef[t.worker.Load()]; w != nil {
			m[t] = w
		}
	}
	return m
}
