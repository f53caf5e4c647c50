package orbit

/*
#include <orbit.h>
#include <stdlib.h>
#include <string.h>

// Publishes with a topic given as pointer + length (a Go string, not
// NUL-terminated): copied onto the stack with its NUL, so a publish allocates
// nothing. The caller guarantees topic_len <= 255.
static orbit_status orbit_go_bus_publish(orbit_bus *b, const char *topic, size_t topic_len,
                                         const void *data, size_t len, uint64_t *out_id) {
    char t[256];
    if (topic_len > 0) memcpy(t, topic, topic_len);  // an empty Go string may have no data pointer
    t[topic_len] = '\0';
    return orbit_bus_publish(b, t, data, len, out_id);
}

// Reads up to max matching events in one cgo call: topics (each with its NUL)
// packed into topics, payloads into buf, metadata into evs. Stops early at
// EMPTY or when the next event does not fit (it stays unconsumed); with
// nothing read, BUFFER_TOO_SMALL leaves the sizes needed in evs[0].
static orbit_status orbit_go_subscription_batch(orbit_subscription *s, orbit_event *evs, size_t max,
                                                char *topics, size_t topics_cap,
                                                unsigned char *buf, size_t cap, size_t *out_n) {
    size_t n = 0, tused = 0, used = 0;
    orbit_status st = ORBIT_STATUS_OK;
    while (n < max) {
        st = orbit_subscription_next(s, &evs[n], topics + tused, topics_cap - tused, buf + used, cap - used);
        if (st != ORBIT_STATUS_OK) break;
        tused += evs[n].topic_len + 1;
        used += evs[n].len;
        n++;
    }
    *out_n = n;
    if (n > 0 && (st == ORBIT_STATUS_EMPTY || st == ORBIT_STATUS_BUFFER_TOO_SMALL)) return ORBIT_STATUS_OK;
    return st;
}
*/
import "C"

import (
	"runtime"
	"strings"
	"time"
	"unsafe"
)

// MaxTopicLen is the longest topic in bytes.
const MaxTopicLen = 255

// BusOptions fixes a bus's geometry at creation; zero fields take the library
// defaults (4096 events of up to 1024 bytes).
type BusOptions struct {
	Capacity   uint64 // events, a power of two
	MaxPayload uint32
	Mode       uint32
}

// Bus is a fleet-shared event bus: topics and payloads over one ring. Safe
// for concurrent use.
type Bus struct {
	h     *C.orbit_bus
	fleet *Fleet
	Name  string
}

// Event is an event delivered by a Subscription. Topic and Payload are
// copies owned by the caller.
type Event struct {
	ID          uint64 // NetId64 [220][node][counter]: who published it, and where
	TimestampMs uint64 // publish time, ms since the Unix epoch
	Lost        uint64 // frames (of any topic) lost just before this event
	Topic       string
	Payload     []byte
}

// OpenBus opens event bus name; o == nil attaches to what exists or creates defaults.
func (f *Fleet) OpenBus(name string, o *BusOptions) (*Bus, error) {
	if f.h == nil {
		return nil, ErrClosed
	}
	cname := cstr(name)
	defer C.free(unsafe.Pointer(cname))
	var opts *C.orbit_bus_options
	var c C.orbit_bus_options
	if o != nil {
		C.orbit_bus_options_init(&c)
		if o.Capacity != 0 {
			c.capacity = C.uint64_t(o.Capacity)
		}
		if o.MaxPayload != 0 {
			c.max_payload = C.uint32_t(o.MaxPayload)
		}
		c.mode = C.uint32_t(o.Mode)
		opts = &c
	}
	var h *C.orbit_bus
	err := call("open bus "+name, func() C.orbit_status { return C.orbit_bus_open(f.h, cname, opts, &h) })
	runtime.KeepAlive(f)
	if err != nil {
		return nil, err
	}
	b := &Bus{h: h, fleet: f, Name: name}
	runtime.SetFinalizer(b, (*Bus).Close)
	return b, nil
}

