package orbit

/*
#include <orbit.h>
#include <stdlib.h>
*/
import "C"

import (
	"runtime"
	"unsafe"
)

// MemberState is alive, stale or dead.
type MemberState uint32

// Member states.
const (
	MemberAlive MemberState = C.ORBIT_MEMBER_STATE_ALIVE
	MemberStale MemberState = C.ORBIT_MEMBER_STATE_STALE
	MemberDead  MemberState = C.ORBIT_MEMBER_STATE_DEAD
)

func (s MemberState) String() string {
	switch s {
	case MemberAlive:
		return "alive"
	case MemberStale:
		return "stale"
	case MemberDead:
		return "dead"
	}
	return "unknown"
}

// Member is one row of Fleet.Members.
type Member struct {
	NodeID          uint16
	PID             uint32
	State           MemberState
	Label           string
	JoinedAtMs      uint64
	LastHeartbeatMs uint64
}

// FleetOptions configures Join; the zero value means the library defaults.
type FleetOptions struct {
	Label        string
	MaxNodes     uint32
	Mode         uint32
	StaleAfterMs uint64
}

// Fleet is a membership (or observer) handle. Safe for concurrent use.
type Fleet struct {
	h    *C.orbit_fleet
	Name string
}

func newFleet(h *C.orbit_fleet, name string) *Fleet {
	f := &Fleet{h: h, Name: name}
	runtime.SetFinalizer(f, (*Fleet).Close)
	return f
}

// Join joins the fleet, creating it if needed, and takes a node id.
func Join(fleet string, o *FleetOptions) (*Fleet, error) {
	var opts C.orbit_fleet_options
	C.orbit_fleet_options_init(&opts)
	name := cstr(fleet)
	defer C.free(unsafe.Pointer(name))
	if o != nil {
		if o.Label != "" {
			l := cstr(o.Label)
			defer C.free(unsafe.Pointer(l))
			opts.label = l
		}
		if o.MaxNodes != 0 {
			opts.max_nodes = C.uint32_t(o.MaxNodes)
		}
		opts.mode = C.uint32_t(o.Mode)
		if o.StaleAfterMs != 0 {
			opts.stale_after_ms = C.uint64_t(o.StaleAfterMs)
		}
	}
	var h *C.orbit_fleet
	if err := call("join "+fleet, func() C.orbit_status { return C.orbit_fleet_join(name, &opts, &h) }); err != nil {
		return nil, err
	}
	return newFleet(h, fleet), nil
}

// Observe attaches read-only without taking a node id.
func Observe(fleet string) (*Fleet, error) {
	name := cstr(fleet)
	defer C.free(unsafe.Pointer(name))
	var h *C.orbit_fleet
	if err := call("observe "+fleet, func() C.orbit_status { return C.orbit_fleet_observe(name, &h) }); err != nil {
		return nil, err
	}
	return newFleet(h, fleet), nil
}

// NodeID is this member's node id, 0 for an observer.
func (f *Fleet) NodeID() uint16 {
	id := uint16(C.orbit_fleet_node_id(f.h))
	runtime.KeepAlive(f)
	return id
}

// Heartbeat records a heartbeat.
func (f *Fleet) Heartbeat() error {
	if f.h == nil {
		return ErrClosed
	}
	err := call("heartbeat", func() C.orbit_status { return C.orbit_fleet_heartbeat(f.h) })
	runtime.KeepAlive(f)
	return err
}

// Members lists every member with its state now.
func (f *Fleet) Members() ([]Member, error) {
	if f.h == nil {
		return nil, ErrClosed
	}
	defer runtime.KeepAlive(f)
	var n C.size_t
	for cap := 16; ; cap = int(n) {
		rows := make([]C.orbit_member, cap)
		var err error
		err = call("members", func() C.orbit_status { return C.orbit_fleet_members(f.h, &rows[0], C.size_t(cap), &n) })
		if e, ok := err.(*Error); ok && e.Status == StatusBufferTooSmall {
			continue
		}
		if err != nil {
			return nil, err
		}
		out := make([]Member, int(n))
		for i := range out {
			m := &rows[i]
			out[i] = Member{uint16(m.node_id), uint32(m.pid), MemberState(m.state), C.GoString(&m.label[0]),
				uint64(m.joined_at_ms), uint64(m.last_heartbeat_ms)}
		}
		return out, nil
	}
}

// HeartbeatState is a node's freshness in Fleet.Heartbeats.
type HeartbeatState uint32

// Heartbeat states.
const (
	HeartbeatFresh   HeartbeatState = C.ORBIT_HEARTBEAT_STATE_FRESH
	HeartbeatStale   HeartbeatState = C.ORBIT_HEARTBEAT_STATE_STALE
	HeartbeatMissing HeartbeatState = C.ORBIT_HEARTBEAT_STATE_MISSING
)

func (s HeartbeatState) String() string {
	switch s {
	case HeartbeatFresh:
		return "fresh"
	case HeartbeatStale:
		return "stale"
	case HeartbeatMissing:
		return "missing"
	}
	return "unknown"
}

// Heartbeat is one process's latest heartbeat, from the fleet's heartbeat history.
type Heartbeat struct {
	NodeID          uint16
	Member          bool // the process the membership table names for this node id
	PID             uint32
	State           HeartbeatState
	LastHeartbeatMs uint64 // a join counts as one
	BeatsInHistory  uint64
}

// Heartbeats summarises the heartbeat history per node, ordered by node id
// (a node id reused by a new process has one row per process).
func (f *Fleet) Heartbeats() ([]Heartbeat, error) {
	if f.h == nil {
		return nil, ErrClosed
	}
	defer runtime.KeepAlive(f)
	var n C.size_t
	for cap := 16; ; cap = int(n) {
		rows := make([]C.orbit_heartbeat, cap)
		err := call("heartbeats", func() C.orbit_status { return C.orbit_fleet_heartbeats(f.h, &rows[0], C.size_t(cap), &n) })
		if e, ok := err.(*Error); ok && e.Status == StatusBufferTooSmall {
			continue
		}
		if err != nil {
			return nil, err
		}
		out := make([]Heartbeat, int(n))
		for i := range out {
			h := &rows[i]
			out[i] = Heartbeat{uint16(h.node_id), h.member != 0, uint32(h.pid), HeartbeatState(h.state),
				uint64(h.last_heartbeat_ms), uint64(h.beats_in_history)}
		}
		return out, nil
	}
}

// Close leaves the fleet (once no ring opened through it remains). Idempotent.
func (f *Fleet) Close() error {
	if f.h != nil {
		C.orbit_fleet_free(f.h)
		f.h = nil
		runtime.SetFinalizer(f, nil)
	}
	return nil
}

// UnlinkFleet removes a fleet's membership table.
func UnlinkFleet(fleet string) error {
	name := cstr(fleet)
	defer C.free(unsafe.Pointer(name))
	return call("unlink fleet", func() C.orbit_status { return C.orbit_fleet_unlink(name) })
}
