package main

// The server side of the control protocol between wspush and a server
// child process. The same protocol, and a copy of this file, is in
// peers/control.go (a separate module, so the code cannot be shared; it
// also has its own copy of package procstat's ReadStatus); keep the two in
// step.
//
// The server prints one line, "ready ADDR", once it is listening, then
// answers commands read line by line from stdin:
//
//	count    -> "count N": subscribed WebSocket connections held now
//	measure  -> one JSON line, a Sample: runs the garbage collector, returns
//	            freed memory to the OS, then reads VmRSS and runtime.MemStats
//	publish K MS SIZE
//	         -> publishes K messages of SIZE bytes to every subscribed
//	            connection, one every MS milliseconds, then answers
//	            "published FIRST LAST DROPPED CPU FANOUT": the sequence
//	            numbers of the first and last message, the connections
//	            dropped so far for falling behind, the CPU time
//	            (user+system, ms) the process used meanwhile, and the
//	            longest time (µs) one message took to be handed to every
//	            connection (written, or queued for one that fell behind)
//	stats    -> "stats TASKS GOROUTINES FDS": live scheduler tasks (-1
//	            where there is no scheduler), goroutines, open descriptors
//
// Every message's payload is "SEQ UNIXNANO " padded with 'x' to SIZE
// bytes: its sequence number (1, 2, ... over the server's life) and the
// wall-clock time at which the publisher began sending it, so that the
// clients can check the order and measure the delay.
//
// When stdin closes (the parent is done, or died) the server exits.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/stackslice/stackslice/examples/internal/procstat"
)

// Sample is one memory reading of a server process, in bytes.
type Sample struct {
	RSS     int64 `json:"rss"`      // VmRSS from /proc/self/status
	RSSAnon int64 `json:"rss_anon"` // RssAnon, for diagnosis
	Heap    int64 `json:"heap"`     // runtime.MemStats.HeapInuse
	Stack   int64 `json:"stack"`    // runtime.MemStats.StackInuse
	Conns   int64 `json:"conns"`    // connections held at the time
}

// serverHooks is what a server variant gives the control protocol.
type serverHooks struct {
	conns   func() int64             // subscribed connections
	publish func(payload []byte) int // one message to every subscriber; returns how many it went to
	dropped func() int64             // connections dropped so far for falling behind
	tasks   func() int               // live scheduler tasks; nil where there is no scheduler
}

// control runs the server side of the protocol until stdin closes.
func control(addr string, h serverHooks) error {
	if _, err := fmt.Printf("ready %s\n", addr); err != nil {
		return err
	}
	var seq int64
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		var err error
		cmd := sc.Text()
		f := bytes.Fields([]byte(cmd))
		switch {
		case cmd == "count":
			_, err = fmt.Printf("count %d\n", h.conns())
		case cmd == "measure":
			var b []byte
			b, err = json.Marshal(measure(h.conns))
			if err == nil {
				_, err = fmt.Printf("%s\n", b)
			}
		case cmd == "stats":
			tasks := -1
			if h.tasks != nil {
				tasks = h.tasks()
			}
			_, err = fmt.Printf("stats %d %d %d\n", tasks, runtime.NumGoroutine(), openFDs())
		case len(f) == 4 && string(f[0]) == "publish":
			k, e1 := strconv.Atoi(string(f[1]))
			ms, e2 := strconv.Atoi(string(f[2]))
			size, e3 := strconv.Atoi(string(f[3]))
			if e1 != nil || e2 != nil || e3 != nil || k < 1 || ms < 0 || size < 48 || size > 1<<16 {
				_, err = fmt.Printf("error bad command %q\n", cmd)
				break
			}
			first := seq + 1
			cpu := cpuTime()
			var fanout time.Duration
			next := time.Now()
			for range k {
				if d := time.Until(next); d > 0 {
					time.Sleep(d)
				}
				next = next.Add(time.Duration(ms) * time.Millisecond)
				seq++
				t0 := time.Now()
				h.publish(payload(seq, size))
				fanout = max(fanout, time.Since(t0))
			}
			_, err = fmt.Printf("published %d %d %d %d %d\n", first, seq, h.dropped(), (cpuTime() - cpu).Milliseconds(), fanout.Microseconds())
		default:
			_, err = fmt.Printf("error unknown command %q\n", cmd)
		}
		if err != nil {
			return err
		}
	}
	return sc.Err()
}

// payload returns message seq: "SEQ UNIXNANO " padded with 'x' to size
// bytes, stamped now.
func payload(seq int64, size int) []byte {
	b := make([]byte, 0, size)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, time.Now().UnixNano(), 10)
	b = append(b, ' ')
	for len(b) < size {
		b = append(b, 'x')
	}
	return b
}

// cpuTime returns the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// openFDs counts the process's open descriptors, or returns -1.
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents) - 1 // ReadDir's own descriptor
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
