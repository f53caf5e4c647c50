"""demo_worker: one member of the `make demo` fleet (Python version).

    ORBIT_LIBRARY=stage/lib/liborbit.so PYTHONPATH=bindings/python \
        python3 examples/python/demo_worker.py <fleet> <label>

The same protocol as examples/c/demo_worker.c (read its header): frames
"<label> #<seq> <filler> crc=<crc32>" every 10 ms into ring "events", a
checksum check of every frame read, counters in cache "state", an election on
the cache key "leader" (add / cas with an 800 ms TTL), SUMMARY {json} at the
end, when the key "demo.stop" appears.
"""
import json
import os
import signal
import sys
import time
import zlib

import orbit

RING_CAPACITY = 1024
MAX_PAYLOAD = 128
LEADER_TTL_MS = 800


def make_frame(label: str, seq: int) -> bytes:
    fill = "".join(chr(ord("a") + (seq + i) % 26) for i in range(seq * 7 % 40))
    body = f"{label} #{seq} {fill}".encode()
    return body + b" crc=%08x" % zlib.crc32(body)


def frame_ok(p: bytes) -> bool:
    return len(p) >= 13 and p[-13:-8] == b" crc=" and p[-8:] == b"%08x" % zlib.crc32(p[:-13])


class Election:
    """The key "leader" holds "<label> <pid>" while its holder renews it."""

    def __init__(self, cache: orbit.Cache, ring: orbit.Ring, label: str) -> None:
        self.cache, self.ring, self.label = cache, ring, label
        self.me = f"{label} {os.getpid()}".encode()
        self.version = None  # of our value while we lead
        self.terms = 0

    def step(self) -> None:
        if self.version is not None:
            try:
                ok = self.cache.cas("leader", self.version, self.me, LEADER_TTL_MS)
            except orbit.NotFound:
                ok = False
            if not ok:
                self.version = None
                print(f"[{self.label}] lost the leadership", flush=True)
                return
        elif self.cache.add("leader", self.me, LEADER_TTL_MS):
            self.terms += 1
            term = self.cache.incr("leader.terms")
            print(f"[{self.label}] became the leader (term {term})", flush=True)
            body = f"{self.label} leads term {term}".encode()
            self.ring.write(body + b" crc=%08x" % zlib.crc32(body), kind=2, ver=term)
        else:
            return
        e = self.cache.get_entry("leader")
        self.version = e.version if e is not None and e.value == self.me else None


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
        cursor = ring.cursor(orbit.FROM_HEAD)
        print(f"[{label}] Python worker, pid {os.getpid()}, joined as node {fleet.node_id}", flush=True)
        election = Election(cache, ring, label)
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
                       torn=torn, lost=lost, terms_led=election.terms, from_nodes=from_nodes)
        print("SUMMARY " + json.dumps(summary), flush=True)
        cursor.close()
        ring.close()
        cache.close()
    return 1 if torn else 0


if __name__ == "__main__":
    sys.exit(main())
