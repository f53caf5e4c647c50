"""Handles over the C ABI: one base class owns one C handle."""

from __future__ import annotations

import ctypes
import struct
import threading
from operator import itemgetter
from typing import Any, Callable, Iterable, Iterator, List, MutableMapping, NamedTuple, Optional, Union

from . import _errors
from ._ffi import BusOptions, CacheMeta, CacheOptions, CacheStatsC, ContestOptions, EventC, FleetOptions, FrameC
from ._ffi import RING_SINGLE_WRITER, HeartbeatC, HolderC, Member as _MemberC, RingInfoC, RingOptions
from ._ffi import last_error, lib, unchecked

Bytes = Union[bytes, bytearray, memoryview]

FROM_OLDEST = 0
FROM_HEAD = 1

MEMBER_STATES = {0: "alive", 1: "stale", 2: "dead"}


def check(status: int, what: str = "") -> int:
    """Returns outcome statuses (OK, EMPTY, ...) and raises for errors."""
    if status < 16:
        return status
    cls = _errors.BY_CODE.get(status, _errors.OrbitError)
    detail = last_error()
    raise cls(f"{what}: {detail}" if what else detail, status)


def raise_outcome(status: int, what: str) -> None:
    """Raises the exception of an outcome status (NOT_FOUND, TIMEOUT, ...)."""
    cls = _errors.BY_CODE.get(status, _errors.OrbitError)
    raise cls(f"{what}: {lib.orbit_status_str(status).decode()}", status)


def _name(s: str, what: str) -> bytes:
    if not isinstance(s, str):
        raise TypeError(f"{what} must be str, not {type(s).__name__}")
    return s.encode("utf-8")


def _uint(v: Any, what: str, bits: int = 64) -> int:
    """``v`` checked to be an int in 0..2**bits-1: ctypes would wrap a negative
    or oversized value silently (-1 becoming 2**64-1)."""
    if not isinstance(v, int):
        raise TypeError(f"{what} must be int, not {type(v).__name__}")
    if not 0 <= v < 1 << bits:
        raise ValueError(f"{what} must be in 0..{(1 << bits) - 1}, not {v}")
    return v


def _int64(v: Any, what: str) -> int:
    if not isinstance(v, int):
        raise TypeError(f"{what} must be int, not {type(v).__name__}")
    if not -(1 << 63) <= v < 1 << 63:
        raise ValueError(f"{what} must fit in 64 signed bits, not {v}")
    return v


def _timeout_ns(timeout: Any) -> int:
    """Seconds (int or float) to nanoseconds; a negative timeout only checks."""
    if not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be seconds as int or float, not {type(timeout).__name__}")
    if timeout != timeout:
        raise ValueError("timeout is NaN")
    return min(max(0, int(timeout * 1e9)), (1 << 64) - 1)


def _buffer(data: Bytes, what: str = "payload") -> tuple:
    """(pointer, length, keepalive) for bytes, bytearray or memoryview without copying bytes."""
    if isinstance(data, bytes):
        return ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p), len(data), data
    if not isinstance(data, (bytearray, memoryview)):
        raise TypeError(f"{what} must be bytes, bytearray or memoryview, not {type(data).__name__}")
    mv = memoryview(data)
    if not mv.contiguous:
        mv = memoryview(mv.tobytes())
    mv = mv.cast("B")
    if mv.readonly:
        b = mv.tobytes()
        return ctypes.cast(ctypes.c_char_p(b), ctypes.c_void_p), len(b), b
    arr = (ctypes.c_char * len(mv)).from_buffer(mv)
    return ctypes.cast(arr, ctypes.c_void_p), len(mv), arr


def _as_bytes(data: Any, what: str) -> bytes:
    """bytes of a bytes-like object (a copy unless it is bytes), TypeError otherwise."""
    if type(data) is bytes:
        return data
    if isinstance(data, (bytes, bytearray, memoryview)):
        return memoryview(data).tobytes()
    raise TypeError(f"{what} must be bytes, bytearray or memoryview, not {type(data).__name__}")


def _packed(items: Iterable[Any], what: str, encode_str: bool = False) -> tuple:
    """(list, packed bytes, lengths) of a batch of bytes-like items, checked."""
    items = items if type(items) is list else list(items)
    if set(map(type, items)) - {bytes}:  # the common case, all bytes, skips this
        conv = []
        for x in items:
            if encode_str and isinstance(x, str):
                conv.append(x.encode("utf-8"))
            else:
                conv.append(_as_bytes(x, what))
        items = conv
    return items, b"".join(items), list(map(len, items))


