package stackmap

// Decoding of the runtime's pc-value tables (runtime.pcvalue / runtime.step).
//
// A pc-value table describes a value that changes at certain pcs of one
// function (frame size, stack-map index, file, line, ...). It lives in
// moduledata.pctab at the offset stored in the _func record and is a
// sequence of pairs of unsigned varints:
//
//	value delta (zig-zag encoded), pc delta (in units of pcQuantum)
//
// starting from value -1 at the function's entry pc. A pair with a value
// delta of 0 ends the table, except for the very first pair. The value for
// targetpc is the value of the first pair whose range end exceeds targetpc.

// pcValue returns the value of the pc-value table starting at byte offset off
// of the module's pctab at targetpc, or -1 when there is no table
// (off == 0) or the table does not cover targetpc. It never panics or throws
// on a malformed table: it returns -1 instead. It does not allocate.
func (f Func) pcValue(off uint32, targetpc uintptr) int32 {
	if off == 0 {
		return -1
	}
	tab := f.pctab()
	if uint64(off) >= uint64(len(tab)) {
		return -1
	}
	p := tab[off:]
	entry := f.Entry()
	pc := entry
	val := int32(-1)
	for {
		uv, n := readUvarint(p)
		// A zero value delta ends the table, but not on the first pair
		// (the runtime tests pc == entry, which we copy exactly).
		if n == 0 || (uv == 0 && pc != entry) {
			return -1
		}
		val += unzigzag(uv)
		p = p[n:]
		pcd, n := readUvarint(p)
		if n == 0 {
			return -1
		}
		p = p[n:]
		pc += uintptr(pcd) * pcQuantum
		if targetpc < pc {
			return val
		}
	}
}

// unzigzag undoes the zig-zag encoding of a signed delta:
// 0, 1, 2, 3, 4 ... encode 0, -1, 1, -2, 2 ...
func unzigzag(u uint32) int32 {
	return int32(-(u & 1) ^ (u >> 1))
}

// readUvarint reads a little-endian base-128 varint from p, returning the
// value and the number of bytes read; n is 0 if p ends inside the varint.
// Most deltas fit in one byte, hence the fast path.
func readUvarint(p []byte) (v uint32, n int) {
	if len(p) > 0 && p[0] < 0x80 {
		return uint32(p[0]), 1
	}
	var shift uint32
	for i, b := range p {
		v |= uint32(b&0x7f) << (shift & 31)
		if b < 0x80 {
			return v, i + 1
		}
		shift += 7
	}
	return 0, 0
}
