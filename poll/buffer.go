//go:build linux || darwin || freebsd

package poll

import "sync"

// BufferPool lends read buffers of one size (see Conn.ReadWith), so that
// only connections with data in flight hold one.
type BufferPool struct {
	size int
	p    sync.Pool
}

// DefaultPool lends 16 KiB buffers.
var DefaultPool = NewBufferPool(16 << 10)

// NewBufferPool returns a pool of buffers of size bytes.
func NewBufferPool(size int) *BufferPool {
	bp := &BufferPool{size: size}
	bp.p.New = func() any {
		b := make([]byte, size)
		return &b
	}
	return bp
}

// Get borrows a buffer of the pool's size.
func (bp *BufferPool) Get() *[]byte { return bp.p.Get().(*[]byte) }

// Put returns a buffer obtained from Get.
func (bp *BufferPool) Put(b *[]byte) {
	if cap(*b) == bp.size {
		*b = (*b)[:bp.size]
		bp.p.Put(b)
	}
}

// Size is the length of the pool's buffers.
func (bp *BufferPool) Size() int { return bp.size }
