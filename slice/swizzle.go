//go:build amd64 || arm64

package slice

import (
	"unsafe"

	"github.com/stackslice/stackslice/stackmap"
)

// Pointer tokens. Coroutines parked at the same place hold the same words
// but for their pointers, which point at each one's own objects. Before a
// block is packed against a template, swizzle replaces every word of the
// region that points at (or up to tokenDeltaMax bytes into) one of the
// coroutine's shadow entries, or one of the two pointers the coroutine
// keeps alive itself, with a token naming that entry and the offset: the
// same token in every coroutine whose scan met its pointers in the same
// order, so the template diff leaves those words out. unswizzle puts the
// pointers back from the shadow, which is never packed.
//
// Not only live pointer words are swizzled: frames also hold dead copies of
// their pointers (spilled arguments, registers saved around a call), which
// no stack map names but which differ between coroutines just the same. A
// word that is not a pointer at all but happens to equal one is swizzled
// too, and comes back as it was. unswizzle therefore restores every word
// that looks like a token, so swizzle refuses a region in which some word
// already does: the magic value makes that rare (no pointer, and few
// scalars, look like it), and a refused region is packed without swizzling
// or not at all, never wrongly.
//
// A token is tokenMagic | a<<31 | k<<8 | d: d bytes past shadow entry k, or
// past alive[k] if a is 1. Tokens are 64-bit words, so this file is built
// only for the engine's architectures, which are 64-bit (templates.go is
// its only user).
const (
	tokenMagic    = uintptr(0xa5a55a5a) << 32 // the high half of every token
	tokenAlive    = uintptr(1) << 31
	tokenDeltaMax = 255       // the most bytes past its entry a token can name
	tokenIndexMax = 1<<23 - 1 // the largest entry index a token can name
)

func isToken(v uintptr) bool { return v&^(1<<32-1) == tokenMagic }

func token(k, delta uintptr) uintptr { return tokenMagic | k<<8 | delta }

// swizzleSearchMax is the largest shadow matched against every word of a
// region (a compare per entry per word). Past it, only the live pointer
// words are swizzled, matched by the order in which the scan met them.
const swizzleSearchMax = 32

// swizzle replaces the shadow's pointers in region with tokens; slots are
// the region's live pointer words. It reports false, with region unchanged,
// if a word already holds a token's value.
func swizzle(region []byte, slots []uint32, shadow []unsafe.Pointer, alive stackmap.Alive) bool {
	words := unsafe.Slice((*uintptr)(unsafe.Pointer(unsafe.SliceData(region))), len(region)/8)
	if len(shadow) > swizzleSearchMax {
		for _, v := range words {
			if isToken(v) {
				return false
			}
		}
		swizzleSlots(region, slots, shadow, alive)
		return true
	}
	lo, hi := pointerRange(shadow, alive)
	span := hi + tokenDeltaMax - lo
	for i, v := range words {
		if v-lo > span || v == 0 { // v < lo or v > hi+tokenDeltaMax: most words
			if v>>32 == tokenMagic>>32 { // isToken(v)
				// Put back what was swizzled (the words before i
				// hold no token of their own).
				unswizzle(region[:i*8], shadow, alive)
				return false
			}
			continue
		}
		if k, d := nearEntry(shadow, v); k >= 0 {
			words[i] = token(uintptr(k), d)
		} else if d := v - alive[0]; d <= tokenDeltaMax {
			words[i] = token(0, d) | tokenAlive
		} else if d := v - alive[1]; d <= tokenDeltaMax {
			words[i] = token(1, d) | tokenAlive
		}
	}
	return true
}

