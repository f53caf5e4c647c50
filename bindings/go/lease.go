package orbit

/*
#include <orbit.h>
#include <stdlib.h>
*/
import "C"

import (
	"runtime"
	"strings"
	"time"
	"unsafe"
)

// Lease is a granted lease on a subject with its fencing token. Close (or
// Release) gives it up; the finalizer, a safety net only, releases a lease
// that became unreachable, so keep the *Lease reachable for as long as you
// rely on holding it. One goroutine at a time.
type Lease struct {
	h       *C.orbit_lease
	fleet   *Fleet
	Subject string
}

// Holder is the live holder of a subject.
type Holder struct {
	NodeID      uint16
	PID         uint32
	Token       uint64 // fencing token of its grant
	ClaimedAtMs uint64 // ms since the Unix epoch
	ExpiresAtMs uint64 // unless renewed
}

// ttlMs rounds a positive TTL up to whole milliseconds; zero or negative
// stays 0, which the library refuses (InvalidArgument).
func ttlMs(ttl time.Duration) C.uint64_t {
	if ttl <= 0 {
		return 0
	}
	return C.uint64_t((ttl + time.Millisecond - 1) / time.Millisecond)
}

func subjectArg(op, subject string) (*C.char, error) {
	if strings.IndexByte(subject, 0) >= 0 {
		return nil, &Error{Status: StatusInvalidArgument, Op: op, Message: "subject contains a NUL byte"}
	}
	return cstr(subject), nil
}

// ContestOptions fixes the fleet's lease table at creation; zero fields take
// the library defaults (256 subjects).
type ContestOptions struct {
	Capacity uint32
	Mode     uint32
}

// OpenContest opens the fleet's lease table with explicit options. Optional:
// the first Claim or Holder opens it with the defaults (or attaches to what exists).
func (f *Fleet) OpenContest(o *ContestOptions) error {
	if f.h == nil {
		return ErrClosed
	}
	var opts *C.orbit_contest_options
	var c C.orbit_contest_options
	if o != nil {
		C.orbit_contest_options_init(&c)
		if o.Capacity != 0 {
			c.capacity = C.uint32_t(o.Capacity)
		}
		c.mode = C.uint32_t(o.Mode)
		opts = &c
	}
	err := call("open contest", func() C.orbit_status { return C.orbit_contest_open(f.h, opts) })
	runtime.KeepAlive(f)
	return err
}

// Claim claims subject (1..=128 bytes of UTF-8) for ttl. When a live holder
// has it (this process included) the error satisfies errors.Is(err,
// StatusConflict). A lease whose TTL passed, or whose holder died, is taken
// over at once.
func (f *Fleet) Claim(subject string, ttl time.Duration) (*Lease, error) {
	if f.h == nil {
		return nil, ErrClosed
	}
	cs, err := subjectArg("claim", subject)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cs))
	var h *C.orbit_lease
	err = call("claim "+subject, func() C.orbit_status { return C.orbit_contest_claim(f.h, cs, ttlMs(ttl), &h) })
	runtime.KeepAlive(f)
	if err != nil {
		return nil, err
	}
	l := &Lease{h: h, fleet: f, Subject: subject}
	runtime.SetFinalizer(l, (*Lease).Close)
	return l, nil
}

// Holder returns the live holder of subject; ok=false when the subject is free.
func (f *Fleet) Holder(subject string) (h Holder, ok bool, err error) {
	if f.h == nil {
		return Holder{}, false, ErrClosed
	}
	cs, err := subjectArg("holder", subject)
	if err != nil {
		return Holder{}, false, err
	}
	defer C.free(unsafe.Pointer(cs))
	var ch C.orbit_holder
	var st C.orbit_status
	err = call("holder "+subject, func() C.orbit_status {
		st = C.orbit_contest_holder(f.h, cs, &ch)
		if st == C.ORBIT_STATUS_NOT_FOUND {
			return C.ORBIT_STATUS_OK
		}
		return st
	})
	runtime.KeepAlive(f)
	if err != nil || st == C.ORBIT_STATUS_NOT_FOUND {
		return Holder{}, false, err
	}
	return Holder{uint16(ch.node_id), uint32(ch.pid), uint64(ch.token), uint64(ch.claimed_at_ms),
		uint64(ch.expires_at_ms)}, true, nil
}

// Token is the fencing token of this grant: higher than every earlier
// grant's of the same subject. 0 after Close.
func (l *Lease) Token() uint64 {
	t := uint64(C.orbit_lease_token(l.h))
	runtime.KeepAlive(l)
	return t
}

// Renew extends the lease to now + ttl. errors.Is(err, StatusLeaseLost) when
// it expired and another took it, or it was released.
func (l *Lease) Renew(ttl time.Duration) error {
	if l.h == nil {
		return ErrClosed
	}
	err := call("renew "+l.Subject, func() C.orbit_status { return C.orbit_lease_renew(l.h, ttlMs(ttl)) })
	runtime.KeepAlive(l)
	return err
}

// Release gives the lease up so another may claim it at once; releasing
// again returns nil. errors.Is(err, StatusLeaseLost) when it had expired and
// another took it (the critical section may have overlapped the next holder's).
func (l *Lease) Release() error {
	if l.h == nil {
		return ErrClosed
	}
	err := call("release "+l.Subject, func() C.orbit_status { return C.orbit_lease_release(l.h) })
	runtime.KeepAlive(l)
	return err
}

// Close frees the handle, releasing the lease if it is still held. Idempotent.
func (l *Lease) Close() error {
	if l.h != nil {
		C.orbit_lease_free(l.h)
		l.h = nil
		runtime.SetFinalizer(l, nil)
	}
	return nil
}

// UnlinkContest removes the fleet's lease table and its audit ring; the next
// claim creates a new table (whose tokens start again from 1).
func UnlinkContest(fleet string) error {
	cf := cstr(fleet)
	defer C.free(unsafe.Pointer(cf))
	return call("unlink contest", func() C.orbit_status { return C.orbit_contest_unlink(cf) })
}
