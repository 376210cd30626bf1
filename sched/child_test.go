package sched

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"
)

// childEnv is the environment variable that tells a re-executed test
// binary which child body to run (see runChild).
const childEnv = "SCHED_TEST_CHILD"

// runChild runs the test named test again in a child process, with
// childEnv=name and the extra environment, bounded by limit, and returns
// its combined output and exit error. It reports hung when the child had
// to be killed at the limit.
func runChild(t *testing.T, test, name string, limit time.Duration, env ...string) (out []byte, err error, hung bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+test+"$", "-test.count=1", "-test.v")
	cmd.Env = append(append(os.Environ(), childEnv+"="+name), env...)
	out, err = cmd.CombinedOutput()
	return out, err, ctx.Err() != nil
}
