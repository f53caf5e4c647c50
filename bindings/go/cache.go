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
	"unsafe"
)

// CacheOptions fixes a cache's limits at creation; zero fields take the library defaults.
type CacheOptions struct {
	Capacity uint64 // entries, a power of two
	MaxKey   uint32
	MaxValue uint32
	Mode     uint32
}

// CacheMeta is an entry's version (NetId64 of its write) and expiry.
type CacheMeta struct {
	Version     uint64
	ExpiresAtMs uint64
}

// CacheStats are counters summed over the fleet.
type CacheStats struct {
	Entries, Hits, Misses, Sets, Evictions, Deletes, Takeovers, Clears, Capacity uint64
	MaxKey, MaxValue                                                             uint32
}

// Cache is a fleet-shared key/value cache. Safe for concurrent use.
type Cache struct {
	h        *C.orbit_cache
	fleet    *Fleet
	maxValue int
}

// OpenCache opens cache name; o == nil attaches to what exists or creates defaults.
func (f *Fleet) OpenCache(name string, o *CacheOptions) (*Cache, error) {
	if f.h == nil {
		return nil, ErrClosed
	}
	cname := cstr(name)
	defer C.free(unsafe.Pointer(cname))
	var opts *C.orbit_cache_options
	var c C.orbit_cache_options
	if o != nil {
		C.orbit_cache_options_init(&c)
		if o.Capacity != 0 {
			c.capacity = C.uint64_t(o.Capacity)
		}
		if o.MaxKey != 0 {
			c.max_key = C.uint32_t(o.MaxKey)
		}
		if o.MaxValue != 0 {
			c.max_value = C.uint32_t(o.MaxValue)
		}
		c.mode = C.uint32_t(o.Mode)
		opts = &c
	}
	var h *C.orbit_cache
	err := call("open cache "+name, func() C.orbit_status { return C.orbit_cache_open(f.h, cname, opts, &h) })
	runtime.KeepAlive(f)
	if err != nil {
		return nil, err
	}
	cache := &Cache{h: h, fleet: f}
	runtime.SetFinalizer(cache, (*Cache).Close)
	st, err := cache.Stats()
	if err != nil {
		cache.Close()
		return nil, err
	}
	cache.maxValue = int(st.MaxValue)
	return cache, nil
}

// Get returns a copy of key's value; ok=false when absent, expired or evicted.
func (c *Cache) Get(key []byte) (value []byte, meta CacheMeta, ok bool, err error) {
	if c.h == nil {
		return nil, meta, false, ErrClosed
	}
	buf := make([]byte, c.maxValue+1)
	var n C.size_t
	var m C.orbit_cache_meta
	var cerr *C.char
	st := C.orbit_go_cache_get(c.h, bytesPtr(key), C.size_t(len(key)), bytesPtr(buf), C.size_t(len(buf)), &n, &m, &cerr)
	runtime.KeepAlive(key)
	runtime.KeepAlive(buf)
	runtime.KeepAlive(c)
	if st == C.ORBIT_STATUS_NOT_FOUND {
		return nil, meta, false, nil
	}
	if err = errFrom(st, "get", cerr); err != nil {
		return nil, meta, false, err
	}
	return buf[:n:n], CacheMeta{uint64(m.version), uint64(m.expires_at_ms)}, true, nil
}

// GetBatch looks up every key in one cgo call (orbit_cache_get_batch) and
// returns their values in key order: nil for a key absent, expired or evicted
// (a present empty value is a non-nil empty slice). The values are copies
// sharing one allocation. Each value is read atomically; the batch as a whole
// is not a snapshot. No metadata: use Get for versions and expiry.
func (c *Cache) GetBatch(keys [][]byte) ([][]byte, error) {
	if c.h == nil {
		return nil, ErrClosed
	}
	if len(keys) == 0 {
		return nil, nil
	}
	n := len(keys)
	b := getScratch()
	defer putScratch(b)
	if need := n * c.maxValue; len(b.out) < need {
		b.out = make([]byte, need)
	}
	views := make([][]byte, n)
	if err := c.GetBatchInto(keys, views, b.out); err != nil {
		return nil, err
	}
	// The views are packed back to back at the start of b.out: copy them
	// out in one allocation.
	used := 0
	for _, v := range views {
		used += len(v)
	}
	block := make([]byte, used)
	copy(block, b.out[:used])
	off := 0
	for i, v := range views {
		if v != nil {
			views[i] = block[off : off+len(v) : off+len(v)]
			off += len(v)
		}
	}
	return views, nil
}

