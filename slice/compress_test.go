package slice

import (
	"bytes"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

var packModes = []Compression{CompressS2, CompressZstd, CompressTemplate}

// withMode sets the global mode of packing at yield for one test.
func withMode(t *testing.T, m Compression) {
	old := SetCompression(m)
	t.Cleanup(func() { SetCompression(old) })
}

func TestCompressRoundTrip(t *testing.T) {
	for _, m := range packModes {
		t.Run(m.String(), func(t *testing.T) {
			var got []int
			c := New(func() { bigFrameYield(&got) })
			c.Resume()
			packed := c.Compress(m)
			if Engine().StackSlicing && !packed {
				t.Fatalf("Compress(%v) did not pack", m)
			}
			if !Engine().StackSlicing && packed {
				t.Fatal("the fallback packed a coroutine")
			}
			runtime.GC()
			if Engine().StackSlicing && len(c.Callers()) < 3 {
				t.Fatalf("Callers of a packed coroutine: %v", c.Callers())
			}
			for i := 0; !c.done(i); i++ {
				c.Compress(m) // no-op while running or done
			}
			if fmt.Sprint(got) != "[3 1 3 1 3 1]" {
				t.Fatalf("got %v", got)
			}
		})
	}
}

//go:noinline
func bigFrameYield(got *[]int) {
	var buf [64]int
	buf[7], buf[63] = 3, 1
	p := &buf
	h := &[2]int{3, 1}
	for i := 0; i < 3; i++ {
		Yield()
		*got = append(*got, p[7]+h[0]-3, p[63]*h[1])
	}
}

func TestTortureCompressedEveryYield(t *testing.T) {
	for _, m := range packModes {
		t.Run(m.String(), func(t *testing.T) {
			withMode(t, m)
			if bad := runTorture(32, 4, 2); bad != "" {
				t.Fatal(bad)
			}
			if Engine().StackSlicing && ReadCompressionStats().Packs == 0 {
				t.Fatal("nothing was packed")
			}
		})
	}
}

func TestTemplatesShared(t *testing.T) {
	if !Engine().StackSlicing {
		t.Skip("no blocks on the fallback")
	}
	before := ReadCompressionStats()
	const n = 500
	cs := make([]*Coroutine, n)
	sums := make([]int, n)
	for i := range cs {
		cs[i] = New(func() { sums[i] = suspendedAt(4, i) })
		cs[i].Resume()
		if !cs[i].Compress(CompressTemplate) {
			t.Fatal("not packed")
		}
	}
	mid := ReadCompressionStats()
	if d := mid.Templates - before.Templates; d < 1 || d > maxVariants {
		t.Fatalf("%d templates for coroutines parked at one place, want 1 to %d", d, maxVariants)
	}
	if d := mid.TemplateUsers - before.TemplateUsers; d != n {
		t.Fatalf("%d template users, want %d", d, n)
	}
	t.Logf("packed %d coroutines: %d bytes packed, %d unpacked", n, mid.PackedBytes-before.PackedBytes, mid.UnpackedBytes-before.UnpackedBytes)
	for i, c := range cs {
		if !c.Resume() || sums[i] != i*2+4 {
			t.Fatalf("coroutine %d: %d", i, sums[i])
		}
	}
	after := ReadCompressionStats()
	if after.Templates != before.Templates || after.TemplateUsers != before.TemplateUsers || after.Packed != before.Packed {
		t.Fatalf("templates or packed blocks left after every coroutine finished: %+v", after)
	}
}

// pointerPair is what swizzledAt's frames point to.
type pointerPair struct{ a, b int }

// swizzledAt parks depth calls deep holding only pointers (p, q, out) that
// differ between coroutines, then writes p.a+q.b to out.
//
//go:noinline
func swizzledAt(depth int, p, q *pointerPair, out *int) {
	if depth > 0 {
		swizzledAt(depth-1, q, p, out)
		return
	}
	Yield()
	*out = p.a + q.b
}

// templateRoundTrip parks n coroutines at one place, each with its own
// objects, packs them against a template, collects garbage, resumes them
// and checks what each computed. It returns how many were packed without a
// diff (bare), and the first wrong result as an error.
func templateRoundTrip(n int) (bare int, err error) {
	pairs := make([]*pointerPair, n)
	outs := make([]*int, n)
	cs := make([]*Coroutine, n)
	for i := range cs {
		pairs[i], outs[i] = &pointerPair{a: i, b: 1000 * i}, new(int)
		p, out := pairs[i], outs[i]
		q := &pointerPair{a: -1, b: 7 * i} // held only by the coroutine
		cs[i] = New(func() { swizzledAt(3, p, q, out) })
		cs[i].Resume()
		if !cs[i].Compress(CompressTemplate) {
			return bare, fmt.Errorf("coroutine %d was not packed", i)
		}
		if cs[i].flags&flagBare != 0 {
			bare++
		}
	}
	runtime.GC()
	for i, c := range cs {
		if !c.Resume() {
			return bare, fmt.Errorf("coroutine %d yielded again", i)
		}
		// depth 3 is odd: the innermost frame has p and q swapped.
		if want := -1 + 1000*i; *outs[i] != want {
			return bare, fmt.Errorf("coroutine %d computed %d, want %d", i, *outs[i], want)
		}
	}
	return bare, nil
}

// Coroutines parked at one place that differ only in the objects they point
// to pack to no diff at all: their pointer words hold the same tokens.
func TestTemplateSwizzle(t *testing.T) {
	if !Engine().StackSlicing {
		t.Skip("no blocks on the fallback")
	}
	const n = 200
	bare, err := templateRoundTrip(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d of %d packed without a diff", bare, n)
	if optimizationsOff() {
		// Unoptimized code leaves dead copies of its pointers in
		// frames: no stack map names them, so they stay in the diff.
		return
	}
	// The first one is the template; another may differ from it where
	// the template's maker differed (a word that happened to hold a
	// shadowed pointer), but not the rest.
	if bare < n-2 {
		t.Fatalf("%d of %d coroutines packed without a diff, want all but the first few", bare, n)
	}
}

// kindAt parks holding k in its frame.
//
//go:noinline
func kindAt(k int, out *int) {
	local := [2]int{k, -k}
	Yield()
	*out = local[0] - local[1]
}

// Coroutines parked at one place in a few kinds (here, a scalar in the
// frame) get a template per kind, up to maxVariants, and pack to nothing;
// kinds past that pack against the first template.
func TestTemplateVariants(t *testing.T) {
	if !Engine().StackSlicing {
		t.Skip("no blocks on the fallback")
	}
	const n = 60
	for _, kinds := range []int{maxVariants, maxVariants + 3} {
		before := ReadCompressionStats()
		outs := make([]int, n)
		cs := make([]*Coroutine, n)
		bare := 0
		for i := range cs {
			cs[i] = New(func() { kindAt(i%kinds, &outs[i]) })
			cs[i].Resume()
			if !cs[i].Compress(CompressTemplate) {
				t.Fatalf("coroutine %d was not packed", i)
			}
			if cs[i].flags&flagBare != 0 {
				bare++
			}
		}
		if d := ReadCompressionStats().Templates - before.Templates; d != maxVariants {
			t.Fatalf("%d kinds: %d templates, want %d", kinds, d, maxVariants)
		}
		wantBare := 0 // those of the first maxVariants kinds
		for i := range n {
			if i%kinds < maxVariants {
				wantBare++
			}
		}
		if !optimizationsOff() && bare != wantBare {
			t.Fatalf("%d kinds: %d of %d coroutines packed bare, want %d", kinds, bare, n, wantBare)
		}
		for i, c := range cs {
			if !c.Resume() || outs[i] != 2*(i%kinds) {
				t.Fatalf("%d kinds: coroutine %d computed %d, want %d", kinds, i, outs[i], 2*(i%kinds))
			}
		}
	}
}

// optimizationsOff reports whether the test binary was built with -N.
func optimizationsOff() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-gcflags" && strings.Contains(s.Value, "-N") {
			return true
		}
	}
	return false
}

