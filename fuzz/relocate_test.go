package fuzz

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
	"time"

	"github.com/stackslice/stackslice/slice"
)

// FuzzRelocate runs each input as a coroutine program (see decode) with real
// coroutines and sequentially, and fails on any difference, failed check or
// panic.
func FuzzRelocate(f *testing.F) {
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := Check(data); err != nil {
			t.Fatal(err)
		}
	})
}

func TestEngine(t *testing.T) { t.Log(slice.Engine()) }

// randomProgram makes a program of about size operation bytes, with opcodes
// spread evenly and schedule bytes for every way of resuming.
func randomProgram(r *rand.Rand, size int) []byte {
	p := &program{}
	n := 1 + r.Intn(maxCoroutines)
	for i := 0; i < n; i++ {
		ops := make([]byte, r.Intn(size/n+1))
		for j := range ops {
			ops[j] = byte(r.Intn(256))
			if ops[j]&15 == opE && ops[j]&0x30 == 0x30 && r.Intn(4) != 0 {
				ops[j] &^= 0x10 // fewer 560 KiB frames
			}
		}
		p.streams = append(p.streams, ops)
	}
	p.schedule = make([]byte, r.Intn(4*size))
	r.Read(p.schedule)
	return p.encode()
}

// TestRandomPrograms runs 200 random programs from a fixed seed with the GC
// running almost all the time.
func TestRandomPrograms(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(1))
	r := rand.New(rand.NewSource(1))
	count := 200
	if testing.Short() {
		count = 50
	}
	start := time.Now()
	var slowest time.Duration
	for i := 0; i < count; i++ {
		data := randomProgram(r, 16+r.Intn(400))
		t0 := time.Now()
		if err := Check(data); err != nil {
			t.Fatalf("program %d (input %x): %v", i, data, err)
		}
		slowest = max(slowest, time.Since(t0))
	}
	t.Logf("%d programs in %v (slowest %v)", count, time.Since(start), slowest)
}

// TestDecodeEncode checks that encode inverts decode on its own output.
func TestDecodeEncode(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for i := 0; i < 100; i++ {
		data := make([]byte, r.Intn(600))
		r.Read(data)
		p := decode(data)
		q := decode(p.encode())
		if p.dump() != q.dump() {
			t.Fatalf("decode(encode(p)) != p:\n%s\n%s", p.dump(), q.dump())
		}
	}
}