func topicError(op string) error {
	return &Error{Status: StatusInvalidArgument, Op: op, Message: "topic contains a NUL byte"}
}

// Publish publishes payload under topic (1..=255 bytes of UTF-8) and returns
// the event's id. It never waits for subscribers.
func (b *Bus) Publish(topic string, payload []byte) (uint64, error) {
	if b.h == nil {
		return 0, ErrClosed
	}
	// C would read a NUL as the end of the topic: refuse rather than truncate.
	if strings.IndexByte(topic, 0) >= 0 {
		return 0, topicError("publish")
	}
	var id C.uint64_t
	var err error
	if len(topic) <= MaxTopicLen {
		tp := unsafe.Pointer(unsafe.StringData(topic))
		err = call("publish", func() C.orbit_status {
			return C.orbit_go_bus_publish(b.h, (*C.char)(tp), C.size_t(len(topic)), bytesPtr(payload),
				C.size_t(len(payload)), &id)
		})
		runtime.KeepAlive(topic)
	} else { // too long: the library refuses it with its own message
		ct := cstr(topic)
		defer C.free(unsafe.Pointer(ct))
		err = call("publish", func() C.orbit_status {
			return C.orbit_bus_publish(b.h, ct, bytesPtr(payload), C.size_t(len(payload)), &id)
		})
	}
	runtime.KeepAlive(payload)
	runtime.KeepAlive(b)
	return uint64(id), err
}

// Subscribe delivers the events whose topic starts with prefix ("" for every
// topic), from the oldest event the bus holds (FromOldest: a late subscriber
// replays them) or from the head (FromHead).
func (b *Bus) Subscribe(prefix string, from From) (*Subscription, error) {
	if b.h == nil {
		return nil, ErrClosed
	}
	if strings.IndexByte(prefix, 0) >= 0 {
		return nil, topicError("subscribe")
	}
	cp := cstr(prefix)
	defer C.free(unsafe.Pointer(cp))
	var h *C.orbit_subscription
	err := call("subscribe", func() C.orbit_status { return C.orbit_bus_subscribe(b.h, cp, C.orbit_from(from), &h) })
	runtime.KeepAlive(b)
	if err != nil {
		return nil, err
	}
	s := &Subscription{h: h, bus: b, topic: make([]byte, MaxTopicLen+1), buf: make([]byte, 1024)}
	runtime.SetFinalizer(s, (*Subscription).Close)
	return s, nil
}

// Close releases the handle (subscriptions keep the bus mapped; never unlinks). Idempotent.
func (b *Bus) Close() error {
	if b.h != nil {
		C.orbit_bus_free(b.h)
		b.h = nil
		runtime.SetFinalizer(b, nil)
	}
	return nil
}

// UnlinkBus removes a bus's segment.
func UnlinkBus(fleet, name string) error {
	cf, cn := cstr(fleet), cstr(name)
	defer C.free(unsafe.Pointer(cf))
	defer C.free(unsafe.Pointer(cn))
	return call("unlink bus", func() C.orbit_status { return C.orbit_bus_unlink(cf, cn) })
}

// Subscription is a subscriber's position in a bus with its topic filter;
// one goroutine at a time.
type Subscription struct {
	h     *C.orbit_subscription
	bus   *Bus
	topic []byte
	buf   []byte // grows to the largest payload seen

	// NextBatch's buffers, reused from call to call.
	evs     []C.orbit_event
	topics  []byte
	scratch []byte
}

