package poll

// Helpers that the tests of sched and poll share. Test files cannot be
// imported, and an internal package that both could import would have to
// sit at the module's top level; so this file is kept identical in sched/
// and poll/ but for its package clause, which TestSharedTestFileInSync
// checks: change both copies together.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stackslice/stackslice/slice"
)

// hangBound bounds the waits of these tests that only a hang makes long
// (a bug that loses a wake-up, say): a failure with a message instead of
// the 10-minute test timeout, never a timing assertion.
const hangBound = 20 * time.Second

// Child processes. A test that must run in a fresh process (GODEBUG set at
// start-up, a lower open-files limit, a process-wide setting) re-runs the
// test binary, selecting one test and naming the role the child plays in
// childEnv; the test, or a test of its own, checks childRole.
const (
	childEnv = "STACKSLICE_TEST_CHILD"
	// execEnv names a program, with arguments, through which child
	// processes run the test binary. Under an emulator without
	// binfmt_misc, a binary of another architecture cannot be run
	// directly: with `GOARCH=arm64 go test -exec qemu-aarch64-static`,
	// set STACKSLICE_TEST_EXEC=qemu-aarch64-static too.
	execEnv = "STACKSLICE_TEST_EXEC"
)

// childRole returns the role this process plays as a child ("" if it is
// not one).
func childRole() string { return os.Getenv(childEnv) }

// childCommand returns the command that runs the test binary's test named
// test (alone, once, verbose) in a child process playing role, with env
// added to this process's environment, killed if ctx ends first.
func childCommand(ctx context.Context, test, role string, env ...string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	args := []string{"-test.run=^" + test + "$", "-test.count=1", "-test.v"}
	name := exe
	if w := strings.Fields(os.Getenv(execEnv)); len(w) > 0 {
		name, args = w[0], append(append(w[1:len(w):len(w)], exe), args...)
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(append(os.Environ(), childEnv+"="+role), env...)
	return cmd
}

// skipIfCannotExec skips t when err, from starting a child, says that the
// test binary cannot be run directly (ENOEXEC: a binary of another
// architecture under an emulator without binfmt_misc, with no execEnv
// set to run it through).
func skipIfCannotExec(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, syscall.ENOEXEC) && os.Getenv(execEnv) == "" {
		t.Skipf("cannot run the test binary as a child (%v): set %s to the emulator that runs it", err, execEnv)
	}
}

// runChild runs childCommand to its end, for at most limit, and returns
// the child's combined output and exit error; hung reports that it was
// killed at the limit.
func runChild(test, role string, limit time.Duration, env ...string) (out []byte, err error, hung bool) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	out, err = childCommand(ctx, test, role, env...).CombinedOutput()
	return out, err, ctx.Err() != nil
}

// Budgets. What a parked task holds is its coroutine's Size (TaskInfo.Size):
// the Coroutine, its saved block (the frames from the task's function down
// to slice.Yield, with a header and relocations) rounded up to a size
// class, and its pointer shadow. A budget records the Size of a task parked
// at one place and its headroom: how many words the parked frames could
// grow before the block takes the next size class. So a word more in any
// frame shows, not only a growth that crosses a class; and no figure
// depends on the engine's internals.

// archBudgets returns this architecture's budgets from budgets (keyed by
// GOARCH, then by place), or skips a Budget test of sizes in bytes where
// the figures do not apply: where skipUnlessFramesAsBuilt skips, and on an
// architecture they were not recorded for (each lays its frames out its
// own way: arm64 keeps the saved LR at the bottom of each frame, and
// aligns frames to 16 bytes).
func archBudgets(t testing.TB, budgets map[string]map[string]parkBudget) map[string]parkBudget {
	t.Helper()
	skipUnlessFramesAsBuilt(t)
	b, ok := budgets[runtime.GOARCH]
	if !ok {
		t.Skip("no budgets recorded for " + runtime.GOARCH + "'s frames")
	}
	return b
}

// skipUnlessFramesAsBuilt skips a test of what parked frames hold (a
// Budget test, or one that idle tasks share their templates) where it does
// not apply: on the goroutine-backed fallback (no saved stacks), and in a
// test binary whose frames differ from a user's program (optimisations or
// inlining off, coverage counters).
func skipUnlessFramesAsBuilt(t testing.TB) {
	t.Helper()
	if e := slice.Engine(); !e.StackSlicing {
		t.Skip("no saved stacks to measure on the fallback: " + e.Description)
	}
	if testing.CoverMode() != "" {
		t.Skip("coverage counters change the frames measured")
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key != "-gcflags" {
				continue
			}
			for _, f := range strings.Fields(s.Value) { // "all=-N", "-l"
				if i := strings.Index(f, "=-"); i >= 0 {
					f = f[i+1:]
				}
				if f == "-N" || f == "-l" {
					t.Skip("built with -gcflags " + s.Value + ": the budgets are for optimised, inlined code")
				}
			}
		}
	}
}