// GetBatchInto looks up every key in one cgo call without allocating: vals
// (at least len(keys) long) receives each value as a view into buf (values
// packed back to back, valid until buf is next written), nil for a key
// absent. Size buf as len(keys) times the cache's max value; a smaller buf
// may give StatusBufferTooSmall.
func (c *Cache) GetBatchInto(keys, vals [][]byte, buf []byte) error {
	if c.h == nil {
		return ErrClosed
	}
	n := len(keys)
	if len(vals) < n {
		return &Error{Status: StatusInvalidArgument, Op: "get batch", Message: fmt.Sprintf("%d values for %d keys", len(vals), n)}
	}
	if n == 0 {
		return nil
	}
	b := getScratch()
	defer putScratch(b)
	b.data, b.lens = b.data[:0], b.lens[:0]
	for _, k := range keys {
		b.data = append(b.data, k...)
		b.lens = append(b.lens, C.size_t(len(k)))
	}
	if cap(b.vlens) < n {
		b.vlens = make([]C.size_t, n)
		b.statuses = make([]C.orbit_status, n)
	}
	vlens, statuses := b.vlens[:n], b.statuses[:n]
	var done C.size_t
	var cerr *C.char
	st := C.orbit_go_cache_get_batch(c.h, bytesPtr(b.data), &b.lens[0], C.size_t(n), bytesPtr(buf), C.size_t(len(buf)),
		&vlens[0], &statuses[0], &done, &cerr)
	runtime.KeepAlive(c)
	runtime.KeepAlive(buf)
	if err := errFrom(st, "get batch", cerr); err != nil {
		return err
	}
	off := 0
	for i := 0; i < n; i++ {
		if statuses[i] == C.ORBIT_STATUS_OK {
			l := int(vlens[i])
			vals[i] = buf[off : off+l : off+l]
			off += l
		} else {
			vals[i] = nil
		}
	}
	return nil
}

func (c *Cache) kv(op string, key, val []byte, f func(k, v unsafe.Pointer) C.orbit_status) error {
	if c.h == nil {
		return ErrClosed
	}
	err := call(op, func() C.orbit_status { return f(bytesPtr(key), bytesPtr(val)) })
	runtime.KeepAlive(key)
	runtime.KeepAlive(val)
	runtime.KeepAlive(c)
	return err
}

// Set stores value under key; ttlMs 0 means no expiry.
func (c *Cache) Set(key, value []byte, ttlMs uint64) error {
	return c.kv("set", key, value, func(k, v unsafe.Pointer) C.orbit_status {
		return C.orbit_cache_set(c.h, k, C.size_t(len(key)), v, C.size_t(len(value)), C.uint64_t(ttlMs))
	})
}

// Add stores only if key is absent (errors.Is(err, StatusConflict) otherwise).
func (c *Cache) Add(key, value []byte, ttlMs uint64) error {
	return c.kv("add", key, value, func(k, v unsafe.Pointer) C.orbit_status {
		return C.orbit_cache_add(c.h, k, C.size_t(len(key)), v, C.size_t(len(value)), C.uint64_t(ttlMs))
	})
}

// CAS stores only if the entry's version is still expected (StatusConflict / StatusNotFound otherwise).
func (c *Cache) CAS(key []byte, expected uint64, value []byte, ttlMs uint64) error {
	return c.kv("cas", key, value, func(k, v unsafe.Pointer) C.orbit_status {
		return C.orbit_cache_cas(c.h, k, C.size_t(len(key)), C.uint64_t(expected), v, C.size_t(len(value)), C.uint64_t(ttlMs))
	})
}

// Incr adds delta to an 8-byte counter (created at delta) and returns the new value.
func (c *Cache) Incr(key []byte, delta int64, ttlMs uint64) (int64, error) {
	var out C.int64_t
	err := c.kv("incr", key, nil, func(k, _ unsafe.Pointer) C.orbit_status {
		return C.orbit_cache_incr(c.h, k, C.size_t(len(key)), C.int64_t(delta), C.uint64_t(ttlMs), &out)
	})
	return int64(out), err
}

// Delete removes key (StatusNotFound if absent).
func (c *Cache) Delete(key []byte) error {
	return c.kv("delete", key, nil, func(k, _ unsafe.Pointer) C.orbit_status {
		return C.orbit_cache_delete(c.h, k, C.size_t(len(key)))
	})
}

// Clear makes every entry a miss, for every process.
func (c *Cache) Clear() error {
	return c.kv("clear", nil, nil, func(_, _ unsafe.Pointer) C.orbit_status { return C.orbit_cache_clear(c.h) })
}

// Stats returns the fleet-wide counters.
func (c *Cache) Stats() (CacheStats, error) {
	if c.h == nil {
		return CacheStats{}, ErrClosed
	}
	var s C.orbit_cache_stats
	err := call("stat", func() C.orbit_status { return C.orbit_cache_stat(c.h, &s) })
	runtime.KeepAlive(c)
	return CacheStats{uint64(s.entries), uint64(s.hits), uint64(s.misses), uint64(s.sets), uint64(s.evictions),
		uint64(s.deletes), uint64(s.takeovers), uint64(s.clears), uint64(s.capacity), uint32(s.max_key),
		uint32(s.max_value)}, err
}

// Close releases the handle. Idempotent.
func (c *Cache) Close() error {
	if c.h != nil {
		C.orbit_cache_free(c.h)
		c.h = nil
		runtime.SetFinalizer(c, nil)
	}
	return nil
}

// UnlinkCache removes a cache's segment.
func UnlinkCache(fleet, name string) error {
	cf, cn := cstr(fleet), cstr(name)
	defer C.free(unsafe.Pointer(cf))
	defer C.free(unsafe.Pointer(cn))
	return call("unlink cache", func() C.orbit_status { return C.orbit_cache_unlink(cf, cn) })
}