// pointerRange returns the least and greatest non-nil pointer among shadow
// and alive (lo > hi if there is none).
func pointerRange(shadow []unsafe.Pointer, alive stackmap.Alive) (lo, hi uintptr) {
	lo, hi = ^uintptr(0), 1
	for _, v := range alive {
		if v != 0 {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	for _, p := range shadow {
		if v := uintptr(p); v != 0 {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	return lo, hi
}

// nearEntry returns the first shadow entry that v points at or up to
// tokenDeltaMax bytes into, and v's offset from it; k is -1 if none.
func nearEntry(shadow []unsafe.Pointer, v uintptr) (k int, delta uintptr) {
	for k, p := range shadow[:min(len(shadow), tokenIndexMax+1)] {
		if d := v - uintptr(p); d <= tokenDeltaMax {
			return k, d
		}
	}
	return -1, 0
}

// swizzleSlots swizzles the live pointer words of a region with a large
// shadow: the scan appended new heap pointers to the shadow in slot order,
// and dropped repeats of the last few, so each is the next entry, one of
// the few before it, or alive (anything else is left as it is).
func swizzleSlots(region []byte, slots []uint32, shadow []unsafe.Pointer, alive stackmap.Alive) {
	next := 0
	for _, off := range slots {
		w := slotWord(region, off)
		switch v := *w; {
		case v == 0:
		case next < len(shadow) && next <= tokenIndexMax && uintptr(shadow[next]) == v:
			*w = token(uintptr(next), 0)
			next++
		case v == alive[0]:
			*w = token(0, 0) | tokenAlive
		case v == alive[1]:
			*w = token(1, 0) | tokenAlive
		default:
			for k := next - 1; k >= 0 && k >= next-4; k-- {
				if uintptr(shadow[k]) == v {
					*w = token(uintptr(k), 0)
					break
				}
			}
		}
	}
}

// slotWord returns the word at offset off of region (bounds checked: a slot
// past the region would be a plan that does not fit the block).
func slotWord(region []byte, off uint32) *uintptr {
	_ = region[off+7]
	return (*uintptr)(unsafe.Pointer(&region[off]))
}

// untoken returns the pointer the token v names for a coroutine with
// shadow and alive, and false if it names none.
func untoken(v uintptr, shadow []unsafe.Pointer, alive stackmap.Alive) (uintptr, bool) {
	k, d := v>>8&tokenIndexMax, v&tokenDeltaMax
	switch {
	case v&tokenAlive != 0 && k < 2:
		return alive[k] + d, true
	case v&tokenAlive == 0 && k < uintptr(len(shadow)):
		if mixUnswizzle {
			k = (k + 1) % uintptr(len(shadow))
		}
		return uintptr(shadow[k]) + d, true
	}
	return 0, false
}

// tokenWords returns the indexes of the words of region that hold tokens.
func tokenWords(region []byte) []uint32 {
	var idx []uint32
	words := unsafe.Slice((*uintptr)(unsafe.Pointer(unsafe.SliceData(region))), len(region)/8)
	for i, v := range words {
		if isToken(v) {
			idx = append(idx, uint32(i))
		}
	}
	return idx
}

// unswizzleAt is unswizzle for a region whose tokens are exactly the words
// idx names (a copy of a template: see template.tokens).
func unswizzleAt(region []byte, idx []uint32, shadow []unsafe.Pointer, alive stackmap.Alive) {
	words := unsafe.Slice((*uintptr)(unsafe.Pointer(unsafe.SliceData(region))), len(region)/8)
	for _, i := range idx {
		p, ok := untoken(words[i], shadow, alive)
		if !ok {
			panic("slice: internal error: a packed block names a pointer its coroutine does not hold")
		}
		words[i] = p
	}
}

// unswizzle puts back the pointers named by the tokens in region. A token
// naming no entry means the block was corrupted: it panics.
func unswizzle(region []byte, shadow []unsafe.Pointer, alive stackmap.Alive) {
	words := unsafe.Slice((*uintptr)(unsafe.Pointer(unsafe.SliceData(region))), len(region)/8)
	for i, v := range words {
		if v>>32 != tokenMagic>>32 { // !isToken(v), which compiles worse here
			continue
		}
		k, d := v>>8&tokenIndexMax, v&tokenDeltaMax
		switch {
		case v&tokenAlive != 0 && k < 2:
			words[i] = alive[k] + d
		case v&tokenAlive == 0 && k < uintptr(len(shadow)):
			if mixUnswizzle {
				k = (k + 1) % uintptr(len(shadow))
			}
			words[i] = uintptr(shadow[k]) + d
		default:
			panic("slice: internal error: a packed block names a pointer its coroutine does not hold")
		}
	}
}
