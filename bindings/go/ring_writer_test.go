package orbit

import (
	"bytes"
	"errors"
	"testing"
)

func TestSingleWriterRing(t *testing.T) {
	name := fleetName(t)
	f, err := Join(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := f.OpenRing("r", &RingOptions{Capacity: 16, MaxPayload: 32, Kind: 3, SingleWriter: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if info, err := r.Info(); err != nil || !info.SingleWriter {
		t.Fatalf("info %+v, err %v: want SingleWriter", info, err)
	}
	if _, err := r.Write([]byte("refused"), 0, 0); !errors.Is(err, StatusInvalidArgument) {
		t.Fatalf("Ring.Write on a single-writer ring: want InvalidArgument, got %v", err)
	}
	if _, err := r.WriteBatch([][]byte{[]byte("a")}, 0); !errors.Is(err, StatusInvalidArgument) {
		t.Fatalf("Ring.WriteBatch on a single-writer ring: want InvalidArgument, got %v", err)
	}
	c, err := r.Cursor(FromOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w, err := r.Writer()
	if err != nil {
		t.Fatal(err)
	}
	payloads := [][]byte{[]byte("first"), nil, bytes.Repeat([]byte{'x'}, 32)}
	var ids []uint64
	for i, p := range payloads {
		id, err := w.Write(p, uint8(i), uint64(10+i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if ids[0]>>56 != 3 {
		t.Fatalf("id kind %x", ids[0])
	}
	if _, err := w.Write(make([]byte, 33), 0, 0); !errors.Is(err, StatusTooLarge) {
		t.Fatalf("want TooLarge, got %v", err)
	}
	if _, err := r.Writer(); !errors.Is(err, StatusConflict) {
		t.Fatalf("second writer: want Conflict, got %v", err)
	}
	for i, p := range payloads {
		fr, ok, err := c.Next()
		if err != nil || !ok || fr.ID != ids[i] || int(fr.Kind) != i || fr.Ver != uint64(10+i) || !bytes.Equal(fr.Payload, p) || fr.Lost != 0 {
			t.Fatalf("frame %d: %+v ok=%v err=%v", i, fr, ok, err)
		}
	}
	if _, ok, _ := c.Next(); ok {
		t.Fatal("expected empty")
	}
	w.Close()
	w.Close()
	if _, err := w.Write(nil, 0, 0); err != ErrClosed {
		t.Fatalf("want ErrClosed, got %v", err)
	}
	w2, err := r.Writer() // the role is free again
	if err != nil {
		t.Fatalf("writer after the first closed: %v", err)
	}
	defer w2.Close()
	r.Close() // the writer keeps the ring mapped
	if _, err := w2.Write([]byte("again"), 0, 0); err != nil {
		t.Fatal(err)
	}
	if fr, ok, err := c.Next(); err != nil || !ok || string(fr.Payload) != "again" {
		t.Fatalf("after the ring handle closed: %+v ok=%v err=%v", fr, ok, err)
	}
	if _, err := r.Writer(); err != ErrClosed {
		t.Fatalf("Writer of a closed ring: want ErrClosed, got %v", err)
	}
}

func TestRingWriterRefused(t *testing.T) {
	name := fleetName(t)
	f, err := Join(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := f.OpenRing("r", &RingOptions{Capacity: 8, MaxPayload: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if info, err := r.Info(); err != nil || info.SingleWriter {
		t.Fatalf("info %+v, err %v: want a multi-writer ring", info, err)
	}
	if _, err := r.Writer(); !errors.Is(err, StatusInvalidArgument) {
		t.Fatalf("writer on a multi-writer ring: want InvalidArgument, got %v", err)
	}
	sw, err := f.OpenRing("x", &RingOptions{Capacity: 8, MaxPayload: 8, SingleWriter: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	o, err := Observe(name)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	ro, err := o.OpenRing("x", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if info, err := ro.Info(); err != nil || !info.SingleWriter {
		t.Fatalf("observer's info %+v, err %v: want SingleWriter", info, err)
	}
	if _, err := ro.Writer(); !errors.Is(err, StatusReadOnly) {
		t.Fatalf("writer through an observer: want ReadOnly, got %v", err)
	}
}
