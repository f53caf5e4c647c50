package orbit

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteBatchNextBatchRoundTrip(t *testing.T) {
	name := fleetName(t)
	f, err := Join(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := f.OpenRing("r", &RingOptions{Capacity: 64, MaxPayload: 16, Kind: 9})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c, _ := r.Cursor(FromOldest)
	defer c.Close()
	if n, err := r.WriteBatch(nil, 0); n != 0 || err != nil {
		t.Fatalf("empty batch: %d %v", n, err)
	}
	if frames, err := c.NextBatch(8); frames != nil || err != nil {
		t.Fatalf("empty ring: %v %v", frames, err)
	}
	var ps [][]byte
	for i := 0; i < 40; i++ {
		ps = append(ps, bytes.Repeat([]byte{byte(i)}, i%17))
	}
	if n, err := r.WriteBatch(ps, 3); n != 40 || err != nil {
		t.Fatalf("wrote %d: %v", n, err)
	}
	first, err := c.NextBatch(25)
	if err != nil || len(first) != 25 {
		t.Fatalf("first batch %d %v", len(first), err)
	}
	rest, err := c.NextBatch(100)
	if err != nil || len(rest) != 15 {
		t.Fatalf("second batch %d %v", len(rest), err)
	}
	all := append(first, rest...)
	for i, fr := range all {
		if !bytes.Equal(fr.Payload, ps[i]) || fr.Kind != 3 || fr.ID>>56 != 9 || fr.Lost != 0 {
			t.Fatalf("frame %d: %+v", i, fr)
		}
	}
	// A later batch reuses the cursor's scratch: earlier results stay intact.
	if _, err := r.WriteBatch([][]byte{[]byte("overwrite-me")}, 0); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.NextBatch(4); len(got) != 1 || string(got[0].Payload) != "overwrite-me" || !bytes.Equal(all[1].Payload, ps[1]) {
		t.Fatalf("batch results share memory: %v", got)
	}
	if _, err := c.NextBatch(-1); !errors.Is(err, StatusInvalidArgument) {
		t.Fatalf("negative max: %v", err)
	}
	// Too large: refused before anything is written.
	info, _ := r.Info()
	if n, err := r.WriteBatch([][]byte{[]byte("ok"), make([]byte, 17)}, 0); n != 0 || !errors.Is(err, StatusTooLarge) {
		t.Fatalf("oversize batch: %d %v", n, err)
	}
	var oe *Error
	if _, err := r.WriteBatch([][]byte{make([]byte, 17)}, 0); !errors.As(err, &oe) || !strings.Contains(oe.Message, "17") {
		t.Fatalf("oversize error lacks detail: %v", err)
	}
	if after, _ := r.Info(); after.Head != info.Head {
		t.Fatalf("head moved from %d to %d", info.Head, after.Head)
	}
}

func TestCacheGetBatch(t *testing.T) {
	name := fleetName(t)
	t.Cleanup(func() { _ = UnlinkCache(name, "c") })
	f, _ := Join(name, nil)
	defer f.Close()
	c, err := f.OpenCache("c", &CacheOptions{Capacity: 1024, MaxKey: 16, MaxValue: 32})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var keys [][]byte
	for i := 0; i < 20; i++ {
		k := []byte(fmt.Sprintf("k%d", i))
		keys = append(keys, k)
		if err := c.Set(k, bytes.Repeat([]byte("v"), i), 0); err != nil {
			t.Fatal(err)
		}
	}
	vals, err := c.GetBatch(append(keys, []byte("absent")))
	if err != nil || len(vals) != 21 {
		t.Fatalf("%d values: %v", len(vals), err)
	}
	for i := 0; i < 20; i++ {
		if vals[i] == nil || !bytes.Equal(vals[i], bytes.Repeat([]byte("v"), i)) {
			t.Fatalf("value %d: %q", i, vals[i])
		}
	}
	if vals[20] != nil {
		t.Fatalf("absent key: %q", vals[20])
	}
	if vals, err := c.GetBatch(nil); vals != nil || err != nil {
		t.Fatalf("empty batch: %v %v", vals, err)
	}
	if _, err := c.GetBatch([][]byte{[]byte("k1"), make([]byte, 17)}); !errors.Is(err, StatusTooLarge) {
		t.Fatalf("oversize key: %v", err)
	}
	if _, err := c.GetBatch([][]byte{[]byte("k1"), {}}); !errors.Is(err, StatusInvalidArgument) {
		t.Fatalf("empty key: %v", err)
	}
}

func TestClosedHandlesReturnErrClosed(t *testing.T) {
	name := fleetName(t)
	t.Cleanup(func() { _ = UnlinkCache(name, "c") })
	f, _ := Join(name, nil)
	r, err := f.OpenRing("r", &RingOptions{Capacity: 8, MaxPayload: 8})
	if err != nil {
		t.Fatal(err)
	}
	cur, _ := r.Cursor(FromOldest)
	c, err := f.OpenCache("c", &CacheOptions{Capacity: 64, MaxKey: 8, MaxValue: 8})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []interface{ Close() error }{cur, r, c, f} {
		if h.Close() != nil || h.Close() != nil {
			t.Fatal("close is idempotent and returns nil")
		}
	}
	checks := map[string]error{}
	_, checks["Write"] = r.Write([]byte("x"), 0, 0)
	_, checks["WriteBatch"] = r.WriteBatch([][]byte{[]byte("x")}, 0)
	_, checks["Read"] = r.Read(1)
	_, checks["Info"] = r.Info()
	_, checks["Cursor"] = r.Cursor(FromOldest)
	_, _, checks["Next"] = cur.Next()
	_, checks["NextBatch"] = cur.NextBatch(4)
	_, checks["Wait"] = cur.Wait(0)
	_, _, _, checks["Get"] = c.Get([]byte("k"))
	_, checks["GetBatch"] = c.GetBatch([][]byte{[]byte("k")})
	checks["Set"] = c.Set([]byte("k"), []byte("v"), 0)
	_, checks["Incr"] = c.Incr([]byte("n"), 1, 0)
	checks["Delete"] = c.Delete([]byte("k"))
	_, checks["Stats"] = c.Stats()
	_, checks["OpenRing"] = f.OpenRing("r", nil)
	_, checks["OpenCache"] = f.OpenCache("c", nil)
	for op, err := range checks {
		if err != ErrClosed {
			t.Errorf("%s on a closed handle: %v, want ErrClosed", op, err)
		}
	}
	if cur.Lost() != 0 {
		t.Error("Lost of a closed cursor")
	}
}

// TestOtherABIVersionIsRefused runs this test binary again with a library
// that reports another C ABI version interposed (LD_PRELOAD): the package's
// init must refuse it, naming both versions.
func TestOtherABIVersionIsRefused(t *testing.T) {
	if os.Getenv("ORBIT_GO_ABI_CHILD") != "" {
		t.Fatal("init accepted a library of C ABI version 999")
	}
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler to build a library of another ABI version")
	}
	dir := t.TempDir()
	src, so := filepath.Join(dir, "fake.c"), filepath.Join(dir, "libfakeorbit.so")
	fake := "#include <stdint.h>\nuint32_t orbit_abi_version(void) { return 999; }\n"
	if err := os.WriteFile(src, []byte(fake), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(cc, "-shared", "-fPIC", "-o", so, src).CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestOtherABIVersionIsRefused$")
	cmd.Env = append(os.Environ(), "ORBIT_GO_ABI_CHILD=1", "LD_PRELOAD="+so)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the child started with a library of another ABI version:\n%s", out)
	}
	if !strings.Contains(string(out), "C ABI version 999") || !strings.Contains(string(out), fmt.Sprintf("needs C ABI version %d", ABIVersion)) {
		t.Fatalf("the refusal does not name both versions:\n%s", out)
	}
}

