// Package procstat reads what the measuring examples (footprint, wspush)
// take from /proc about a process. Their peers modules, being modules of
// their own, keep a copy.
package procstat

import (
	"bytes"
	"os"
	"strconv"
)

// ReadStatus returns VmRSS and RssAnon from /proc/self/status, in bytes,
// or -1 where they cannot be read.
func ReadStatus() (rss, anon int64) {
	rss, anon = -1, -1
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		switch string(k) {
		case "VmRSS":
			rss = ParseKB(v)
		case "RssAnon":
			anon = ParseKB(v)
		}
	}
	return
}

// ParseKB parses "   1234 kB" into bytes, or returns -1.
func ParseKB(v []byte) int64 {
	f := bytes.Fields(v)
	if len(f) != 2 || string(f[1]) != "kB" {
		return -1
	}
	n, err := strconv.ParseInt(string(f[0]), 10, 64)
	if err != nil {
		return -1
	}
	return n * 1024
}