# The hot paths (Ring.write, RingWriter.write, Cursor.next, Cache.get) call these bindings
# without argtypes (see _ffi.FAST) and pass arguments already of the declared
# ctypes types: c_size_t lengths from _SIZES (shared, never mutated), out-
# parameters through byref objects made once per thread or per cursor.
_fast_ring_write = unchecked("orbit_ring_write")
_fast_ring_writer_write = unchecked("orbit_ring_writer_write")
_fast_cursor_next = unchecked("orbit_cursor_next")
_fast_cache_get = unchecked("orbit_cache_get")
_SMALL = 1024
_SIZES = tuple(ctypes.c_size_t(n) for n in range(_SMALL + 1))
_KIND0 = ctypes.c_uint8(0)
_VER0 = ctypes.c_uint64(0)
_ZERO = 0  # the default of kind/ver: `is _ZERO` picks the fast path
_tuple_new = tuple.__new__
_LEN = itemgetter(3)
# orbit_frame: id, ver, lost, len, kind (then padding).
_FRAME = struct.Struct("=QQQIB")
_FRAME_SIZE = ctypes.sizeof(FrameC)
_FRAME_ITER = struct.Struct("=QQQIB3x").iter_unpack
assert struct.calcsize("=QQQIB3x") == _FRAME_SIZE and FrameC.len.offset == 24 and FrameC.kind.offset == 28


class _Scratch(threading.local):
    """Per-thread out-parameters and buffers, so hot calls allocate nothing and
    handles stay safe to share between threads (ctypes releases the GIL)."""

    def __init__(self) -> None:
        self.u64 = ctypes.c_uint64()
        self.u64_ref = ctypes.byref(self.u64)
        self.size = ctypes.c_size_t()
        self.size_ref = ctypes.byref(self.size)
        self._buf = ctypes.create_string_buffer(1)
        # Cache.get's state in one attribute: (buffer, its c_size_t length, length as int).
        self.get_buf = (self._buf, ctypes.c_size_t(1), 1)

    def buffer(self, n: int) -> Any:
        if len(self._buf) < n:
            self._buf = ctypes.create_string_buffer(n)
            self.get_buf = (self._buf, ctypes.c_size_t(n), n)
        return self._buf


_scratch_local = _Scratch()


def _scratch() -> _Scratch:
    return _scratch_local


class Handle:
    """Owns one C handle. ``close()`` is idempotent; use as a context manager."""

    _free: Callable[[Any], None]

    def __init__(self, ptr: ctypes.c_void_p, parents: tuple = ()) -> None:
        self._ptr: Optional[ctypes.c_void_p] = ptr
        self._parents = parents  # keep parents alive as long as we are

    @property
    def _h(self) -> ctypes.c_void_p:
        if self._ptr is None:
            raise ValueError(f"{type(self).__name__} is closed")
        return self._ptr

    def _fail(self, status: int, what: str) -> None:
        """Raises for a failed hot-path call. Hot paths pass ``self._ptr``
        unchecked: a closed handle is None, which the C side refuses as
        NULL_ARGUMENT without touching memory, and which becomes this error."""
        if self._ptr is None:
            raise ValueError(f"{type(self).__name__} is closed")
        if check(status, what) != 0:
            raise_outcome(status, what)

    def close(self) -> None:
        ptr, self._ptr = self._ptr, None
        if ptr is not None:
            type(self)._free(ptr)

    @property
    def closed(self) -> bool:
        return self._ptr is None

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # safety net only; call close()
        try:
            self.close()
        except Exception:
            pass


class MemberInfo(NamedTuple):
    node_id: int
    pid: int
    state: str
    label: str
    joined_at_ms: int
    last_heartbeat_ms: int


class Frame(NamedTuple):
    id: int
    ver: int
    kind: int
    payload: bytes
    lost: int


def _write_frame(h: "Handle", write: Callable, payload: Bytes, kind: int, ver: int) -> int:
    """The checked (argtypes) path of Ring.write and RingWriter.write: any
    buffer type, any kind and ver; `write` is the C function."""
    kind, ver = _uint(kind, "kind", 8), _uint(ver, "ver")
    s = _scratch()
    ptr, n, keep = _buffer(payload)
    st = write(h._h, kind, ver, ptr, n, s.u64_ref)
    del keep
    if st:
        h._fail(st, "write")
    return s.u64.value


class RingInfo(NamedTuple):
    capacity: int
    head: int
    takeovers: int
    max_payload: int
    slot_stride: int
    kind: int
    single_writer: bool


