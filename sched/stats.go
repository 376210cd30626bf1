package sched

import (
	"expvar"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/stackslice/stackslice/slice"
)

// TaskInfo describes one task, for Tasks, Dump and deadlock reports.
type TaskInfo struct {
	ID   uint64
	Name string
	// State is "running", "runnable", "parked", or "blocked": running,
	// but blocked outside the scheduler (in a system call, a Go channel, a
	// sync.Mutex...) for so long that a stand-in serves its carrier.
	State    string
	Reason   string        // why it is parked ("outside the scheduler" if blocked)
	Waiting  time.Duration // how long it has been parked, or blocked
	Priority Priority
	// Size is the bytes its coroutine holds while suspended, as of its
	// last switch-out for a parked or runnable task; for a running one,
	// as last seen suspended (by Stats, Tasks, Dump or the packing of
	// idle tasks). Peak is the most Size seen so far. (The scheduler reads
	// sizes when it looks, not at every switch-out, which would cost each
	// one.)
	Size int
	Peak int
}

// info describes t. For a parked or queued task it holds the task still
// (see inspect) so that reason and parkedAt are consistent. blocked maps
// the tasks of detached workers to them (see blockedTasks).
func (t *Task) info(now int64, blocked map[*Task]*worker) TaskInfo {
	ti := TaskInfo{ID: t.id, Name: t.Name(), Priority: t.Priority()}
	t.inspect(func(v uint64) {
		if s := v & statusMask; s == stParked || s == stQueued {
			t.noteSize() // held still
		}
		switch v & statusMask {
		case stRunning:
			ti.State = "running"
			if w := blocked[t]; w != nil {
				ti.State, ti.Reason, ti.Waiting = "blocked", "outside the scheduler", w.blockedFor(now)
			}
		case stQueued, stWoke:
			ti.State = "runnable"
		case stParking:
			// Still switching out: its park fields are being written
			// and inspect does not hold it still, so leave them out.
			ti.State = "parked"
		case stParked:
			ti.State = "parked"
			ti.Reason = t.reasonString()
			ti.Waiting = t.waiting(now)
		case stDone:
			ti.State = "done"
		}
	})
	ti.Size, ti.Peak = int(t.size.Load()), int(t.peak.Load())
	return ti
}

// noteSize records the size of t's suspended coroutine, and its peak. t
// is held still (see inspect), which also keeps other callers out.
func (t *Task) noteSize() {
	// An atomic store is a locked instruction on amd64: skip it when the
	// size is unchanged.
	sz := uint32(t.co.Size())
	if sz != t.size.Load() {
		t.size.Store(sz)
	}
	if sz > t.peak.Load() {
		t.peak.Store(sz)
	}
}

// inspect calls f with t's state. If t is parked or queued, it sets
// inspectBit for the duration, which makes wakers and carriers wait, so f
// may read the park fields and the suspended coroutine.
func (t *Task) inspect(f func(v uint64)) {
	for {
		v := t.state.Load()
		if s := v & statusMask; s != stParked && s != stQueued {
			f(v)
			return
		}
		if v&inspectBit != 0 {
			runtime.Gosched()
			continue
		}
		if t.state.CompareAndSwap(v, v|inspectBit) {
			defer t.state.Store(v) // nobody else changes it meanwhile
			f(v)
			return
		}
	}
}

// Stats is a snapshot of a scheduler.
type Stats struct {
	Name     string
	Engine   string // slice.Engine().Description
	Carriers int
	Tasks    int            // live tasks
	Running  int            // on a carrier now
	Blocked  int            // running, but blocked outside the scheduler
	Runnable int            // queued
	Parked   int            // waiting
	ParkedBy map[string]int // parked tasks by reason
	// StandIns counts the carriers whose task is blocked outside the
	// scheduler and which a stand-in serves now; StandInsStarted counts
	// every stand-in started (see WithStandIns).
	StandIns        int
	StandInsStarted uint64
	// SavedBytes is what the suspended tasks' coroutines hold (saved
	// stack blocks and their bookkeeping), SavedHist its distribution.
	SavedBytes int64
	SavedHist  []Bucket
	// PeakMax is the largest any live task's coroutine has been seen to
	// hold (TaskInfo.Peak), PeakHist the distribution of every task's
	// peak: the stack-slicing equivalent of peak stack use.
	PeakMax  int
	PeakHist []Bucket
	// Switches counts coroutine resumes, Steals work-stealing raids,
	// Handoffs the monitor's moves of a hogged carrier's tasks.
	Switches, Steals, Handoffs uint64
	// Idles counts the times a carrier ran out of work and went idle:
	// each is a sleep (in the poller, or on the Go runtime's futex) and a
	// wake-up, which a server moving data pays per burst of readiness.
	Idles uint64
	// Compression is the slice package's compression counters (process
	// wide: packed and unpacked bytes, templates and their users, pack and
	// unpack times); see WithCompression.
	Compression slice.CompressionStats
}

