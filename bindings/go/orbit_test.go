package orbit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

func fleetName(t testing.TB) string {
	name := fmt.Sprintf("go%d-%d", os.Getpid(), time.Now().UnixNano()%1_000_000_000)
	t.Cleanup(func() {
		for _, r := range []string{"r", "x"} {
			_ = UnlinkRing(name, r)
		}
		_ = UnlinkFleet(name)
	})
	return name
}

func TestRingRoundTrip(t *testing.T) {
	name := fleetName(t)
	f, err := Join(name, &FleetOptions{Label: "go-test"})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.NodeID() == 0 {
		t.Fatal("member without node id")
	}
	r, err := f.OpenRing("r", &RingOptions{Capacity: 8, MaxPayload: 64, Kind: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var ids []uint64
	for i := 0; i < 5; i++ {
		id, err := r.Write(bytes.Repeat([]byte{byte(i)}, i), uint8(i), uint64(100+i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if ids[0]>>56 != 4 {
		t.Fatalf("id kind %x", ids[0])
	}
	got, err := r.Read(ids[3])
	if err != nil || !bytes.Equal(got.Payload, []byte{3, 3, 3}) {
		t.Fatalf("read: %v %v", got, err)
	}
	c, err := r.Cursor(FromOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 5; i++ {
		fr, ok, err := c.Next()
		if err != nil || !ok || fr.Ver != uint64(100+i) || int(fr.Kind) != i || len(fr.Payload) != i || fr.Lost != 0 {
			t.Fatalf("frame %d: %+v ok=%v err=%v", i, fr, ok, err)
		}
	}
	if _, ok, _ := c.Next(); ok {
		t.Fatal("expected empty")
	}
}

func TestErrorsAndStatus(t *testing.T) {
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
	_, err = r.Write(make([]byte, 9), 0, 0)
	if !errors.Is(err, StatusTooLarge) {
		t.Fatalf("want TooLarge, got %v", err)
	}
	var oe *Error
	if !errors.As(err, &oe) || oe.Message == "" {
		t.Fatalf("error lacks detail: %#v", err)
	}
	if _, err := f.OpenRing("bad/name", nil); !errors.Is(err, StatusInvalidArgument) {
		t.Fatalf("want InvalidArgument, got %v", err)
	}
	if _, err := f.OpenRing("r", &RingOptions{Capacity: 16, MaxPayload: 8}); !errors.Is(err, StatusIncompatible) {
		t.Fatalf("want Incompatible, got %v", err)
	}
	r.Close()
	r.Close()
	if _, err := r.Write(nil, 0, 0); err != ErrClosed {
		t.Fatalf("want ErrClosed, got %v", err)
	}
}

func TestBatchAndLoss(t *testing.T) {
	name := fleetName(t)
	f, _ := Join(name, nil)
	defer f.Close()
	r, err := f.OpenRing("r", &RingOptions{Capacity: 16, MaxPayload: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c, _ := r.Cursor(FromOldest)
	defer c.Close()
	var ps [][]byte
	for i := 0; i < 50; i++ {
		ps = append(ps, []byte(strconv.Itoa(i)))
	}
	if n, err := r.WriteBatch(ps, 1); n != 50 || err != nil {
		t.Fatalf("batch wrote %d: %v", n, err)
	}
	frames, err := c.NextBatch(64)
	if err != nil || len(frames) != 16 || frames[0].Lost != 34 || string(frames[15].Payload) != "49" || c.Lost() != 34 {
		t.Fatalf("%d frames, first lost %d, err %v", len(frames), frames[0].Lost, err)
	}
	start := time.Now()
	if ok, err := c.Wait(-time.Hour); ok || err != nil || time.Since(start) > time.Second {
		t.Fatalf("a negative wait is a check, not a long wait: %v %v", ok, err)
	}
}

// TestCrossProcess: a child process (this test binary) writes, we read.
func TestCrossProcess(t *testing.T) {
	if os.Getenv("ORBIT_GO_CHILD") != "" {
		return
	}
	name := fleetName(t)
	f, _ := Join(name, nil)
	defer f.Close()
	r, err := f.OpenRing("x", &RingOptions{Capacity: 1024, MaxPayload: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c, _ := r.Cursor(FromHead)
	defer c.Close()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestChildWriter$")
	cmd.Env = append(os.Environ(), "ORBIT_GO_CHILD="+name)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	next := uint64(0)
	deadline := time.Now().Add(30 * time.Second)
	for next < 300 && time.Now().Before(deadline) {
		if ok, err := c.Wait(time.Second); err != nil || !ok {
			continue
		}
		for {
			fr, ok, err := c.Next()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			if fr.Ver != next {
				t.Fatalf("got ver %d want %d", fr.Ver, next)
			}
			next++
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if next != 300 || c.Lost() != 0 {
		t.Fatalf("received %d, lost %d", next, c.Lost())
	}
}

func TestChildWriter(t *testing.T) {
	name := os.Getenv("ORBIT_GO_CHILD")
	if name == "" {
		t.Skip("child role only")
	}
	f, err := Join(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := f.OpenRing("x", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i := 0; i < 300; i++ {
		if _, err := r.Write([]byte("go"), 0, uint64(i)); err != nil {
			t.Fatal(err)
		}
	}
}

func BenchmarkRingWrite64(b *testing.B) {
	name := fleetName(b)
	f, _ := Join(name, nil)
	defer f.Close()
	r, err := f.OpenRing("r", &RingOptions{Capacity: 1 << 16, MaxPayload: 64})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	p := make([]byte, 64)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := r.Write(p, 0, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRingWriteBatch64(b *testing.B) {
	name := fleetName(b)
	f, _ := Join(name, nil)
	defer f.Close()
	r, err := f.OpenRing("r", &RingOptions{Capacity: 1 << 16, MaxPayload: 64})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	batch := make([][]byte, 256)
	for i := range batch {
		batch[i] = make([]byte, 64)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i += len(batch) {
		if _, err := r.WriteBatch(batch, 0); err != nil {
			b.Fatal(err)
		}
	}
}
