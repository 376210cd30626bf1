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

// FuzzRelocate runs each input as a coroutine program (see Decode) with real
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
	p := &Program{}
	n := 1 + r.Intn(MaxCoroutines)
	for i := 0; i < n; i++ {
		ops := make([]byte, r.Intn(size/n+1))
		for j := range ops {
			ops[j] = byte(r.Intn(256))
			if ops[j]&15 == OpE && ops[j]&0x30 == 0x30 && r.Intn(4) != 0 {
				ops[j] &^= 0x10 // fewer 560 KiB frames
			}
		}
		p.Coroutines = append(p.Coroutines, ops)
	}
	p.Schedule = make([]byte, r.Intn(4*size))
	r.Read(p.Schedule)
	return p.Encode()
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

// TestDecodeEncode checks that Encode inverts Decode on its own output.
func TestDecodeEncode(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for i := 0; i < 100; i++ {
		data := make([]byte, r.Intn(600))
		r.Read(data)
		p := Decode(data)
		q := Decode(p.Encode())
		if p.Dump() != q.Dump() {
			t.Fatalf("Decode(Encode(p)) != p:\n%s\n%s", p.Dump(), q.Dump())
		}
	}
}

// seeds are the seed corpus: at least one program for every frame shape, and
// for every way of resuming. TestWriteSeeds writes them to
// testdata/fuzz/FuzzRelocate when STACKSLICE_WRITE_SEEDS=1.
func seeds() map[string]*Program {
	const (
		y  = OpYield
		ms = OpMisc
	)
	o := Op
	all := func(arg byte) []byte { // every shape once, each yielding inside
		var b []byte
		for op := byte(OpA); op <= OpN; op++ {
			b = append(b, o(op, arg), o(y, 0))
			if op == OpH {
				b = append(b, 7)
			}
		}
		return b
	}
	every := []byte{0x00, 0x08, 0x10, 0x11, 0x1a, 0x18, 0x21, 0x13, 0x2b, 0x28, 0x30, 0x38, 0x3a, 0x05}
	return map[string]*Program{
		"yield": {Coroutines: [][]byte{{y, y, y}}},
		"A_pointers": {Coroutines: [][]byte{
			{o(OpA, 3), y, o(OpA, 2), y, y, o(ms, 0), y},
			{o(OpA, 0), y, o(ms, 7)},
		}, Schedule: []byte{0x08, 0x01, 0x18, 0x01, 0x00, 0x29}},
		"B_stack_objects": {Coroutines: [][]byte{
			{o(OpB, 2), y, o(OpB, 3), y, o(ms, 1), y},
			{o(OpB, 5), o(OpB, 4), y, y},
		}, Schedule: []byte{0x10, 9, 0x19, 0x08, 0x01, 0x20, 0x31}},
		"C_closures": {Coroutines: [][]byte{
			{o(OpC, 2), y, o(OpC, 3), y, o(ms, 0), y},
			{o(OpC, 1), o(OpC, 0), y},
		}, Schedule: []byte{0x21, 0x18, 0x30, 0x08, 0x00}},
		"D_defers": {Coroutines: [][]byte{
			{o(OpDStack, 4), y, o(OpDHeap, 3), y, o(ms, 0), o(OpDOpen, 3), y, y},
			{o(OpDOpen, 2), y, o(OpDHeap, 6), y, y, y, y},
			{o(OpDStack, 2), o(OpDStack, 0), y},
		}, Schedule: []byte{0x00, 0x19, 0x22, 30, 0x08, 0x31, 0x28, 0x11, 12, 0x3a, 0x38, 50}},
		"P_panic_recover": {Coroutines: [][]byte{
			{o(OpP, 6), o(OpDStack, 4), y, o(OpDHeap, 3), y, o(OpPanic, 0), y, o(OpP, 2), y, y},
			{o(OpP, 4), o(OpH, 2), 12, y, o(OpPanic, 0), y},
		}, Schedule: []byte{0x00, 0x21, 0x10, 20, 0x29, 0x08}},
		"E_large_frames": {Coroutines: [][]byte{
			{o(OpE, 4), y, o(OpE, 5), y, o(OpE, 6), o(OpB, 0), y},
			{o(OpE, 1), y, o(ms, 5)},
		}, Schedule: []byte{0x18, 0x21, 0x18, 0x00, 0x31, 0x08}},
		"E_huge_frame": {Coroutines: [][]byte{
			{o(OpA, 2), o(OpE, 7), o(OpB, 0), y, o(ms, 0), y},
		}, Schedule: []byte{0x00, 0x18, 0x20, 3}},
		"F_iface_map_string": {Coroutines: [][]byte{
			{o(OpF, 2), y, o(OpF, 3), y, o(ms, 8), y},
			{o(OpF, 1), o(OpF, 0), y},
		}, Schedule: []byte{0x08, 0x19, 0x28, 0x01}},
		"G_method_values": {Coroutines: [][]byte{
			{o(OpG, 2), y, o(OpG, 2), y, o(ms, 0)},
		}, Schedule: []byte{0x18, 0x08}},
		"H_recursion": {Coroutines: [][]byte{
			{o(OpH, 1), 40, y, o(OpH, 2), 0, y, o(OpH, 3), 23, o(OpA, 0), y},
			{o(OpH, 0), 5, y},
		}, Schedule: []byte{0x10, 63, 0x21, 0x20, 17, 0x09, 0x38, 33}},
		"R_range_func": {Coroutines: [][]byte{
			{o(OpR, 4), y, y, o(OpB, 0), y, y, o(OpR, 3), y, y},
		}, Schedule: []byte{0x00, 0x18, 0x10, 5, 0x28}},
		"N_nested_pull": {Coroutines: [][]byte{
			{o(OpN, 4), y, y, o(OpA, 0), y, y, o(OpN, 5), y, y},
			{o(OpN, 2), o(OpC, 0), y, y},
		}, Schedule: []byte{0x00, 0x19, 0x20, 8, 0x09, 0x30}},
		"misc_grow_gc_gosched": {Coroutines: [][]byte{
			{o(OpA, 2), o(ms, 6), y, o(ms, 10), y, o(ms, 2), y},
			{o(OpB, 2), o(ms, 4), y, o(ms, 9), y, o(ms, 12), y, y},
		}, Schedule: []byte{0x08, 0x39, 2, 0x30}},
		"sibling_resume": {Coroutines: [][]byte{
			{o(OpA, 6), o(ms, 11), 0x00, y, o(ms, 11), 0x08, y, o(ms, 11), 0x13, y, o(ms, 11), 0x01},
			{o(OpB, 4), y, o(ms, 11), 0x00, y, y},
			{o(OpH, 3), 6, y, y, y, o(OpDStack, 2), y, y},
		}, Schedule: []byte{0x00, 0x01, 0x02, 0x00, 0x18, 0x10, 5, 0x00}},
		"panic_unrecovered": {Coroutines: [][]byte{
			{o(OpDStack, 4), o(OpDHeap, 2), y, o(OpDOpen, 1), y, o(OpPanic, 15), y},
			{o(OpP, 2), y, o(OpPanic, 15), o(OpA, 0), y},
			{y, o(OpPanic, 15)},
		}, Schedule: []byte{0x00, 0x01, 0x02, 0x18, 0x21, 0x10, 1, 0x08}},
		"carrier_defers": {Coroutines: [][]byte{
			{o(OpDStack, 6), o(OpDHeap, 6), y, y, o(OpB, 0), y, y},
			{o(OpDOpen, 3), y, y, y},
		}, Schedule: []byte{0x10, 1, 0x11, 5, 0x20, 9, 0x21, 13, 0x10, 17, 0x38, 21, 0x11, 1, 0x10, 1}},
		"all_shapes_nested": {Coroutines: [][]byte{
			append([]byte{o(OpA, 15), o(OpB, 15), o(OpC, 15), o(OpDStack, 15), o(OpF, 15), o(OpG, 15), o(OpH, 15), 9, o(OpR, 15)}, all(2)...),
		}, Schedule: every},
		"all_shapes_8_coroutines": {Coroutines: [][]byte{
			all(0), all(1), all(2), all(3), all(4), all(5), all(6), all(7),
		}, Schedule: append(every, every...)},
	}
}

func TestSeeds(t *testing.T) {
	for name, p := range seeds() {
		t.Run(name, func(t *testing.T) {
			if err := Check(p.Encode()); err != nil {
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
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", p.Encode())
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