// A Bucket counts sizes in (previous bucket's UpTo, UpTo] bytes; the last
// bucket's UpTo is -1 (no bound).
type Bucket struct {
	UpTo  int
	Count int
}

var bucketBounds = []int{256, 512, 1024, 2048, 4096, 8192, 16384, 65536, -1}

func newHist() []Bucket {
	h := make([]Bucket, len(bucketBounds))
	for i, b := range bucketBounds {
		h[i].UpTo = b
	}
	return h
}

func addHist(h []Bucket, n int) {
	for i := range h {
		if h[i].UpTo < 0 || n <= h[i].UpTo {
			h[i].Count++
			return
		}
	}
}

// Stats returns a snapshot of s. It visits every task: O(tasks).
func (s *Scheduler) Stats() Stats {
	st := Stats{Name: s.name, Engine: slice.Engine().Description, Carriers: s.ncarriers,
		ParkedBy: map[string]int{}, SavedHist: newHist(), PeakHist: newHist(),
		Switches: s.switches(), Handoffs: s.handoffs.Load(), Idles: s.idles.Load(),
		StandIns: int(s.standIns.Load()), StandInsStarted: s.standInsStarted.Load(),
		Compression: slice.ReadCompressionStats()}
	for _, c := range s.carriers {
		st.Steals += c.steals.Load()
	}
	now := nanotime()
	blocked := s.blockedTasks()
	for _, t := range s.tasks() {
		ti := t.info(now, blocked)
		if ti.State == "done" {
			continue // finished, about to leave the registry (see Task.finish)
		}
		st.Tasks++
		switch ti.State {
		case "running":
			st.Running++
		case "blocked":
			st.Blocked++
		case "runnable":
			st.Runnable++
		case "parked":
			st.Parked++
			st.ParkedBy[ti.Reason]++
		}
		if ti.State != "running" && ti.Size > 0 {
			st.SavedBytes += int64(ti.Size)
			addHist(st.SavedHist, ti.Size)
		}
		if ti.Peak > 0 {
			addHist(st.PeakHist, ti.Peak)
			st.PeakMax = max(st.PeakMax, ti.Peak)
		}
	}
	return st
}