// A coroutine's own mode, when it has one, decides whether it is packed at
// its yields; else the global mode does. CompressNone of its own keeps it
// unpacked under a global mode.
func TestPerCoroutineMode(t *testing.T) {
	if !Engine().StackSlicing {
		t.Skip("no blocks on the fallback")
	}
	for _, tc := range []struct {
		global Compression
		own    Compression
		hasOwn bool
		want   Compression // the packed block's mode; CompressNone: not packed
	}{
		{CompressNone, 0, false, CompressNone},
		{CompressS2, 0, false, CompressS2},
		{CompressNone, CompressS2, true, CompressS2},
		{CompressTemplate, CompressNone, true, CompressNone},
		{CompressTemplate, CompressZstd, true, CompressZstd},
	} {
		withMode(t, tc.global)
		var got []int
		c := New(func() { bigFrameYield(&got) })
		if tc.hasOwn {
			c.SetCompression(tc.own)
		}
		for i := 0; !c.Resume(); i++ {
			packed := CompressNone
			if c.Packed() {
				packed = Compression(c.flags & flagModeMask >> flagModeShift)
			}
			if packed != tc.want {
				t.Fatalf("global %v, own %v (%v), yield %d: packed %v, want %v", tc.global, tc.own, tc.hasOwn, i, packed, tc.want)
			}
		}
		if fmt.Sprint(got) != "[3 1 3 1 3 1]" {
			t.Fatalf("global %v, own %v (%v): got %v", tc.global, tc.own, tc.hasOwn, got)
		}
	}
	// A mode set while the coroutine is suspended applies from its next
	// yield on.
	withMode(t, CompressNone)
	var got []int
	c := New(func() { bigFrameYield(&got) })
	c.Resume()
	if c.Packed() {
		t.Fatal("packed at a yield without a mode")
	}
	c.SetCompression(CompressS2)
	if c.Packed() {
		t.Fatal("SetCompression packed a suspended coroutine")
	}
	if c.Resume() || !c.Packed() {
		t.Fatal("not packed at the yield after SetCompression")
	}
	for !c.Resume() {
	}
}

