//go:build linux || darwin || freebsd

package poll

import (
	"net/http/httputil"
	"strings"
	"testing"
)

// A *BufferPool is what net/http/httputil calls a BufferPool.
var _ httputil.BufferPool = (*BufferPool)(nil)

func TestBufferPool(t *testing.T) {
	bp := NewBufferPool(100)
	if bp.Size() != 100 {
		t.Errorf("Size %d, want 100", bp.Size())
	}
	b := bp.Get()
	if len(b) != 100 || cap(b) != 100 {
		t.Fatalf("Get returned len %d cap %d, want 100 and 100", len(b), cap(b))
	}
	b[0] = 'x'
	bp.Put(b[:10]) // a shorter slice of it: given back whole
	bp.Put(make([]byte, 50))
	for range 10 {
		if b := bp.Get(); len(b) != 100 || cap(b) != 100 {
			t.Fatalf("after Puts, Get returned len %d cap %d, want 100 and 100", len(b), cap(b))
		}
	}
}

// TestBufferPoolPutDoesNotAllocate: Get and Put of slices cost no
// allocation once the pool is warm, as the *[]byte idiom of sync.Pool
// would not.
func TestBufferPoolPutDoesNotAllocate(t *testing.T) {
	if raceBuild {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	bp := NewBufferPool(64)
	bp.Put(bp.Get())
	if n := testing.AllocsPerRun(100, func() { bp.Put(bp.Get()) }); n != 0 {
		t.Errorf("%v allocations per Get and Put, want 0", n)
	}
}

func TestNewBufferPoolSize(t *testing.T) {
	defer func() {
		if r, _ := recover().(string); !strings.Contains(r, "NewBufferPool(0)") {
			t.Errorf("NewBufferPool(0) panicked with %q, want a message naming the mistake", r)
		}
	}()
	NewBufferPool(0)
}
