package slice

import (
	"sync"
	"sync/atomic"
	"time"
)

// Compression of idle coroutines.
//
// A suspended coroutine's block is mostly bytes that every coroutine parked at
// the same place shares: return addresses, frame layout, zeroed slots. With
// compression on, a block that stays suspended long enough is packed; Resume
// unpacks it transparently. The pointer shadow is never packed: the GC must
// see it. The goroutine-backed fallback has no blocks and ignores all this.

// Compression selects how idle blocks are packed.
type Compression uint8

const (
	// CompressNone keeps blocks as they are (the default).
	CompressNone Compression = iota
	// CompressS2 packs each block on its own with S2 (fast, modest ratio).
	CompressS2
	// CompressZstd packs each block on its own with zstd (slower, better
	// ratio than S2 on its own).
	CompressZstd
	// CompressTemplate packs a block as its difference from a template
	// shared by all blocks saved at the same chain of return addresses,
	// with its pointers named by their place in the shadow: coroutines
	// parked at the same place cost only the scalars that differ between
	// them (nothing, if none does). Templates are reference-counted.
	CompressTemplate
)

func (m Compression) String() string {
	switch m {
	case CompressNone:
		return "none"
	case CompressS2:
		return "s2"
	case CompressZstd:
		return "zstd"
	case CompressTemplate:
		return "template"
	}
	return "Compression(?)"
}

// Policy says when suspended coroutines are compressed.
type Policy struct {
	Mode Compression
	// After is how long a coroutine must stay suspended before it is
	// packed. Zero packs at every yield, before Resume returns. Negative
	// means DefaultAfter.
	After time.Duration
	// Budget, if positive, packs suspended coroutines without waiting for
	// After while the bytes held by unpacked suspended coroutines exceed it.
	Budget int64
}

// maxVariants is the most templates kept for one place (see template).
const maxVariants = 4

// DefaultAfter is the idle time after which a block is packed when a
// Policy's After is negative.
const DefaultAfter = time.Second

// policyState is the global policy, read on every suspend of a coroutine that
// has no policy of its own.
var policyState struct {
	mu sync.Mutex
	p  atomic.Pointer[Policy]
}

// SetCompression sets the policy for every coroutine that has none of its
// own (see (*Coroutine).SetCompression). It returns the previous policy.
// Compression is off by default.
func SetCompression(p Policy) Policy {
	if p.Mode > CompressTemplate {
		panic("slice: SetCompression with an unknown Compression mode")
	}
	if p.After < 0 {
		p.After = DefaultAfter
	}
	policyState.mu.Lock()
	defer policyState.mu.Unlock()
	old := policyState.p.Swap(&p)
	if old == nil {
		return Policy{}
	}
	return *old
}

func globalPolicy() *Policy { return policyState.p.Load() }

// Per-coroutine policies are interned: a coroutine keeps its policy's index
// in spare bits of its flags (flagPolicyMask) rather than a pointer in its
// extra part, which would cost it 48 bytes; so a scheduler can give each of
// its tasks a policy for nothing. Past maxPolicies distinct policies, the
// extra part holds them.
const maxPolicies = flagPolicyMask >> flagPolicyShift

var interned struct {
	mu sync.Mutex
	n  atomic.Uint32
	p  [maxPolicies + 1]atomic.Pointer[Policy] // 1..n; 0 is none
}

// internPolicy returns p's index among the interned policies, interning it
// if need be; 0 if the table is full.
func internPolicy(p Policy) uint32 {
	if i := findPolicy(p, interned.n.Load()); i != 0 {
		return i
	}
	interned.mu.Lock()
	defer interned.mu.Unlock()
	n := interned.n.Load()
	if i := findPolicy(p, n); i != 0 || n == maxPolicies {
		return i
	}
	n++
	np := p // p itself does not escape: callers on a fast path pass it
	interned.p[n].Store(&np)
	interned.n.Store(n)
	return n
}

func findPolicy(p Policy, n uint32) uint32 {
	for i := uint32(1); i <= n; i++ {
		if *interned.p[i].Load() == p {
			return i
		}
	}
	return 0
}

// CompressionStats are process-wide counters of compression.
type CompressionStats struct {
	Packed           int64         // coroutines currently packed
	PackedBytes      int64         // bytes their packed blocks hold
	UnpackedBytes    int64         // bytes the same blocks hold unpacked
	Templates        int64         // templates in use
	TemplateUsers    int64         // packed coroutines using a template
	TemplateBytes    int64         // bytes the templates hold, with up to 64 unused ones kept for reuse
	Packs, Unpacks   int64         // operations so far
	PackTime         time.Duration // total time spent packing (estimated from one pack in 16)
	UnpackTime       time.Duration // total time spent unpacking (likewise)
	SuspendedBytes   int64         // bytes held by unpacked suspended coroutines whose policy has a Budget
	CompactorPending int64         // suspended coroutines waiting for the compactor
}

var stats struct {
	packed, packedBytes, unpackedBytes     atomic.Int64
	templateBytes                          atomic.Int64
	packs, unpacks, packNanos, unpackNanos atomic.Int64
	suspendedBytes, compactorPending       atomic.Int64
}

// ReadCompressionStats returns the current counters.
func ReadCompressionStats() CompressionStats {
	// Template-mode unpacks are counted under the template registry's
	// lock; the other changes in stats. Read the registry first: a
	// coroutine packed since then adds to stats, never the other way.
	templates, templateUsers, unpacked, unpackedPacked, unpackedUnpacked := templateCounts()
	return CompressionStats{
		Packed:           stats.packed.Load() - unpacked,
		PackedBytes:      stats.packedBytes.Load() - unpackedPacked,
		UnpackedBytes:    stats.unpackedBytes.Load() - unpackedUnpacked,
		Templates:        templates,
		TemplateUsers:    templateUsers,
		TemplateBytes:    stats.templateBytes.Load(),
		Packs:            stats.packs.Load(),
		Unpacks:          stats.unpacks.Load(),
		PackTime:         time.Duration(stats.packNanos.Load()),
		UnpackTime:       time.Duration(stats.unpackNanos.Load()),
		SuspendedBytes:   stats.suspendedBytes.Load(),
		CompactorPending: stats.compactorPending.Load(),
	}
}
