package fuzz

import (
	"fmt"
	"strings"
)

// The input format: a fuzz input decodes into a program, one operation
// stream per coroutine and a schedule for the driver.

// Bounds on one program, so that a run stays short.
const (
	maxInput      = 4096 // bytes of input decoded; the rest is ignored
	maxOps        = 2000 // operation bytes over all coroutines
	maxCoroutines = 8
	maxRecursion  = 40 // depth of one H operation
)

// Operations. An operation byte holds the opcode in its low 4 bits and an
// argument (0-15) in its high 4 bits. Frame shapes run a body of k following
// operations (k from the argument) between setting up their locals and
// checking them; operations in a body may be shapes themselves.
const (
	opYield  = iota // yield
	opA             // pointer-heavy locals
	opB             // stack objects pointing into each other (arg bit 0: struct cycle or array)
	opC             // closures capturing stack variables (arg bit 0: also called from a callee)
	opDStack        // nine defers, not in a loop: stack-allocated defer records
	opDHeap         // defers in a loop: heap defer records
	opDOpen         // open-coded defers (arg bit 0: one of them conditional)
	opP             // deferred recover; opPanic below it panics
	opE             // large frame (arg bits 0-1: [2048]byte, [600]*uint64, both, 560 KiB)
	opF             // interfaces, maps, strings
	opG             // method values
	opH             // recursion; the next byte is the depth (mod 41), arg bit 0: yield at a random level
	opR             // range-over-func loop whose body yields
	opN             // nested coroutine (slice.Pull)
	opMisc          // arg 0-3: runtime.GC, 4-6: grow the stack, 7-9: garbage, 10: Gosched, 11: resume another coroutine (next byte: how), 12-15: end the body
	opPanic         // panic, recovered by the nearest opP frame; without one, a no-op, except with arg 15, which ends the coroutine
)

var opNames = [16]string{"yield", "A", "B", "C", "Dstack", "Dheap", "Dopen", "P", "E", "F", "G", "H", "R", "N", "misc", "panic"}

// opByte returns the operation byte for opcode op with argument arg (0-15).
func opByte(op, arg byte) byte { return op&15 | arg<<4 }

// A program is a decoded fuzz input.
type program struct {
	// streams holds each coroutine's operation stream.
	streams [][]byte
	// schedule drives the resumes: each byte picks a live coroutine (bits
	// 0-2, modulo the number still live) and how to resume it (bits 3-5:
	// directly, after runtime.GC, from a carrier recursion, on a fresh
	// goroutine, on a fresh goroutine from a recursion, on a worker
	// goroutine, from a frame with a large array, after runtime.GC and
	// Gosched on a fresh goroutine from a recursion); the recursive ways
	// take the depth (mod 64) from the next byte. When the schedule runs
	// out, the live coroutines are resumed round-robin.
	schedule []byte
}

// decode turns any input into a program: the first byte gives the number of
// coroutines (1 + b%8); each coroutine's stream follows as a length byte and
// that many bytes (cut to what the input holds and to maxOps in all); the
// remaining bytes are the schedule.
func decode(data []byte) *program {
	if len(data) > maxInput {
		data = data[:maxInput]
	}
	p := &program{}
	n := 1
	if len(data) > 0 {
		n = 1 + int(data[0])%maxCoroutines
		data = data[1:]
	}
	total := 0
	for i := 0; i < n; i++ {
		l := 0
		if len(data) > 0 {
			l = int(data[0])
			data = data[1:]
		}
		l = min(l, len(data), maxOps-total)
		p.streams = append(p.streams, data[:l:l])
		data = data[l:]
		total += l
	}
	p.schedule = data
	return p
}

// encode returns the input that decode turns into p. Streams longer than 255
// bytes are cut.
func (p *program) encode() []byte {
	n := min(max(len(p.streams), 1), maxCoroutines)
	out := []byte{byte(n - 1)}
	for i := 0; i < n; i++ {
		var ops []byte
		if i < len(p.streams) {
			ops = p.streams[i]
		}
		ops = ops[:min(len(ops), 255)]
		out = append(out, byte(len(ops)))
		out = append(out, ops...)
	}
	return append(out, p.schedule...)
}

// dump prints p's operations, one coroutine a line, and its schedule.
func (p *program) dump() string {
	var b strings.Builder
	for i, ops := range p.streams {
		fmt.Fprintf(&b, "coroutine %d:", i)
		for j := 0; j < len(ops); j++ {
			op, arg := ops[j]&15, ops[j]>>4
			fmt.Fprintf(&b, " %s/%d", opNames[op], arg)
			switch {
			case j+1 >= len(ops):
			case op == opH:
				j++
				fmt.Fprintf(&b, "(depth %d)", int(ops[j])%(maxRecursion+1))
			case op == opMisc && arg == 11:
				j++
				fmt.Fprintf(&b, "(%#x)", ops[j])
			}
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "schedule: % x\n", p.schedule)
	return b.String()
}
