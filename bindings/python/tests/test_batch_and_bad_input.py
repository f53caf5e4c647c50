"""Batch calls (write_many, read_many, get_many), wrong types, closed handles,
threads sharing the hot paths, and a library of another ABI version."""

import os
import shutil
import subprocess
import sys
import threading

import pytest

import orbit


def test_write_many_and_read_many_round_trip(fleet_name):
    with orbit.Fleet.join(fleet_name) as f:
        r = f.ring("r", capacity=64, max_payload=16, kind=9)
        c = r.cursor(orbit.FROM_OLDEST)
        assert r.write_many([]) == 0 and c.read_many() == []
        payloads = [bytes([i]) * (i % 17) for i in range(40)]
        assert r.write_many(payloads, kind=3, ver=7) == 40
        assert r.write_many(x for x in [bytearray(b"ba"), memoryview(b"mv"), b""]) == 3
        first = c.read_many(25)
        rest = c.read_many(100)
        frames = first + rest
        assert len(first) == 25 and len(rest) == 18 and c.read_many(5) == []
        assert [fr.payload for fr in frames] == payloads + [b"ba", b"mv", b""]
        assert all(fr.kind == 3 and fr.ver == 7 for fr in frames[:40])
        assert all(fr.id >> 56 == 9 and fr.lost == 0 for fr in frames)
        assert [fr.id for fr in frames] == sorted(fr.id for fr in frames)
        # read_many and next agree on the same frames.
        c2 = r.cursor(orbit.FROM_OLDEST)
        assert [c2.next() for _ in range(43)] == frames and c2.next() is None
        assert c.read_many(0) == []


def test_read_many_reports_loss_and_write_many_checks_before_writing(fleet_name):
    with orbit.Fleet.join(fleet_name) as f:
        r = f.ring("r", capacity=16, max_payload=8)
        c = r.cursor(orbit.FROM_OLDEST)
        r.write_many([i.to_bytes(8, "little") for i in range(50)])
        frames = c.read_many(64)
        assert len(frames) == 16 and frames[0].lost == 34 and c.lost == 34
        assert int.from_bytes(frames[-1].payload, "little") == 49
        head = r.info().head
        with pytest.raises(orbit.TooLarge) as e:
            r.write_many([b"ok", b"x" * 9, b"ok"])
        assert e.value.code == orbit.TOO_LARGE and "9" in str(e.value)
        assert r.info().head == head, "nothing written when one payload is too large"


def test_get_many_hits_misses_and_key_types(fleet_name):
    with orbit.Fleet.join(fleet_name) as f:
        c = f.cache("c", capacity=1024, max_key=16, max_value=32)
        assert c.get_many([]) == []
        for i in range(20):
            c.set(b"k%d" % i, b"v" * i)
        keys = [b"k%d" % i for i in range(20)] + [b"absent", "k3", bytearray(b"k4"), memoryview(b"k5")]
        vals = c.get_many(keys)
        assert vals == [b"v" * i for i in range(20)] + [None, b"vvv", b"v" * 4, b"v" * 5]
        assert c.get_many(iter([b"absent"] * 3)) == [None, None, None]
        with pytest.raises(orbit.TooLarge):
            c.get_many([b"k1", b"x" * 17])
        with pytest.raises(orbit.InvalidArgument):
            c.get_many([b"k1", b""])  # a zero-length key


def test_hot_paths_take_both_routes(fleet_name):
    """The fast routes (bytes, default kind/ver, short keys) and the general
    ones give the same results."""
    with orbit.Fleet.join(fleet_name) as f:
        r = f.ring("r", capacity=4096, max_payload=2048)
        c = f.cache("c", max_key=2048, max_value=2048)
        big = b"b" * 1500  # beyond the shared length table
        ids = [r.write(b"a"), r.write(big), r.write(bytearray(b"c"), kind=1), r.write(b"d", ver=2**64 - 1)]
        got = list(r.cursor())
        assert [fr.id for fr in got] == ids
        assert [(fr.payload, fr.kind, fr.ver) for fr in got] == [
            (b"a", 0, 0), (big, 0, 0), (b"c", 1, 0), (b"d", 0, 2**64 - 1)]
        long_key = b"k" * 1500
        c[long_key] = big
        c["s"] = b"str key"
        assert c.get(long_key) == big and c.get("s") == b"str key" and c.get(b"s") == b"str key"
        assert c.get(bytearray(b"s")) == b"str key" and c.get(b"none", 5) == 5


