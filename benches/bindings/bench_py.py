"""The Python side of `make bench-bindings`: the operations of bench.c (same
geometry, same loops) through the ctypes package, one call per operation and
through the batch methods; with --redis-port, also redis-py GET against a
redis-server on loopback (unpipelined, and a pipeline of 16) next to
Cache.get on the same key and value sizes.

usage: bench_py.py <fleet> <reps> [--redis-port PORT]
Prints one JSON object per (operation, form) like the other languages.
"""

import argparse
import json
import time

import orbit

CAPACITY = 65536
PAYLOAD = 64
KEYS = 64
KEY_LEN = 16
BATCH = 64
N_OPS = 1 << 17
READ_ROUNDS = 2
REDIS_OPS = 4096
PIPELINE = 16


def report(lang, op, form, batch, reps, fn):
    fn()  # warm-up
    ns = [round(fn(), 3) for _ in range(reps)]
    print(json.dumps({"lang": lang, "op": op, "form": form, "batch": batch, "ns": ns}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("fleet")
    ap.add_argument("reps", type=int)
    ap.add_argument("--redis-port", type=int)
    a = ap.parse_args()
    payload = b"x" * PAYLOAD
    batch = [payload] * BATCH
    keys = [b"key-%012d" % i for i in range(KEYS)]
    perf = time.perf_counter_ns
    with orbit.Fleet.join(a.fleet) as f:
        ring = f.ring("bench-ring", capacity=CAPACITY, max_payload=PAYLOAD)
        cache = f.cache("bench-cache", capacity=CAPACITY, max_key=KEY_LEN, max_value=PAYLOAD)
        for k in keys:
            cache.set(k, payload)

        def ring_write_single():
            write = ring.write
            t = perf()
            for _ in range(N_OPS):
                write(payload)
            return (perf() - t) / N_OPS

        def ring_write_batch():
            write_many = ring.write_many
            t = perf()
            for _ in range(N_OPS // BATCH):
                write_many(batch)
            return (perf() - t) / N_OPS

        def cursor_next(use_batch):
            total = 0
            for _ in range(READ_ROUNDS):
                for _ in range(CAPACITY // BATCH):
                    ring.write_many(batch)
                with ring.cursor(orbit.FROM_OLDEST) as c:
                    got = 0
                    t = perf()
                    if use_batch:
                        read_many = c.read_many
                        while got < CAPACITY:
                            got += len(read_many(BATCH))
                    else:
                        nxt = c.next
                        for _ in range(CAPACITY):
                            nxt()
                        got = CAPACITY
                    total += perf() - t
                    last = c.next()
                    if last is not None:
                        raise SystemExit(f"bench_py: cursor left a frame behind: {last}")
            return total / (READ_ROUNDS * CAPACITY)

        def cache_get_single():
            get = cache.get
            t = perf()
            for _ in range(N_OPS // KEYS):
                for k in keys:
                    get(k)
            ns = (perf() - t) / N_OPS
            if get(keys[-1]) != payload:
                raise SystemExit("bench_py: get missed")
            return ns

        def cache_get_batch():
            get_many = cache.get_many
            t = perf()
            for _ in range(N_OPS // KEYS):
                vals = get_many(keys)
            ns = (perf() - t) / N_OPS
            if vals[-1] != payload:
                raise SystemExit("bench_py: get_many missed")
            return ns

        report("python", "ring_write", "single", 1, a.reps, ring_write_single)
        report("python", "ring_write", "batch", BATCH, a.reps, ring_write_batch)
        report("python", "cursor_next", "single", 1, a.reps, lambda: cursor_next(False))
        report("python", "cursor_next", "batch", BATCH, a.reps, lambda: cursor_next(True))
        report("python", "cache_get", "single", 1, a.reps, cache_get_single)
        report("python", "cache_get", "batch", KEYS, a.reps, cache_get_batch)
        ring.close()
        cache.close()
    orbit.Ring.unlink(a.fleet, "bench-ring")
    orbit.Cache.unlink(a.fleet, "bench-cache")
    orbit.Fleet.unlink(a.fleet)

    if a.redis_port:
        import redis  # installed by `make bench-bindings` (bench-bindings-deps)

        r = redis.Redis(host="127.0.0.1", port=a.redis_port)
        prefix = a.fleet.encode() + b":"
        rkeys = [prefix + k for k in keys]
        for k in rkeys:
            r.set(k, payload)

        def redis_get():
            get = r.get
            t = perf()
            for i in range(REDIS_OPS // KEYS):
                for k in rkeys:
                    get(k)
            ns = (perf() - t) / REDIS_OPS
            if r.get(rkeys[-1]) != payload:
                raise SystemExit("bench_py: redis GET missed")
            return ns

        def redis_pipeline():
            p = r.pipeline(transaction=False)
            groups = [rkeys[i:i + PIPELINE] for i in range(0, KEYS, PIPELINE)]
            t = perf()
            for _ in range(REDIS_OPS // KEYS):
                for g in groups:
                    for k in g:
                        p.get(k)
                    vals = p.execute()
            ns = (perf() - t) / REDIS_OPS
            if vals[-1] != payload:
                raise SystemExit("bench_py: redis pipeline GET missed")
            return ns

        report("redis-py", "cache_get", "single", 1, a.reps, redis_get)
        report("redis-py", "cache_get", "pipeline", PIPELINE, a.reps, redis_pipeline)
        r.delete(*rkeys)
        r.close()


if __name__ == "__main__":
    main()
