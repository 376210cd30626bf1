//go:build linux || darwin || freebsd

package poll

import (
	"strconv"
	"sync"
)

// BufferPool lends buffers of one size (see Conn.ReadWith), so that only
// connections with data in flight hold one. Its methods are safe for
// concurrent use.
//
// Get and Put take and return a []byte, as those of
// net/http/httputil.BufferPool do (a *BufferPool is one), rather than the
// *[]byte of the sync.Pool idiom, which saves an allocation per Put: the
// pool keeps such pointers itself, so that its Put does not allocate
// either, and its user handles plain slices.
type BufferPool struct {
	size int
	bufs sync.Pool // *[]byte holding a buffer
	// holders are *[]byte emptied by Get, for Put to fill again: storing a
	// slice in a sync.Pool needs a pointer (an interface holding a slice
	// header would be allocated by every Put).
	holders sync.Pool
}

// DefaultPool lends 16 KiB buffers.
var DefaultPool = NewBufferPool(16 << 10)

// NewBufferPool returns a pool of buffers of size bytes.
func NewBufferPool(size int) *BufferPool {
	if size <= 0 {
		panic("poll: NewBufferPool(" + strconv.Itoa(size) + "): a buffer's size must be positive")
	}
	bp := &BufferPool{size: size}
	bp.bufs.New = func() any {
		b := make([]byte, size)
		return &b
	}
	return bp
}

// Get borrows a buffer of the pool's size (its length and capacity). Its
// content is whatever the last user left.
func (bp *BufferPool) Get() []byte {
	h := bp.bufs.Get().(*[]byte)
	b := *h
	*h = nil
	bp.holders.Put(h)
	return b
}

// Put gives back a buffer obtained from Get; the caller must not use it
// afterwards. A slice of another capacity is not kept.
func (bp *BufferPool) Put(b []byte) {
	if cap(b) != bp.size {
		return
	}
	h, _ := bp.holders.Get().(*[]byte)
	if h == nil {
		h = new([]byte)
	}
	*h = b[:bp.size]
	bp.bufs.Put(h)
}

// Size is the length of the pool's buffers.
func (bp *BufferPool) Size() int { return bp.size }
