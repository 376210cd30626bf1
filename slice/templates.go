//go:build (amd64 || arm64) && !race && !purego

package slice

import (
	"slices"
	"sync"
	"unsafe"

	"github.com/stackslice/stackslice/stackmap"
)

// Templates: the first payloads saved at a given place (same stack-map
// plan, that is same chain of return PCs and region length, and same
// relocation count and flags, hence same payload length), swizzled, shared
// by every block packed against them.
//
// A place has up to maxVariants templates, chained by variant: a block
// equal to none of them becomes a new one while there is room (an unused
// one makes room), and is packed against the first otherwise. Coroutines parked at one place
// often come in a few kinds whose bytes differ in a word or two (say, a
// dead pointer to the carrier that last ran them, one per carrier): each
// kind then packs to nothing.
type template struct {
	data []byte
	// tokens are the indexes of data's words that hold tokens: a bare
	// block's unpack restores just those (see unswizzleAt).
	tokens []uint32
	key    templateKey
	users  int // under templates.mu
	// prev and next link the registry's idle list while users is 0
	// (under templates.mu).
	prev, next *template
	// variant is the place's next template (under templates.mu).
	variant *template
	// spare is a free block of the class a bare unpack of t allocates,
	// or nil (under templates.mu): the last bare pack's block, kept for
	// the next bare unpack. A coroutine packed at every yield then
	// passes one block back and forth through its template rather than
	// through the block pools' sync.Pool at each pack and each unpack.
	spare *blockHeader
	// ucap is the capacity of the block a bare unpack of t allocates.
	ucap int64
}

// regionSize is the region bytes of the blocks packed against t: its
// payload less the relocation table.
func (t *template) regionSize() uint32 {
	return uint32(len(t.data)) - uint32(payloadLen(0, t.key.nreloc))
}

// restores reports whether unswizzle, given shadow and alive, turns t's
// data back into raw exactly, raw being an unswizzled payload saved at t's
// place: raw then packs as t itself. It is the test a template-mode pack
// makes first, reading raw and writing nothing, in place of swizzling raw
// and comparing: the bytes between t's tokens must be equal, and each
// token must name in shadow or alive the word raw holds there.
func (t *template) restores(raw []byte, shadow []unsafe.Pointer, alive stackmap.Alive) bool {
	data := t.data
	if len(data) != len(raw) {
		return false
	}
	if len(t.tokens) > restoresSaved {
		return t.restoresByStretch(raw, shadow, alive)
	}
	// Each token must name the word raw holds. raw then holds the token
	// for a moment, so that one comparison of the whole payloads checks
	// the bytes between the tokens: a compressed round trip runs this,
	// and one memequal costs less than one per stretch. raw is read only
	// by the caller, its owner, and gets its words back below.
	dw := unsafe.Slice((*uintptr)(unsafe.Pointer(unsafe.SliceData(data))), len(data)/8)
	rw := unsafe.Slice((*uintptr)(unsafe.Pointer(unsafe.SliceData(raw))), len(raw)/8)[:len(dw)]
	tokens := t.tokens
	var saved [restoresSaved]uintptr
	equal := true
	k := 0
	for ; k < len(tokens); k++ {
		i := tokens[k]
		w := rw[i]
		if p, ok := untoken(dw[i], shadow, alive); !ok || p != w && !breakRestores {
			equal = false
			break
		}
		saved[k], rw[i] = w, dw[i]
	}
	equal = equal && string(data) == string(raw)
	for k--; k >= 0; k-- {
		rw[tokens[k]] = saved[k]
	}
	return equal
}

// restoresSaved is how many tokens restores swaps into raw for its single
// comparison; a template with more takes restoresByStretch.
const restoresSaved = 8

// restoresByStretch is restores comparing the bytes between tokens
// stretch by stretch, leaving raw untouched.
func (t *template) restoresByStretch(raw []byte, shadow []unsafe.Pointer, alive stackmap.Alive) bool {
	data := t.data
	prev := 0
	for _, i := range t.tokens {
		off := int(i) * 8
		if string(data[prev:off]) != string(raw[prev:off]) {
			return false
		}
		w := *(*uintptr)(unsafe.Pointer(&raw[off : off+8][0]))
		if p, ok := untoken(*(*uintptr)(unsafe.Pointer(&data[off])), shadow, alive); !ok || p != w && !breakRestores {
			return false
		}
		prev = off + 8
	}
	return string(data[prev:]) == string(raw[prev:])
}

