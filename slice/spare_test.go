//go:build (amd64 || arm64) && !race && !purego

package slice

import (
	"fmt"
	"testing"
	"unsafe"
)

// TestTemplateSpare checks the spare block a template keeps for bare
// unpacks (template.spare): a bare pack leaves its block there, and
// coroutines unpacked from one template each get a block of their own and
// resume with their own pointers.
func TestTemplateSpare(t *testing.T) {
	if !Engine().StackSlicing {
		t.Skip("no blocks on the fallback")
	}
	if err := checkSpare(4); err != nil {
		t.Fatal(err)
	}
}

// checkSpare parks n coroutines at one place, packs them bare against one
// template, unpacks them all (without running them), checks that no two
// share a block, then resumes each and checks what it sees.
func checkSpare(n int) error {
	cs := make([]*Coroutine, n)
	own := map[*Coroutine]*int{} // each coroutine's pointer
	for i := range cs {
		v := new(int)
		cs[i] = New(func() {
			for range 3 {
				// (Nothing of the coroutine's own in its frames
				// but pointers, so that all pack as one template.)
				if p := spareParked(v); p != own[Current()] {
					panic("coroutine resumed with another one's pointer")
				}
			}
		})
		own[cs[i]] = v
		cs[i].Resume()
		if !cs[i].Compress(CompressTemplate) || cs[i].flags&flagBare == 0 {
			return fmt.Errorf("coroutine %d not packed bare", i)
		}
	}
	tm := (*template)(cs[0].blk)
	for i, c := range cs {
		if (*template)(c.blk) != tm {
			return fmt.Errorf("coroutine %d packed against another template than coroutine 0", i)
		}
	}
	templates.mu.Lock()
	spare := tm.spare
	templates.mu.Unlock()
	if spare == nil {
		return fmt.Errorf("no spare block on the template after %d bare packs", n)
	}
	blocks := map[unsafe.Pointer]int{}
	for i, c := range cs {
		old := c.hold()
		c.unpack()
		c.state.Store(old)
		if j, ok := blocks[c.blk]; ok {
			return fmt.Errorf("coroutines %d and %d were unpacked into one block", j, i)
		}
		blocks[c.blk] = i
	}
	for range 3 {
		for _, c := range cs {
			c.Resume()
			c.Compress(CompressTemplate)
		}
	}
	for i, c := range cs {
		if !c.Done() {
			return fmt.Errorf("coroutine %d did not finish", i)
		}
	}
	return nil
}

// spareParked yields with p in its frame and returns it.
//
//go:noinline
func spareParked(p *int) *int {
	Yield()
	return p
}