class Fleet(Handle):
    """Membership in a fleet (or a read-only observer)."""

    _free = staticmethod(lib.orbit_fleet_free)

    def __init__(self, ptr: ctypes.c_void_p, name: str) -> None:
        super().__init__(ptr)
        self.name = name

    @classmethod
    def join(
        cls, name: str, *, label: str = "", max_nodes: Optional[int] = None, mode: int = 0,
        stale_after_ms: Optional[int] = None,
    ) -> "Fleet":
        o = FleetOptions()
        lib.orbit_fleet_options_init(ctypes.byref(o))
        label_b = _name(label, "label")
        o.label = label_b or None
        if max_nodes is not None:
            o.max_nodes = _uint(max_nodes, "max_nodes", 32)
        o.mode = _uint(mode, "mode", 32)
        if stale_after_ms is not None:
            o.stale_after_ms = _uint(stale_after_ms, "stale_after_ms")
        out = ctypes.c_void_p()
        check(lib.orbit_fleet_join(_name(name, "fleet"), ctypes.byref(o), ctypes.byref(out)), "join")
        return cls(out, name)

    @classmethod
    def observe(cls, name: str) -> "Fleet":
        out = ctypes.c_void_p()
        check(lib.orbit_fleet_observe(_name(name, "fleet"), ctypes.byref(out)), "observe")
        return cls(out, name)

    @property
    def node_id(self) -> int:
        """This member's node id; 0 for an observer."""
        return lib.orbit_fleet_node_id(self._h)

    def heartbeat(self) -> None:
        check(lib.orbit_fleet_heartbeat(self._h), "heartbeat")

    def members(self) -> List[MemberInfo]:
        count = ctypes.c_size_t(0)
        while True:
            cap = max(count.value, 8)
            arr = (_MemberC * cap)()
            st = lib.orbit_fleet_members(self._h, arr, cap, ctypes.byref(count))
            if st == _errors.BUFFER_TOO_SMALL:
                continue
            check(st, "members")
            return [
                MemberInfo(m.node_id, m.pid, MEMBER_STATES.get(m.state, "unknown"),
                           m.label.decode("utf-8", "replace"), m.joined_at_ms, m.last_heartbeat_ms)
                for m in arr[: count.value]
            ]

    def ring(
        self, name: str, *, capacity: Optional[int] = None, max_payload: Optional[int] = None,
        kind: Optional[int] = None, mode: int = 0, single_writer: bool = False,
    ) -> "Ring":
        """Opens ring ``name``. Without geometry it attaches to what exists or creates defaults.

        ``single_writer=True`` creates a single-writer ring: one writer at a time,
        across every process, through :meth:`Ring.writer` (``Ring.write`` is
        refused with InvalidArgument); its writes claim slots without
        compare-and-swap, the ring's lowest latency."""
        return Ring._open(self, name, capacity, max_payload, kind, mode, single_writer)

    def cache(
        self, name: str, *, capacity: Optional[int] = None, max_key: Optional[int] = None,
        max_value: Optional[int] = None, mode: int = 0,
    ) -> "Cache":
        """Opens cache ``name``. Without limits it attaches to what exists or creates defaults."""
        return Cache._open(self, name, capacity, max_key, max_value, mode)

    def bus(
        self, name: str, *, capacity: Optional[int] = None, max_payload: Optional[int] = None, mode: int = 0,
    ) -> "Bus":
        """Opens event bus ``name``. Without geometry it attaches to what exists or creates defaults."""
        return Bus._open(self, name, capacity, max_payload, mode)

    def claim(self, subject: str, ttl_ms: int) -> Optional["Lease"]:
        """Claims ``subject`` for ``ttl_ms``; None if another live holder has it.
        Use the lease as a context manager to release it."""
        ttl_ms = _uint(ttl_ms, "ttl_ms")
        out = ctypes.c_void_p()
        st = check(lib.orbit_contest_claim(self._h, _name(subject, "subject"), ttl_ms, ctypes.byref(out)), "claim")
        if st == _errors.CONFLICT:
            return None
        return Lease(out, self, subject)

    def holder(self, subject: str) -> Optional["Holder"]:
        """The live holder of ``subject``, or None."""
        h = HolderC()
        st = check(lib.orbit_contest_holder(self._h, _name(subject, "subject"), ctypes.byref(h)), "holder")
        if st == _errors.NOT_FOUND:
            return None
        return Holder(h.node_id, h.pid, h.token, h.claimed_at_ms, h.expires_at_ms)

    def heartbeats(self) -> List["Heartbeat"]:
        """Each node's latest heartbeat from the heartbeat history."""
        count = ctypes.c_size_t(0)
        while True:
            cap = max(count.value, 8)
            arr = (HeartbeatC * cap)()
            st = lib.orbit_fleet_heartbeats(self._h, arr, cap, ctypes.byref(count))
            if st == _errors.BUFFER_TOO_SMALL:
                continue
            check(st, "heartbeats")
            return [
                Heartbeat(h.node_id, bool(h.member), h.pid, h.state, h.last_heartbeat_ms, h.beats_in_history)
                for h in arr[: count.value]
            ]

    @staticmethod
    def unlink(name: str) -> None:
        check(lib.orbit_fleet_unlink(_name(name, "fleet")), "unlink fleet")

    @staticmethod
    def unlink_contest(name: str) -> None:
        """Removes the fleet's lease table and its audit ring (the next claim starts tokens again from 1)."""
        check(lib.orbit_contest_unlink(_name(name, "fleet")), "unlink contest")


