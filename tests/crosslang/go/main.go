// Cross-language agent, Go edition (the protocol is in tests/crosslang/README.md).
//
//	agent_go PHASE FLEET LANG N LANGS
//
// Uses the Go binding (bindings/go, cgo over liborbit found by pkg-config).
package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"orbit"
)

const wait = 30 * time.Second

var (
	phase, lang string
	langs       []string
	idx         int
	n           int
	fleet       *orbit.Fleet
	cache       *orbit.Cache
)

func fail(format string, args ...any) {
	fmt.Printf("FAIL %s %s\n", phase, fmt.Sprintf(format, args...))
	os.Exit(1)
}

func must(err error, what string) {
	if err != nil {
		fail("%s: %s: %v", lang, what, err)
	}
}

func payload(w string, i int) []byte {
	p := []byte(fmt.Sprintf("%s|%d|%s", w, i, strings.Repeat(string(rune('a'+i%26)), i%23)))
	h := uint32(0x811c9dc5)
	for _, c := range p {
		h = (h ^ uint32(c)) * 0x01000193
	}
	return append(p, fmt.Sprintf("|%08x", h)...)
}

func writerOf(p []byte) int {
	w, _, ok := bytes.Cut(p, []byte("|"))
	for i, l := range langs {
		if ok && l == string(w) {
			return i
		}
	}
	fail("reader=%s: payload %q from no known writer", lang, p)
	return -1
}

func getI64(key string) int64 {
	v, _, ok, err := cache.Get([]byte(key))
	must(err, "get "+key)
	if !ok {
		return 0
	}
	return int64(binary.LittleEndian.Uint64(v))
}

func barrier(name string) {
	key := "xl.barrier." + name
	_, err := cache.Incr([]byte(key), 1, 0)
	must(err, "barrier incr")
	deadline := time.Now().Add(wait)
	for v := getI64(key); v < int64(len(langs)); v = getI64(key) {
		if time.Now().After(deadline) {
			fail("%s: barrier %s timed out with %d of %d arrived", lang, name, v, len(langs))
		}
		time.Sleep(time.Millisecond)
	}
}

func allDone(got []int) bool {
	for _, g := range got {
		if g < n {
			return false
		}
	}
	return true
}

func report(got []int, extra string) {
	var b strings.Builder
	fmt.Fprintf(&b, "OK %s %s", phase, lang)
	for i, l := range langs {
		fmt.Fprintf(&b, " %s=%d", l, got[i])
	}
	fmt.Println(b.String() + extra)
}

func ringPhase() {
	ring, err := fleet.OpenRing("xl.ring", &orbit.RingOptions{Capacity: 32768, MaxPayload: 128})
	must(err, "open ring")
	defer ring.Close()
	cur, err := ring.Cursor(orbit.FromOldest)
	must(err, "cursor")
	defer cur.Close()
	barrier("ring")
	for i := 0; i < n; i++ {
		_, err := ring.Write(payload(lang, i), uint8(idx+1), uint64(i))
		must(err, "write")
	}
	got := make([]int, len(langs))
	deadline := time.Now().Add(wait)
	for !allDone(got) && time.Now().Before(deadline) {
		_, err := cur.Wait(100 * time.Millisecond)
		must(err, "wait")
		frames, err := cur.NextBatch(256)
		must(err, "next batch")
		for _, f := range frames {
			w := writerOf(f.Payload)
			want := payload(langs[w], got[w])
			if f.Ver != uint64(got[w]) || int(f.Kind) != w+1 || !bytes.Equal(f.Payload, want) {
				fail("writer=%s reader=%s: frame #%d: got ver=%d kind=%d payload=%q, want ver=%d kind=%d payload=%q",
					langs[w], lang, got[w], f.Ver, f.Kind, f.Payload, got[w], w+1, want)
			}
			got[w]++
		}
	}
	if cur.Lost() != 0 {
		fail("reader=%s: lost %d frames", lang, cur.Lost())
	}
	report(got, "")
}

func cachePhase() {
	for j := 0; j < n; j++ {
		must(cache.Set([]byte(fmt.Sprintf("xl.%s.%d", lang, j)), payload(lang, j), 0), "set")
	}
	barrier("cache.set")
	got := make([]int, len(langs))
	for w, l := range langs {
		for j := 0; j < n; j++ {
			key := fmt.Sprintf("xl.%s.%d", l, j)
			v, _, ok, err := cache.Get([]byte(key))
			must(err, "get")
			if !ok {
				fail("writer=%s reader=%s: key %s missing", l, lang, key)
			}
			if want := payload(l, j); !bytes.Equal(v, want) {
				fail("writer=%s reader=%s: key %s: got %q, want %q", l, lang, key, v, want)
			}
			got[w]++
		}
	}
	barrier("cache.incr")
	prev := int64(0)
	for j := 0; j < n; j++ {
		v, err := cache.Incr([]byte("xl.counter"), int64(idx+1), 0)
		must(err, "incr")
		if v <= prev {
			fail("%s: incr returned %d after %d", lang, v, prev)
		}
		prev = v
	}
	barrier("cache.done")
	total, want := getI64("xl.counter"), int64(0)
	for w := 1; w <= len(langs); w++ {
		want += int64(n * w)
	}
	if total != want {
		fail("%s: counter reads %d after every incr, want %d", lang, total, want)
	}
	report(got, fmt.Sprintf(" counter=%d", total))
}