type templateKey struct {
	plan   *stackmap.Plan
	n      int    // payload bytes
	nreloc uint32 // as blockHeader.nreloc, without the class bits
}

var templates = templateRegistry{m: map[templateKey]*template{}}

type templateRegistry struct {
	mu sync.Mutex
	m  map[templateKey]*template
	// The idle list holds templates without users, oldest first: they
	// are kept for reuse (a coroutine packed at every yield would
	// otherwise make a template at each pack), at most maxIdleTemplates
	// of them. It is doubly linked, so a template leaves it in constant
	// time when it is used again.
	idleHead, idleTail *template
	nidle              int
	// count is the number of templates (in m and their variants);
	// those in use are the ones not idle. users counts the users of all
	// templates: TemplateUsers. (Counted under mu rather than in stats,
	// saving atomic operations on every pack and unpack.)
	count, users int
	// unpacked counts the template-mode unpacks, and the packed and
	// unpacked bytes they took off: ReadCompressionStats subtracts them
	// from stats' packed, packedBytes and unpackedBytes.
	unpacked, unpackedPacked, unpackedUnpacked int64
	// barePacks counts the template-mode packs that packed as the
	// template itself, and bareUnpacked the unpacked bytes they freed:
	// ReadCompressionStats adds them to stats' packs, packed and
	// unpackedBytes (bare blocks hold no packed bytes).
	barePacks, bareUnpacked int64
	// recent caches m's entries by plan, so that a coroutine packed
	// again at the same place usually finds its templates without
	// hashing the key. An entry follows its place's first template.
	recent [64]*template
	// last is the template of the last template-mode unpack, the first
	// one a pack tries: a coroutine resumed and suspended again at the
	// same place usually packs as it did (see acquire).
	last *template
}

func recentSlot(key templateKey) int { return int(uintptr(unsafe.Pointer(key.plan)) >> 4 & 63) }

const maxIdleTemplates = 64

// acquire returns a template for key and raw (a payload saved at key's
// place, of a coroutine with shadow and alive, whose region is raw's first
// size bytes and whose live pointer words are slots), and whether raw packs
// as the template itself (equal). It first looks for one of the place's
// templates that restores raw exactly (see restores), leaving raw as it
// is; failing that it swizzles raw and returns a new template made of it
// if the place has room, else the place's first, which raw is then
// encoded against. swizzled reports whether raw was swizzled (the caller
// unswizzles it if it drops the template); t is nil if raw is refused
// (see swizzle).
//
// When raw packs as the template, acquire counts the pack in the stats,
// with ucap the unpacked capacity it frees, and, if t has no spare block
// and h (raw's block) is of the class a bare unpack of t allocates, keeps
// h as t's spare and reports kept: the caller must not free h.
func (r *templateRegistry) acquire(key templateKey, raw []byte, size int, slots []uint32, shadow []unsafe.Pointer, alive stackmap.Alive, ucap int64, h *blockHeader) (t *template, equal, swizzled, kept bool) {
	// (Unlocked on each return rather than deferred: nothing in between
	// panics, and a pack at every yield runs this on every round trip.)
	r.mu.Lock()
	slot := &r.recent[recentSlot(key)]
	first := *slot
	if first == nil || first.key != key {
		if first = r.m[key]; first != nil {
			*slot = first
		}
	}
	if l := r.last; l != nil && l.key == key && l.restores(raw, shadow, alive) {
		t, equal = l, true
	}
	n := 0
	var unused *template
	for v := first; t == nil && v != nil; v = v.variant {
		if v != r.last && v.restores(raw, shadow, alive) {
			t, equal = v, true
			break
		}
		if v.users == 0 {
			unused = v
		}
		n++
	}
	if t == nil {
		// No template restores raw, so neither does any equal raw
		// swizzled (unswizzle undoes swizzle): swizzle it for a new
		// template or a diff.
		if !swizzle(raw[:size], slots, shadow, alive) {
			r.mu.Unlock()
			return nil, false, false, false
		}
		swizzled = true
	}
	if t == nil && n == maxVariants && unused != nil {
		// Make room: an unused template is worth less than a new kind.
		r.unlinkIdle(unused)
		r.drop(unused)
		n--
		if unused == first {
			first = r.m[key]
		}
	}
	if t == nil && n < maxVariants {
		last := first
		for last != nil && last.variant != nil {
			last = last.variant
		}
		t, equal = &template{data: slices.Clone(raw), key: key, ucap: int64(blockClassSize(headerSize + uintptr(len(raw))))}, true
		t.tokens = tokenWords(t.data[:size])
		if last == nil {
			r.m[key] = t
			*slot = t
		} else {
			last.variant = t
		}
		r.count++
		stats.templateBytes.Add(int64(len(t.data)))
	} else {
		if t == nil {
			t = first
		}
		if t.users == 0 {
			r.unlinkIdle(t)
		}
	}
	t.users++
	r.users++
	if equal {
		r.barePacks++
		r.bareUnpacked += ucap
		if t.spare == nil && h.class() != classLarge && int64(h.capacity()) == ucap {
			t.spare, kept = h, true
		}
	}
	r.mu.Unlock()
	return t, equal, swizzled, kept
}