class Ring(Handle):
    """A ring of frames; thread-safe."""

    _free = staticmethod(lib.orbit_ring_free)

    @classmethod
    def _open(cls, fleet: Fleet, name: str, capacity, max_payload, kind, mode, single_writer) -> "Ring":
        if not isinstance(single_writer, bool):
            raise TypeError(f"single_writer must be bool, not {type(single_writer).__name__}")
        opts = None
        if capacity is not None or max_payload is not None or kind is not None or mode or single_writer:
            o = RingOptions()
            lib.orbit_ring_options_init(ctypes.byref(o))
            if capacity is not None:
                o.capacity = _uint(capacity, "capacity")
            if max_payload is not None:
                o.max_payload = _uint(max_payload, "max_payload", 32)
            if kind is not None:
                o.kind = _uint(kind, "kind", 8)
            o.mode = _uint(mode, "mode", 32)
            o.flags = RING_SINGLE_WRITER if single_writer else 0
            opts = ctypes.byref(o)
        out = ctypes.c_void_p()
        check(lib.orbit_ring_open(fleet._h, _name(name, "ring"), opts, ctypes.byref(out)), f"open ring {name!r}")
        r = cls(out, (fleet,))
        r.name = name
        r._max = r.info().max_payload
        return r

    def write(self, payload: Bytes, *, kind: int = 0, ver: int = 0) -> int:
        """Appends a frame; returns its id. Raises InvalidArgument on a
        single-writer ring (write through :meth:`writer`)."""
        if type(payload) is bytes and kind is _ZERO and ver is _ZERO:
            n = len(payload)
            if n <= _SMALL:  # the hot path: no argtypes, nothing constructed
                s = _scratch_local
                st = _fast_ring_write(self._ptr, _KIND0, _VER0, payload, _SIZES[n], s.u64_ref)
                if st:
                    self._fail(st, "write")
                return s.u64.value
        return self._write(payload, kind, ver)

    def _write(self, payload: Bytes, kind: int, ver: int) -> int:
        return _write_frame(self, lib.orbit_ring_write, payload, kind, ver)

    def write_many(self, payloads: Iterable[Bytes], *, kind: int = 0, ver: int = 0) -> int:
        """Appends one frame per payload in one C call (``orbit_ring_write_batch``),
        all with ``kind`` and ``ver``; returns how many were written (all of them:
        a payload over ``max_payload`` raises TooLarge before any is written).
        Frames of other writers may interleave with the batch."""
        kind, ver = _uint(kind, "kind", 8), _uint(ver, "ver")
        items, data, lens = _packed(payloads, "payload")
        n = len(items)
        if not n:
            return 0
        written = ctypes.c_size_t()
        st = lib.orbit_ring_write_batch(
            self._ptr, kind, ver, data, (ctypes.c_size_t * n)(*lens), n, None, ctypes.byref(written))
        if st:
            self._fail(st, "write_many")
        return written.value

    def read(self, frame_id: int) -> Frame:
        """The frame ``frame_id``; raises NotFound once overwritten."""
        frame_id = _uint(frame_id, "frame_id")
        buf = ctypes.create_string_buffer(self._max)
        f = FrameC()
        st = lib.orbit_ring_read(self._h, frame_id, ctypes.byref(f), buf, self._max)
        if st == _errors.NOT_FOUND:
            raise_outcome(st, f"frame {frame_id:#x}")
        check(st, "read")
        return Frame(f.id, f.ver, f.kind, buf.raw[: f.len], f.lost)

    def info(self) -> RingInfo:
        i = RingInfoC()
        check(lib.orbit_ring_stat(self._h, ctypes.byref(i)), "stat")
        return RingInfo(i.capacity, i.head, i.takeovers, i.max_payload, i.slot_stride, i.kind,
                        bool(i.flags & RING_SINGLE_WRITER))

    def cursor(self, start: int = FROM_OLDEST) -> "Cursor":
        start = _uint(start, "start", 32)
        out = ctypes.c_void_p()
        check(lib.orbit_cursor_open(self._h, start, ctypes.byref(out)), "cursor")
        return Cursor(out, self)

    def writer(self) -> "RingWriter":
        """Becomes the writer of a single-writer ring (opened with
        ``single_writer=True``) until the writer is closed; use it as a context
        manager. One writer at a time across every process; the role of a
        writer whose process died is taken over. Raises Conflict while another
        live writer (another process, or another RingWriter of this one) holds
        the ring, InvalidArgument on a multi-writer ring, ReadOnly through an
        observer."""
        out = ctypes.c_void_p()
        st = check(lib.orbit_ring_writer_open(self._h, ctypes.byref(out)), "writer")
        if st == _errors.CONFLICT:
            raise_outcome(st, f"writer of ring {self.name!r}: a live writer holds it")
        return RingWriter(out, self)

    @staticmethod
    def unlink(fleet: str, name: str) -> None:
        check(lib.orbit_ring_unlink(_name(fleet, "fleet"), _name(name, "ring")), "unlink ring")


