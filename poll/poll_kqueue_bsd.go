//go:build darwin || freebsd

package poll

import (
	"time"

	"golang.org/x/sys/unix"
)

// pollImpl is the BSD/macOS readiness queue: a kqueue in which every
// descriptor is registered once with EV_CLEAR (edge-like) read and write
// filters, and an EVFILT_USER event that Wake triggers.
//
// kqueue's user data is a pointer, so it carries no registration
// generation: an event for a descriptor number that was closed and reused
// (rare: close removes the descriptor's events) readies the new owner
// spuriously, which is harmless, since every waiter re-checks by retrying
// its system call.
type pollImpl struct {
	kq int
}

const wakeIdent = 1

func (p *poller) init() error {
	kq, err := unix.Kqueue()
	if err != nil {
		return wrapSyscall("kqueue", err)
	}
	unix.CloseOnExec(kq)
	ev := unix.Kevent_t{Ident: wakeIdent, Filter: unix.EVFILT_USER, Flags: unix.EV_ADD | unix.EV_CLEAR}
	if _, err := unix.Kevent(kq, []unix.Kevent_t{ev}, nil, nil); err != nil {
		unix.Close(kq)
		return wrapSyscall("kevent", err)
	}
	p.kq = kq
	return nil
}

// close closes the poller's own descriptors (see Close).
func (p *poller) close() {
	unix.Close(p.kq)
}

func (p *poller) register(fd int, gen uint32) error {
	var evs [2]unix.Kevent_t
	unix.SetKevent(&evs[0], fd, unix.EVFILT_READ, unix.EV_ADD|unix.EV_CLEAR)
	unix.SetKevent(&evs[1], fd, unix.EVFILT_WRITE, unix.EV_ADD|unix.EV_CLEAR)
	if _, err := unix.Kevent(p.kq, evs[:], nil, nil); err != nil {
		return wrapSyscall("kevent", err)
	}
	return nil
}

func (p *poller) deregister(fd int) {
	var evs [2]unix.Kevent_t
	unix.SetKevent(&evs[0], fd, unix.EVFILT_READ, unix.EV_DELETE)
	unix.SetKevent(&evs[1], fd, unix.EVFILT_WRITE, unix.EV_DELETE)
	unix.Kevent(p.kq, evs[:], nil, nil)
}

func (p *poller) wake() {
	ev := unix.Kevent_t{Ident: wakeIdent, Filter: unix.EVFILT_USER, Fflags: unix.NOTE_TRIGGER}
	unix.Kevent(p.kq, []unix.Kevent_t{ev}, nil, nil)
}

func (p *poller) drainWake() {} // EV_CLEAR resets the user event when it is reported

const pollBatch = 128

func (p *poller) poll(timeout time.Duration, helper bool) {
	timeout = p.beginWait(timeout)
	var ts *unix.Timespec
	if timeout >= 0 {
		t := unix.NsecToTimespec(int64(timeout))
		ts = &t
	}
	var evs [pollBatch]unix.Kevent_t
	n, err := unix.Kevent(p.kq, nil, evs[:], ts)
	p.endWait(timeout)
	if err != nil {
		return
	}
	for i := range n {
		ev := &evs[i]
		if ev.Filter == unix.EVFILT_USER {
			p.consumeWake(helper)
			continue
		}
		eof := ev.Flags&(unix.EV_EOF|unix.EV_ERROR) != 0
		p.readyFD(int(ev.Ident), 0,
			ev.Filter == unix.EVFILT_READ || eof,
			ev.Filter == unix.EVFILT_WRITE || eof)
	}
}
