package fuzz

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// execEnv names a program, with arguments, through which child processes
// run the test binary (as sched's and poll's tests do). Under an emulator
// without binfmt_misc, a binary of another architecture cannot be run
// directly: with `GOARCH=arm64 go test -exec qemu-aarch64-static`, set
// STACKSLICE_TEST_EXEC=qemu-aarch64-static too.
const execEnv = "STACKSLICE_TEST_EXEC"

// childCommand returns the command that runs this test binary again with
// args, through the program execEnv names if it is set.
func childCommand(args ...string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	name := exe
	if w := strings.Fields(os.Getenv(execEnv)); len(w) > 0 {
		name, args = w[0], append(append(w[1:len(w):len(w)], exe), args...)
	}
	return exec.Command(name, args...)
}

// skipIfCannotExec skips t when err, from running a child, says that the
// test binary cannot be run directly (ENOEXEC: a binary of another
// architecture under an emulator without binfmt_misc, with no execEnv set
// to run it through).
func skipIfCannotExec(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, syscall.ENOEXEC) && os.Getenv(execEnv) == "" {
		t.Skipf("cannot run the test binary as a child (%v): set %s to the emulator that runs it", err, execEnv)
	}
}

// TestChildFileInSync fails when this file and its copy in package fuzz
// differ but for their package clause (a test file cannot be shared
// between packages, and a helper package would be importable by users).
func TestChildFileInSync(t *testing.T) {
	read := func(pkg string) string {
		b, err := os.ReadFile("../" + pkg + "/child_test.go")
		if err != nil {
			t.Skipf("the sources are not at hand: %v", err)
		}
		_, rest, _ := strings.Cut(string(b), "\n")
		return rest
	}
	if read("slice") != read("fuzz") {
		t.Fatal("slice/child_test.go and fuzz/child_test.go differ: keep them identical but for the package clause")
	}
}
