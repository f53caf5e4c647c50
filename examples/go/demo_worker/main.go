// demo_worker: one member of the `make demo` fleet (Go version).
//
//	cd examples/go && PKG_CONFIG_PATH=<stage>/lib/pkgconfig go build ./demo_worker
//	demo_worker <fleet> <label>
//
// The protocol of examples/c/demo_worker.c (read its header): frames
// "<label> #<seq> <filler> crc=<crc32>" every 10 ms into ring "events", a
// checksum check of every frame read, counters in cache "state", the lease
// "leader" (800 ms TTL) claimed or renewed every 100 ms, the leader's
// announcements and ticks on bus "news" with their fencing token, SUMMARY
// {json} at the end, when the key "demo.stop" appears.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"orbit"
)

const (
	ringCapacity = 1024
	busCapacity  = 1024
	maxPayload   = 128
	leaderTTL    = 800 * time.Millisecond
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

// election: the lease "leader", claimed when free (or its holder dead, or
// expired), renewed by its holder every tick.
type election struct {
	fleet     *orbit.Fleet
	bus       *orbit.Bus
	label     string
	lease     *orbit.Lease
	terms     int
	ticksSent int
}

func (e *election) step() error {
	if e.lease != nil {
		if err := e.lease.Renew(leaderTTL); errors.Is(err, orbit.StatusLeaseLost) {
			e.lease.Close()
			e.lease = nil
			fmt.Printf("[%s] lost the leadership\n", e.label)
			return nil
		} else if err != nil {
			return err
		}
	} else {
		l, err := e.fleet.Claim("leader", leaderTTL)
		if errors.Is(err, orbit.StatusConflict) {
			return nil
		}
		if err != nil {
			return err
		}
		e.lease = l
		e.terms++
		fmt.Printf("[%s] became the leader with fencing token %d\n", e.label, l.Token())
		if _, err := e.bus.Publish("leader", withCRC([]byte(fmt.Sprintf("%s leads with token %d", e.label, l.Token())))); err != nil {
			return err
		}
	}
	e.ticksSent++
	_, err := e.bus.Publish("tick", withCRC([]byte(fmt.Sprintf("%s token %d tick %d", e.label, e.lease.Token(), e.ticksSent))))
	return err
}

// busSeen: events read back, their checksums and the fencing tokens of the ticks.
type busSeen struct {
	events, torn, lost, ticks, staleTicks, maxToken uint64
}

func (b *busSeen) read(sub *orbit.Subscription, label string) error {
	for {
		ev, ok, err := sub.Next()
		if err != nil || !ok {
			return err
		}
		b.events++
		b.lost += ev.Lost
		if !frameOK(ev.Payload) {
			b.torn++
			fmt.Fprintf(os.Stderr, "[%s] TORN event on %s: %q\n", label, ev.Topic, ev.Payload)
			continue
		}
		if ev.Topic != "tick" {
			continue
		}
		b.ticks++
		_, rest, _ := strings.Cut(string(ev.Payload), " token ")
		token, _ := strconv.ParseUint(strings.Fields(rest + " 0")[0], 10, 64)
		// Fencing: a lower token than one seen is a deposed leader's; rejected.
		if token < b.maxToken {
			b.staleTicks++
		} else {
			b.maxToken = token
		}
	}
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
	bus, err := fleet.OpenBus("news", &orbit.BusOptions{Capacity: busCapacity, MaxPayload: maxPayload})
	if err != nil {
		return 2, err
	}
	defer bus.Close()
	if err := fleet.OpenContest(nil); err != nil {
		return 2, err
	}
	cursor, err := ring.Cursor(orbit.FromHead)
	if err != nil {
		return 2, err
	}
	defer cursor.Close()
	sub, err := bus.Subscribe("", orbit.FromHead)
	if err != nil {
		return 2, err
	}
	defer sub.Close()
	fmt.Printf("[%s] Go worker, pid %d, joined as node %d\n", label, os.Getpid(), fleet.NodeID())

	el := &election{fleet: fleet, bus: bus, label: label}
	defer func() {
		if el.lease != nil {
			el.lease.Close() // releases it
		}
	}()
	var seen busSeen
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
		if err := seen.read(sub, label); err != nil {
			return 2, err
		}
		if !now.Before(nextTick) {
			if err := fleet.Heartbeat(); err != nil {
				return 2, err
			}
			if err := el.step(); err != nil {
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
		"torn": torn, "lost": lost, "terms_led": el.terms, "events": seen.events,
		"events_torn": seen.torn, "events_lost": seen.lost, "ticks": seen.ticks,
		"stale_ticks": seen.staleTicks, "max_token": seen.maxToken, "from_nodes": fromNodes,
	})
	fmt.Printf("SUMMARY %s\n", summary)
	if torn > 0 || seen.torn > 0 {
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
