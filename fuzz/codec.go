package fuzz

import (
	"fmt"
	"strings"
)

// The input format: a fuzz input decodes into a Program, one operation
// stream per coroutine and a schedule for the driver.

// Bounds on one program, so that a run stays well under 50 ms.
const (
	MaxInput      = 4096 // bytes of input decoded; the rest is ignored
	MaxOps        = 2000 // operation bytes over all coroutines
	MaxCoroutines = 8
	MaxRecursion  = 40 // depth of one H operation
)

// Operations. An operation byte holds the opcode in its low 4 bits and an
// argument (0-15) in its high 4 bits. Frame shapes run a body of k following
// operations (k from the argument) between setting up their locals and
// checking them; operations in a body may be shapes themselves.
const (
	OpYield  = iota // yield
	OpA             // pointer-heavy locals
	OpB             // stack objects pointing into each other (arg bit 0: struct cycle or array)
	OpC             // closures capturing stack variables (arg bit 0: also called from a callee)
	OpDStack        // nine defers, not in a loop: stack-allocated defer records
	OpDHeap         // defers in a loop: heap defer records
	OpDOpen         // open-coded defers (arg bit 0: one of them conditional)
	OpP             // deferred recover; OpPanic below it panics
	OpE             // large frame (arg bits 0-1: [2048]byte, [600]*uint64, both, 560 KiB)
	OpF             // interfaces, maps, strings
	OpG             // method values
	OpH             // recursion; the next byte is the depth (mod 41), arg bit 0: yield at a random level
	OpR             // range-over-func loop whose body yields
	OpN             // nested coroutine (slice.Pull)
	OpMisc          // arg 0-3: runtime.GC, 4-6: grow the stack, 7-9: garbage, 10: Gosched, 11: resume another coroutine (next byte: how), 12-15: end the body
	OpPanic         // panic, recovered by the nearest OpP frame; without one, a no-op, except with arg 15, which ends the coroutine
)

var opNames = [16]string{"yield", "A", "B", "C", "Dstack", "Dheap", "Dopen", "P", "E", "F", "G", "H", "R", "N", "misc", "panic"}

// Op returns the operation byte for opcode op with argument arg (0-15).
func Op(op, arg byte) byte { return op&15 | arg<<4 }

// A Program is a decoded fuzz input.
type Program struct {
	// Coroutines holds each coroutine's operation stream.
	Coroutines [][]byte
	// Schedule drives the resumes: each byte picks a live coroutine (bits
	// 0-2, modulo the number still live) and how to resume it (bits 3-5:
	// directly, after runtime.GC, from a carrier recursion, on a fresh
	// goroutine, on a fresh goroutine from a recursion, on a worker
	// goroutine, from a frame with a large array, after runtime.GC and
	// Gosched on a fresh goroutine from a recursion); the recursive ways
	// take the depth (mod 64) from the next byte. When the schedule runs
	// out, the live coroutines are resumed round-robin.
	Schedule []byte
}

// Decode turns any input into a program: the first byte gives the number of
// coroutines (1 + b%8); each coroutine's stream follows as a length byte and
// that many bytes (cut to what the input holds and to MaxOps in all); the
// remaining bytes are the schedule.
func Decode(data []byte) *Program {
	if len(data) > MaxInput {
		data = data[:MaxInput]
	}
	p := &Program{}
	n := 1
	if len(data) > 0 {
		n = 1 + int(data[0])%MaxCoroutines
		data = data[1:]
	}
	total := 0
	for i := 0; i < n; i++ {
		l := 0
		if len(data) > 0 {
			l = int(data[0])
			data = data[1:]
		}
		l = min(l, len(data), MaxOps-total)
		p.Coroutines = append(p.Coroutines, data[:l:l])
		data = data[l:]
		total += l
	}
	p.Schedule = data
	return p
}

// Encode returns the input that Decode turns into p. Streams longer than 255
// bytes are cut.
func (p *Program) Encode() []byte {
	n := min(max(len(p.Coroutines), 1), MaxCoroutines)
	out := []byte{byte(n - 1)}
	for i := 0; i < n; i++ {
		var ops []byte
		if i < len(p.Coroutines) {
			ops = p.Coroutines[i]
		}
		ops = ops[:min(len(ops), 255)]
		out = append(out, byte(len(ops)))
		out = append(out, ops...)
	}
	return append(out, p.Schedule...)
}

// Dump prints p's operations, one coroutine a line, and its schedule.
func (p *Program) Dump() string {
	var b strings.Builder
	for i, ops := range p.Coroutines {
		fmt.Fprintf(&b, "coroutine %d:", i)
		for j := 0; j < len(ops); j++ {
			op, arg := ops[j]&15, ops[j]>>4
			fmt.Fprintf(&b, " %s/%d", opNames[op], arg)
			switch {
			case j+1 >= len(ops):
			case op == OpH:
				j++
				fmt.Fprintf(&b, "(depth %d)", int(ops[j])%(MaxRecursion+1))
			case op == OpMisc && arg == 11:
				j++
				fmt.Fprintf(&b, "(%#x)", ops[j])
			}
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "schedule: % x\n", p.Schedule)
	return b.String()
}
