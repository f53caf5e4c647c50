import subprocess
import sys
import time

import pytest

import orbit


def test_publish_subscribe_filter_and_replay(fleet_name):
    with orbit.Fleet.join(fleet_name) as f:
        bus = f.bus("events", capacity=64, max_payload=128)
        everything = bus.subscribe()
        orders = bus.subscribe("orders.")
        bus.publish("orders.paid", b"42")
        bus.publish("users.new", bytearray(b"ann"))
        bus.publish("orders.shipped", memoryview(b"43"))
        assert [(e.topic, e.payload) for e in orders] == [("orders.paid", b"42"), ("orders.shipped", b"43")]
        assert [e.topic for e in everything] == ["orders.paid", "users.new", "orders.shipped"]
        late = bus.subscribe("users.", orbit.FROM_OLDEST)
        assert [e.payload for e in late] == [b"ann"]
        assert not everything.wait(0.01)
        with pytest.raises(orbit.InvalidArgument):
            bus.publish("", b"x")


CLAIMER = """
import sys, orbit
with orbit.Fleet.join(sys.argv[1]) as f:
    lease = f.claim("leader", 60000)
    print("claimed" if lease else "conflict", flush=True)
"""


def test_lease_exclusion_tokens_and_release(fleet_name):
    with orbit.Fleet.join(fleet_name) as f:
        with f.claim("leader", 10000) as lease:
            assert lease.token >= 1
            h = f.holder("leader")
            assert h.node_id == f.node_id and h.token == lease.token
            out = subprocess.run([sys.executable, "-c", CLAIMER, fleet_name], capture_output=True, text=True)
            assert out.stdout.strip() == "conflict", out.stderr
            lease.renew(20000)
            first = lease.token
        assert f.holder("leader") is None
        again = f.claim("leader", 10000)
        assert again.token > first
        again.release()
        again.release()  # idempotent
        with pytest.raises(orbit.InvalidArgument):
            f.claim("leader", 0)
    orbit.Fleet.unlink_contest(fleet_name)
    with pytest.raises(orbit.NotExist):
        orbit.Fleet.unlink_contest(fleet_name)


def test_heartbeats(fleet_name):
    with orbit.Fleet.join(fleet_name) as f:
        f.heartbeat()
        f.heartbeat()
        hb = [h for h in f.heartbeats() if h.node_id == f.node_id]
        assert hb and hb[0].beats_in_history >= 2
