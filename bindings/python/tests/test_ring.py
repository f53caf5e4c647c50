import os
import subprocess
import sys
import time

import pytest

import orbit


def test_write_read_cursor(fleet_name):
    with orbit.Fleet.join(fleet_name, label="py-test") as f:
        assert f.node_id >= 1
        r = f.ring("r", capacity=8, max_payload=64, kind=5)
        ids = [r.write(bytes([i]) * i, kind=i, ver=100 + i) for i in range(1, 6)]
        assert ids[0] >> 56 == 5
        assert r.read(ids[2]).payload == b"\x03" * 3
        frames = list(r.cursor(orbit.FROM_OLDEST))
        assert [fr.ver for fr in frames] == [101, 102, 103, 104, 105]
        assert [fr.kind for fr in frames] == [1, 2, 3, 4, 5]
        assert all(fr.lost == 0 for fr in frames)
        assert r.info().head == 5


def test_payload_types_and_errors(fleet_name):
    with orbit.Fleet.join(fleet_name) as f:
        r = f.ring("r", capacity=4, max_payload=16)
        r.write(bytearray(b"abc"))
        r.write(memoryview(b"xyzxyz")[::2])  # non-contiguous: copied
        assert [fr.payload for fr in r.cursor()] == [b"abc", b"xzy"]
        with pytest.raises(orbit.TooLarge) as e:
            r.write(b"x" * 17)
        assert e.value.code == orbit.TOO_LARGE and "17" in str(e.value)
        with pytest.raises(orbit.InvalidArgument):
            f.ring("bad/name")
        with pytest.raises(orbit.Incompatible):
            f.ring("r", capacity=8, max_payload=16)
        old = r.write(b"1")
        for _ in range(8):
            r.write(b"2")
        with pytest.raises(orbit.NotFound):
            r.read(old)


def test_loss_counted_after_wrap(fleet_name):
    with orbit.Fleet.join(fleet_name) as f:
        r = f.ring("r", capacity=16, max_payload=8)
        c = r.cursor(orbit.FROM_OLDEST)
        for i in range(50):
            r.write(i.to_bytes(8, "little"))
        frames = list(c)
        assert len(frames) == 16 and frames[0].lost == 34 and c.lost == 34


def test_close_is_idempotent_and_use_after_close_is_clear(fleet_name):
    f = orbit.Fleet.join(fleet_name)
    r = f.ring("r")
    f.close()  # the ring keeps what it needs alive
    r.write(b"still works")
    r.close()
    r.close()
    with pytest.raises(ValueError, match="closed"):
        r.write(b"x")


WRITER = """
import sys, orbit
with orbit.Fleet.join(sys.argv[1]) as f:
    r = f.ring("x", capacity=1024, max_payload=32)
    for i in range(int(sys.argv[2])):
        r.write(i.to_bytes(4, "little"), ver=i)
"""


def test_reader_in_this_process_receives_another_process_frames(fleet_name):
    with orbit.Fleet.join(fleet_name) as f:
        r = f.ring("x", capacity=1024, max_payload=32)
        c = r.cursor(orbit.FROM_HEAD)
        p = subprocess.Popen([sys.executable, "-c", WRITER, fleet_name, "500"])
        got = []
        deadline = time.time() + 30
        while len(got) < 500 and time.time() < deadline:
            if c.wait(1.0):
                got.extend(fr.ver for fr in c)
        assert p.wait(30) == 0
        assert got == list(range(500)) and c.lost == 0


def test_observer_reads_but_cannot_write(fleet_name):
    with orbit.Fleet.join(fleet_name) as f:
        f.ring("r", capacity=8, max_payload=8).write(b"seen")
        with orbit.Fleet.observe(fleet_name) as o:
            assert o.node_id == 0
            ro = o.ring("r")
            assert [fr.payload for fr in ro.cursor()] == [b"seen"]
            with pytest.raises(orbit.ReadOnly):
                ro.write(b"no")
            with pytest.raises(orbit.NotExist):
                o.ring("absent")


def test_members_and_versions(fleet_name):
    with orbit.Fleet.join(fleet_name, label="me") as f:
        f.heartbeat()
        ms = f.members()
        assert [(m.label, m.state, m.pid) for m in ms] == [("me", "alive", os.getpid())]
    assert orbit.library_version().count(".") == 2
    assert orbit.status_str(orbit.TIMEOUT) == "timed out"
