package sched

import (
	"strings"
	"sync"
	"time"
)

// A reasonID stands for a park reason in a parked Task: an index into the
// table of reasons, which keeps the Task small (a string would take 16
// bytes in every task).
type reasonID uint32

// maxReasons bounds the table: reasons are meant to be a few constant
// strings. A park whose reason does not fit records reasonOther and keeps
// the string in the task's ext instead.
const maxReasons = 1 << 10

const (
	reasonNone  reasonID = 0 // not parked: ""
	reasonOther reasonID = 1 // see taskExt.reason
)

var reasons struct {
	ids sync.Map // string to reasonID
	mu  sync.Mutex
	n   int // entries of list in use; guarded by mu
	// list holds the strings by ID. An entry is written before its ID is
	// published in ids, and never changes after.
	list [maxReasons]string
}

// The reasons of this package's own primitives.
var (
	reasonChanSend   = internReason("chan send")
	reasonChanRecv   = internReason("chan receive")
	reasonSleep      = internReason("sleep")
	reasonAwait      = internReason("await")
	reasonSelect     = internReason("select")
	reasonCondWait   = internReason("cond wait")
	reasonTaskWait   = internReason("task wait")
	reasonSemacquire = internReason("semacquire")
	reasonMutex      = internReason("mutex")
	reasonWaitGroup  = internReason("waitgroup")
)

// internReason returns the ID of reason, adding it to the table if it is
// new, or reasonOther when the table is full.
func internReason(reason string) reasonID {
	if id, ok := reasons.ids.Load(reason); ok {
		return id.(reasonID)
	}
	return addReason(reason)
}

//go:noinline
func addReason(reason string) reasonID {
	reasons.mu.Lock()
	defer reasons.mu.Unlock()
	if id, ok := reasons.ids.Load(reason); ok {
		return id.(reasonID)
	}
	if reasons.n == 0 {
		reasons.n = 2 // reasonNone and reasonOther
	}
	if reasons.n >= maxReasons {
		return reasonOther
	}
	reason = strings.Clone(reason) // it is kept for good
	id := reasonID(reasons.n)
	reasons.n++
	reasons.list[id] = reason
	reasons.ids.Store(reason, id)
	return id
}

// reasonString returns the string of id (for reasonOther, of t's park).
// The caller holds t still (see Task.inspect) or is t.
func (t *Task) reasonString() string {
	switch t.reason {
	case reasonNone:
		return ""
	case reasonOther:
		if t.ext != nil {
			return t.ext.reason
		}
		return ""
	}
	return reasons.list[t.reason]
}

// waiting returns how long t has been parked, as of now (nanotime); the
// caller holds t still. It is exact to the millisecond, for parks shorter
// than 2^32 ms (49 days).
func (t *Task) waiting(now int64) time.Duration {
	return time.Duration(uint32(now/int64(time.Millisecond))-t.parkedAt) * time.Millisecond
}