// Packed reports a packed suspended coroutine, and nothing else.
func TestPacked(t *testing.T) {
	var got []int
	c := New(func() { bigFrameYield(&got) })
	if c.Packed() {
		t.Fatal("a new coroutine reports Packed")
	}
	c.Resume()
	if c.Packed() {
		t.Fatal("a suspended coroutine nobody packed reports Packed")
	}
	if packed := c.Compress(CompressTemplate); packed != c.Packed() || packed != Engine().StackSlicing {
		t.Fatalf("Compress reported %v, then Packed %v (engine: %v)", packed, c.Packed(), Engine().StackSlicing)
	}
	if c.Compress(CompressS2) {
		t.Fatal("Compress packed a packed coroutine again")
	}
	c.Resume()
	if c.Packed() {
		t.Fatal("a resumed and suspended again coroutine reports Packed")
	}
	for !c.Resume() {
	}
	if c.Packed() || c.Compress(CompressS2) {
		t.Fatal("a finished coroutine reports Packed, or was packed")
	}
	if fmt.Sprint(got) != "[3 1 3 1 3 1]" {
		t.Fatalf("got %v", got)
	}
}

// Compress and Packed from one goroutine race Resume from others: Resume
// waits while a coroutine is held, and every coroutine computes what it
// would unpacked.
func TestCompressRacesResume(t *testing.T) {
	const n, rounds = 50, 20
	cs := make([]*Coroutine, n)
	sums := make([]int, n)
	for i := range cs {
		cs[i] = New(func() {
			for r := range rounds {
				sums[i] += suspendedAt(r%3, i)
			}
		})
		cs[i].Resume()
	}
	stop := make(chan struct{})
	packerDone := make(chan int)
	go func() {
		packs := 0
		for {
			select {
			case <-stop:
				packerDone <- packs
				return
			default:
			}
			for _, c := range cs {
				if c.Compress(packModes[packs%len(packModes)]) {
					packs++
				}
				c.Packed()
			}
			runtime.Gosched()
		}
	}()
	for r := 0; r < rounds; r++ {
		for i, c := range cs {
			if c.done(i + r) {
				if r != rounds-1 {
					t.Fatalf("coroutine %d finished after %d rounds", i, r)
				}
			}
		}
	}
	close(stop)
	packs := <-packerDone
	for i, s := range sums {
		if want := rounds*2*i + sumDepths(rounds); s != want {
			t.Fatalf("coroutine %d: %d, want %d", i, s, want)
		}
	}
	t.Logf("%d packs raced %d resumes", packs, n*rounds)
}