func TestBatchIntoCallerBuffers(t *testing.T) {
	name := fleetName(t)
	t.Cleanup(func() { _ = UnlinkCache(name, "c") })
	f, _ := Join(name, nil)
	defer f.Close()
	r, err := f.OpenRing("r", &RingOptions{Capacity: 64, MaxPayload: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cur, _ := r.Cursor(FromOldest)
	defer cur.Close()
	if _, err := r.WriteBatch([][]byte{[]byte("a"), []byte("bb"), {}, []byte("dddd")}, 5); err != nil {
		t.Fatal(err)
	}
	frames := make([]Frame, 3)
	buf := make([]byte, 3*8)
	if n, err := cur.NextBatchInto(frames, buf); n != 3 || err != nil || string(frames[1].Payload) != "bb" ||
		len(frames[2].Payload) != 0 || frames[0].Kind != 5 || string(buf[:3]) != "abb" {
		t.Fatalf("first: %d %v %+v", n, err, frames)
	}
	if n, err := cur.NextBatchInto(frames, buf[:2]); n != 0 || !errors.Is(err, StatusBufferTooSmall) {
		t.Fatalf("too small: %d %v", n, err)
	}
	if n, err := cur.NextBatchInto(frames, buf); n != 1 || err != nil || string(frames[0].Payload) != "dddd" {
		t.Fatalf("last: %d %v", n, err)
	}
	if n, err := cur.NextBatchInto(frames, buf); n != 0 || err != nil {
		t.Fatalf("head: %d %v", n, err)
	}

	c, err := f.OpenCache("c", &CacheOptions{Capacity: 64, MaxKey: 8, MaxValue: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.Set([]byte("a"), []byte("1"), 0)
	_ = c.Set([]byte("b"), []byte("22"), 0)
	keys := [][]byte{[]byte("a"), []byte("x"), []byte("b")}
	vals := make([][]byte, 3)
	vbuf := make([]byte, 3*8)
	if err := c.GetBatchInto(keys, vals, vbuf); err != nil || string(vals[0]) != "1" || vals[1] != nil || string(vals[2]) != "22" {
		t.Fatalf("get into: %v %q", err, vals)
	}
	if err := c.GetBatchInto(keys, vals[:2], vbuf); !errors.Is(err, StatusInvalidArgument) {
		t.Fatalf("short vals: %v", err)
	}
	if err := c.GetBatchInto(keys, vals, vbuf[:2]); !errors.Is(err, StatusBufferTooSmall) {
		t.Fatalf("short buf: %v", err)
	}
	cur.Close()
	c.Close()
	if _, err := cur.NextBatchInto(frames, buf); err != ErrClosed {
		t.Fatalf("closed cursor: %v", err)
	}
	if err := c.GetBatchInto(keys, vals, vbuf); err != ErrClosed {
		t.Fatalf("closed cache: %v", err)
	}
}
