package slice

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// The block codec: pure functions from a block's payload (region bytes and
// relocation table) to packed bytes and back. The engine stores their output;
// FuzzCompress round-trips arbitrary payloads and templates through them.

var errCorrupt = errors.New("slice: corrupt packed block")

// encodeBlock returns the packing of raw in mode m, in storage borrowed from
// sc (valid until sc is used again). For CompressTemplate, tmpl is the
// template: it must be as long as raw.
func encodeBlock(sc *codecScratch, m Compression, raw, tmpl []byte) []byte {
	switch m {
	case CompressS2:
		return s2.Encode(sc.out(s2.MaxEncodedLen(len(raw))), raw)
	case CompressZstd:
		return zstdCodec().enc.EncodeAll(raw, sc.out(len(raw) + 64)[:0])
	case CompressTemplate:
		if len(tmpl) != len(raw) {
			panic("slice: internal error: template and block differ in length")
		}
		return encodeSparse(sc.out(sparseMaxLen(len(raw)))[:0], raw, tmpl)
	}
	panic("slice: internal error: encodeBlock in mode " + m.String())
}

// codecScratch holds encodeBlock's working storage, reused through a pool.
type codecScratch struct{ o []byte }

var codecScratches = sync.Pool{New: func() any { return new(codecScratch) }}

func (sc *codecScratch) out(n int) []byte {
	if cap(sc.o) < n {
		sc.o = make([]byte, n)
	}
	return sc.o[:n]
}

// decodeBlock unpacks packed (made by encodeBlock in mode m) into dst, which
// must be exactly as long as the original payload.
func decodeBlock(dst []byte, m Compression, packed, tmpl []byte) error {
	var out []byte
	var err error
	switch m {
	case CompressTemplate:
		if len(tmpl) != len(dst) {
			return errCorrupt
		}
		return decodeSparse(dst, packed, tmpl)
	case CompressS2:
		n, derr := s2.DecodedLen(packed)
		if derr != nil || n != len(dst) {
			return errCorrupt
		}
		out, err = s2.Decode(dst, packed)
	case CompressZstd:
		out, err = zstdCodec().dec.DecodeAll(packed, dst[:0])
	default:
		return errCorrupt
	}
	if err != nil || len(out) != len(dst) {
		return errCorrupt
	}
	if len(out) > 0 && &out[0] != &dst[0] {
		copy(dst, out)
	}
	return nil
}

// The template encoding: a block's difference from its template, which is
// zero but for a few words (the pointers and values that differ between
// coroutines parked at the same place). For each word (8 bytes; the last
// may be shorter) whose XOR with the template is not zero, in order:
//
//	uvarint  words skipped since the previous entry (or the start)
//	byte     mask of the word's non-zero XOR bytes (bit i: byte i)
//	bytes    those XOR bytes, in order
//
// One pass, no scratch buffer; measured smaller than XOR then S2 on blocks
// of parked coroutines (the varint gaps are a byte each, and pointers that
// differ only in their low bytes cost only those).

// sparseMaxLen bounds encodeSparse's output for n bytes.
func sparseMaxLen(n int) int { return n + 2*((n+7)/8) + binary.MaxVarintLen64 }

