import pytest

import orbit


def test_single_writer_ring_writes_through_its_one_writer(fleet_name):
    with orbit.Fleet.join(fleet_name) as f:
        r = f.ring("r", capacity=16, max_payload=32, kind=3, single_writer=True)
        assert r.info().single_writer is True
        with pytest.raises(orbit.InvalidArgument) as e:
            r.write(b"refused")
        assert e.value.code == orbit.INVALID_ARGUMENT
        with pytest.raises(orbit.InvalidArgument):
            r.write_many([b"a", b"b"])
        c = r.cursor(orbit.FROM_OLDEST)
        with r.writer() as w:
            ids = [w.write(b"first"), w.write(bytearray(b"second"), kind=2, ver=7), w.write(b"x" * 32, ver=8)]
            assert ids[0] >> 56 == 3 and ids == sorted(ids)
            with pytest.raises(orbit.TooLarge):
                w.write(b"x" * 33)
            with pytest.raises(orbit.Conflict) as e:
                r.writer()
            assert e.value.code == orbit.CONFLICT
        frames = list(c)
        assert [(fr.id, fr.kind, fr.ver, fr.payload, fr.lost) for fr in frames] == [
            (ids[0], 0, 0, b"first", 0), (ids[1], 2, 7, b"second", 0), (ids[2], 0, 8, b"x" * 32, 0)]
        assert r.info().head == 3
        with r.writer() as w2:  # the role is free again once the first writer closed
            w2.write(b"again")
        assert [fr.payload for fr in c] == [b"again"]
        # Attaching without options finds the flag in the segment.
        assert f.ring("r").info().single_writer is True


def test_writer_refused_on_multi_writer_ring_and_through_observer(fleet_name):
    with orbit.Fleet.join(fleet_name) as f:
        r = f.ring("r", capacity=8, max_payload=8)
        assert r.info().single_writer is False
        with pytest.raises(orbit.InvalidArgument):
            r.writer()
        with pytest.raises(TypeError):
            f.ring("s", single_writer=1)
        f.ring("s", capacity=8, max_payload=8, single_writer=True)
        with orbit.Fleet.observe(fleet_name) as o:
            with pytest.raises(orbit.ReadOnly):
                o.ring("s").writer()


def test_closed_writer_raises_and_writer_outlives_its_ring_handle(fleet_name):
    with orbit.Fleet.join(fleet_name) as f:
        r = f.ring("r", capacity=8, max_payload=8, single_writer=True)
        c = r.cursor()
        w = r.writer()
        r.close()  # the writer keeps the ring mapped
        w.write(b"kept")
        assert [fr.payload for fr in c] == [b"kept"]
        w.close()
        w.close()
        assert w.closed
        with pytest.raises(ValueError, match="RingWriter is closed"):
            w.write(b"x")  # the hot path
        with pytest.raises(ValueError, match="RingWriter is closed"):
            w.write(b"x", kind=1)
