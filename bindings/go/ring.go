package orbit

/*
#include <orbit.h>
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// batchScratch holds packed batch inputs (payloads or keys, their lengths)
// and outputs; pooled so that batches allocate only their results.
type batchScratch struct {
	data     []byte
	lens     []C.size_t
	out      []byte
	vlens    []C.size_t
	statuses []C.orbit_status
}

var scratchPool = sync.Pool{New: func() any { return new(batchScratch) }}

func getScratch() *batchScratch  { return scratchPool.Get().(*batchScratch) }
func putScratch(b *batchScratch) { scratchPool.Put(b) }

// RingOptions fixes a ring's geometry at creation.
type RingOptions struct {
	Capacity   uint64 // power of two
	MaxPayload uint32
	Kind       uint8
	Mode       uint32
	// SingleWriter creates a single-writer ring: one writer at a time, across
	// every process, through (*Ring).Writer ((*Ring).Write is refused with
	// StatusInvalidArgument); its writes claim slots without compare-and-swap,
	// the ring's lowest latency.
	SingleWriter bool
}

// Ring is a ring handle. Safe for concurrent use.
type Ring struct {
	h          *C.orbit_ring
	fleet      *Fleet
	maxPayload int
}

// Frame is a frame read from a ring. Payload is a copy owned by the caller.
type Frame struct {
	ID      uint64
	Ver     uint64
	Lost    uint64
	Kind    uint8
	Payload []byte
}

// RingInfo is a ring's geometry and counters.
type RingInfo struct {
	Capacity, Head, Takeovers uint64
	MaxPayload, SlotStride    uint32
	Kind                      uint8
	SingleWriter              bool // created single-writer (see RingOptions.SingleWriter)
}

// OpenRing opens ring name; o == nil attaches to what exists or creates defaults.
func (f *Fleet) OpenRing(name string, o *RingOptions) (*Ring, error) {
	if f.h == nil {
		return nil, ErrClosed
	}
	cname := cstr(name)
	defer C.free(unsafe.Pointer(cname))
	var opts *C.orbit_ring_options
	var c C.orbit_ring_options
	if o != nil {
		C.orbit_ring_options_init(&c)
		c.capacity = C.uint64_t(o.Capacity)
		c.max_payload = C.uint32_t(o.MaxPayload)
		c.kind = C.uint8_t(o.Kind)
		c.mode = C.uint32_t(o.Mode)
		if o.SingleWriter {
			c.flags = C.ORBIT_RING_SINGLE_WRITER
		}
		opts = &c
	}
	var h *C.orbit_ring
	err := call("open ring "+name, func() C.orbit_status { return C.orbit_ring_open(f.h, cname, opts, &h) })
	runtime.KeepAlive(f)
	if err != nil {
		return nil, err
	}
	r := &Ring{h: h, fleet: f}
	runtime.SetFinalizer(r, (*Ring).Close)
	info, err := r.Info()
	if err != nil {
		r.Close()
		return nil, err
	}
	r.maxPayload = int(info.MaxPayload)
	return r, nil
}

// Write appends a frame and returns its id. On a single-writer ring it is
// StatusInvalidArgument: write through (*Ring).Writer.
func (r *Ring) Write(payload []byte, kind uint8, ver uint64) (uint64, error) {
	if r.h == nil {
		return 0, ErrClosed
	}
	var id C.uint64_t
	var cerr *C.char
	st := C.orbit_go_ring_write(r.h, C.uint8_t(kind), C.uint64_t(ver), bytesPtr(payload), C.size_t(len(payload)), &id, &cerr)
	runtime.KeepAlive(payload)
	runtime.KeepAlive(r)
	return uint64(id), errFrom(st, "write", cerr)
}

// WriteBatch writes every payload as a frame, all with kind and version 0, in
// one cgo call (orbit_ring_write_batch); it returns how many were written. A
// payload over the ring's max payload is StatusTooLarge before any is written.
func (r *Ring) WriteBatch(payloads [][]byte, kind uint8) (int, error) {
	if r.h == nil {
		return 0, ErrClosed
	}
	if len(payloads) == 0 {
		return 0, nil
	}
	// Packed into Go memory free of Go pointers, which cgo may pass to C.
	b := getScratch()
	defer putScratch(b)
	b.lens = b.lens[:0]
	b.data = b.data[:0]
	for _, p := range payloads {
		b.data = append(b.data, p...)
		b.lens = append(b.lens, C.size_t(len(p)))
	}
	var n C.size_t
	var cerr *C.char
	st := C.orbit_go_ring_write_batch(r.h, C.uint8_t(kind), 0, bytesPtr(b.data), &b.lens[0], C.size_t(len(payloads)), &n, &cerr)
	runtime.KeepAlive(r)
	return int(n), errFrom(st, "write batch", cerr)
}

// Read returns frame id if the ring still holds it (StatusNotFound otherwise).
func (r *Ring) Read(id uint64) (Frame, error) {
	if r.h == nil {
		return Frame{}, ErrClosed
	}
	buf := make([]byte, r.maxPayload)
	var f C.orbit_frame
	err := call("read", func() C.orbit_status {
		return C.orbit_ring_read(r.h, C.uint64_t(id), &f, bytesPtr(buf), C.size_t(len(buf)))
	})
	runtime.KeepAlive(r)
	if err != nil {
		return Frame{}, err
	}
	return Frame{uint64(f.id), uint64(f.ver), uint64(f.lost), uint8(f.kind), buf[:f.len]}, nil
}

// Info returns geometry and counters.
func (r *Ring) Info() (RingInfo, error) {
	if r.h == nil {
		return RingInfo{}, ErrClosed
	}
	var i C.orbit_ring_info
	err := call("stat", func() C.orbit_status { return C.orbit_ring_stat(r.h, &i) })
	runtime.KeepAlive(r)
	return RingInfo{uint64(i.capacity), uint64(i.head), uint64(i.takeovers), uint32(i.max_payload),
		uint32(i.slot_stride), uint8(i.kind), i.flags&C.ORBIT_RING_SINGLE_WRITER != 0}, err
}

// Close releases the handle (never unlinks). Idempotent.
func (r *Ring) Close() error {
	if r.h != nil {
		C.orbit_ring_free(r.h)
		r.h = nil
		runtime.SetFinalizer(r, nil)
	}
	return nil
}

// RingWriter is the one writer of a single-writer ring (see (*Ring).Writer);
// one goroutine at a time. Close gives the role up.
type RingWriter struct {
	h    *C.orbit_ring_writer
	ring *Ring
}

// Writer makes the caller the writer of a single-writer ring (opened with
// RingOptions.SingleWriter) until the RingWriter is closed. One writer at a
// time across every process; the role of a writer whose process died is taken
// over. StatusConflict while another live writer (another process, or another
// RingWriter of this one) holds the ring; StatusInvalidArgument on a
// multi-writer ring; StatusReadOnly through an observer.
func (r *Ring) Writer() (*RingWriter, error) {
	if r.h == nil {
		return nil, ErrClosed
	}
	var h *C.orbit_ring_writer
	err := call("ring writer", func() C.orbit_status { return C.orbit_ring_writer_open(r.h, &h) })
	runtime.KeepAlive(r)
	if err != nil {
		return nil, err
	}
	w := &RingWriter{h: h, ring: r}
	runtime.SetFinalizer(w, (*RingWriter).Close)
	return w, nil
}

// Write appends a frame and returns its id, as (*Ring).Write does.
func (w *RingWriter) Write(payload []byte, kind uint8, ver uint64) (uint64, error) {
	if w.h == nil {
		return 0, ErrClosed
	}
	var id C.uint64_t
	var cerr *C.char
	st := C.orbit_go_ring_writer_write(w.h, C.uint8_t(kind), C.uint64_t(ver), bytesPtr(payload), C.size_t(len(payload)), &id, &cerr)
	runtime.KeepAlive(payload)
	runtime.KeepAlive(w)
	return uint64(id), errFrom(st, "write", cerr)
}

// Close gives the writer role up and releases the handle. Idempotent.
func (w *RingWriter) Close() error {
	if w.h != nil {
		C.orbit_ring_writer_free(w.h)
		w.h = nil
		runtime.SetFinalizer(w, nil)
	}
	return nil
}

// UnlinkRing removes a ring's segment.
func UnlinkRing(fleet, name string) error {
	cf, cn := cstr(fleet), cstr(name)
	defer C.free(unsafe.Pointer(cf))
	defer C.free(unsafe.Pointer(cn))
	return call("unlink ring", func() C.orbit_status { return C.orbit_ring_unlink(cf, cn) })
}

// From selects where a cursor starts.
type From uint32

// Cursor starting points.
const (
	FromOldest From = C.ORBIT_FROM_OLDEST
	FromHead   From = C.ORBIT_FROM_HEAD
)

// Cursor is a reader's position; one goroutine at a time.
type Cursor struct {
	h    *C.orbit_cursor
	ring *Ring
	buf  []byte
	// NextBatch's scratch, reused from call to call.
	frames   []C.orbit_frame
	payloads []byte
}

// Cursor opens a cursor.
func (r *Ring) Cursor(from From) (*Cursor, error) {
	if r.h == nil {
		return nil, ErrClosed
	}
	var h *C.orbit_cursor
	err := call("cursor", func() C.orbit_status { return C.orbit_cursor_open(r.h, C.orbit_from(from), &h) })
	runtime.KeepAlive(r)
	if err != nil {
		return nil, err
	}
	c := &Cursor{h: h, ring: r, buf: make([]byte, r.maxPayload)}
	runtime.SetFinalizer(c, (*Cursor).Close)
	return c, nil
}

// Next returns the next frame, ok=false at the head.
func (c *Cursor) Next() (f Frame, ok bool, err error) {
	if c.h == nil {
		return Frame{}, false, ErrClosed
	}
	var cf C.orbit_frame
	var cerr *C.char
	st := C.orbit_go_cursor_next(c.h, &cf, bytesPtr(c.buf), C.size_t(len(c.buf)), &cerr)
	runtime.KeepAlive(c)
	if st == C.ORBIT_STATUS_EMPTY {
		return Frame{}, false, nil
	}
	if err = errFrom(st, "next", cerr); err != nil {
		return Frame{}, false, err
	}
	p := make([]byte, int(cf.len))
	copy(p, c.buf[:cf.len])
	return Frame{uint64(cf.id), uint64(cf.ver), uint64(cf.lost), uint8(cf.kind), p}, true, nil
}

// NextBatch reads up to max available frames in one cgo call
// (orbit_cursor_next_batch); an empty slice at the head. The payloads of a
// batch are copies sharing one allocation.
func (c *Cursor) NextBatch(max int) ([]Frame, error) {
	if c.h == nil {
		return nil, ErrClosed
	}
	if max < 0 {
		return nil, &Error{Status: StatusInvalidArgument, Op: "next batch", Message: fmt.Sprintf("max %d is negative", max)}
	}
	if max == 0 {
		return nil, nil
	}
	if len(c.frames) < max {
		c.frames = make([]C.orbit_frame, max)
		c.payloads = make([]byte, max*len(c.buf))
	}
	var n C.size_t
	var cerr *C.char
	st := C.orbit_go_cursor_next_batch(c.h, &c.frames[0], C.size_t(max), bytesPtr(c.payloads), C.size_t(max*len(c.buf)), &n, &cerr)
	runtime.KeepAlive(c)
	if st == C.ORBIT_STATUS_EMPTY {
		return nil, nil
	}
	if err := errFrom(st, "next batch", cerr); err != nil {
		return nil, err
	}
	frames := c.frames[:n]
	used := 0
	for i := range frames {
		used += int(frames[i].len)
	}
	block := make([]byte, used)
	copy(block, c.payloads[:used])
	out := make([]Frame, len(frames))
	off := 0
	for i := range out {
		f := &frames[i]
		l := int(f.len)
		out[i] = Frame{uint64(f.id), uint64(f.ver), uint64(f.lost), uint8(f.kind), block[off : off+l : off+l]}
		off += l
	}
	return out, nil
}

// NextBatchInto reads up to len(frames) available frames in one cgo call
// without allocating: frames[:n] are filled and each Payload is a view into
// buf (payloads packed back to back), valid until buf is next written. Size
// buf as len(frames) times the ring's max payload and it never stops early
// for room. n is 0 at the head; StatusBufferTooSmall when buf cannot hold
// even the first frame.
func (c *Cursor) NextBatchInto(frames []Frame, buf []byte) (int, error) {
	if c.h == nil {
		return 0, ErrClosed
	}
	max := len(frames)
	if max == 0 {
		return 0, nil
	}
	if len(c.frames) < max {
		c.frames = make([]C.orbit_frame, max)
	}
	var n C.size_t
	var cerr *C.char
	st := C.orbit_go_cursor_next_batch(c.h, &c.frames[0], C.size_t(max), bytesPtr(buf), C.size_t(len(buf)), &n, &cerr)
	runtime.KeepAlive(c)
	runtime.KeepAlive(buf)
	if st == C.ORBIT_STATUS_EMPTY {
		return 0, nil
	}
	if err := errFrom(st, "next batch", cerr); err != nil {
		return 0, err
	}
	off := 0
	for i := range c.frames[:n] {
		f := &c.frames[i]
		l := int(f.len)
		frames[i] = Frame{uint64(f.id), uint64(f.ver), uint64(f.lost), uint8(f.kind), buf[off : off+l : off+l]}
		off += l
	}
	return int(n), nil
}

// Wait blocks until a frame is ready (true) or the timeout passes (false).
func (c *Cursor) Wait(timeout time.Duration) (bool, error) {
	if c.h == nil {
		return false, ErrClosed
	}
	var st C.orbit_status
	err := call("wait", func() C.orbit_status {
		st = C.orbit_cursor_wait(c.h, C.uint64_t(max(timeout.Nanoseconds(), 0))) // negative: no wait, not ~forever
		if st == C.ORBIT_STATUS_TIMEOUT {
			return C.ORBIT_STATUS_OK
		}
		return st
	})
	runtime.KeepAlive(c)
	return err == nil && st == C.ORBIT_STATUS_OK, err
}

// Lost is the total number of frames this cursor lost.
func (c *Cursor) Lost() uint64 {
	n := uint64(C.orbit_cursor_lost(c.h))
	runtime.KeepAlive(c)
	return n
}

// Close releases the cursor. Idempotent.
func (c *Cursor) Close() error {
	if c.h != nil {
		C.orbit_cursor_free(c.h)
		c.h = nil
		runtime.SetFinalizer(c, nil)
	}
	return nil
}
