package orbit

import (
	"errors"
	"testing"
)

func TestCache(t *testing.T) {
	name := fleetName(t)
	t.Cleanup(func() { _ = UnlinkCache(name, "c") })
	f, err := Join(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := f.OpenCache("c", &CacheOptions{Capacity: 1024, MaxKey: 32, MaxValue: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Set([]byte("k"), []byte("v1"), 0); err != nil {
		t.Fatal(err)
	}
	v, meta, ok, err := c.Get([]byte("k"))
	if !ok || err != nil || string(v) != "v1" || meta.Version == 0 {
		t.Fatalf("get: %q %v %v %v", v, meta, ok, err)
	}
	if err := c.Add([]byte("k"), []byte("x"), 0); !errors.Is(err, StatusConflict) {
		t.Fatalf("add: %v", err)
	}
	if err := c.CAS([]byte("k"), meta.Version, []byte("v2"), 0); err != nil {
		t.Fatal(err)
	}
	if err := c.CAS([]byte("k"), meta.Version, []byte("v3"), 0); !errors.Is(err, StatusConflict) {
		t.Fatalf("stale cas: %v", err)
	}
	if n, err := c.Incr([]byte("n"), 7, 0); n != 7 || err != nil {
		t.Fatalf("incr %d %v", n, err)
	}
	if _, err := c.Incr([]byte("k"), 1, 0); !errors.Is(err, StatusInvalidArgument) {
		t.Fatalf("incr non-counter: %v", err)
	}
	if err := c.Set(make([]byte, 33), nil, 0); !errors.Is(err, StatusTooLarge) {
		t.Fatalf("big key: %v", err)
	}
	if err := c.Delete([]byte("k")); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete([]byte("k")); !errors.Is(err, StatusNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	if _, _, ok, _ := c.Get([]byte("k")); ok {
		t.Fatal("deleted key found")
	}
	if st, err := c.Stats(); err != nil || st.Sets < 2 || st.Capacity != 1024 {
		t.Fatalf("stats %+v %v", st, err)
	}
}

func BenchmarkCacheGetHit(b *testing.B) {
	name := fleetName(b)
	b.Cleanup(func() { _ = UnlinkCache(name, "c") })
	f, _ := Join(name, nil)
	defer f.Close()
	c, err := f.OpenCache("c", &CacheOptions{Capacity: 1 << 16, MaxKey: 16, MaxValue: 64})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	key := []byte("0123456789abcdef")
	_ = c.Set(key, make([]byte, 64), 0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, ok, _ := c.Get(key); !ok {
			b.Fatal("miss")
		}
	}
}
