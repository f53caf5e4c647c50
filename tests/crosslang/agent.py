"""Cross-language agent, Python edition (the protocol is in tests/crosslang/README.md).

    agent.py PHASE FLEET LANG N LANGS

Uses the orbit package (ctypes over liborbit, found through ORBIT_LIBRARY).
"""

import sys
import time

import orbit

WAIT_S = 30.0
RING_OPTS = dict(capacity=32768, max_payload=128)
CACHE_OPTS = dict(capacity=65536, max_key=64, max_value=128)
BUS_OPTS = dict(capacity=16384, max_payload=128)


def payload(lang: str, i: int) -> bytes:
    body = f"{lang}|{i}|{chr(ord('a') + i % 26) * (i % 23)}".encode()
    h = 0x811C9DC5
    for b in body:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return body + f"|{h:08x}".encode()


class Agent:
    def __init__(self, phase: str, fleet: str, lang: str, n: int, langs: list) -> None:
        self.phase, self.lang, self.n, self.langs = phase, lang, n, langs
        self.idx = langs.index(lang)
        self.fleet = orbit.Fleet.join(fleet, label=lang)
        self.cache = self.fleet.cache("xl.cache", **CACHE_OPTS)

    def fail(self, msg: str) -> None:
        print(f"FAIL {self.phase} {msg}", flush=True)
        sys.exit(1)

    def get_i64(self, key: str) -> int:
        v = self.cache.get(key)
        return 0 if v is None else int.from_bytes(v, "little", signed=True)

    def barrier(self, name: str) -> None:
        key = f"xl.barrier.{name}"
        self.cache.incr(key, 1)
        deadline = time.monotonic() + WAIT_S
        while (v := self.get_i64(key)) < len(self.langs):
            if time.monotonic() > deadline:
                self.fail(f"{self.lang}: barrier {name} timed out with {v} of {len(self.langs)} arrived")
            time.sleep(0.001)

    def writer_of(self, p: bytes) -> str:
        w = p.split(b"|", 1)[0].decode("utf-8", "replace")
        if w not in self.langs:
            self.fail(f"reader={self.lang}: payload {p!r} from no known writer")
        return w

    def report(self, got: dict, extra: str = "") -> None:
        counts = " ".join(f"{w}={got[w]}" for w in self.langs)
        print(f"OK {self.phase} {self.lang} {counts}{extra}", flush=True)

    def ring(self) -> None:
        ring = self.fleet.ring("xl.ring", **RING_OPTS)
        cur = ring.cursor(orbit.FROM_OLDEST)
        self.barrier("ring")
        for i in range(self.n):
            ring.write(payload(self.lang, i), kind=self.idx + 1, ver=i)
        got = {w: 0 for w in self.langs}
        deadline = time.monotonic() + WAIT_S
        while any(v < self.n for v in got.values()) and time.monotonic() < deadline:
            cur.wait(0.1)
            for f in cur:
                w = self.writer_of(f.payload)
                i, want = got[w], payload(w, got[w])
                if f.ver != i or f.kind != self.langs.index(w) + 1 or f.payload != want:
                    self.fail(f"writer={w} reader={self.lang}: frame #{i}: got ver={f.ver} kind={f.kind} "
                              f"payload={f.payload!r}, want ver={i} kind={self.langs.index(w) + 1} payload={want!r}")
                got[w] += 1
        if cur.lost:
            self.fail(f"reader={self.lang}: lost {cur.lost} frames")
        self.report(got)

    def cache_phase(self) -> None:
        c = self.cache
        for j in range(self.n):
            c.set(f"xl.{self.lang}.{j}", payload(self.lang, j))
        self.barrier("cache.set")
        got = {w: 0 for w in self.langs}
        for w in self.langs:
            for j in range(self.n):
                v = c.get(f"xl.{w}.{j}")
                if v != payload(w, j):
                    self.fail(f"writer={w} reader={self.lang}: key xl.{w}.{j}: got {v!r}, want {payload(w, j)!r}")
                got[w] += 1
        self.barrier("cache.incr")
        prev = 0
        for _ in range(self.n):
            v = c.incr("xl.counter", self.idx + 1)
            if v <= prev:
                self.fail(f"{self.lang}: incr returned {v} after {prev}")
            prev = v
        self.barrier("cache.done")
        total = self.get_i64("xl.counter")
        want = self.n * sum(range(1, len(self.langs) + 1))
        if total != want:
            self.fail(f"{self.lang}: counter reads {total} after every incr, want {want}")
        self.report(got, f" counter={total}")

    def bus(self) -> None:
        bus = self.fleet.bus("xl.bus", **BUS_OPTS)
        sub = bus.subscribe("xl.", orbit.FROM_OLDEST)
        self.barrier("bus")
        for i in range(self.n):
            bus.publish(f"xl.{self.lang}", payload(self.lang, i))
            if i % 10 == 0:
                bus.publish(f"noise.{self.lang}", b"-")
        got = {w: 0 for w in self.langs}
        deadline = time.monotonic() + WAIT_S
        while any(v < self.n for v in got.values()) and time.monotonic() < deadline:
            sub.wait(0.1)
            for e in sub:
                if not e.topic.startswith("xl."):
                    self.fail(f"subscriber={self.lang}: prefix xl. let through topic {e.topic!r}")
                w = self.writer_of(e.payload)
                i, want = got[w], payload(w, got[w])
                if e.topic != f"xl.{w}" or e.payload != want:
                    self.fail(f"publisher={w} subscriber={self.lang}: event #{i}: got topic={e.topic!r} "
                              f"payload={e.payload!r}, want topic='xl.{w}' payload={want!r}")
                got[w] += 1
        if sub.lost:
            self.fail(f"subscriber={self.lang}: lost {sub.lost} events")
        self.report(got)

    def lease(self) -> None:
        c = self.cache
        self.barrier("lease")
        tokens = []
        deadline = time.monotonic() + self.n / 1000
        while time.monotonic() < deadline:
            lease = self.fleet.claim("xl.lease", 5000)
            if lease is None:
                time.sleep(0.0001)
                continue
            t = lease.token
            if tokens and t <= tokens[-1]:
                self.fail(f"{self.lang}: token {t} after {tokens[-1]}")
            inside = c.incr("xl.cs", 1)
            if inside != 1:
                self.fail(f"{self.lang} (token {t}) entered with {inside - 1} other holder(s) inside")
            me = f"{self.lang}:{t}".encode()
            c.set("xl.cs.holder", me)
            time.sleep(0.0005)
            h = c.get("xl.cs.holder")
            if h != me:
                self.fail(f"{self.lang} (token {t}) found {h!r} in its critical section")
            if (left := c.incr("xl.cs", -1)) != 0:
                self.fail(f"{self.lang} (token {t}) left with {left} other holder(s) inside")
            try:
                lease.release()
            except orbit.OrbitError as e:
                self.fail(f"{self.lang}: release of token {t}: {e}")
            lease.close()
            tokens.append(t)
            time.sleep(0.0002)
        print(f"OK lease {self.lang} grants={len(tokens)} tokens={','.join(map(str, tokens))}", flush=True)


def main() -> None:
    if len(sys.argv) != 6:
        sys.exit("usage: agent.py PHASE FLEET LANG N LANGS")
    phase, fleet, lang, n, langs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5].split(",")
    a = Agent(phase, fleet, lang, n, langs)
    {"ring": a.ring, "cache": a.cache_phase, "bus": a.bus, "lease": a.lease}[phase]()


if __name__ == "__main__":
    main()
