package poll

// Helpers that the tests of sched and poll share. Test files cannot be
// imported, and an internal package that both could import would have to
// sit at the module's top level; so this file is kept identical in sched/
// and poll/ but for its package clause, which TestSharedTestFileInSync
// checks: change both copies together.

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// runChild runs childCommand to its end, for at most limit, and returns
// the child's combined output and exit error; hung reports that it was
// killed at the limit.
func runChild(test, role string, limit time.Duration, env ...string) (out []byte, err error, hung bool) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	out, err = childCommand(ctx, test, role, env...).CombinedOutput()
	return out, err, ctx.Err() != nil
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
