package slice_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"

	"github.com/stackslice/stackslice/slice"
)

// Profiles and tracebacks through the switch routines: a CPU profile sample
// taken anywhere in a round trip, the switch routines included, must unwind
// to the code that resumed the coroutine.

// profileUnder runs testing.Benchmark(bench) under the CPU profiler and
// returns how many of its samples have fn on their stack (under), how many
// do not but should (stuck), and a few of the latter. Samples of other
// goroutines (whose stacks end at runtime.goexit: the GC's workers, the
// profile writer) and of the runtime alone (the scheduler on the system
// stack, which a busy machine makes frequent) are not counted: a sample
// that stops unwinding in the engine or the coroutine has a function of
// neither kind at its root.
func profileUnder(bench func(*testing.B), fn string) (under, stuck int, stacks []string, err error) {
	var buf bytes.Buffer
	if err := pprof.StartCPUProfile(&buf); err != nil {
		return 0, 0, nil, err
	}
	testing.Benchmark(bench)
	pprof.StopCPUProfile()
	samples, err := profileStacks(buf.Bytes())
	if err != nil {
		return 0, 0, nil, err
	}
	for _, st := range samples {
		switch {
		case slices.Contains(st.funcs, fn):
			under += st.count
		case len(st.funcs) == 0 || st.funcs[len(st.funcs)-1] == "runtime.goexit" || !slices.ContainsFunc(st.funcs, notRuntime):
		case st.funcs[len(st.funcs)-1] == "runtime/pprof.profileWriter" || slices.ContainsFunc(st.funcs, inSysinfo) ||
			slices.Contains(st.funcs, "runtime/pprof.StopCPUProfile"):
			// The profile writer (pprof drops its goroutine's goexit),
			// testing.Benchmark's reading of /proc/cpuinfo, and this
			// function stopping the profiler (waiting for the writer's
			// lock): rare natively, frequent under qemu-user, never the
			// engine.
		default:
			stuck += st.count
			if len(stacks) < 8 {
				stacks = append(stacks, strings.Join(st.funcs, " < "))
			}
		}
	}
	return under, stuck, stacks, nil
}

func inSysinfo(fn string) bool { return strings.HasPrefix(fn, "internal/sysinfo.") }

// notRuntime reports whether a function is outside the runtime.
func notRuntime(fn string) bool {
	return !strings.HasPrefix(fn, "runtime.") && !strings.HasPrefix(fn, "internal/runtime/")
}

// profileSwitches profiles BenchmarkSwitch/slice/depth=30 (profileUnder)
// until it has at least 200 samples, or 8 times, and skips the test if it
// got fewer than 50. At about 1% of samples that cannot unwind (the few
// instructions of enter and leave that write SP; more under qemu-user,
// which delivers signals at the start of its translated blocks), 200
// samples keep the 95% bound well clear of chance; with 120, one CI run
// under load saw 94.2%.
func profileSwitches(t *testing.T) (under, stuck int, stacks []string) {
	t.Helper()
	for try := 0; try < 8 && under+stuck < 200; try++ { // a loaded machine gives few samples
		u, s, st, err := profileUnder(func(b *testing.B) { benchSwitchSlice(b, 30) }, "testing.(*B).runN")
		if err != nil {
			t.Fatal(err)
		}
		under, stuck, stacks = under+u, stuck+s, append(stacks, st...)
	}
	if total := under + stuck; total < 50 {
		t.Skipf("only %d samples: the machine is too busy to tell", total)
	}
	return under, stuck, stacks
}

// TestProfileUnwindsSwitches profiles BenchmarkSwitch/slice/depth=30 and
// requires at least 95% of its samples to unwind to testing.(*B).runN,
// samples inside the switch routines included (they used to stop there,
// with no caller). Samples of the runtime's own work are left out (see
// profileUnder).
func TestProfileUnwindsSwitches(t *testing.T) {
	if !slice.Engine().StackSlicing {
		t.Skip("no switch routines on the fallback: " + slice.Engine().String())
	}
	if testing.Short() {
		t.Skip("takes a second of profiling")
	}
	under, stuck, stacks := profileSwitches(t)
	total := under + stuck
	frac := float64(under) / float64(total)
	t.Logf("%d of %d samples (%.1f%%) under testing.(*B).runN", under, total, 100*frac)
	if frac < 0.95 {
		t.Errorf("only %d of %d samples (%.1f%%) unwind to testing.(*B).runN, want at least 95%%; some that do not:\n%s", under, total, 100*frac, strings.Join(stacks, "\n"))
	}
}

