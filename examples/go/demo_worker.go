// demo_worker: one member of the `make demo` fleet (Go version).
//
//	PKG_CONFIG_PATH=stage/lib/pkgconfig go build -o demo_worker . && demo_worker <fleet> <label>
//
// The ring and cache part of the protocol of examples/c/demo_worker.c (read
// its header): frames "<label> #<seq> <filler> crc=<crc32>" every 10 ms into
// ring "events", a checksum check of every frame read, counters in cache
// "state", heartbeats, SUMMARY {json} at the end, when the key "demo.stop"
// appears. The Go binding has no bus or leases yet, so this worker does not
// run for leader; when it gains them, it takes the C worker's election step.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"orbit"
)

const (
	ringCapacity = 1024
	maxPayload   = 128
)

func makeFrame(label string, seq uint64) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s #%d ", label, seq)
	for i := uint64(0); i < seq*7%40; i++ {
		b.WriteByte(byte('a' + (seq+i)%26))
	}
	return withCRC(b.Bytes())
}

func withCRC(body []byte) []byte {
	return append(body, fmt.Sprintf(" crc=%08x", crc32.ChecksumIEEE(body))...)
}

func frameOK(p []byte) bool {
	n := len(p)
	return n >= 13 && string(p[n-13:n-8]) == " crc=" &&
		string(p[n-8:]) == fmt.Sprintf("%08x", crc32.ChecksumIEEE(p[:n-13]))
}

func run(fleetName, label string) (int, error) {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	fleet, err := orbit.Join(fleetName, &orbit.FleetOptions{Label: label})
	if err != nil {
		return 2, err
	}
	defer fleet.Close()
	ring, err := fleet.OpenRing("events", &orbit.RingOptions{Capacity: ringCapacity, MaxPayload: maxPayload})
	if err != nil {
		return 2, err
	}
	defer ring.Close()
	cache, err := fleet.OpenCache("state", &orbit.CacheOptions{Capacity: 16384, MaxKey: 64, MaxValue: maxPayload})
	if err != nil {
		return 2, err
	}
	defer cache.Close()
	cursor, err := ring.Cursor(orbit.FromHead)
	if err != nil {
		return 2, err
	}
	defer cursor.Close()
	fmt.Printf("[%s] Go worker, pid %d, joined as node %d\n", label, os.Getpid(), fleet.NodeID())

	written := []byte("written." + label)
	var seq, verified, torn, lost uint64
	fromNodes := map[string]uint64{}
	nextWrite, nextTick := time.Now(), time.Now()
	for {
		select {
		case <-stop:
			goto done
		default:
		}
		now := time.Now()
		if !now.Before(nextWrite) {
			seq++
			if _, err := ring.Write(makeFrame(label, seq), 1, seq); err != nil {
				return 2, err
			}
			if _, err := cache.Incr(written, 1, 0); err != nil {
				return 2, err
			}
			nextWrite = nextWrite.Add(10 * time.Millisecond)
		}
		frames, err := cursor.NextBatch(64)
		if err != nil {
			return 2, err
		}
		for _, f := range frames {
			lost += f.Lost
			if frameOK(f.Payload) {
				verified++
				fromNodes[strconv.Itoa(int(f.ID>>40&0xffff))]++
			} else {
				torn++
				fmt.Fprintf(os.Stderr, "[%s] TORN frame %x: %q\n", label, f.ID, f.Payload)
			}
		}
		if !now.Before(nextTick) {
			if err := fleet.Heartbeat(); err != nil {
				return 2, err
			}
			if _, _, ok, err := cache.Get([]byte("demo.stop")); err != nil {
				return 2, err
			} else if ok {
				break
			}
			nextTick = nextTick.Add(100 * time.Millisecond)
		}
		until := nextWrite
		if nextTick.Before(until) {
			until = nextTick
		}
		if left := time.Until(until); left > 0 && len(frames) == 0 {
			if _, err := cursor.Wait(left); err != nil {
				return 2, err
			}
		}
	}
done:
	summary, _ := json.Marshal(map[string]any{
		"label": label, "lang": "Go", "pid": os.Getpid(), "written": seq, "verified": verified,
		"torn": torn, "lost": lost, "terms_led": 0, "from_nodes": fromNodes,
	})
	fmt.Printf("SUMMARY %s\n", summary)
	if torn > 0 {
		return 1, nil
	}
	return 0, nil
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintf(os.Stderr, "usage: %s <fleet> <label>\n", os.Args[0])
		os.Exit(2)
	}
	code, err := run(os.Args[1], os.Args[2])
	if err != nil {
		fmt.Fprintf(os.Stderr, "[%s] %v\n", os.Args[2], err)
	}
	os.Exit(code)
}
