"""`orbit stat --prometheus` read by a real parser: prometheus_client's parser
of the text exposition format, the one Prometheus client libraries test
against. Checks the naming conventions and the values against what the test
wrote."""
from collections import Counter

import orbit
from prometheus_client.parser import text_string_to_metric_families

LABEL = 'say "hi" \\ there'


def families(text):
    fams = list(text_string_to_metric_families(text))
    dupes = [n for n, c in Counter(f.name for f in fams).items() if c > 1]
    assert not dupes, f"families split in two: {dupes}"
    return {f.name: f for f in fams}


def value(fam, **labels):
    hits = [s for s in fam.samples if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(hits) == 1, (fam.name, labels, fam.samples)
    return hits[0].value


def make_fleet(name, frames):
    f = orbit.Fleet.join(name, label=LABEL)
    r = f.ring("events", capacity=16, max_payload=64)
    for i in range(frames):
        r.write(b"frame %d" % i)
    c = f.cache("kv", capacity=64, max_key=32, max_value=64)
    c.set("a", b"1")
    assert c.get("a") == b"1"
    assert c.get("b") is None
    b = f.bus("news", capacity=8, max_payload=64)
    for i in range(11):
        b.publish("orders.paid", b"%d" % i)
    lease = f.claim("leader", 60_000)
    assert lease is not None
    return f, r, c, b, lease


def test_conventions_and_values(run, fleet_name):
    name = fleet_name("prom")
    keep = make_fleet(name, 40)
    fams = families(run("stat", name, "--prometheus").stdout)

    for fam in fams.values():
        assert fam.name.startswith("orbit_"), fam.name
        assert fam.documentation, f"{fam.name} has HELP"
        assert fam.type in ("counter", "gauge"), (fam.name, fam.type)
        for s in fam.samples:
            assert s.labels["fleet"] == name
            if fam.type == "counter":
                assert s.name == fam.name + "_total", s.name
            else:
                assert not s.name.endswith("_total"), s.name
                assert s.name == fam.name
    # Units are in the names; labels as documented.
    for unit_name in ("orbit_segment_size_bytes", "orbit_ring_max_payload_bytes",
                      "orbit_member_last_heartbeat_timestamp_seconds",
                      "orbit_segment_creation_timestamp_seconds"):
        assert unit_name in fams, sorted(fams)
    assert value(fams["orbit_segment_size_bytes"], kind="ring", name="events") > 0
    assert value(fams["orbit_segment_healthy"], kind="cache", name="kv") == 1

    assert fams["orbit_ring_writes"].type == "counter"
    assert value(fams["orbit_ring_writes"], name="events") == 40
    assert value(fams["orbit_ring_overwritten_frames"], name="events") == 24
    assert value(fams["orbit_ring_takeovers"], name="events") == 0
    assert value(fams["orbit_ring_capacity_frames"], name="events") == 16
    assert value(fams["orbit_cache_hits"], name="kv") == 1
    assert value(fams["orbit_cache_misses"], name="kv") == 1
    assert value(fams["orbit_cache_sets"], name="kv") == 1
    assert value(fams["orbit_cache_entries"], name="kv") == 1

    assert fams["orbit_bus_events"].type == "counter"
    assert value(fams["orbit_bus_events"], name="news") == 11
    assert value(fams["orbit_bus_overwritten_events"], name="news") == 3
    assert value(fams["orbit_bus_capacity_events"], name="news") == 8
    lease = keep[4]
    assert value(fams["orbit_lease_token"], subject="leader") == lease.token
    assert value(fams["orbit_lease_holder_info"], subject="leader", node=str(keep[0].node_id)) == 1
    assert value(fams["orbit_contest_leases_held"]) == 1
    assert value(fams["orbit_contest_takeovers"]) == 0

    assert value(fams["orbit_fleet_members"], state="alive") == 1
    assert value(fams["orbit_fleet_members"], state="dead") == 0
    node = str(keep[0].node_id)
    assert value(fams["orbit_member_up"], node=node) == 1
    info = fams["orbit_member_info"].samples[0].labels
    assert info["label"] == LABEL, "escaping survives the round trip"
    assert info["state"] == "alive" and info["node"] == node


def test_every_fleet_in_one_exposition(run, fleet_name):
    a, b = fleet_name("a"), fleet_name("b")
    keep = (make_fleet(a, 3), make_fleet(b, 5))
    fams = families(run("stat", "--prometheus").stdout)
    writes = fams["orbit_ring_writes"]
    assert value(writes, fleet=a, name="events") == 3
    assert value(writes, fleet=b, name="events") == 5
    del keep


def test_name_filter(run, fleet_name):
    name = fleet_name("only")
    keep = make_fleet(name, 1)
    fams = families(run("stat", name, "kv", "--prometheus").stdout)
    assert "orbit_cache_hits" in fams
    assert "orbit_ring_writes" not in fams
    del keep