// TestTracebackFromCoroutine checks that runtime.Callers and runtime.Stack
// inside a coroutine show the frames that resumed it, after a resume too.
func TestTracebackFromCoroutine(t *testing.T) {
	if !slice.Engine().StackSlicing {
		t.Skip("on the fallback a coroutine runs on a goroutine of its own: " + slice.Engine().String())
	}
	var traces []string
	c := slice.New(func() {
		for i := 0; i < 2; i++ {
			recurse(5, func() {
				pcs := make([]uintptr, 64)
				frames := runtime.CallersFrames(pcs[:runtime.Callers(1, pcs)])
				var names []string
				for {
					f, more := frames.Next()
					names = append(names, f.Function)
					if !more {
						break
					}
				}
				buf := make([]byte, 1<<16)
				traces = append(traces, strings.Join(names, "\n")+"\n--- runtime.Stack:\n"+string(buf[:runtime.Stack(buf, false)]))
				slice.Yield()
			})
		}
	})
	resumeFromHere(c)
	resumeFromHere(c)
	resumeFromHere(c)
	if len(traces) != 2 {
		t.Fatalf("got %d traces, want 2", len(traces))
	}
	for i, tr := range traces {
		callers, stack, _ := strings.Cut(tr, "\n--- runtime.Stack:\n")
		for _, want := range []string{"slice_test.recurse", "slice_test.resumeFromHere", "slice_test.TestTracebackFromCoroutine", "testing.tRunner"} {
			if !strings.Contains(callers, want) || !strings.Contains(stack, want) {
				t.Errorf("trace %d (resume %d) lacks %s:\n%s", i, i+1, want, tr)
			}
		}
	}
}

//go:noinline
func resumeFromHere(c *slice.Coroutine) bool { return c.Resume() }

// A minimal reader of the profile.proto format runtime/pprof writes (gzip
// compressed): only what profileStacks needs, from the standard library.

type profStack struct {
	count int
	funcs []string // innermost first, inlined frames included
}

// profileStacks returns each sample's function names and its first value
// (the sample count).
func profileStacks(gz []byte) ([]profStack, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	type sample struct {
		locs []uint64
		vals []uint64
	}
	var samples []sample
	locFuncs := map[uint64][]uint64{} // location id -> function ids
	funcName := map[uint64]uint64{}   // function id -> string index
	var strs []string
	err = protoFields(data, func(field int, v uint64, b []byte) error {
		switch field {
		case 2: // Sample
			var s sample
			err := protoFields(b, func(f int, v uint64, b []byte) error {
				switch f {
				case 1:
					s.locs = protoInts(s.locs, v, b)
				case 2:
					s.vals = protoInts(s.vals, v, b)
				}
				return nil
			})
			samples = append(samples, s)
			return err
		case 4: // Location
			var id uint64
			var fns []uint64
			err := protoFields(b, func(f int, v uint64, b []byte) error {
				switch f {
				case 1:
					id = v
				case 4: // Line
					return protoFields(b, func(f int, v uint64, _ []byte) error {
						if f == 1 {
							fns = append(fns, v)
						}
						return nil
					})
				}
				return nil
			})
			locFuncs[id] = fns
			return err
		case 5: // Function
			var id, name uint64
			err := protoFields(b, func(f int, v uint64, _ []byte) error {
				switch f {
				case 1:
					id = v
				case 2:
					name = v
				}
				return nil
			})
			funcName[id] = name
			return err
		case 6: // string_table
			strs = append(strs, string(b))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []profStack
	for _, s := range samples {
		if len(s.vals) == 0 {
			return nil, errors.New("profile sample without values")
		}
		st := profStack{count: int(s.vals[0])}
		for _, l := range s.locs {
			for _, f := range locFuncs[l] {
				if n := funcName[f]; n < uint64(len(strs)) {
					st.funcs = append(st.funcs, strs[n])
				}
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// protoFields calls fn for each field of a protobuf message: v for varint
// and fixed-size fields, b for length-delimited ones.
func protoFields(data []byte, fn func(field int, v uint64, b []byte) error) error {
	for len(data) > 0 {
		key, n := protoVarint(data)
		if n == 0 {
			return errors.New("bad protobuf key")
		}
		data = data[n:]
		var v uint64
		var b []byte
		switch key & 7 {
		case 0:
			v, n = protoVarint(data)
			if n == 0 {
				return errors.New("bad protobuf varint")
			}
			data = data[n:]
		case 1:
			if len(data) < 8 {
				return errors.New("short protobuf fixed64")
			}
			data = data[8:]
		case 2:
			l, n := protoVarint(data)
			if n == 0 || uint64(len(data)-n) < l {
				return errors.New("bad protobuf length")
			}
			b, data = data[n:n+int(l)], data[n+int(l):]
		case 5:
			if len(data) < 4 {
				return errors.New("short protobuf fixed32")
			}
			data = data[4:]
		default:
			return fmt.Errorf("protobuf wire type %d", key&7)
		}
		if err := fn(int(key>>3), v, b); err != nil {
			return err
		}
	}
	return nil
}

// protoInts appends a repeated integer field's values: one varint v, or a
// packed run b.
func protoInts(s []uint64, v uint64, b []byte) []uint64 {
	if b == nil {
		return append(s, v)
	}
	for len(b) > 0 {
		x, n := protoVarint(b)
		if n == 0 {
			break
		}
		s, b = append(s, x), b[n:]
	}
	return s
}

func protoVarint(b []byte) (uint64, int) {
	var x uint64
	for i := 0; i < len(b) && i < 10; i++ {
		x |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return x, i + 1
		}
	}
	return 0, 0
}
