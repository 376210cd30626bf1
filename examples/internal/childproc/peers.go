package childproc

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Peers builds an example's peers module once, into a temporary
// directory: a Go module of its own, holding the servers written with
// libraries the main module does not depend on (nbio, gnet, ...).
type Peers struct {
	Dir     string        // the module's directory; "" looks for it (see Build)
	Env     []string      // extra environment for the build (tests: GOPROXY=off)
	Timeout time.Duration // limit on the build; 0 means 5 minutes

	once sync.Once
	bin  string // the built binary
	tmp  string // its temporary directory
	err  error
}

// Build builds the peers module of the example named name (whose servers
// are what, for the log line on stderr) and returns the binary's path.
// Without Dir it looks for examples/<name>/peers, from this source file,
// then from the working directory: "peers", then "examples/<name>/peers".
// Only the first call builds; later ones return its result.
func (p *Peers) Build(ctx context.Context, name, what string, stderr io.Writer) (string, error) {
	p.once.Do(func() {
		dir, err := p.find(name)
		if err != nil {
			p.err = err
			return
		}
		tmp, err := os.MkdirTemp("", name+"-peers-")
		if err != nil {
			p.err = err
			return
		}
		p.tmp = tmp
		bin := filepath.Join(tmp, "peers")
		fmt.Fprintf(stderr, "%s: building %s in %s\n", name, what, dir)
		limit := p.Timeout
		if limit == 0 {
			limit = 5 * time.Minute
		}
		ctx, cancel := context.WithTimeout(ctx, limit)
		defer cancel()
		cmd := exec.CommandContext(ctx, goCommand(), "build", "-o", bin, ".")
		cmd.Dir = dir
		// The peers module is its own module: no workspace, and let the go
		// command fetch its requirements through the module proxy.
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" -mod=mod"))
		cmd.Env = append(cmd.Env, p.Env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			p.err = fmt.Errorf("building %s: %v\n%s", dir, err, out)
			return
		}
		p.bin = bin
	})
	return p.bin, p.err
}

// Cleanup removes what Build made.
func (p *Peers) Cleanup() {
	if p.tmp != "" {
		os.RemoveAll(p.tmp)
	}
}

// find locates the peers module (see Build).
func (p *Peers) find(name string) (string, error) {
	var candidates []string
	if p.Dir != "" {
		candidates = []string{p.Dir}
	} else {
		if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
			// This file is examples/internal/childproc/peers.go.
			candidates = append(candidates, filepath.Join(filepath.Dir(file), "..", "..", name, "peers"))
		}
		candidates = append(candidates, "peers", filepath.Join("examples", name, "peers"))
	}
	for _, d := range candidates {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Abs(d)
		}
	}
	return "", fmt.Errorf("cannot find the peers module (tried %s); use -peers", strings.Join(candidates, ", "))
}

// goCommand returns the go command of the toolchain that built this
// program if it is there, else go from PATH.
func goCommand() string {
	if root := runtime.GOROOT(); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}
