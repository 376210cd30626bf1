package fuzz

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/stackslice/stackslice/slice"
)

// Checking a program: it runs once with coroutines and once sequentially,
// and the two runs' traces must be the same.

// Check decodes input into a coroutine program (any input makes one; bytes
// past the first 4096 are ignored), runs it once with real coroutines and
// once sequentially with Yield a no-op, and returns an error describing the
// first difference between the two runs' traces, a failed check or a panic,
// with the decoded program; nil means the coroutines saw exactly what the
// sequential run did. Check starts goroutines and calls runtime.GC; it is not
// safe for concurrent use.
func Check(input []byte) error {
	p := decode(input)
	want, err := p.run(false)
	if err != nil {
		return fmt.Errorf("sequential run failed (a harness bug): %v\nprogram:\n%s", err, p.dump())
	}
	got, err := p.run(true)
	if err != nil {
		return fmt.Errorf("coroutine run (%s): %v\nprogram:\n%s", slice.Engine(), err, p.dump())
	}
	if d := diff(want, got); d != "" {
		return fmt.Errorf("coroutine run (%s) differs from the sequential run: %s\nprogram:\n%s", slice.Engine(), d, p.dump())
	}
	return nil
}

type event struct {
	label string
	v     uint64
}

type outcome struct {
	traces [][]event
	ops    []int
	yields []int
}

func (o *outcome) summary() string {
	var b strings.Builder
	for i, tr := range o.traces {
		h := fnv.New64a()
		for _, e := range tr {
			h.Write([]byte(e.label))
			h.Write([]byte(strconv.FormatUint(e.v, 16)))
		}
		fmt.Fprintf(&b, "coroutine %d: %d ops, %d yields, %d events, trace %016x\n", i, o.ops[i], o.yields[i], len(tr), h.Sum64())
	}
	return b.String()
}

func diff(want, got *outcome) string {
	for i := range want.traces {
		w, g := want.traces[i], got.traces[i]
		for j := 0; j < len(w) || j < len(g); j++ {
			switch {
			case j >= len(w):
				return fmt.Sprintf("coroutine %d: extra event %d %s=%#x", i, j, g[j].label, g[j].v)
			case j >= len(g):
				return fmt.Sprintf("coroutine %d: missing event %d %s=%#x", i, j, w[j].label, w[j].v)
			case w[j] != g[j]:
				return fmt.Sprintf("coroutine %d: event %d is %s=%#x, want %s=%#x", i, j, g[j].label, g[j].v, w[j].label, w[j].v)
			}
		}
		if want.yields[i] != got.yields[i] || want.ops[i] != got.ops[i] {
			return fmt.Sprintf("coroutine %d: %d ops and %d yields, want %d and %d", i, got.ops[i], got.yields[i], want.ops[i], want.yields[i])
		}
	}
	return ""
}

func (p *program) run(coroutines bool) (*outcome, error) {
	st := &runState{}
	if coroutines {
		st.gcLeft = maxGC // the sequential run needs none
	}
	cs := p.newCos(coroutines, st)
	var err error
	if coroutines {
		err = p.drive(cs, st)
	} else {
		for _, c := range cs {
			if err = runSequential(c); err != nil {
				err = fmt.Errorf("coroutine %d: %w", c.id, err)
				break
			}
		}
	}
	if err != nil {
		return nil, err
	}
	o := &outcome{}
	for _, c := range cs {
		o.traces = append(o.traces, c.events)
		o.ops = append(o.ops, c.nops)
		o.yields = append(o.yields, c.yields)
	}
	return o, nil
}

func runSequential(c *co) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if pp, ok := r.(progPanic); ok {
				c.rec("died", pp.v)
				return
			}
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	c.main()
	return nil
}
