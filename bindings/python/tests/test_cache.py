import subprocess
import sys
import time

import pytest

import orbit


def test_mapping_face_and_operations(fleet_name):
    with orbit.Fleet.join(fleet_name) as f:
        c = f.cache("c", capacity=1024, max_key=32, max_value=64)
        c["a"] = b"1"
        c[b"b"] = bytearray(b"22")
        assert c["a"] == b"1" and c.get("b") == b"22" and c.get("zz", b"d") == b"d"
        assert "a" in c and "zz" not in c and 5 not in c
        del c["a"]
        assert "a" not in c
        with pytest.raises(KeyError):
            del c["a"]
        with pytest.raises(KeyError):
            c["a"]
        assert c.add("k", b"v") is True and c.add("k", b"w") is False
        e = c.get_entry("k")
        assert c.cas("k", e.version, b"v2") is True
        assert c.cas("k", e.version, b"v3") is False
        assert c["k"] == b"v2"
        with pytest.raises(orbit.NotFound):
            c.cas("absent", 1, b"x")
        assert c.incr("n") == 1 and c.incr("n", 10) == 11 and c.decr("n", 2) == 9
        with pytest.raises(orbit.InvalidArgument):
            c.incr("k")  # not an 8-byte counter
        assert c["k"] == b"v2"
        with pytest.raises(orbit.TooLarge):
            c["x" * 33] = b"v"
        with pytest.raises(orbit.TooLarge):
            c["big"] = b"v" * 65
        assert "big" not in c
        c.set("ttl", b"t", ttl_ms=50)
        assert c.get_entry("ttl").expires_at_ms > 0
        time.sleep(0.1)
        assert "ttl" not in c
        s = c.stats()
        assert s.sets >= 4 and s.capacity == 1024
        c.clear()
        assert c.get("k") is None and c.get("n") is None


CHILD = """
import sys, orbit
with orbit.Fleet.join(sys.argv[1]) as f:
    c = f.cache("c")
    for _ in range(int(sys.argv[2])):
        c.incr("total")
    c["from-child"] = b"hello"
"""


def test_processes_share_one_cache_and_incr_is_exact(fleet_name):
    with orbit.Fleet.join(fleet_name) as f:
        c = f.cache("c", capacity=4096, max_key=32, max_value=64)
        procs = [subprocess.Popen([sys.executable, "-c", CHILD, fleet_name, "500"]) for _ in range(3)]
        assert [p.wait(60) for p in procs] == [0, 0, 0]
        assert c.incr("total", 0) == 1500
        assert c["from-child"] == b"hello"