class RingWriter(Handle):
    """The one writer of a single-writer ring (see :meth:`Ring.writer`); closing
    it gives the role up. One thread at a time."""

    _free = staticmethod(lib.orbit_ring_writer_free)

    def __init__(self, ptr: ctypes.c_void_p, ring: Ring) -> None:
        super().__init__(ptr, (ring,))

    def write(self, payload: Bytes, *, kind: int = 0, ver: int = 0) -> int:
        """Appends a frame; returns its id (as :meth:`Ring.write`)."""
        if type(payload) is bytes and kind is _ZERO and ver is _ZERO:
            n = len(payload)
            if n <= _SMALL:  # the hot path: no argtypes, nothing constructed
                s = _scratch_local
                st = _fast_ring_writer_write(self._ptr, _KIND0, _VER0, payload, _SIZES[n], s.u64_ref)
                if st:
                    self._fail(st, "write")
                return s.u64.value
        return self._write(payload, kind, ver)

    def _write(self, payload: Bytes, kind: int, ver: int) -> int:
        return _write_frame(self, lib.orbit_ring_writer_write, payload, kind, ver)


class Cursor(Handle):
    """A reader's position; iterate to drain what is available. One thread at a time."""

    _free = staticmethod(lib.orbit_cursor_free)

    def __init__(self, ptr: ctypes.c_void_p, ring: Ring) -> None:
        super().__init__(ptr, (ring,))
        self._max = ring._max
        self._buf = ctypes.create_string_buffer(ring._max)
        self._cap = ctypes.c_size_t(ring._max)
        self._frame = FrameC()
        self._frame_ref = ctypes.byref(self._frame)
        # read_many's buffers, grown to the largest batch asked for.
        self._batch = 0
        self._frames: Any = None
        self._payloads: Any = None
        self._count = ctypes.c_size_t()

    def next(self) -> Optional[Frame]:
        """The next frame, or None at the head."""
        st = _fast_cursor_next(self._ptr, self._frame_ref, self._buf, self._cap)
        if st:
            if st == _errors.EMPTY:
                return None
            self._fail(st, "next")
        i, ver, lost, n, kind = _FRAME.unpack_from(self._frame)
        return _tuple_new(Frame, (i, ver, kind, self._buf[:n], lost))

    def read_many(self, max: int = 64) -> List[Frame]:
        """Up to ``max`` available frames in one C call (``orbit_cursor_next_batch``);
        an empty list at the head."""
        if type(max) is not int:
            raise TypeError(f"max must be int, not {type(max).__name__}")
        if max > self._batch:
            if max > 1 << 20:
                raise ValueError(f"max must be in 0..{1 << 20}, not {max}")
            self._frames = (FrameC * max)()
            self._payloads = ctypes.create_string_buffer(max * self._max)
            self._batch = max
        elif max <= 0:
            if max < 0:
                raise ValueError(f"max must be in 0..{1 << 20}, not {max}")
            return []
        st = lib.orbit_cursor_next_batch(
            self._ptr, self._frames, max, self._payloads, max * self._max, ctypes.byref(self._count))
        if st:
            if st == _errors.EMPTY:
                return []
            self._fail(st, "read_many")
        n = self._count.value
        metas = list(_FRAME_ITER(ctypes.string_at(self._frames, n * _FRAME_SIZE)))
        data = ctypes.string_at(self._payloads, sum(map(_LEN, metas)))
        out = []
        off = 0
        for i, ver, lost, ln, kind in metas:
            end = off + ln
            out.append(_tuple_new(Frame, (i, ver, kind, data[off:end], lost)))
            off = end
        return out

    def wait(self, timeout: float) -> bool:
        """Blocks up to ``timeout`` seconds; True when a frame is ready, False on timeout."""
        st = check(lib.orbit_cursor_wait(self._h, _timeout_ns(timeout)), "wait")
        return st == _errors.OK

    @property
    def lost(self) -> int:
        return lib.orbit_cursor_lost(self._h)

    def __iter__(self) -> Iterator[Frame]:
        while True:
            f = self.next()
            if f is None:
                return
            yield f