// SetCompression on a suspended coroutine waits while Compress or Packed
// holds it, from another goroutine, rather than taking the end of a hold
// for a racing Resume.
func TestSetCompressionRacesCompress(t *testing.T) {
	var got []int
	c := New(func() { bigFrameYield(&got) })
	c.Resume()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			c.Compress(packModes[i%len(packModes)])
			c.Packed()
		}
	}()
	for i := range 20000 {
		c.SetCompression(packModes[i%len(packModes)])
	}
	close(stop)
	<-done
	for !c.Resume() {
	}
	if fmt.Sprint(got) != "[3 1 3 1 3 1]" {
		t.Fatalf("got %v", got)
	}
}

// sumDepths is what suspendedAt's depths add to a coroutine's sum over
// rounds rounds.
func sumDepths(rounds int) int {
	s := 0
	for r := range rounds {
		s += r % 3
	}
	return s
}

func TestCodecRejectsGarbage(t *testing.T) {
	raw := bytes.Repeat([]byte("stack slicing "), 20)
	tmpl := bytes.Repeat([]byte{7}, len(raw))
	for _, m := range packModes {
		enc := encodeBlock(new(codecScratch), m, raw, tmpl)
		out := make([]byte, len(raw))
		if err := decodeBlock(out, m, enc, tmpl); err != nil || !bytes.Equal(out, raw) {
			t.Fatalf("%v: round trip failed: %v", m, err)
		}
		if err := decodeBlock(make([]byte, len(raw)+1), m, enc, tmpl); err == nil {
			t.Fatalf("%v: decoding into the wrong length succeeded", m)
		}
		if err := decodeBlock(out, m, enc[:len(enc)/2], tmpl); err == nil {
			t.Fatalf("%v: decoding a truncated block succeeded", m)
		}
	}
}

// FuzzCompress round-trips arbitrary payloads and templates through every
// mode, and feeds arbitrary bytes to the decoder, which must fail cleanly.
func FuzzCompress(f *testing.F) {
	f.Add([]byte{}, []byte{}, uint8(0))
	f.Add(bytes.Repeat([]byte{0}, 300), bytes.Repeat([]byte{0}, 300), uint8(2))
	f.Add([]byte("return addresses, frame layout, zeroed slots"), []byte("return addresses, frame layout, zeroed slot!"), uint8(2))
	f.Fuzz(func(t *testing.T, raw, tmpl []byte, mode uint8) {
		m := packModes[int(mode)%len(packModes)]
		if m == CompressTemplate {
			tmpl = append(tmpl, make([]byte, max(0, len(raw)-len(tmpl)))...)[:len(raw)]
		}
		enc := encodeBlock(new(codecScratch), m, raw, tmpl)
		out := make([]byte, len(raw))
		if err := decodeBlock(out, m, enc, tmpl); err != nil || !bytes.Equal(out, raw) {
			t.Fatalf("%v: round trip of %d bytes failed: %v", m, len(raw), err)
		}
		_ = decodeBlock(make([]byte, len(tmpl)), m, raw, tmpl) // garbage in: must not panic
		if m == CompressTemplate {
			swizzleRoundTrip(t, raw, tmpl)
		}
	})
}

// nonzeroBytes agrees with a byte-by-byte loop on every mask of nonzero
// bytes, with varied byte values.
func TestNonzeroBytes(t *testing.T) {
	for m := 0; m < 256; m++ {
		for _, v := range []byte{1, 0x80, 0xff, 0x10} {
			var x uint64
			for i := 0; i < 8; i++ {
				if m&(1<<i) != 0 {
					x |= uint64(v) << (8 * i)
				}
			}
			if got := nonzeroBytes(x); got != byte(m) {
				t.Fatalf("nonzeroBytes(%#x) = %#x, want %#x", x, got, m)
			}
		}
	}
}
