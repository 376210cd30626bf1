//go:build amd64 || arm64

package slice

import (
	"bytes"
	"runtime"
	"slices"
	"testing"
	"unsafe"

	"github.com/stackslice/stackslice/stackmap"
)

// swizzleRoundTrip makes a region of raw's whole words, with real pointers
// written into some of them, swizzles it, packs it against tmpl, and checks
// that unpacking and unswizzling give the region back (or that swizzle
// refused it and left it as it was). raw's bytes choose which words are
// live pointer slots, which pointers go where, and which words look like
// tokens; the other words keep raw's bytes.
func swizzleRoundTrip(t *testing.T, raw, tmpl []byte) {
	n := len(raw) / 8 * 8
	region := slices.Clone(raw[:n])
	objs := make([]*pointerPair, 6)
	for i := range objs {
		objs[i] = &pointerPair{a: i}
	}
	// Objects 0-3 are in the shadow (3 twice), 4 and 5 are alive.
	shadow := []unsafe.Pointer{unsafe.Pointer(objs[0]), unsafe.Pointer(objs[1]), unsafe.Pointer(objs[2]), unsafe.Pointer(objs[3]), unsafe.Pointer(objs[3])}
	alive := stackmap.Alive{uintptr(unsafe.Pointer(objs[4])), uintptr(unsafe.Pointer(objs[5]))}
	if n > 0 && raw[1]&1 != 0 { // a shadow too large to match every word against
		for len(shadow) <= swizzleSearchMax {
			shadow = append(shadow, shadow[len(shadow)%4])
		}
	}
	var slots []uint32
	for off := 0; off < n; off += 8 {
		b := raw[off]
		w := (*uintptr)(unsafe.Pointer(&region[off]))
		switch {
		case b == 0xff: // a word that looks like a token
			*w = tokenMagic | uintptr(b&7)
		case b&1 != 0: // a live pointer word
			slots = append(slots, uint32(off))
			fallthrough
		case b&2 != 0: // (or a dead copy of one), maybe into the object
			*w = uintptr(unsafe.Pointer(objs[int(b>>2)%len(objs)])) + uintptr(raw[off+1]&^7)
		}
	}
	orig := slices.Clone(region)
	if !swizzle(region, slots, shadow, alive) {
		if !bytes.Equal(region, orig) {
			t.Fatal("swizzle refused a region but changed it")
		}
		return
	}
	tm := append(slices.Clone(tmpl), make([]byte, n)...)[:n]
	packed := encodeSparse(nil, region, tm)
	out := make([]byte, n)
	if err := decodeSparse(out, packed, tm); err != nil {
		t.Fatal(err)
	}
	unswizzle(out, shadow, alive)
	if !bytes.Equal(out, orig) {
		t.Fatalf("swizzled round trip of %d bytes changed them:\n got %x\nwant %x", n, out, orig)
	}
	runtime.KeepAlive(objs)
}