// seeds are the seed corpus: at least one program for every frame shape, and
// for every way of resuming. TestWriteSeeds writes them to
// testdata/fuzz/FuzzRelocate when STACKSLICE_WRITE_SEEDS=1.
func seeds() map[string]*program {
	const (
		y  = opYield
		ms = opMisc
	)
	o := opByte
	all := func(arg byte) []byte { // every shape once, each yielding inside
		var b []byte
		for op := byte(opA); op <= opN; op++ {
			b = append(b, o(op, arg), o(y, 0))
			if op == opH {
				b = append(b, 7)
			}
		}
		return b
	}
	every := []byte{0x00, 0x08, 0x10, 0x11, 0x1a, 0x18, 0x21, 0x13, 0x2b, 0x28, 0x30, 0x38, 0x3a, 0x05}
	return map[string]*program{
		"yield": {streams: [][]byte{{y, y, y}}},
		"A_pointers": {streams: [][]byte{
			{o(opA, 3), y, o(opA, 2), y, y, o(ms, 0), y},
			{o(opA, 0), y, o(ms, 7)},
		}, schedule: []byte{0x08, 0x01, 0x18, 0x01, 0x00, 0x29}},
		"B_stack_objects": {streams: [][]byte{
			{o(opB, 2), y, o(opB, 3), y, o(ms, 1), y},
			{o(opB, 5), o(opB, 4), y, y},
		}, schedule: []byte{0x10, 9, 0x19, 0x08, 0x01, 0x20, 0x31}},
		"C_closures": {streams: [][]byte{
			{o(opC, 2), y, o(opC, 3), y, o(ms, 0), y},
			{o(opC, 1), o(opC, 0), y},
		}, schedule: []byte{0x21, 0x18, 0x30, 0x08, 0x00}},
		"D_defers": {streams: [][]byte{
			{o(opDStack, 4), y, o(opDHeap, 3), y, o(ms, 0), o(opDOpen, 3), y, y},
			{o(opDOpen, 2), y, o(opDHeap, 6), y, y, y, y},
			{o(opDStack, 2), o(opDStack, 0), y},
		}, schedule: []byte{0x00, 0x19, 0x22, 30, 0x08, 0x31, 0x28, 0x11, 12, 0x3a, 0x38, 50}},
		"P_panic_recover": {streams: [][]byte{
			{o(opP, 6), o(opDStack, 4), y, o(opDHeap, 3), y, o(opPanic, 0), y, o(opP, 2), y, y},
			{o(opP, 4), o(opH, 2), 12, y, o(opPanic, 0), y},
		}, schedule: []byte{0x00, 0x21, 0x10, 20, 0x29, 0x08}},
		"E_large_frames": {streams: [][]byte{
			{o(opE, 4), y, o(opE, 5), y, o(opE, 6), o(opB, 0), y},
			{o(opE, 1), y, o(ms, 5)},
		}, schedule: []byte{0x18, 0x21, 0x18, 0x00, 0x31, 0x08}},
		"E_huge_frame": {streams: [][]byte{
			{o(opA, 2), o(opE, 7), o(opB, 0), y, o(ms, 0), y},
		}, schedule: []byte{0x00, 0x18, 0x20, 3}},
		"F_iface_map_string": {streams: [][]byte{
			{o(opF, 2), y, o(opF, 3), y, o(ms, 8), y},
			{o(opF, 1), o(opF, 0), y},
		}, schedule: []byte{0x08, 0x19, 0x28, 0x01}},
		"G_method_values": {streams: [][]byte{
			{o(opG, 2), y, o(opG, 2), y, o(ms, 0)},
		}, schedule: []byte{0x18, 0x08}},
		"H_recursion": {streams: [][]byte{
			{o(opH, 1), 40, y, o(opH, 2), 0, y, o(opH, 3), 23, o(opA, 0), y},
			{o(opH, 0), 5, y},
		}, schedule: []byte{0x10, 63, 0x21, 0x20, 17, 0x09, 0x38, 33}},
		"R_range_func": {streams: [][]byte{
			{o(opR, 4), y, y, o(opB, 0), y, y, o(opR, 3), y, y},
		}, schedule: []byte{0x00, 0x18, 0x10, 5, 0x28}},
		"N_nested_pull": {streams: [][]byte{
			{o(opN, 4), y, y, o(opA, 0), y, y, o(opN, 5), y, y},
			{o(opN, 2), o(opC, 0), y, y},
		}, schedule: []byte{0x00, 0x19, 0x20, 8, 0x09, 0x30}},
		"misc_grow_gc_gosched": {streams: [][]byte{
			{o(opA, 2), o(ms, 6), y, o(ms, 10), y, o(ms, 2), y},
			{o(opB, 2), o(ms, 4), y, o(ms, 9), y, o(ms, 12), y, y},
		}, schedule: []byte{0x08, 0x39, 2, 0x30}},
		"sibling_resume": {streams: [][]byte{
			{o(opA, 6), o(ms, 11), 0x00, y, o(ms, 11), 0x08, y, o(ms, 11), 0x13, y, o(ms, 11), 0x01},
			{o(opB, 4), y, o(ms, 11), 0x00, y, y},
			{o(opH, 3), 6, y, y, y, o(opDStack, 2), y, y},
		}, schedule: []byte{0x00, 0x01, 0x02, 0x00, 0x18, 0x10, 5, 0x00}},
		"panic_unrecovered": {streams: [][]byte{
			{o(opDStack, 4), o(opDHeap, 2), y, o(opDOpen, 1), y, o(opPanic, 15), y},
			{o(opP, 2), y, o(opPanic, 15), o(opA, 0), y},
			{y, o(opPanic, 15)},
		}, schedule: []byte{0x00, 0x01, 0x02, 0x18, 0x21, 0x10, 1, 0x08}},
		"carrier_defers": {streams: [][]byte{
			{o(opDStack, 6), o(opDHeap, 6), y, y, o(opB, 0), y, y},
			{o(opDOpen, 3), y, y, y},
		}, schedule: []byte{0x10, 1, 0x11, 5, 0x20, 9, 0x21, 13, 0x10, 17, 0x38, 21, 0x11, 1, 0x10, 1}},
		"all_shapes_nested": {streams: [][]byte{
			append([]byte{o(opA, 15), o(opB, 15), o(opC, 15), o(opDStack, 15), o(opF, 15), o(opG, 15), o(opH, 15), 9, o(opR, 15)}, all(2)...),
		}, schedule: every},
		"all_shapes_8_coroutines": {streams: [][]byte{
			all(0), all(1), all(2), all(3), all(4), all(5), all(6), all(7),
		}, schedule: append(every, every...)},
	}
}

func TestSeeds(t *testing.T) {
	for name, p := range seeds() {
		t.Run(name, func(t *testing.T) {
			if err := Check(p.encode()); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestWriteSeeds writes the seed corpus (and checks that the checked-in one
// is up to date otherwise).
func TestWriteSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzRelocate")
	write := os.Getenv("STACKSLICE_WRITE_SEEDS") == "1"
	if write {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, p := range seeds() {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", p.encode())
		path := filepath.Join(dir, "seed_"+name)
		if write {
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Errorf("%s is missing or out of date: run STACKSLICE_WRITE_SEEDS=1 go test -run TestWriteSeeds ./fuzz/", path)
		}
	}
}
