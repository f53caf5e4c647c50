package orbit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func openBus(t testing.TB, o *BusOptions) (*Fleet, *Bus) {
	t.Helper()
	name := fleetName(t)
	t.Cleanup(func() { _ = UnlinkBus(name, "b") })
	f, err := Join(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	b, err := f.OpenBus("b", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return f, b
}

func TestBusFilterReplayAndBatch(t *testing.T) {
	_, b := openBus(t, &BusOptions{Capacity: 64, MaxPayload: 128})
	all, err := b.Subscribe("", FromOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	orders, err := b.Subscribe("orders.", FromHead)
	if err != nil {
		t.Fatal(err)
	}
	defer orders.Close()
	pub := []struct{ topic, payload string }{
		{"orders.paid", "42"}, {"users.new", "ann"}, {"orders.shipped", "43"}, {"orders.empty", ""},
	}
	var ids []uint64
	for _, p := range pub {
		id, err := b.Publish(p.topic, []byte(p.payload))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if ids[0]>>56 != 220 || ids[1] <= ids[0] {
		t.Fatalf("event ids %x", ids)
	}
	for _, want := range []int{0, 2, 3} {
		e, ok, err := orders.Next()
		if err != nil || !ok || e.Topic != pub[want].topic || string(e.Payload) != pub[want].payload ||
			e.ID != ids[want] || e.Lost != 0 || e.TimestampMs == 0 {
			t.Fatalf("orders event %d: %+v ok=%v err=%v", want, e, ok, err)
		}
	}
	if _, ok, err := orders.Next(); ok || err != nil {
		t.Fatalf("expected no more orders: ok=%v err=%v", ok, err)
	}
	evs, err := all.NextBatch(3)
	if err != nil || len(evs) != 3 || evs[1].Topic != "users.new" || string(evs[1].Payload) != "ann" ||
		evs[2].Topic != "orders.shipped" {
		t.Fatalf("batch: %+v %v", evs, err)
	}
	evs, err = all.NextBatch(16)
	if err != nil || len(evs) != 1 || evs[0].Topic != "orders.empty" || len(evs[0].Payload) != 0 {
		t.Fatalf("second batch: %+v %v", evs, err)
	}
	if ok, err := all.Wait(5 * time.Millisecond); ok || err != nil {
		t.Fatalf("wait on an empty bus: %v %v", ok, err)
	}
	if ok, err := all.Wait(-time.Second); ok || err != nil { // negative: a check, not a long wait
		t.Fatalf("negative wait: %v %v", ok, err)
	}
	late, _ := b.Subscribe("users.", FromOldest)
	defer late.Close()
	if e, ok, _ := late.Next(); !ok || string(e.Payload) != "ann" {
		t.Fatalf("late subscriber did not replay: %+v", e)
	}
}

func TestBusLossAndLargePayloads(t *testing.T) {
	_, b := openBus(t, &BusOptions{Capacity: 16, MaxPayload: 4096})
	s, _ := b.Subscribe("", FromOldest)
	defer s.Close()
	big := bytes.Repeat([]byte("z"), 3000) // larger than the subscription's first buffer
	for i := 0; i < 40; i++ {
		p := []byte(fmt.Sprint(i))
		if i == 39 {
			p = big
		}
		if _, err := b.Publish("t", p); err != nil {
			t.Fatal(err)
		}
	}
	e, ok, err := s.Next()
	if err != nil || !ok || e.Lost != 24 || string(e.Payload) != "24" || s.Lost() != 24 {
		t.Fatalf("first after loss: %+v ok=%v err=%v lost=%d", e, ok, err, s.Lost())
	}
	evs, err := s.NextBatch(32)
	if err != nil || len(evs) != 15 || !bytes.Equal(evs[14].Payload, big) || string(evs[13].Payload) != "38" {
		t.Fatalf("batch of %d (err %v)", len(evs), err)
	}
	if _, err := b.Publish("t", make([]byte, 4097)); !errors.Is(err, StatusTooLarge) {
		t.Fatalf("oversized payload: %v", err)
	}
	// An event larger than the buffers so far, first of a batch or alone,
	// is delivered whole (the buffers grow).
	s2, _ := b.Subscribe("", FromHead)
	defer s2.Close()
	s3, _ := b.Subscribe("", FromHead)
	defer s3.Close()
	_, _ = b.Publish("t", big)
	if evs, err := s2.NextBatch(1); err != nil || len(evs) != 1 || !bytes.Equal(evs[0].Payload, big) {
		t.Fatalf("big first event in a batch: %d %v", len(evs), err)
	}
	if e, ok, err := s3.Next(); err != nil || !ok || !bytes.Equal(e.Payload, big) {
		t.Fatalf("big event: %d %v %v", len(e.Payload), ok, err)
	}
}

func TestBusBadInput(t *testing.T) {
	_, b := openBus(t, nil)
	for _, topic := range []string{"", strings.Repeat("t", 256), "a\x00b", "\xff\xfe"} {
		_, err := b.Publish(topic, nil)
		var oe *Error
		if !errors.Is(err, StatusInvalidArgument) || !errors.As(err, &oe) || oe.Message == "" {
			t.Errorf("topic %q: want InvalidArgument with a message, got %v", topic, err)
		}
	}
	if _, err := b.Publish(strings.Repeat("t", 255), nil); err != nil {
		t.Errorf("255-byte topic: %v", err)
	}
	if _, err := b.Subscribe("x\x00", FromOldest); !errors.Is(err, StatusInvalidArgument) {
		t.Errorf("NUL in prefix: %v", err)
	}
	if _, err := b.Subscribe("", From(7)); !errors.Is(err, StatusInvalidArgument) {
		t.Errorf("bad from: %v", err)
	}
	s, _ := b.Subscribe("", FromOldest)
	s.Close()
	s.Close()
	if _, _, err := s.Next(); err != ErrClosed {
		t.Errorf("next after close: %v", err)
	}
	if _, err := s.NextBatch(2); err != ErrClosed {
		t.Errorf("batch after close: %v", err)
	}
	if _, err := s.Wait(0); err != ErrClosed {
		t.Errorf("wait after close: %v", err)
	}
	if s.Lost() != 0 {
		t.Error("lost after close")
	}
	b.Close()
	if _, err := b.Publish("t", nil); err != ErrClosed {
		t.Errorf("publish after close: %v", err)
	}
	if _, err := b.Subscribe("", FromOldest); err != ErrClosed {
		t.Errorf("subscribe after close: %v", err)
	}
	if err := UnlinkBus("no-such-fleet-xyz", "b"); !errors.Is(err, StatusNotExist) {
		t.Errorf("unlink absent: %v", err)
	}
}

// TestBusCrossProcess: a child process (this test binary) publishes, we
// subscribe and block in Wait.
func TestBusCrossProcess(t *testing.T) {
	f, b := openBus(t, &BusOptions{Capacity: 1024, MaxPayload: 64})
	s, _ := b.Subscribe("go.", FromHead)
	defer s.Close()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestChildPublisher$")
	cmd.Env = append(os.Environ(), "ORBIT_GO_CHILD="+f.Name)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	next := 0
	deadline := time.Now().Add(30 * time.Second)
	for next < 300 && time.Now().Before(deadline) {
		if ok, err := s.Wait(time.Second); err != nil || !ok {
			continue
		}
		evs, err := s.NextBatch(64)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.Topic != "go.child" || string(e.Payload) != fmt.Sprint(next) {
				t.Fatalf("event %d: %q %q", next, e.Topic, e.Payload)
			}
			next++
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if next != 300 || s.Lost() != 0 {
		t.Fatalf("received %d, lost %d", next, s.Lost())
	}
}

func TestChildPublisher(t *testing.T) {
	name := os.Getenv("ORBIT_GO_CHILD")
	if name == "" {
		t.Skip("child role only")
	}
	f, err := Join(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := f.OpenBus("b", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i := 0; i < 300; i++ {
		if i%2 == 0 { // filtered out by the parent's prefix
			if _, err := b.Publish("other", nil); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := b.Publish("go.child", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
}

func BenchmarkBusPublish64(b *testing.B) {
	_, bus := openBus(b, &BusOptions{Capacity: 1 << 16, MaxPayload: 64})
	p := make([]byte, 64)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := bus.Publish("orders.paid", p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSubscriptionNextBatch64(b *testing.B) {
	_, bus := openBus(b, &BusOptions{Capacity: 1 << 16, MaxPayload: 64})
	s, _ := bus.Subscribe("orders.", FromOldest)
	defer s.Close()
	p := make([]byte, 64)
	for i := 0; i < 1<<15; i++ {
		_, _ = bus.Publish("orders.paid", p)
	}
	b.ResetTimer()
	for i := 0; i < b.N; {
		evs, err := s.NextBatch(256)
		if err != nil {
			b.Fatal(err)
		}
		if len(evs) == 0 { // drained: replay from the oldest, outside the timer
			b.StopTimer()
			s.Close()
			s, _ = bus.Subscribe("orders.", FromOldest)
			b.StartTimer()
			continue
		}
		i += len(evs)
	}
}
