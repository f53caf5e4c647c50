// The Go side of `make bench-bindings`: the operations of bench.c (same
// geometry, same loops) through the Go binding, one cgo call per operation
// and through the batch calls (one cgo call per batch of 64).
//
// usage: bench_go <fleet> <reps>
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"orbit"
)

const (
	capacity   = 65536
	payloadLen = 64
	nKeys      = 64
	keyLen     = 16
	batchLen   = 64
	nOps       = 1 << 19
	readRounds = 8
)

func must(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench_go: %s: %v\n", what, err)
		os.Exit(1)
	}
}

type bench struct {
	ring    *orbit.Ring
	cache   *orbit.Cache
	payload []byte
	batch   [][]byte
	keys    [][]byte
}

func (b *bench) ringWriteSingle() float64 {
	t := time.Now()
	for i := 0; i < nOps; i++ {
		_, err := b.ring.Write(b.payload, 0, 0)
		must(err, "write")
	}
	return float64(time.Since(t).Nanoseconds()) / nOps
}

func (b *bench) ringWriteBatch() float64 {
	t := time.Now()
	for i := 0; i < nOps/batchLen; i++ {
		_, err := b.ring.WriteBatch(b.batch, 0)
		must(err, "write batch")
	}
	return float64(time.Since(t).Nanoseconds()) / nOps
}

// cursorNext reads with Next (form "single"), NextBatch ("batch": copies out)
// or NextBatchInto ("batch-view": views into a reused buffer, no allocation).
func (b *bench) cursorNext(form string) float64 {
	frames := make([]orbit.Frame, batchLen)
	buf := make([]byte, batchLen*payloadLen)
	var total time.Duration
	for round := 0; round < readRounds; round++ {
		for i := 0; i < capacity/batchLen; i++ {
			_, err := b.ring.WriteBatch(b.batch, 0)
			must(err, "fill")
		}
		c, err := b.ring.Cursor(orbit.FromOldest)
		must(err, "cursor")
		got := 0
		t := time.Now()
		switch form {
		case "batch":
			for got < capacity {
				frames, err := c.NextBatch(batchLen)
				must(err, "next batch")
				got += len(frames)
			}
		case "batch-view":
			for got < capacity {
				n, err := c.NextBatchInto(frames, buf)
				must(err, "next batch into")
				got += n
			}
		default:
			for ; got < capacity; got++ {
				_, ok, err := c.Next()
				must(err, "next")
				if !ok {
					must(fmt.Errorf("ring ran dry after %d frames", got), "next")
				}
			}
		}
		total += time.Since(t)
		c.Close()
	}
	return float64(total.Nanoseconds()) / float64(readRounds*capacity)
}

func (b *bench) cacheGetSingle() float64 {
	t := time.Now()
	for i := 0; i < nOps; i++ {
		_, _, ok, err := b.cache.Get(b.keys[i%nKeys])
		must(err, "get")
		if !ok {
			must(fmt.Errorf("miss"), "get")
		}
	}
	return float64(time.Since(t).Nanoseconds()) / nOps
}

func (b *bench) cacheGetBatch() float64 {
	t := time.Now()
	for i := 0; i < nOps/nKeys; i++ {
		vals, err := b.cache.GetBatch(b.keys)
		must(err, "get batch")
		if vals[nKeys-1] == nil {
			must(fmt.Errorf("miss"), "get batch")
		}
	}
	return float64(time.Since(t).Nanoseconds()) / nOps
}

func (b *bench) cacheGetBatchView() float64 {
	vals := make([][]byte, nKeys)
	buf := make([]byte, nKeys*payloadLen)
	t := time.Now()
	for i := 0; i < nOps/nKeys; i++ {
		must(b.cache.GetBatchInto(b.keys, vals, buf), "get batch into")
		if vals[nKeys-1] == nil {
			must(fmt.Errorf("miss"), "get batch into")
		}
	}
	return float64(time.Since(t).Nanoseconds()) / nOps
}

func report(op, form string, batch, reps int, fn func() float64) {
	fn() // warm-up
	ns := make([]string, reps)
	for r := range ns {
		ns[r] = strconv.FormatFloat(fn(), 'f', 3, 64)
	}
	fmt.Printf("{\"lang\": \"go\", \"op\": %q, \"form\": %q, \"batch\": %d, \"ns\": [%s]}\n", op, form, batch,
		strings.Join(ns, ", "))
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: bench_go <fleet> <reps>")
		os.Exit(2)
	}
	name := os.Args[1]
	reps, err := strconv.Atoi(os.Args[2])
	must(err, "reps")
	f, err := orbit.Join(name, nil)
	must(err, "join")
	r, err := f.OpenRing("bench-ring", &orbit.RingOptions{Capacity: capacity, MaxPayload: payloadLen})
	must(err, "open ring")
	c, err := f.OpenCache("bench-cache", &orbit.CacheOptions{Capacity: capacity, MaxKey: keyLen, MaxValue: payloadLen})
	must(err, "open cache")
	b := &bench{ring: r, cache: c, payload: []byte(strings.Repeat("x", payloadLen))}
	for i := 0; i < batchLen; i++ {
		b.batch = append(b.batch, b.payload)
	}
	for i := 0; i < nKeys; i++ {
		k := []byte(fmt.Sprintf("key-%012d", i))
		b.keys = append(b.keys, k)
		must(c.Set(k, b.payload, 0), "set")
	}
	report("ring_write", "single", 1, reps, b.ringWriteSingle)
	report("ring_write", "batch", batchLen, reps, b.ringWriteBatch)
	report("cursor_next", "single", 1, reps, func() float64 { return b.cursorNext("single") })
	report("cursor_next", "batch", batchLen, reps, func() float64 { return b.cursorNext("batch") })
	report("cursor_next", "batch-view", batchLen, reps, func() float64 { return b.cursorNext("batch-view") })
	report("cache_get", "single", 1, reps, b.cacheGetSingle)
	report("cache_get", "batch", nKeys, reps, b.cacheGetBatch)
	report("cache_get", "batch-view", nKeys, reps, b.cacheGetBatchView)
	c.Close()
	r.Close()
	f.Close()
	must(orbit.UnlinkRing(name, "bench-ring"), "unlink ring")
	must(orbit.UnlinkCache(name, "bench-cache"), "unlink cache")
	must(orbit.UnlinkFleet(name), "unlink fleet")
}