func encodeSparse(dst, raw, tmpl []byte) []byte {
	tmpl = tmpl[:len(raw)]
	gap := uint64(0)
	r, t := raw, tmpl
	// Four words at a time: blocks differ from their template in few
	// words, so most groups are skipped whole.
	for len(r) >= 32 && len(t) >= 32 {
		x0 := binary.LittleEndian.Uint64(r[0:8]) ^ binary.LittleEndian.Uint64(t[0:8])
		x1 := binary.LittleEndian.Uint64(r[8:16]) ^ binary.LittleEndian.Uint64(t[8:16])
		x2 := binary.LittleEndian.Uint64(r[16:24]) ^ binary.LittleEndian.Uint64(t[16:24])
		x3 := binary.LittleEndian.Uint64(r[24:32]) ^ binary.LittleEndian.Uint64(t[24:32])
		r, t = r[32:], t[32:]
		if x0|x1|x2|x3 == 0 {
			gap += 4
			continue
		}
		for _, x := range [4]uint64{x0, x1, x2, x3} {
			if x == 0 {
				gap++
				continue
			}
			dst = appendSparseWord(dst, gap, x)
			gap = 0
		}
	}
	for len(r) >= 8 && len(t) >= 8 {
		x := binary.LittleEndian.Uint64(r) ^ binary.LittleEndian.Uint64(t)
		r, t = r[8:], t[8:]
		if x == 0 {
			gap++
			continue
		}
		dst = appendSparseWord(dst, gap, x)
		gap = 0
	}
	if len(r) > 0 { // a short last word
		var x uint64
		for i := range r {
			x |= uint64(r[i]^t[i]) << (8 * i)
		}
		if x != 0 {
			dst = appendSparseWord(dst, gap, x)
		}
	}
	return dst
}

// appendSparseWord appends the entry for a word whose XOR is x (a short last
// word has no bytes past its end in x: they came from nothing): the gap, a
// mask of x's nonzero bytes, then those bytes. dst has room (sparseMaxLen),
// so the appends do not allocate.
func appendSparseWord(dst []byte, gap, x uint64) []byte {
	if gap < 0x80 {
		dst = append(dst, byte(gap))
	} else {
		dst = binary.AppendUvarint(dst, gap)
	}
	mask := nonzeroBytes(x)
	dst = append(dst, mask)
	if mask == 0xff {
		return binary.LittleEndian.AppendUint64(dst, x)
	}
	for ; x != 0; x >>= 8 {
		if b := byte(x); b != 0 {
			dst = append(dst, b)
		}
	}
	return dst
}

// nonzeroBytes returns a mask with bit i set where byte i of x is not zero.
func nonzeroBytes(x uint64) byte {
	const lows = 0x0101010101010101
	x |= x >> 4
	x |= x >> 2
	x |= x >> 1
	x &= lows // bit 0 of each byte: the byte was not zero
	return byte(x * 0x0102040810204080 >> 56)
}

func decodeSparse(dst, packed, tmpl []byte) error {
	copy(dst, tmpl)
	off := 0 // byte offset of the next word
	for len(packed) > 0 {
		gap, n := binary.Uvarint(packed)
		if n <= 0 || gap > uint64(len(dst)/8+1) {
			return errCorrupt
		}
		off += int(gap) * 8
		if n >= len(packed) || off >= len(dst) {
			return errCorrupt
		}
		mask := packed[n]
		packed = packed[n+1:]
		end := min(off+8, len(dst))
		if mask == 0 || mask>>(end-off) != 0 {
			return errCorrupt
		}
		if mask == 0xff { // a whole word: the common case for a changed pointer
			if len(packed) < 8 {
				return errCorrupt
			}
			x := binary.LittleEndian.Uint64(dst[off:]) ^ binary.LittleEndian.Uint64(packed)
			binary.LittleEndian.PutUint64(dst[off:], x)
			packed = packed[8:]
			off += 8
			continue
		}
		if len(packed) < bits.OnesCount8(mask) {
			return errCorrupt
		}
		for m := mask; m != 0; m &= m - 1 {
			dst[off+bits.TrailingZeros8(m)] ^= packed[0]
			packed = packed[1:]
		}
		off += 8
	}
	return nil
}

// zstdCodec returns the shared zstd encoder and decoder (both safe for
// concurrent EncodeAll/DecodeAll), created on first use.
var zstdCodec = sync.OnceValue(func() *struct {
	enc *zstd.Encoder
	dec *zstd.Decoder
} {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderCRC(false), zstd.WithZeroFrames(true))
	if err != nil {
		panic("slice: zstd encoder: " + err.Error())
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0))
	if err != nil {
		panic("slice: zstd decoder: " + err.Error())
	}
	return &struct {
		enc *zstd.Encoder
		dec *zstd.Decoder
	}{enc, dec}
})