// release drops one user of t, and t itself with its last user. If the user
// was a packed block now unpacked, packedBytes and unpackedBytes are its
// figures, counted off here (else zero). With takeSpare it returns t's
// spare block, if any, for the caller's bare unpack (else nil).
func (r *templateRegistry) release(t *template, packedBytes, unpackedBytes int64, takeSpare bool) (spare *blockHeader) {
	r.mu.Lock() // (unlocked on each return, as in acquire)
	if takeSpare {
		spare = t.spare
		if !breakSpare {
			t.spare = nil
		}
	}
	r.users--
	if unpackedBytes != 0 {
		r.last = t
		r.unpacked++
		r.unpackedPacked += packedBytes
		r.unpackedUnpacked += unpackedBytes
	}
	if t.users--; t.users > 0 {
		r.mu.Unlock()
		return spare
	}
	// Append t to the idle list.
	t.prev, t.next = r.idleTail, nil
	if r.idleTail != nil {
		r.idleTail.next = t
	} else {
		r.idleHead = t
	}
	r.idleTail = t
	r.nidle++
	if r.nidle > maxIdleTemplates {
		old := r.idleHead
		r.unlinkIdle(old)
		r.drop(old)
	}
	r.mu.Unlock()
	return spare
}

// drop takes the unused template t out of the registry.
func (r *templateRegistry) drop(t *template) {
	if first := r.m[t.key]; first == t {
		if t.variant != nil {
			r.m[t.key] = t.variant
		} else {
			delete(r.m, t.key)
		}
		if slot := &r.recent[recentSlot(t.key)]; *slot == t {
			*slot = t.variant
		}
	} else {
		for v := first; v != nil; v = v.variant {
			if v.variant == t {
				v.variant = t.variant
				break
			}
		}
	}
	t.variant = nil
	if t.spare != nil {
		freeBlock(t.spare)
		t.spare = nil
	}
	if r.last == t {
		r.last = nil
	}
	r.count--
	stats.templateBytes.Add(-int64(len(t.data)))
}

// templateCounts returns the templates in use and their users, and the
// template-mode unpacks' share of the packed counters, for
// ReadCompressionStats.
func templateCounts() (inUse, users, unpacked, packedBytes, unpackedBytes, barePacks, bareUnpacked int64) {
	r := &templates
	r.mu.Lock()
	defer r.mu.Unlock()
	return int64(r.count - r.nidle), int64(r.users), r.unpacked, r.unpackedPacked, r.unpackedUnpacked, r.barePacks, r.bareUnpacked
}

// unlinkIdle takes t off the idle list.
func (r *templateRegistry) unlinkIdle(t *template) {
	if t.prev != nil {
		t.prev.next = t.next
	} else {
		r.idleHead = t.next
	}
	if t.next != nil {
		t.next.prev = t.prev
	} else {
		r.idleTail = t.prev
	}
	t.prev, t.next = nil, nil
	r.nidle--
}
