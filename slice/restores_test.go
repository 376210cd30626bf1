//go:build (amd64 || arm64) && !race && !purego

package slice

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

	"github.com/stackslice/stackslice/stackmap"
)

// TestTemplateRestores checks the test a template-mode pack makes before
// swizzling (template.restores) against its definition: a payload packs as
// a template when unswizzling the template's data gives the payload back.
func TestTemplateRestores(t *testing.T) {
	if err := checkRestores(rand.New(rand.NewPCG(1, 2)), 300); err != nil {
		t.Fatal(err)
	}
}

// checkRestores builds n random regions with pointers in them, makes a
// template of each (swizzled, its tokens listed, a relocation table after
// it), and compares restores with unswizzle for the region itself and for
// variants of it: a word changed, pointers swapped, a word that looks like
// a token, a relocation entry changed.
func checkRestores(rng *rand.Rand, n int) error {
	objs := make([]*pointerPair, 6)
	for i := range objs {
		objs[i] = &pointerPair{a: i}
	}
	shadow := []unsafe.Pointer{unsafe.Pointer(objs[0]), unsafe.Pointer(objs[1]), unsafe.Pointer(objs[2]), unsafe.Pointer(objs[3])}
	alive := stackmap.Alive{uintptr(unsafe.Pointer(objs[4])), uintptr(unsafe.Pointer(objs[5]))}
	for range n {
		words := 1 + rng.IntN(100) // up to 25 or so tokens: both of restores' ways (see restoresSaved)
		size := words * 8
		raw := make([]byte, size+2*rng.IntN(4)) // region, relocation table
		for i := range raw {
			raw[i] = byte(rng.Uint32())
		}
		w := unsafe.Slice((*uintptr)(unsafe.Pointer(&raw[0])), words)
		for i := range w {
			switch rng.IntN(4) {
			case 0:
				w[i] = 0
			case 1:
				w[i] = uintptr(unsafe.Pointer(objs[rng.IntN(len(objs))])) + uintptr(rng.IntN(3)*8)
			}
		}
		data := slices.Clone(raw)
		if !swizzle(data[:size], nil, shadow, alive) {
			continue
		}
		tm := &template{data: data, tokens: tokenWords(data[:size])}
		want := slices.Clone(data)
		unswizzle(want[:size], shadow, alive)
		check := func(what string, x []byte) error {
			before := slices.Clone(x)
			if got := tm.restores(x, shadow, alive); got != bytes.Equal(want, x) {
				return fmt.Errorf("%s: restores = %v, but unswizzling the template gives %x, not %x", what, got, want, x)
			}
			if !bytes.Equal(x, before) {
				return fmt.Errorf("%s: restores changed the payload it checked: %x, was %x", what, x, before)
			}
			return nil
		}
		if err := check("the region itself", raw); err != nil {
			return err
		}
		for i := range w {
			x := slices.Clone(raw)
			xw := unsafe.Slice((*uintptr)(unsafe.Pointer(&x[0])), words)
			variants := []struct {
				what string
				v    uintptr
			}{
				{"a word changed", xw[i] ^ 1<<rng.IntN(64)},
				{"another pointer", uintptr(shadow[rng.IntN(len(shadow))])},
				{"an alive pointer", alive[rng.IntN(2)]},
				{"a word that looks like a token", data2word(data, i)},
			}
			for _, v := range variants {
				xw[i] = v.v
				if err := check(fmt.Sprintf("%s at word %d", v.what, i), x); err != nil {
					return err
				}
				xw[i] = w[i]
			}
		}
		if len(raw) > size {
			x := slices.Clone(raw)
			x[size] ^= 1
			if err := check("a relocation entry changed", x); err != nil {
				return err
			}
		}
	}
	return nil
}

// data2word is word i of a template's data: a token, where there is one.
func data2word(data []byte, i int) uintptr { return *(*uintptr)(unsafe.Pointer(&data[i*8])) }