func busPhase() {
	bus, err := fleet.OpenBus("xl.bus", &orbit.BusOptions{Capacity: 16384, MaxPayload: 128})
	must(err, "open bus")
	defer bus.Close()
	sub, err := bus.Subscribe("xl.", orbit.FromOldest)
	must(err, "subscribe")
	defer sub.Close()
	barrier("bus")
	for i := 0; i < n; i++ {
		_, err := bus.Publish("xl."+lang, payload(lang, i))
		must(err, "publish")
		if i%10 == 0 {
			_, err := bus.Publish("noise."+lang, []byte("-"))
			must(err, "publish noise")
		}
	}
	got := make([]int, len(langs))
	deadline := time.Now().Add(wait)
	for !allDone(got) && time.Now().Before(deadline) {
		_, err := sub.Wait(100 * time.Millisecond)
		must(err, "wait")
		evs, err := sub.NextBatch(256)
		must(err, "next batch")
		for _, e := range evs {
			if !strings.HasPrefix(e.Topic, "xl.") {
				fail("subscriber=%s: prefix xl. let through topic %q", lang, e.Topic)
			}
			w := writerOf(e.Payload)
			want := payload(langs[w], got[w])
			if e.Topic != "xl."+langs[w] || !bytes.Equal(e.Payload, want) {
				fail("publisher=%s subscriber=%s: event #%d: got topic=%q payload=%q, want topic=%q payload=%q",
					langs[w], lang, got[w], e.Topic, e.Payload, "xl."+langs[w], want)
			}
			got[w]++
		}
	}
	if sub.Lost() != 0 {
		fail("subscriber=%s: lost %d events", lang, sub.Lost())
	}
	report(got, "")
}

func leasePhase() {
	barrier("lease")
	var tokens []string
	last := uint64(0)
	deadline := time.Now().Add(time.Duration(n) * time.Millisecond)
	for time.Now().Before(deadline) {
		l, err := fleet.Claim("xl.lease", 5*time.Second)
		if errors.Is(err, orbit.StatusConflict) {
			time.Sleep(100 * time.Microsecond)
			continue
		}
		must(err, "claim")
		t := l.Token()
		if t <= last {
			fail("%s: token %d after %d", lang, t, last)
		}
		inside, err := cache.Incr([]byte("xl.cs"), 1, 0)
		must(err, "incr cs")
		if inside != 1 {
			fail("%s (token %d) entered with %d other holder(s) inside", lang, t, inside-1)
		}
		me := []byte(fmt.Sprintf("%s:%d", lang, t))
		must(cache.Set([]byte("xl.cs.holder"), me, 0), "set holder")
		time.Sleep(500 * time.Microsecond)
		if h, _, _, err := cache.Get([]byte("xl.cs.holder")); err != nil || !bytes.Equal(h, me) {
			fail("%s (token %d) found %q in its critical section", lang, t, h)
		}
		inside, err = cache.Incr([]byte("xl.cs"), -1, 0)
		must(err, "incr cs")
		if inside != 0 {
			fail("%s (token %d) left with %d other holder(s) inside", lang, t, inside)
		}
		if err := l.Release(); err != nil {
			fail("%s: release of token %d: %v", lang, t, err)
		}
		l.Close()
		last = t
		tokens = append(tokens, strconv.FormatUint(t, 10))
		time.Sleep(200 * time.Microsecond)
	}
	fmt.Printf("OK lease %s grants=%d tokens=%s\n", lang, len(tokens), strings.Join(tokens, ","))
}

func main() {
	if len(os.Args) != 6 {
		fmt.Fprintln(os.Stderr, "usage: agent_go PHASE FLEET LANG N LANGS")
		os.Exit(2)
	}
	phase, lang = os.Args[1], os.Args[3]
	var err error
	if n, err = strconv.Atoi(os.Args[4]); err != nil {
		fail("bad N %q", os.Args[4])
	}
	langs = strings.Split(os.Args[5], ",")
	idx = -1
	for i, l := range langs {
		if l == lang {
			idx = i
		}
	}
	if idx < 0 {
		fail("%s is not among the participants", lang)
	}
	fleet, err = orbit.Join(os.Args[2], &orbit.FleetOptions{Label: lang})
	must(err, "join")
	defer fleet.Close()
	cache, err = fleet.OpenCache("xl.cache", &orbit.CacheOptions{Capacity: 65536, MaxKey: 64, MaxValue: 128})
	must(err, "open cache")
	defer cache.Close()
	switch phase {
	case "ring":
		ringPhase()
	case "cache":
		cachePhase()
	case "bus":
		busPhase()
	case "lease":
		leasePhase()
	default:
		fail("unknown phase %s", phase)
	}
}
