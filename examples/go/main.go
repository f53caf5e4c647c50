// tour: a ring, a cache, a bus and a lease from Go, in one short program.
//
//	PKG_CONFIG_PATH=<orbit prefix>/lib/pkgconfig go run . [fleet]
//
// It removes its objects at the end.
package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"orbit"
)

func main() {
	name := "tour"
	if len(os.Args) > 1 {
		name = os.Args[1]
	}
	if err := tour(name); err != nil {
		fmt.Fprintln(os.Stderr, "tour:", err)
		os.Exit(1)
	}
}

func tour(name string) error {
	fleet, err := orbit.Join(name, &orbit.FleetOptions{Label: "go-tour"})
	if err != nil {
		return err
	}
	defer orbit.UnlinkFleet(name)
	defer fleet.Close()

	// Ring: append frames; a cursor reads them in order.
	ring, err := fleet.OpenRing("events", nil)
	if err != nil {
		return err
	}
	defer orbit.UnlinkRing(name, "events")
	defer ring.Close()
	cur, err := ring.Cursor(orbit.FromHead)
	if err != nil {
		return err
	}
	defer cur.Close()
	if _, err := ring.Write([]byte("order 42 paid"), 1, 0); err != nil {
		return err
	}
	frames, err := cur.NextBatch(64) // many frames per cgo call
	if err != nil {
		return err
	}
	for _, f := range frames {
		fmt.Printf("ring:  frame %d:%d:%d: %s\n", f.ID>>56, f.ID>>40&0xffff, f.ID&(1<<40-1), f.Payload)
	}

	// Cache: set and get a key.
	cache, err := fleet.OpenCache("sessions", nil)
	if err != nil {
		return err
	}
	defer orbit.UnlinkCache(name, "sessions")
	defer cache.Close()
	if err := cache.Set([]byte("user:42"), []byte(`{"cart":3}`), 0); err != nil {
		return err
	}
	if v, _, ok, err := cache.Get([]byte("user:42")); err == nil && ok {
		fmt.Printf("cache: user:42 = %s\n", v)
	}

	// Bus: subscribe to a topic prefix, publish, receive.
	bus, err := fleet.OpenBus("news", nil)
	if err != nil {
		return err
	}
	defer orbit.UnlinkBus(name, "news")
	defer bus.Close()
	sub, err := bus.Subscribe("orders.", orbit.FromHead)
	if err != nil {
		return err
	}
	defer sub.Close()
	if _, err := bus.Publish("orders.paid", []byte("42")); err != nil {
		return err
	}
	if e, ok, err := sub.Next(); err == nil && ok {
		fmt.Printf("bus:   %s -> %s\n", e.Topic, e.Payload)
	}

	// Lease: one holder at a time in the whole fleet, with a fencing token.
	lease, err := fleet.Claim("leader", 5*time.Second)
	if errors.Is(err, orbit.StatusConflict) {
		return fmt.Errorf("someone else leads: %w", err)
	} else if err != nil {
		return err
	}
	defer orbit.UnlinkContest(name)
	defer lease.Close() // releases
	fmt.Printf("lease: leader, token %d\n", lease.Token())
	return nil
}