def test_wrong_types_and_negative_values_raise_clear_errors(fleet_name):
    with orbit.Fleet.join(fleet_name) as f:
        r = f.ring("r", capacity=8, max_payload=16)
        c = f.cache("c", capacity=64, max_key=16, max_value=16)
        cur = r.cursor()
        for bad in ("text", None, 42, [b"x"]):
            with pytest.raises(TypeError, match="payload must be bytes"):
                r.write(bad)
            with pytest.raises(TypeError, match="payload must be bytes"):
                r.write_many([b"ok", bad])
            with pytest.raises(TypeError, match="value must be bytes"):
                c.set(b"k", bad)
        for bad in (None, 42, 1.5):
            with pytest.raises(TypeError, match="key must be"):
                c.get(bad)
            with pytest.raises(TypeError, match="key must be"):
                c.get_many([b"k", bad])
            with pytest.raises(TypeError, match="key must be"):
                c[bad] = b"v"
        with pytest.raises(TypeError):
            r.write_many(None)
        with pytest.raises(TypeError):
            cur.read_many("3")
        with pytest.raises(ValueError):
            cur.read_many(-1)
        for kw in ({"kind": -1}, {"kind": 256}, {"ver": -1}, {"ver": 2**64}):
            with pytest.raises(ValueError):
                r.write(b"x", **kw)
            with pytest.raises(ValueError):
                r.write_many([b"x"], **kw)
        with pytest.raises(TypeError):
            r.write(b"x", kind="1")
        with pytest.raises(ValueError):
            c.set(b"k", b"v", ttl_ms=-1)
        with pytest.raises(ValueError):
            c.incr(b"n", 2**63)
        with pytest.raises(ValueError):
            c.cas(b"k", -1, b"v")
        with pytest.raises(ValueError):
            r.read(-1)
        with pytest.raises(ValueError):
            f.ring("r2", capacity=-8)
        with pytest.raises(ValueError):
            f.cache("c2", max_value=-1)
        with pytest.raises(TypeError):
            cur.wait(None)
        with pytest.raises(ValueError):
            f.claim("lease", -5)
        assert cur.wait(-1.0) is False  # a negative timeout only checks
    with pytest.raises(TypeError):
        orbit.Fleet.join(None)
    with pytest.raises(TypeError):
        orbit.Fleet.join(fleet_name, label=7)
    with pytest.raises(ValueError):
        orbit.Fleet.join(fleet_name, max_nodes=-1)


def test_every_handle_raises_after_close(fleet_name):
    f = orbit.Fleet.join(fleet_name)
    r = f.ring("r", capacity=8, max_payload=16)
    cur = r.cursor()
    c = f.cache("c", capacity=64, max_key=16, max_value=16)
    b = f.bus("b", capacity=8, max_payload=16)
    sub = b.subscribe()
    lease = f.claim("l", 10_000)
    for h in (cur, r, c, sub, b, lease, f):
        h.close()
        h.close()
        assert h.closed
    calls = [
        lambda: r.write(b"x"), lambda: r.write(b"x", kind=1), lambda: r.write_many([b"x"]),
        lambda: r.read(1), lambda: r.info(), lambda: r.cursor(),
        lambda: cur.next(), lambda: cur.read_many(4), lambda: cur.wait(0), lambda: list(cur),
        lambda: c.get(b"k"), lambda: c.get("k"), lambda: c.get_many([b"k"]), lambda: c.set(b"k", b"v"),
        lambda: c[b"k"], lambda: c.incr(b"n"), lambda: c.delete(b"k"), lambda: c.stats(),
        lambda: b.publish("t", b"x"), lambda: b.subscribe(), lambda: sub.next(), lambda: sub.wait(0),
        lambda: lease.renew(1000), lambda: lease.token,
        lambda: f.ring("r"), lambda: f.cache("c"), lambda: f.heartbeat(), lambda: f.members(),
        lambda: f.claim("m", 1000),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="closed"):
            call()


def test_threads_share_the_hot_paths(fleet_name):
    """Per-thread scratch buffers: concurrent gets and writes never see each
    other's values or ids."""
    with orbit.Fleet.join(fleet_name) as f:
        r = f.ring("r", capacity=1 << 14, max_payload=16)
        c = f.cache("c", capacity=1024, max_key=16, max_value=16)
        for t in range(4):
            c.set(b"key%d" % t, b"value-of-%d" % t)
        errors = []

        def work(t: int) -> None:
            key, want = b"key%d" % t, b"value-of-%d" % t
            ids = []
            for i in range(3000):
                if c.get(key) != want or c.get_many([key, b"none"]) != [want, None]:
                    errors.append(f"thread {t} read another value")
                    return
                ids.append(r.write(b"t%d" % t))
            if len(set(ids)) != len(ids):
                errors.append(f"thread {t} got duplicate ids")
            frames = {fr.id: fr.payload for fr in r.cursor(orbit.FROM_OLDEST)}
            if any(frames.get(i, b"t%d" % t) != b"t%d" % t for i in ids):
                errors.append(f"thread {t}: an id names another thread's frame")

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert errors == []


FAKE_LIB = r"""
#include <stdint.h>
uint32_t orbit_abi_version(void) { return 999; }
const char *orbit_version(void) { return "99.0.0"; }
"""


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler to build a library of another ABI version")
def test_library_of_another_abi_version_is_refused_on_import(tmp_path):
    src = tmp_path / "fake.c"
    src.write_text(FAKE_LIB)
    lib = tmp_path / "liborbit.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(lib), str(src)], check=True)
    env = dict(os.environ, ORBIT_LIBRARY=str(lib))
    p = subprocess.run([sys.executable, "-c", "import orbit"], env=env, capture_output=True, text=True)
    assert p.returncode != 0
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError") and "C ABI version 999" in last and "C ABI version 1" in last, last
