package sched

// queue is a FIFO of tasks in a growable ring. Not synchronized: each is
// guarded by its owner's mutex.
type queue struct {
	buf        []*Task
	head, size int
}

func (q *queue) len() int { return q.size }

func (q *queue) push(t *Task) {
	if q.size == len(q.buf) {
		q.grow()
	}
	q.buf[(q.head+q.size)&(len(q.buf)-1)] = t
	q.size++
}

func (q *queue) pop() *Task {
	if q.size == 0 {
		return nil
	}
	t := q.buf[q.head]
	q.buf[q.head] = nil
	q.head = (q.head + 1) & (len(q.buf) - 1)
	q.size--
	if q.size == 0 && len(q.buf) > 1024 {
		*q = queue{} // let a burst's buffer go
	}
	return t
}

// grow doubles the ring (lengths stay powers of two).
func (q *queue) grow() {
	n := 2 * len(q.buf)
	if n == 0 {
		n = 16
	}
	buf := make([]*Task, n)
	for i := 0; i < q.size; i++ {
		buf[i] = q.buf[(q.head+i)&(len(q.buf)-1)]
	}
	q.buf, q.head = buf, 0
}
