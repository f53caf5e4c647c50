"""demo_worker: one member of the `make demo` fleet (Python version).

    ORBIT_LIBRARY=stage/lib/liborbit.so PYTHONPATH=bindings/python \
        python3 examples/python/demo_worker.py <fleet> <label>

The same protocol as examples/c/demo_worker.c (read its header): frames
"<label> #<seq> <filler> crc=<crc32>" every 10 ms into ring "events", a
checksum check of every frame read, counters in cache "state", the lease
"leader" (800 ms TTL) claimed or renewed every 100 ms, the leader's
announcements and ticks on bus "news" with their fencing token, SUMMARY {json}
at the end, when the key "demo.stop" appears.
"""
import json
import os
import signal
import sys
import time
import zlib

import orbit

RING_CAPACITY = 1024
BUS_CAPACITY = 1024
MAX_PAYLOAD = 128
LEADER_TTL_MS = 800


def seal(text: str) -> bytes:
    body = text.encode()
    return body + b" crc=%08x" % zlib.crc32(body)


def make_frame(label: str, seq: int) -> bytes:
    fill = "".join(chr(ord("a") + (seq + i) % 26) for i in range(seq * 7 % 40))
    return seal(f"{label} #{seq} {fill}")


def frame_ok(p: bytes) -> bool:
    return len(p) >= 13 and p[-13:-8] == b" crc=" and p[-8:] == b"%08x" % zlib.crc32(p[:-13])


class Election:
    """The lease "leader": claimed when free (or its holder dead, or expired),
    renewed by its holder every tick."""

    def __init__(self, fleet: orbit.Fleet, bus: orbit.Bus, label: str) -> None:
        self.fleet, self.bus, self.label = fleet, bus, label
        self.lease = None
        self.terms = self.ticks_sent = 0

    def step(self) -> None:
        if self.lease is not None:
            try:
                self.lease.renew(LEADER_TTL_MS)
            except orbit.LeaseLost:
                self.lease.close()
                self.lease = None
                print(f"[{self.label}] lost the leadership", flush=True)
                return
        else:
            self.lease = self.fleet.claim("leader", LEADER_TTL_MS)
            if self.lease is None:
                return
            self.terms += 1
            token = self.lease.token
            print(f"[{self.label}] became the leader with fencing token {token}", flush=True)
            self.bus.publish("leader", seal(f"{self.label} leads with token {token}"))
        self.ticks_sent += 1
        self.bus.publish("tick", seal(f"{self.label} token {self.lease.token} tick {self.ticks_sent}"))


class BusSeen:
    """Events read: checksums, and the fencing tokens of the ticks."""

    def __init__(self) -> None:
        self.events = self.torn = self.lost = self.ticks = self.stale_ticks = self.max_token = 0

    def read(self, sub: orbit.Subscription, label: str) -> None:
        for ev in sub:
            self.events += 1
            self.lost += ev.lost
            if not frame_ok(ev.payload):
                self.torn += 1
                print(f"[{label}] TORN event on {ev.topic}: {ev.payload!r}", file=sys.stderr, flush=True)
                continue
            if ev.topic == "tick":
                self.ticks += 1
                token = int(ev.payload.split(b" token ")[1].split()[0])
                # Fencing: a lower token than one seen is a deposed leader's; rejected.
                if token < self.max_token:
                    self.stale_ticks += 1
                else:
                    self.max_token = token


def main() -> int:
    fleet_name, label = sys.argv[1], sys.argv[2]
    stop = False

    def on_term(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    with orbit.Fleet.join(fleet_name, label=label) as fleet:
        ring = fleet.ring("events", capacity=RING_CAPACITY, max_payload=MAX_PAYLOAD)
        cache = fleet.cache("state", capacity=16384, max_key=64, max_value=MAX_PAYLOAD)
        bus = fleet.bus("news", capacity=BUS_CAPACITY, max_payload=MAX_PAYLOAD)
        cursor = ring.cursor(orbit.FROM_HEAD)
        sub = bus.subscribe(None, orbit.FROM_HEAD)
        seen = BusSeen()
        print(f"[{label}] Python worker, pid {os.getpid()}, joined as node {fleet.node_id}", flush=True)
        election = Election(fleet, bus, label)
        seq = verified = torn = lost = 0
        from_nodes = {}
        next_write = next_tick = time.monotonic()
        while not stop:
            now = time.monotonic()
            if now >= next_write:
                seq += 1
                ring.write(make_frame(label, seq), kind=1, ver=seq)
                cache.incr(f"written.{label}")
                next_write += 0.010
            for f in cursor:
                lost += f.lost
                if frame_ok(f.payload):
                    verified += 1
                    node = (f.id >> 40) & 0xFFFF
                    from_nodes[str(node)] = from_nodes.get(str(node), 0) + 1
                else:
                    torn += 1
                    print(f"[{label}] TORN frame {f.id:#x}: {f.payload!r}", file=sys.stderr, flush=True)
            seen.read(sub, label)
            if now >= next_tick:
                fleet.heartbeat()
                election.step()
                if "demo.stop" in cache:
                    break
                next_tick += 0.100
            left = min(next_write, next_tick) - time.monotonic()
            if left > 0:
                cursor.wait(left)
        summary = dict(label=label, lang="Python", pid=os.getpid(), written=seq, verified=verified,
                       torn=torn, lost=lost, terms_led=election.terms, events=seen.events,
                       events_torn=seen.torn, events_lost=seen.lost, ticks=seen.ticks,
                       stale_ticks=seen.stale_ticks, max_token=seen.max_token, from_nodes=from_nodes)
        print("SUMMARY " + json.dumps(summary), flush=True)
        if election.lease is not None:
            election.lease.close()  # releases it
        for h in (sub, cursor, bus, ring, cache):
            h.close()
    return 1 if torn or seen.torn else 0


if __name__ == "__main__":
    sys.exit(main())
