package slice

import (
	"crypto/subtle"
	"errors"
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
		x := sc.xorBuf(len(raw))
		xorBytes(x, raw, tmpl)
		return s2.Encode(sc.out(s2.MaxEncodedLen(len(raw))), x)
	}
	panic("slice: internal error: encodeBlock in mode " + m.String())
}

// codecScratch holds encodeBlock's working storage, reused through a pool.
type codecScratch struct{ x, o []byte }

var codecScratches = sync.Pool{New: func() any { return new(codecScratch) }}

func (sc *codecScratch) out(n int) []byte {
	if cap(sc.o) < n {
		sc.o = make([]byte, n)
	}
	return sc.o[:n]
}

func (sc *codecScratch) xorBuf(n int) []byte {
	if cap(sc.x) < n {
		sc.x = make([]byte, n)
	}
	return sc.x[:n]
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

// xorBytes sets dst[i] = a[i] ^ b[i] (crypto/subtle's is vectorised).
func xorBytes(dst, a, b []byte) { subtle.XORBytes(dst, a, b) }

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
