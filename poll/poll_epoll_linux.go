//go:build linux

package poll

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/stackslice/stackslice/sched"
)

// pollImpl is the Linux readiness queue: an epoll instance in which every
// descriptor is registered once, edge-triggered, for input and output, and
// an eventfd (level-triggered) that Wake writes to.
//
// The epoll event's 64-bit data holds the descriptor number (Fd) and the
// registration generation (Pad), so an event queued for a descriptor that
// was closed and whose number was reused is recognised and dropped.
type pollImpl struct {
	epfd int
	evfd int
}

const epollEvents = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET

func (p *poller) init() error {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return wrapSyscall("epoll_create1", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return wrapSyscall("eventfd", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(evfd)
		unix.Close(epfd)
		return wrapSyscall("epoll_ctl", err)
	}
	p.epfd, p.evfd = epfd, evfd
	return nil
}

// close closes the poller's own descriptors (see Close).
func (p *poller) close() {
	unix.Close(p.evfd)
	unix.Close(p.epfd)
}

// register adds fd to the epoll set. Called once per descriptor, before the
// first operation that could make it ready is started.
func (p *poller) register(fd int, gen uint32) error {
	ev := unix.EpollEvent{Events: epollEvents, Fd: int32(fd), Pad: int32(gen)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return wrapSyscall("epoll_ctl", err)
	}
	return nil
}

// deregister removes fd from the epoll set. Closing the descriptor does
// that too, unless it was duplicated; it is used when a registration is
// abandoned before the descriptor is handed out.
func (p *poller) deregister(fd int) {
	unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil)
}

func (p *poller) wake() {
	one := [8]byte{1}
	for {
		_, err := unix.Write(p.evfd, one[:])
		if err != unix.EINTR {
			return // EAGAIN: the counter is saturated, a wake is pending anyway
		}
	}
}

func (p *poller) drainWake() {
	var buf [8]byte
	for {
		_, err := unix.Read(p.evfd, buf[:])
		if err != unix.EINTR {
			return
		}
	}
}

const pollBatch = 128

func (p *poller) poll(timeout time.Duration, helper bool) {
	timeout = p.beginWait(timeout)
	msec := -1
	if timeout == 0 {
		msec = 0
	} else if timeout > 0 {
		// Round up: a carrier asked to sleep until a timer is due must not
		// wake just before it and spin.
		msec = int(min((timeout+time.Millisecond-1)/time.Millisecond, 1<<30))
	}
	var evs [pollBatch]unix.EpollEvent
	n, err := unix.EpollWait(p.epfd, evs[:], msec)
	p.endWait(timeout)
	if err != nil {
		return // EINTR; anything else means a closed poller: return, the caller loops
	}
	for i := range n {
		p.event(&evs[i], helper)
	}
}

// event handles one event of a poll: the wake-up, or readiness of a fd.
func (p *poller) event(ev *unix.EpollEvent, helper bool) {
	fd := int(ev.Fd)
	if fd == p.evfd {
		p.consumeWake(helper)
		return
	}
	e := ev.Events
	p.readyFD(fd, uint32(ev.Pad),
		e&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0,
		e&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0)
}

// busyPollAfter is how long readiness may go unlooked-for while every
// carrier is busy before one of them looks (PollBusy).
const busyPollAfter = 20 * time.Microsecond

var _ sched.BusyPoller = (*poller)(nil)

// PollBusy looks for readiness without waiting, for a carrier that has
// work (sched calls it between tasks; see sched.BusyPoller). It looks only
// while something waits for I/O, no carrier waits in Poll (that one sees
// events as they come) and nobody has looked for busyPollAfter; otherwise
// it is a few loads. It leaves the wake-up event alone: the eventfd is
// level-triggered, so a carrier that waits in Poll, now or later, still
// sees it.
func (p *poller) PollBusy() {
	if p.waiters.Load() == 0 || p.inPoll.Load() > 0 {
		return
	}
	now := nanotime()
	last := p.lastPoll.Load()
	if now-last < int64(busyPollAfter) || !p.lastPoll.CompareAndSwap(last, now) {
		return
	}
	if !p.enter() {
		return // closed
	}
	defer p.exit()
	p.busyPolls.Add(1)
	var evs [pollBatch]unix.EpollEvent
	n, err := unix.EpollWait(p.epfd, evs[:], 0)
	if err != nil {
		return
	}
	for i := range n {
		if int(evs[i].Fd) != p.evfd {
			p.event(&evs[i], false)
		}
	}
}