class CacheValue(NamedTuple):
    value: bytes
    version: int
    expires_at_ms: int


class CacheStats(NamedTuple):
    entries: int
    hits: int
    misses: int
    sets: int
    evictions: int
    deletes: int
    takeovers: int
    clears: int
    capacity: int
    max_key: int
    max_value: int


def _key(key: Union[str, Bytes]) -> tuple:
    if isinstance(key, str):
        key = key.encode("utf-8")
    return _buffer(key, "key")


class Cache(Handle, MutableMapping):
    """A fleet-shared key/value cache; thread-safe.

    Keys are bytes (str is encoded as UTF-8); values are bytes. Besides the
    methods it is a mapping: ``cache[k]``, ``cache[k] = v``, ``del cache[k]``,
    ``k in cache``. ``len()`` and iteration are not offered (a shared cache
    changes under you); use :meth:`stats`.
    """

    _free = staticmethod(lib.orbit_cache_free)

    @classmethod
    def _open(cls, fleet: Fleet, name: str, capacity, max_key, max_value, mode) -> "Cache":
        opts = None
        if capacity is not None or max_key is not None or max_value is not None or mode:
            o = CacheOptions()
            lib.orbit_cache_options_init(ctypes.byref(o))
            if capacity is not None:
                o.capacity = _uint(capacity, "capacity")
            if max_key is not None:
                o.max_key = _uint(max_key, "max_key", 32)
            if max_value is not None:
                o.max_value = _uint(max_value, "max_value", 32)
            o.mode = _uint(mode, "mode", 32)
            opts = ctypes.byref(o)
        out = ctypes.c_void_p()
        check(lib.orbit_cache_open(fleet._h, _name(name, "cache"), opts, ctypes.byref(out)), f"open cache {name!r}")
        c = cls(out, (fleet,))
        c.name = name
        c._max_value = max(c.stats().max_value, 1)
        return c

    def _get(self, key: Union[str, Bytes], meta: Any) -> Optional[bytes]:
        s = _scratch()
        buf = s.buffer(self._max_value)
        kp, kn, keep = _key(key)
        st = lib.orbit_cache_get(self._h, kp, kn, buf, len(buf), s.size_ref, meta)
        del keep
        if st:
            if st == _errors.NOT_FOUND:
                return None
            self._fail(st, "get")
        return buf[: s.size.value]

    def get_entry(self, key: Union[str, Bytes]) -> Optional[CacheValue]:
        """Value, version and expiry of ``key``, or None if absent."""
        meta = CacheMeta()
        v = self._get(key, ctypes.byref(meta))
        return None if v is None else CacheValue(v, meta.version, meta.expires_at_ms)

    def get(self, key: Union[str, Bytes], default: Any = None) -> Any:  # type: ignore[override]
        if type(key) is bytes:
            n = len(key)
            if n <= _SMALL:  # the hot path: no argtypes, nothing constructed
                s = _scratch_local
                buf, cap, cap_n = s.get_buf
                if cap_n < self._max_value:
                    s.buffer(self._max_value)
                    buf, cap, cap_n = s.get_buf
                st = _fast_cache_get(self._ptr, key, _SIZES[n], buf, cap, s.size_ref, None)
                if not st:
                    return buf[: s.size.value]
                if st == _errors.NOT_FOUND:
                    return default
                self._fail(st, "get")
        v = self._get(key, None)
        return default if v is None else v

    def get_many(self, keys: Iterable[Union[str, Bytes]]) -> List[Optional[bytes]]:
        """The values of ``keys`` in one C call (``orbit_cache_get_batch``), in
        key order, None for each key absent. Each value is read atomically;
        the batch as a whole is not a snapshot."""
        items, data, klens = _packed(keys, "key", encode_str=True)
        n = len(items)
        if not n:
            return []
        s = _scratch()
        buf = s.buffer(n * self._max_value)
        vlens = (ctypes.c_size_t * n)()
        statuses = (ctypes.c_int32 * n)()
        st = lib.orbit_cache_get_batch(
            self._ptr, data, (ctypes.c_size_t * n)(*klens), n, buf, len(buf), vlens, statuses, s.size_ref)
        if st:
            self._fail(st, "get_many")
        lens = memoryview(vlens).cast("B").cast("N").tolist()
        vals = ctypes.string_at(buf, sum(lens))
        out: List[Optional[bytes]] = []
        off = 0
        for found, ln in zip(memoryview(statuses).cast("B").cast("i").tolist(), lens):
            if found == 0:
                end = off + ln
                out.append(vals[off:end])
                off = end
            else:
                out.append(None)
        return out

    def set(self, key: Union[str, Bytes], value: Bytes, ttl_ms: int = 0) -> None:
        ttl_ms = _uint(ttl_ms, "ttl_ms")
        kp, kn, k = _key(key)
        vp, vn, v = _buffer(value, "value")
        check(lib.orbit_cache_set(self._h, kp, kn, vp, vn, ttl_ms), "set")

    def add(self, key: Union[str, Bytes], value: Bytes, ttl_ms: int = 0) -> bool:
        """Stores only if absent; False if the key was present."""
        ttl_ms = _uint(ttl_ms, "ttl_ms")
        kp, kn, k = _key(key)
        vp, vn, v = _buffer(value, "value")
        return check(lib.orbit_cache_add(self._h, kp, kn, vp, vn, ttl_ms), "add") == _errors.OK

    def cas(self, key: Union[str, Bytes], expected_version: int, value: Bytes, ttl_ms: int = 0) -> bool:
        """Stores only if the entry's version is still ``expected_version``; False otherwise.
        Raises NotFound if the key is absent."""
        expected_version, ttl_ms = _uint(expected_version, "expected_version"), _uint(ttl_ms, "ttl_ms")
        kp, kn, k = _key(key)
        vp, vn, v = _buffer(value, "value")
        st = lib.orbit_cache_cas(self._h, kp, kn, expected_version, vp, vn, ttl_ms)
        if st == _errors.NOT_FOUND:
            raise_outcome(st, "cas")
        return check(st, "cas") == _errors.OK

    def incr(self, key: Union[str, Bytes], delta: int = 1, ttl_ms: int = 0) -> int:
        """Adds ``delta`` to an 8-byte counter (created at ``delta``); returns the new value."""
        delta, ttl_ms = _int64(delta, "delta"), _uint(ttl_ms, "ttl_ms")
        kp, kn, k = _key(key)
        out = ctypes.c_int64()
        check(lib.orbit_cache_incr(self._h, kp, kn, delta, ttl_ms, ctypes.byref(out)), "incr")
        return out.value

    def decr(self, key: Union[str, Bytes], delta: int = 1, ttl_ms: int = 0) -> int:
        delta, ttl_ms = _int64(delta, "delta"), _uint(ttl_ms, "ttl_ms")
        kp, kn, k = _key(key)
        out = ctypes.c_int64()
        check(lib.orbit_cache_decr(self._h, kp, kn, delta, ttl_ms, ctypes.byref(out)), "decr")
        return out.value

    def delete(self, key: Union[str, Bytes]) -> bool:
        """Removes ``key``; False if it was absent."""
        kp, kn, k = _key(key)
        return check(lib.orbit_cache_delete(self._h, kp, kn), "delete") == _errors.OK

    def clear(self) -> None:
        check(lib.orbit_cache_clear(self._h), "clear")

    def stats(self) -> CacheStats:
        s = CacheStatsC()
        check(lib.orbit_cache_stat(self._h, ctypes.byref(s)), "stats")
        return CacheStats(*(getattr(s, f) for f, _ in CacheStatsC._fields_))

    def __getitem__(self, key: Union[str, Bytes]) -> bytes:
        v = self._get(key, None)
        if v is None:
            raise KeyError(key)
        return v

    def __setitem__(self, key: Union[str, Bytes], value: Bytes) -> None:
        self.set(key, value)

    def __delitem__(self, key: Union[str, Bytes]) -> None:
        if not self.delete(key):
            raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, (str, bytes, bytearray, memoryview)):
            return False
        kp, kn, k = _key(key)
        return check(lib.orbit_cache_exists(self._h, kp, kn), "exists") == _errors.OK

    def __iter__(self):
        raise TypeError("a shared cache cannot be iterated from Python; use stats()")

    def __len__(self) -> int:
        return self.stats().entries

    @staticmethod
    def unlink(fleet: str, name: str) -> None:
        check(lib.orbit_cache_unlink(_name(fleet, "fleet"), _name(name, "cache")), "unlink cache")


