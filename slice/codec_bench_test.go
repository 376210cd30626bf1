package slice

import "testing"

// benchSparsePayload is a 216-byte payload (a depth-3 Switch block) that
// differs from its template in a few pointer-sized words.
func benchSparsePayload() (raw, tmpl []byte) {
	tmpl = make([]byte, 216)
	for i := range tmpl {
		tmpl[i] = byte(i * 7)
	}
	raw = append([]byte(nil), tmpl...)
	for _, w := range []int{2, 9, 10, 20} {
		raw[w*8] ^= 0x40
		raw[w*8+1] ^= 0x13
	}
	return raw, tmpl
}

func BenchmarkSparseEncode(b *testing.B) {
	raw, tmpl := benchSparsePayload()
	dst := make([]byte, sparseMaxLen(len(raw)))
	for i := 0; i < b.N; i++ {
		dst = encodeSparse(dst[:0], raw, tmpl)
	}
}

func BenchmarkSparseDecode(b *testing.B) {
	raw, tmpl := benchSparsePayload()
	enc := encodeSparse(nil, raw, tmpl)
	out := make([]byte, len(raw))
	for i := 0; i < b.N; i++ {
		if err := decodeSparse(out, enc, tmpl); err != nil {
			b.Fatal(err)
		}
	}
}
