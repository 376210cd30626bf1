package main

// The server side of the control protocol between footprint and a server
// child process. The same protocol, and a copy of this file, is in
// peers/control.go (a separate module, so the code cannot be shared; it
// also has its own copy of package procstat's ReadStatus); keep the two in
// step.
//
// The server prints one line, "ready ADDR", once it is listening, then
// answers commands read line by line from stdin:
//
//	count    -> "count N": connections the server holds now
//	measure  -> one JSON line, a Sample: runs the garbage collector, returns
//	            freed memory to the OS, then reads VmRSS and runtime.MemStats
//	heapprofile PATH
//	         -> "heapprofile PATH": writes a heap profile (pprof) to PATH,
//	            after a garbage collection
//
// With FOOTPRINT_MEMPROFILERATE=R in its environment the server sets
// runtime.MemProfileRate to R before main runs (1: every allocation), for
// profiles precise to the byte.
//
// When stdin closes (the parent is done, or died) the server exits.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"

	"github.com/stackslice/stackslice/examples/internal/procstat"
)

// envMemProfileRate sets runtime.MemProfileRate in a server (see above).
const envMemProfileRate = "FOOTPRINT_MEMPROFILERATE"

func init() {
	if v, err := strconv.Atoi(os.Getenv(envMemProfileRate)); err == nil && v > 0 {
		runtime.MemProfileRate = v
	}
}

// Sample is one memory reading of a server process, in bytes.
type Sample struct {
	RSS     int64 `json:"rss"`      // VmRSS from /proc/self/status
	RSSAnon int64 `json:"rss_anon"` // RssAnon, for diagnosis
	Heap    int64 `json:"heap"`     // runtime.MemStats.HeapInuse
	Stack   int64 `json:"stack"`    // runtime.MemStats.StackInuse
	Conns   int64 `json:"conns"`    // connections held at the time
}

// control runs the server side of the protocol until stdin closes.
func control(addr string, conns func() int64) error {
	if _, err := fmt.Printf("ready %s\n", addr); err != nil {
		return err
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		var err error
		cmd := sc.Text()
		if path, ok := strings.CutPrefix(cmd, "heapprofile "); ok {
			if err := writeHeapProfile(path); err != nil {
				_, err = fmt.Printf("error heap profile: %v\n", err)
			} else {
				_, err = fmt.Printf("heapprofile %s\n", path)
			}
			if err != nil {
				return err
			}
			continue
		}
		switch cmd {
		case "count":
			_, err = fmt.Printf("count %d\n", conns())
		case "measure":
			var b []byte
			b, err = json.Marshal(measure(conns))
			if err == nil {
				_, err = fmt.Printf("%s\n", b)
			}
		default:
			_, err = fmt.Printf("error unknown command %q\n", cmd)
		}
		if err != nil {
			return err
		}
	}
	return sc.Err()
}

// measure collects garbage, returns free pages to the OS so that VmRSS
// holds only what is in use, and reads the process's memory.
func measure(conns func() int64) Sample {
	runtime.GC()
	debug.FreeOSMemory() // another full collection, then scavenges
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := Sample{
		Heap:  int64(ms.HeapInuse),
		Stack: int64(ms.StackInuse),
		Conns: conns(),
	}
	s.RSS, s.RSSAnon = procstat.ReadStatus()
	return s
}

// writeHeapProfile collects garbage and writes the heap profile to path.
func writeHeapProfile(path string) error {
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
