package timers

import "unsafe"

// Timer nodes live in a per-wheel arena of fixed-size chunks, linked by
// 32-bit indices: no allocation per timer once the arena has grown, no
// pointers for the garbage collector to chase except the callbacks, and
// chunks never move. Indices 0..numLists-1 are the list heads (circular
// doubly-linked lists with a sentinel). Freed nodes are reused; the 64-bit
// registration number seq (never reused) tells a Timer handle whether the
// node is still its own.

const (
	chunkBits = 10
	chunkSize = 1 << chunkBits
	chunkMask = chunkSize - 1
)

type node struct {
	next, prev uint32
	slot       int32  // list the node is on (valid while seq != 0)
	when       uint64 // due tick
	seq        uint64 // registration number; 0 when free
	// The callback is fn(arg). A func() callback (Add) is stored as
	// callFunc with the func value itself as arg (see funcArg), so that
	// AddRef's callers need no closure per timer.
	fn  func(unsafe.Pointer)
	arg unsafe.Pointer
}

type arena struct {
	chunks   []*[chunkSize]node
	freeHead uint32 // free list through next; 0 means empty (0 is a list head)
	used     uint32 // nodes ever handed out, including the list heads
}

func (a *arena) initArena(heads int) {
	a.chunks = []*[chunkSize]node{new([chunkSize]node)}
	a.used = uint32(heads)
	for i := range heads {
		n := &a.chunks[0][i]
		n.next, n.prev = uint32(i), uint32(i)
	}
}

func (a *arena) node(i uint32) *node {
	return &a.chunks[i>>chunkBits][i&chunkMask]
}

// alloc returns the index of an unused node.
func (a *arena) alloc() uint32 {
	if i := a.freeHead; i != 0 {
		a.freeHead = a.node(i).next
		return i
	}
	i := a.used
	if int(i>>chunkBits) == len(a.chunks) {
		if i == 0 { // 2^32 nodes: cannot happen in practice
			panic("timers: too many pending timers")
		}
		a.chunks = append(a.chunks, new([chunkSize]node))
	}
	a.used++
	return i
}

// free returns an unlinked node to the free list.
func (a *arena) free(i uint32, n *node) {
	n.seq, n.fn, n.arg = 0, nil, nil
	n.next = a.freeHead
	a.freeHead = i
}

func (a *arena) empty(head uint32) bool {
	return a.node(head).next == head
}

// pushBack appends node i to the list whose head is index slot.
func (a *arena) pushBack(i uint32, n *node, slot int32) {
	h := a.node(uint32(slot))
	n.slot = slot
	n.prev, n.next = h.prev, uint32(slot)
	a.node(h.prev).next = i
	h.prev = i
}

// remove unlinks node i from its list.
func (a *arena) remove(i uint32, n *node) {
	a.node(n.prev).next = n.next
	a.node(n.next).prev = n.prev
}

// drain empties the list with head index head, passing each node to f
// (which may push it onto another list).
func (a *arena) drain(head uint32, f func(uint32, *node)) {
	h := a.node(head)
	i := h.next
	h.next, h.prev = head, head
	for i != head {
		n := a.node(i)
		next := n.next
		f(i, n)
		i = next
	}
}