// A parkBudget is what a task parked at one place holds. A Budget test
// fails when either figure changes, up or down: growth is only caught from
// a recorded figure that is today's.
type parkBudget struct {
	Size     int // TaskInfo.Size
	Headroom int // words the parked frames can grow with Size unchanged
}

// paddings[k](wait) is a task function that calls wait(ctx) with k words
// (scalars: no pointer shadow entry) live in its frame across the call: a
// task parked through paddings[k] saves k words more than one parked
// through paddings[0], whose function is as small as a task calling wait
// can be.
var paddings = []func(wait func(context.Context)) func(context.Context){
	paddedTask[[0]uintptr], paddedTask[[1]uintptr], paddedTask[[2]uintptr], paddedTask[[3]uintptr],
	paddedTask[[4]uintptr], paddedTask[[5]uintptr], paddedTask[[6]uintptr], paddedTask[[7]uintptr],
	paddedTask[[8]uintptr], paddedTask[[9]uintptr], paddedTask[[10]uintptr], paddedTask[[11]uintptr],
	paddedTask[[12]uintptr], paddedTask[[13]uintptr], paddedTask[[14]uintptr], paddedTask[[15]uintptr],
	paddedTask[[16]uintptr],
}

func paddedTask[P any](wait func(context.Context)) func(context.Context) {
	return func(ctx context.Context) {
		var pad P
		wait(ctx)
		runtime.KeepAlive(&pad)
	}
}

// measureBudget returns the budget of a place: parkedSize(task) starts a
// task running task (one of paddings, calling a function that waits
// there), waits until it has switched out, ends it, and returns its
// TaskInfo.Size.
func measureBudget(t testing.TB, parkedSize func(task func(wait func(context.Context)) func(context.Context)) int) parkBudget {
	t.Helper()
	size := parkedSize(paddings[0])
	for k := 1; k < len(paddings); k++ {
		if s := parkedSize(paddings[k]); s != size {
			if s < size {
				t.Fatalf("a task saving %d words more holds %d bytes, %d less", k, s, size-s)
			}
			return parkBudget{Size: size, Headroom: k - 1}
		}
	}
	t.Fatalf("a task parked below %d words more holds the same %d bytes", len(paddings)-1, size)
	return parkBudget{}
}

// checkParkBudget compares the budget measured for a place with want,
// logging the parked frames (innermost first, from Coroutine.Callers).
func checkParkBudget(t testing.TB, place string, want, got parkBudget, frames []uintptr) {
	t.Helper()
	var b strings.Builder
	for fs, more := runtime.CallersFrames(frames), true; more; {
		var f runtime.Frame
		f, more = fs.Next()
		fmt.Fprintf(&b, "\n\t%s", f.Function)
	}
	t.Logf("%s: %+v (%s); frames:%s", place, got, runtime.Version(), b.String())
	if got != want {
		how := "shrank"
		if got.Size > want.Size || got.Size == want.Size && got.Headroom < want.Headroom {
			how = "grew"
		}
		t.Errorf("a task parked in %s %s: %+v, budget %+v. If it grew, find the frame that did (a "+
			"//go:noinline lost, a value live across the park, an argument more) and take the bytes back. "+
			"If it shrank, check that nothing a park needs went (sched.Park's runtime.KeepAlive(arm), for "+
			"one, costs a relocation entry). If a change is worth its bytes, or saved some, record the new "+
			"figures in the test's table, and in the README where it quotes them", place, how, got, want)
	}
}

// TestSharedTestFileInSync fails when this file and its copy in the other
// package differ but for their package clause.
func TestSharedTestFileInSync(t *testing.T) {
	read := func(pkg string) string {
		b, err := os.ReadFile(filepath.Join("..", pkg, "shared_test.go"))
		if err != nil {
			t.Skipf("the sources are not at hand: %v", err)
		}
		_, rest, _ := strings.Cut(string(b), "\n")
		return rest
	}
	if read("sched") != read("poll") {
		t.Fatal("sched/shared_test.go and poll/shared_test.go differ: keep them identical but for the package clause")
	}
}