class Event(NamedTuple):
    id: int
    timestamp_ms: int
    topic: str
    payload: bytes
    lost: int


class Bus(Handle):
    """An event bus: topics and payloads over one ring. Thread-safe."""

    _free = staticmethod(lib.orbit_bus_free)

    @classmethod
    def _open(cls, fleet: Fleet, name: str, capacity, max_payload, mode) -> "Bus":
        opts = None
        if capacity is not None or max_payload is not None or mode:
            o = BusOptions()
            lib.orbit_bus_options_init(ctypes.byref(o))
            if capacity is not None:
                o.capacity = _uint(capacity, "capacity")
            if max_payload is not None:
                o.max_payload = _uint(max_payload, "max_payload", 32)
            o.mode = _uint(mode, "mode", 32)
            opts = ctypes.byref(o)
        out = ctypes.c_void_p()
        check(lib.orbit_bus_open(fleet._h, _name(name, "bus"), opts, ctypes.byref(out)), f"open bus {name!r}")
        b = cls(out, (fleet,))
        b.name = name
        return b

    def publish(self, topic: str, payload: Bytes = b"") -> int:
        topic_b = _name(topic, "topic")
        ptr, n, keep = _buffer(payload)
        out = ctypes.c_uint64()
        check(lib.orbit_bus_publish(self._h, topic_b, ptr, n, ctypes.byref(out)), "publish")
        del keep
        return out.value

    def subscribe(self, prefix: Optional[str] = None, start: int = FROM_OLDEST) -> "Subscription":
        start = _uint(start, "start", 32)
        out = ctypes.c_void_p()
        p = None if prefix is None else _name(prefix, "topic prefix")
        check(lib.orbit_bus_subscribe(self._h, p, start, ctypes.byref(out)), "subscribe")
        return Subscription(out, self)

    @staticmethod
    def unlink(fleet: str, name: str) -> None:
        check(lib.orbit_bus_unlink(_name(fleet, "fleet"), _name(name, "bus")), "unlink bus")


