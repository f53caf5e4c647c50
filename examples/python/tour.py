"""tour: a ring, a cache, a bus and a lease from Python, in one short program.

    pip install ./bindings/python && python tour.py [fleet]

(The library is found through ORBIT_LIBRARY, pkg-config or the system loader.)
It removes its objects at the end.
"""

import sys

import orbit

name = sys.argv[1] if len(sys.argv) > 1 else "tour"

with orbit.Fleet.join(name, label="py-tour") as fleet:
    # Ring: append frames; a cursor reads them in order.
    with fleet.ring("events") as ring, ring.cursor(orbit.FROM_HEAD) as cursor:
        ring.write(b"order 42 paid", kind=1)
        for frame in cursor:
            kind, node, counter = frame.id >> 56, frame.id >> 40 & 0xFFFF, frame.id & (1 << 40) - 1
            print(f"ring:  frame {kind}:{node}:{counter}: {frame.payload.decode()}")

    # Cache: set and get a key (also a mapping: cache[key], del cache[key], key in cache).
    with fleet.cache("sessions") as cache:
        cache["user:42"] = b'{"cart":3}'
        print(f"cache: user:42 = {cache['user:42'].decode()}")

    # Bus: subscribe to a topic prefix, publish, receive.
    with fleet.bus("news") as bus, bus.subscribe("orders.", orbit.FROM_HEAD) as sub:
        bus.publish("orders.paid", b"42")
        for event in sub:
            print(f"bus:   {event.topic} -> {event.payload.decode()}")

    # Lease: one holder at a time in the whole fleet, with a fencing token.
    lease = fleet.claim("leader", 5000)  # None if another live process holds it
    if lease is None:
        sys.exit("tour: someone else leads")
    with lease:  # released on exit
        print(f"lease: leader, token {lease.token}")

orbit.Ring.unlink(name, "events")
orbit.Cache.unlink(name, "sessions")
orbit.Bus.unlink(name, "news")
orbit.Fleet.unlink_contest(name)
orbit.Fleet.unlink(name)
