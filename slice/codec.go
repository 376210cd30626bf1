package slice

import (
	"errors"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// The block codec: pure functions from a block's payload (region bytes and
// relocation table) to packed bytes and back. The engine stores their output;
// FuzzCompress round-trips arbitrary payloads and templates through them.

var errCorrupt = errors.New("slice: corrupt packed block")

// encodeBlock appends the packing of raw in mode m to dst. For
// CompressTemplate, tmpl is the template: it must be as long as raw.
func encodeBlock(dst []byte, m Compression, raw, tmpl []byte) []byte {
	switch m {
	case CompressS2:
		return append(dst, s2.Encode(nil, raw)...)
	case CompressZstd:
		return zstdCodec().enc.EncodeAll(raw, dst)
	case CompressTemplate:
		if len(tmpl) != len(raw) {
			panic("slice: internal error: template and block differ in length")
		}
		x := make([]byte, len(raw))
		xorBytes(x, raw, tmpl)
		return append(dst, s2.Encode(nil, x)...)
	}
	panic("slice: internal error: encodeBlock in mode " + m.String())
}

// decodeBlock unpacks packed (made by encodeBlock in mode m) into dst, which
// must be exactly as long as the original payload.
func decodeBlock(dst []byte, m Compression, packed, tmpl []byte) error {
	var out []byte
	var err error
	switch m {
	case CompressS2, CompressTemplate:
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
	if m == CompressTemplate {
		if len(tmpl) != len(dst) {
			return errCorrupt
		}
		xorBytes(dst, dst, tmpl)
	}
	return nil
}

// xorBytes sets dst[i] = a[i] ^ b[i], a word at a time where it can.
func xorBytes(dst, a, b []byte) {
	i := 0
	for ; i+8 <= len(dst); i += 8 {
		x := uint64(a[i]) | uint64(a[i+1])<<8 | uint64(a[i+2])<<16 | uint64(a[i+3])<<24 |
			uint64(a[i+4])<<32 | uint64(a[i+5])<<40 | uint64(a[i+6])<<48 | uint64(a[i+7])<<56
		y := uint64(b[i]) | uint64(b[i+1])<<8 | uint64(b[i+2])<<16 | uint64(b[i+3])<<24 |
			uint64(b[i+4])<<32 | uint64(b[i+5])<<40 | uint64(b[i+6])<<48 | uint64(b[i+7])<<56
		x ^= y
		for k := 0; k < 8; k++ {
			dst[i+k] = byte(x >> (8 * k))
		}
	}
	for ; i < len(dst); i++ {
		dst[i] = a[i] ^ b[i]
	}
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
