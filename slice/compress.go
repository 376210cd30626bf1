package slice

import (
	"sync/atomic"
	"time"
)

// Compression of suspended coroutines.
//
// A suspended coroutine's block is mostly bytes that every coroutine parked at
// the same place shares: return addresses, frame layout, zeroed slots. A
// packed block holds less; Resume unpacks it transparently. The pointer
// shadow is never packed: the GC must see it. The goroutine-backed fallback
// has no blocks and ignores all this.
//
// This package is the mechanism, not the timing: it packs a coroutine when
// told to, by Compress, or at every yield when the coroutine's mode (its own,
// or the global one) says so. Packing what has been idle for a while is the
// caller's policy, with one owner: package sched's sweeper for tasks, the
// program itself (calling Compress) for coroutines it runs directly.

// Compression selects how suspended blocks are packed.
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

// maxVariants is the most templates kept for one place (see template).
const maxVariants = 4

// globalMode is the mode of every coroutine without one of its own, read at
// every yield of such a coroutine.
var globalMode atomic.Uint32

// SetCompression sets the mode in which every coroutine that has no mode of
// its own (see (*Coroutine).SetCompression) is packed each time it yields,
// before Resume returns, and returns the previous mode. The default is
// CompressNone: coroutines are packed only by Compress. This costs a pack
// and an unpack per round trip; to pack only coroutines that stay idle, call
// Compress on them (package sched does so for tasks parked for a while).
func SetCompression(m Compression) Compression {
	if m > CompressTemplate {
		panic("slice: SetCompression with an unknown Compression mode")
	}
	return Compression(globalMode.Swap(uint32(m)))
}

// CompressionStats are process-wide counters of compression.
type CompressionStats struct {
	Packed         int64         // coroutines currently packed
	PackedBytes    int64         // bytes their packed blocks hold
	UnpackedBytes  int64         // bytes the same blocks hold unpacked
	Templates      int64         // templates in use
	TemplateUsers  int64         // packed coroutines using a template
	TemplateBytes  int64         // bytes the templates hold, with up to 64 unused ones kept for reuse
	Packs, Unpacks int64         // operations so far
	PackTime       time.Duration // total time spent packing (estimated from one pack in 16)
	UnpackTime     time.Duration // total time spent unpacking (likewise)
}

var stats struct {
	packed, packedBytes, unpackedBytes     atomic.Int64
	templateBytes                          atomic.Int64
	packs, unpacks, packNanos, unpackNanos atomic.Int64
}

// ReadCompressionStats returns the current counters.
func ReadCompressionStats() CompressionStats {
	// Template-mode unpacks and bare packs are counted under the template
	// registry's lock; the other changes in stats. Read the registry
	// first: a coroutine packed since then adds to stats, never the
	// other way.
	templates, templateUsers, unpacked, unpackedPacked, unpackedUnpacked, barePacks, bareUnpacked := templateCounts()
	return CompressionStats{
		Packed:        stats.packed.Load() + barePacks - unpacked,
		PackedBytes:   stats.packedBytes.Load() - unpackedPacked,
		UnpackedBytes: stats.unpackedBytes.Load() + bareUnpacked - unpackedUnpacked,
		Templates:     templates,
		TemplateUsers: templateUsers,
		TemplateBytes: stats.templateBytes.Load(),
		Packs:         stats.packs.Load() + barePacks,
		Unpacks:       stats.unpacks.Load() + unpacked,
		PackTime:      time.Duration(stats.packNanos.Load()),
		UnpackTime:    time.Duration(stats.unpackNanos.Load()),
	}
}