class Subscription(Handle):
    """Events whose topic starts with a prefix; iterate to drain. One thread at a time."""

    _free = staticmethod(lib.orbit_subscription_free)

    def __init__(self, ptr: ctypes.c_void_p, bus: Bus) -> None:
        super().__init__(ptr, (bus,))
        self._topic = ctypes.create_string_buffer(256)
        self._buf = ctypes.create_string_buffer(1024)
        self._ev = EventC()

    def next(self) -> Optional[Event]:
        e = self._ev
        while True:
            st = lib.orbit_subscription_next(
                self._h, ctypes.byref(e), self._topic, len(self._topic), self._buf, len(self._buf))
            if st == _errors.BUFFER_TOO_SMALL:
                if e.len + 1 > len(self._buf):
                    self._buf = ctypes.create_string_buffer(e.len + 1)
                if e.topic_len + 1 > len(self._topic):
                    self._topic = ctypes.create_string_buffer(e.topic_len + 1)
                continue
            if check(st, "next") == _errors.EMPTY:
                return None
            return Event(e.id, e.timestamp_ms, self._topic.raw[: e.topic_len].decode("utf-8"),
                         self._buf.raw[: e.len], e.lost)

    def wait(self, timeout: float) -> bool:
        return check(lib.orbit_subscription_wait(self._h, _timeout_ns(timeout)), "wait") == _errors.OK

    @property
    def lost(self) -> int:
        return lib.orbit_subscription_lost(self._h)

    def __iter__(self) -> Iterator[Event]:
        while True:
            e = self.next()
            if e is None:
                return
            yield e


class Holder(NamedTuple):
    node_id: int
    pid: int
    token: int
    claimed_at_ms: int
    expires_at_ms: int


class Heartbeat(NamedTuple):
    node_id: int
    member: bool
    pid: int
    state: int
    last_heartbeat_ms: int
    beats_in_history: int


class Lease(Handle):
    """A held lease with its fencing token; releases on close / context exit."""

    _free = staticmethod(lib.orbit_lease_free)

    def __init__(self, ptr: ctypes.c_void_p, fleet: Fleet, subject: str) -> None:
        super().__init__(ptr, (fleet,))
        self.subject = subject

    @property
    def token(self) -> int:
        return lib.orbit_lease_token(self._h)

    def renew(self, ttl_ms: int) -> None:
        """Extends the lease; raises LeaseLost if it expired and another took it."""
        st = lib.orbit_lease_renew(self._h, _uint(ttl_ms, "ttl_ms"))
        if st == _errors.LEASE_LOST:
            raise_outcome(st, f"renew {self.subject!r}")
        check(st, "renew")

    def release(self) -> None:
        """Releases (idempotent); raises LeaseLost if it had been taken over."""
        st = lib.orbit_lease_release(self._h)
        if st == _errors.LEASE_LOST:
            raise_outcome(st, f"release {self.subject!r}")
        check(st, "release")
