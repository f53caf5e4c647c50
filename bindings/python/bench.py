"""Per-call cost of the Python binding's hot paths (issue 5 item 6).

Run against a built library:  ORBIT_LIBRARY=stage/lib/liborbit.so python3 bindings/python/bench.py
Prints ns per call and calls per second for ring write, cursor next and cache
get (16-byte key, 64-byte value), plus the raw ctypes call of the same C
function in the same run, so the binding's own overhead is visible as a ratio.
"""

import os
import time

import orbit
from orbit._ffi import lib

N = int(os.environ.get("ORBIT_PY_BENCH_N", "200000"))


def timed(label, fn, n=N, baseline=None):
    t = time.perf_counter()
    fn(n)
    ns = (time.perf_counter() - t) / n * 1e9
    extra = f"  ({ns / baseline:.2f}x raw ctypes)" if baseline else ""
    print(f"{label:<34} {ns:8.0f} ns  {1e3 / ns:6.2f} M/s{extra}")
    return ns


def main():
    name = f"pybench{os.getpid()}"
    with orbit.Fleet.join(name) as f:
        r = f.ring("r", capacity=1 << 16, max_payload=64)
        c = f.cache("c", capacity=1 << 16, max_key=16, max_value=64)
        p, k = b"x" * 64, b"0123456789abcdef"
        c.set(k, p)
        h, ch = r._h, c._h
        w, g = lib.orbit_ring_write, lib.orbit_cache_get
        import ctypes

        buf, n_out = ctypes.create_string_buffer(64), ctypes.c_size_t()
        ref = ctypes.byref(n_out)

        def raw_write(n):
            for _ in range(n):
                w(h, 0, 0, p, 64, None)

        def py_write(n):
            for _ in range(n):
                r.write(p)

        def raw_get(n):
            for _ in range(n):
                g(ch, k, 16, buf, 64, ref, None)

        def py_get(n):
            for _ in range(n):
                c.get(k)

        cur = r.cursor(orbit.FROM_OLDEST)

        def py_next(n):
            for _ in range(n):
                if cur.next() is None:
                    break

        base = timed("raw ctypes orbit_ring_write", raw_write)
        timed("Ring.write (64 B)", py_write, baseline=base)
        base = timed("raw ctypes orbit_cache_get", raw_get)
        timed("Cache.get (16 B key, 64 B value)", py_get, baseline=base)
        timed("Cursor.next", py_next, n=min(N, 1 << 16))
        orbit.Ring.unlink(name, "r")
        orbit.Cache.unlink(name, "c")
    orbit.Fleet.unlink(name)


if __name__ == "__main__":
    main()