// Next returns the next matching event, ok=false when there is none yet.
func (s *Subscription) Next() (e Event, ok bool, err error) {
	if s.h == nil {
		return Event{}, false, ErrClosed
	}
	defer runtime.KeepAlive(s)
	for {
		var ce C.orbit_event
		var st C.orbit_status
		err = call("next", func() C.orbit_status {
			st = C.orbit_subscription_next(s.h, &ce, (*C.char)(unsafe.Pointer(&s.topic[0])), C.size_t(len(s.topic)),
				bytesPtr(s.buf), C.size_t(len(s.buf)))
			if st == C.ORBIT_STATUS_EMPTY || st == C.ORBIT_STATUS_BUFFER_TOO_SMALL {
				return C.ORBIT_STATUS_OK
			}
			return st
		})
		switch {
		case err != nil || st == C.ORBIT_STATUS_EMPTY:
			return Event{}, false, err
		case st == C.ORBIT_STATUS_BUFFER_TOO_SMALL: // not consumed: grow and read it again
			s.buf = make([]byte, int(ce.len))
			continue
		}
		p := make([]byte, int(ce.len))
		copy(p, s.buf)
		return Event{uint64(ce.id), uint64(ce.timestamp_ms), uint64(ce.lost), string(s.topic[:ce.topic_len]), p}, true, nil
	}
}

// NextBatch reads up to max available matching events in one cgo call.
// The payloads of a batch share one allocation.
func (s *Subscription) NextBatch(max int) ([]Event, error) {
	if s.h == nil {
		return nil, ErrClosed
	}
	if max <= 0 {
		return nil, nil
	}
	defer runtime.KeepAlive(s)
	if len(s.evs) < max {
		s.evs = make([]C.orbit_event, max)
		s.topics = make([]byte, max*(MaxTopicLen+1))
	}
	if len(s.scratch) < max*len(s.buf) {
		s.scratch = make([]byte, max*len(s.buf))
	}
	for {
		var n C.size_t
		var st C.orbit_status
		err := call("next batch", func() C.orbit_status {
			st = C.orbit_go_subscription_batch(s.h, &s.evs[0], C.size_t(max), (*C.char)(unsafe.Pointer(&s.topics[0])),
				C.size_t(len(s.topics)), (*C.uchar)(bytesPtr(s.scratch)), C.size_t(len(s.scratch)), &n)
			if st == C.ORBIT_STATUS_EMPTY || st == C.ORBIT_STATUS_BUFFER_TOO_SMALL {
				return C.ORBIT_STATUS_OK
			}
			return st
		})
		if err == nil && st == C.ORBIT_STATUS_BUFFER_TOO_SMALL { // not consumed: grow and read it again
			s.buf = make([]byte, int(s.evs[0].len))
			s.scratch = make([]byte, max*len(s.buf))
			continue
		}
		used := 0
		for i := 0; i < int(n); i++ {
			used += int(s.evs[i].len)
		}
		payloads := make([]byte, used)
		copy(payloads, s.scratch)
		out := make([]Event, int(n))
		toff, off := 0, 0
		for i := range out {
			e := &s.evs[i]
			tl, l := int(e.topic_len), int(e.len)
			out[i] = Event{uint64(e.id), uint64(e.timestamp_ms), uint64(e.lost), string(s.topics[toff : toff+tl]),
				payloads[off : off+l : off+l]}
			toff += tl + 1
			off += l
		}
		return out, err
	}
}

// Wait blocks until a matching event is ready (true) or the timeout passes
// (false). Events of other topics that arrive meanwhile do not end the wait.
func (s *Subscription) Wait(timeout time.Duration) (bool, error) {
	if s.h == nil {
		return false, ErrClosed
	}
	var st C.orbit_status
	err := call("wait", func() C.orbit_status {
		st = C.orbit_subscription_wait(s.h, C.uint64_t(max(timeout.Nanoseconds(), 0)))
		if st == C.ORBIT_STATUS_TIMEOUT {
			return C.ORBIT_STATUS_OK
		}
		return st
	})
	runtime.KeepAlive(s)
	return err == nil && st == C.ORBIT_STATUS_OK, err
}

// Lost is the total number of frames (of any topic) this subscription lost.
func (s *Subscription) Lost() uint64 {
	n := uint64(C.orbit_subscription_lost(s.h))
	runtime.KeepAlive(s)
	return n
}

// Close releases the subscription. Idempotent.
func (s *Subscription) Close() error {
	if s.h != nil {
		C.orbit_subscription_free(s.h)
		s.h = nil
		runtime.SetFinalizer(s, nil)
	}
	return nil
}
