"""Handles over the C ABI: one base class owns one C handle."""

from __future__ import annotations

import ctypes
from typing import Any, Callable, Iterator, List, NamedTuple, Optional, Union

from . import _errors
from ._ffi import FleetOptions, FrameC, Member as _MemberC, RingInfoC, RingOptions, last_error, lib

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


def _buffer(data: Bytes) -> tuple:
    """(pointer, length, keepalive) for bytes, bytearray or memoryview without copying bytes."""
    if isinstance(data, bytes):
        return ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p), len(data), data
    mv = memoryview(data)
    if not mv.contiguous:
        mv = memoryview(mv.tobytes())
    mv = mv.cast("B")
    if mv.readonly:
        b = mv.tobytes()
        return ctypes.cast(ctypes.c_char_p(b), ctypes.c_void_p), len(b), b
    arr = (ctypes.c_char * len(mv)).from_buffer(mv)
    return ctypes.cast(arr, ctypes.c_void_p), len(mv), arr


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


class RingInfo(NamedTuple):
    capacity: int
    head: int
    takeovers: int
    max_payload: int
    slot_stride: int
    kind: int


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
        label_b = label.encode("utf-8")
        o.label = label_b or None
        if max_nodes is not None:
            o.max_nodes = max_nodes
        o.mode = mode
        if stale_after_ms is not None:
            o.stale_after_ms = stale_after_ms
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
        kind: Optional[int] = None, mode: int = 0,
    ) -> "Ring":
        """Opens ring ``name``. Without geometry it attaches to what exists or creates defaults."""
        return Ring._open(self, name, capacity, max_payload, kind, mode)

    @staticmethod
    def unlink(name: str) -> None:
        check(lib.orbit_fleet_unlink(_name(name, "fleet")), "unlink fleet")


class Ring(Handle):
    """A ring of frames; thread-safe."""

    _free = staticmethod(lib.orbit_ring_free)

    @classmethod
    def _open(cls, fleet: Fleet, name: str, capacity, max_payload, kind, mode) -> "Ring":
        opts = None
        if capacity is not None or max_payload is not None or kind is not None or mode:
            o = RingOptions()
            lib.orbit_ring_options_init(ctypes.byref(o))
            if capacity is not None:
                o.capacity = capacity
            if max_payload is not None:
                o.max_payload = max_payload
            if kind is not None:
                o.kind = kind
            o.mode = mode
            opts = ctypes.byref(o)
        out = ctypes.c_void_p()
        check(lib.orbit_ring_open(fleet._h, _name(name, "ring"), opts, ctypes.byref(out)), f"open ring {name!r}")
        r = cls(out, (fleet,))
        r.name = name
        r._max = r.info().max_payload
        return r

    def write(self, payload: Bytes, *, kind: int = 0, ver: int = 0) -> int:
        """Appends a frame; returns its id."""
        ptr, n, keep = _buffer(payload)
        out = ctypes.c_uint64()
        check(lib.orbit_ring_write(self._h, kind, ver, ptr, n, ctypes.byref(out)), "write")
        del keep
        return out.value

    def read(self, frame_id: int) -> Frame:
        """The frame ``frame_id``; raises NotFound once overwritten."""
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
        return RingInfo(i.capacity, i.head, i.takeovers, i.max_payload, i.slot_stride, i.kind)

    def cursor(self, start: int = FROM_OLDEST) -> "Cursor":
        out = ctypes.c_void_p()
        check(lib.orbit_cursor_open(self._h, start, ctypes.byref(out)), "cursor")
        return Cursor(out, self)

    @staticmethod
    def unlink(fleet: str, name: str) -> None:
        check(lib.orbit_ring_unlink(_name(fleet, "fleet"), _name(name, "ring")), "unlink ring")


class Cursor(Handle):
    """A reader's position; iterate to drain what is available. One thread at a time."""

    _free = staticmethod(lib.orbit_cursor_free)

    def __init__(self, ptr: ctypes.c_void_p, ring: Ring) -> None:
        super().__init__(ptr, (ring,))
        self._buf = ctypes.create_string_buffer(ring._max)
        self._frame = FrameC()

    def next(self) -> Optional[Frame]:
        """The next frame, or None at the head."""
        f = self._frame
        st = check(lib.orbit_cursor_next(self._h, ctypes.byref(f), self._buf, len(self._buf)), "next")
        if st == _errors.EMPTY:
            return None
        return Frame(f.id, f.ver, f.kind, self._buf.raw[: f.len], f.lost)

    def wait(self, timeout: float) -> bool:
        """Blocks up to ``timeout`` seconds; True when a frame is ready, False on timeout."""
        st = check(lib.orbit_cursor_wait(self._h, max(0, int(timeout * 1e9))), "wait")
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
