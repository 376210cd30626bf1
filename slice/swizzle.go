package slice

import (
	"unsafe"

	"github.com/stackslice/stackslice/stackmap"
)

// Pointer tokens. Coroutines parked at the same place hold the same words
// but for their pointers, which point at each one's own objects. Before a
// block is packed against a template, swizzle replaces every live pointer
// word that holds one of the coroutine's shadow entries (or one of the two
// pointers the coroutine keeps alive itself) with a token naming that entry:
// the same token in every coroutine whose scan met its pointers in the same
// order, so the template diff leaves those words out. unswizzle puts the
// pointers back from the shadow, which is never packed.
//
// A token lies in the kernel half of the address space, where no user-space
// pointer can be: tokenTag | i for shadow entry i, tokenTag | tokenAlive | j
// for alive[j]. A block whose live pointer words already hold such a value
// is not swizzled, so no word is ever mistaken for a token.
const (
	tokenTag   = uintptr(0xffff) << 48
	tokenAlive = uintptr(1) << 32
)

func isToken(v uintptr) bool { return v&tokenTag == tokenTag }

// swizzleSearchMax is the largest shadow searched whole for a pointer that
// is neither the next entry nor a recent one (a repeat the scan's window
// missed, or no heap pointer at all): past it, such words are left as they
// are, which costs diff bytes but is never wrong.
const swizzleSearchMax = 16

// swizzle replaces the shadow's pointers in region's live pointer words
// (slots) with tokens. It reports false, with region unchanged, if a live
// pointer word already holds a token's value.
func swizzle(region []byte, slots []uint32, shadow []unsafe.Pointer, alive stackmap.Alive) bool {
	next := 0 // the scan appended new heap pointers in slot order
	for i, off := range slots {
		w := slotWord(region, off)
		v := *w
		switch {
		case v == 0:
		case isToken(v):
			unswizzle(region, slots[:i], shadow, alive)
			return false
		case next < len(shadow) && uintptr(shadow[next]) == v:
			*w = tokenTag | uintptr(next)
			next++
		case v == alive[0]:
			*w = tokenTag | tokenAlive
		case v == alive[1]:
			*w = tokenTag | tokenAlive | 1
		default:
			if k := shadowIndex(shadow, next, v); k >= 0 {
				*w = tokenTag | uintptr(k)
			}
		}
	}
	return true
}

// shadowIndex finds v among the shadow's entries: first the few before next
// (the scan drops repeats within a window of recent pointers), then, in a
// small shadow, all of them. It returns -1 if v is not there.
func shadowIndex(shadow []unsafe.Pointer, next int, v uintptr) int {
	for k := next - 1; k >= 0 && k >= next-4; k-- {
		if uintptr(shadow[k]) == v {
			return k
		}
	}
	if len(shadow) > swizzleSearchMax {
		return -1
	}
	for k, p := range shadow {
		if uintptr(p) == v {
			return k
		}
	}
	return -1
}

// slotWord returns the word at offset off of region (bounds checked: a slot
// past the region would be a plan that does not fit the block).
func slotWord(region []byte, off uint32) *uintptr {
	_ = region[off+7]
	return (*uintptr)(unsafe.Pointer(&region[off]))
}

// unswizzleMixForTest, when set, makes unswizzle put back the wrong shadow
// entry (the next one): the negative control of the template tests.
var unswizzleMixForTest bool

// unswizzle puts the pointers named by tokens in region's live pointer words
// back. A token naming no entry means the block was corrupted: it panics.
func unswizzle(region []byte, slots []uint32, shadow []unsafe.Pointer, alive stackmap.Alive) {
	for _, off := range slots {
		w := slotWord(region, off)
		v := *w
		if !isToken(v) {
			continue
		}
		i := v &^ tokenTag
		switch {
		case i&tokenAlive != 0 && i&^tokenAlive < 2:
			*w = alive[i&1]
		case i < uintptr(len(shadow)):
			if unswizzleMixForTest {
				i = (i + 1) % uintptr(len(shadow))
			}
			*w = uintptr(shadow[i])
		default:
			panic("slice: internal error: a packed block names a pointer its coroutine does not hold")
		}
	}
}