// Tasks returns a description of every live task.
func (s *Scheduler) Tasks() []TaskInfo {
	now := nanotime()
	blocked := s.blockedTasks()
	var out []TaskInfo
	for _, t := range s.tasks() {
		if ti := t.info(now, blocked); ti.State != "done" { // see Stats
			out = append(out, ti)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Dump writes every live task in the format of a Go goroutine dump:
//
//	coroutine 7 "name" [chan receive, 1.5s]:
//	main.worker(...)
//		/src/main.go:42 +0x1d
//
// A suspended task's stack is decoded from its saved block. A running
// task's is taken from the goroutine that runs it (a Go goroutine dump of
// the process, made only if some task is running); a task blocked outside
// the scheduler shows as [blocked outside the scheduler, <what the
// goroutine waits for>, <for how long>]. On the goroutine-backed fallback
// no stack is available.
func (s *Scheduler) Dump(w io.Writer) error {
	now := nanotime()
	ts := s.tasks()
	sort.Slice(ts, func(i, j int) bool { return ts[i].id < ts[j].id })
	d := dumper{now: now, blocked: s.blockedTasks()}
	for _, t := range ts {
		if t.state.Load()&statusMask == stRunning && slice.Engine().StackSlicing {
			d.stacks = goroutineStacks()
			d.running = s.runningTasks()
			break
		}
	}
	var b strings.Builder
	if cs := slice.ReadCompressionStats(); cs.Packs > 0 {
		fmt.Fprintf(&b, "compression: %d coroutines packed in %d bytes (%d unpacked), %d templates (%d bytes) with %d users; %d packs in %v, %d unpacks in %v\n\n",
			cs.Packed, cs.PackedBytes, cs.UnpackedBytes, cs.Templates, cs.TemplateBytes, cs.TemplateUsers,
			cs.Packs, cs.PackTime, cs.Unpacks, cs.UnpackTime)
	}
	for _, t := range ts {
		d.dump(&b, t)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// dumper holds what Dump learned once for all tasks.
type dumper struct {
	now     int64
	blocked map[*Task]*worker // tasks of detached workers
	running map[*Task]*worker // tasks in a resume, on any worker
	stacks  map[uint64]goStack
}

func (d *dumper) dump(b *strings.Builder, t *Task) {
	name := t.Name()
	t.inspect(func(v uint64) {
		fmt.Fprintf(b, "coroutine %d", t.id)
		if name != "" {
			fmt.Fprintf(b, " %q", name)
		}
		var pcs []uintptr
		var frames string
		switch v & statusMask {
		case stParked:
			fmt.Fprintf(b, " [%s, %v]:\n", t.reasonString(), t.waiting(d.now).Round(time.Millisecond))
			pcs = t.co.Callers()
		case stQueued:
			fmt.Fprintf(b, " [runnable]:\n")
			pcs = t.co.Callers()
		case stParking, stWoke:
			fmt.Fprintf(b, " [%s]:\n", "switching")
		case stDone:
			fmt.Fprintf(b, " [done]:\n")
		default:
			g := d.stacks[d.running[t].goidOrZero()]
			if w := d.blocked[t]; w != nil {
				fmt.Fprintf(b, " [blocked outside the scheduler, %s%v]:\n", g.waitPrefix(), w.blockedFor(d.now).Round(time.Millisecond))
			} else {
				fmt.Fprintf(b, " [running]:\n")
			}
			frames = g.frames
		}
		if frames != "" {
			b.WriteString(frames)
		} else {
			writeFrames(b, t, v, pcs)
		}
		b.WriteString("\n")
	})
}

func writeFrames(b *strings.Builder, t *Task, v uint64, pcs []uintptr) {
	if len(pcs) == 0 {
		why := "running on its carrier"
		switch {
		case !slice.Engine().StackSlicing:
			why = "goroutine-backed fallback"
		case v&statusMask == stQueued && t.state.Load()&statusMask == stQueued && t.worker.Load() == 0:
			why = "not started"
		case v&statusMask != stRunning:
			why = "switching"
		}
		fmt.Fprintf(b, "\tstack not available (%s)\n", why)
		return
	}
	frames := runtime.CallersFrames(pcs)
	for {
		f, more := frames.Next()
		fmt.Fprintf(b, "%s(...)\n\t%s:%d +0x%x\n", f.Function, f.File, f.Line, f.PC-f.Entry)
		if !more {
			break
		}
	}
}

// Schedulers are published through expvar under the single name "sched",
// as a map from scheduler name to Stats (expvar names cannot be removed,
// and schedulers come and go).
var (
	published   = map[*Scheduler]struct{}{}
	publishedMu sync.Mutex
	publishOnce sync.Once
)

func publish(s *Scheduler) {
	publishOnce.Do(func() {
		expvar.Publish("sched", expvar.Func(func() any {
			publishedMu.Lock()
			ss := make([]*Scheduler, 0, len(published))
			for s := range published {
				ss = append(ss, s)
			}
			publishedMu.Unlock()
			m := map[string]Stats{}
			for _, s := range ss {
				m[s.name] = s.Stats()
			}
			return m
		}))
	})
	publishedMu.Lock()
	published[s] = struct{}{}
	publishedMu.Unlock()
}

func unpublish(s *Scheduler) {
	publishedMu.Lock()
	delete(published, s)
	publishedMu.Unlock()
}
