"""Loads liborbit and declares every C function's argtypes/restype exactly once.

``FUNCTIONS`` is the single table of declarations; ``tests/test_ffi.py`` checks
it against ``include/orbit.h`` so the two cannot drift apart.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from ctypes import POINTER, Structure, c_char, c_char_p, c_int32, c_size_t, c_uint8, c_uint16, c_uint32
from ctypes import c_int64, c_uint64, c_void_p
from typing import Dict, List, Optional, Tuple

# The C ABI version this binding is written for (ORBIT_ABI_VERSION).
ABI_VERSION = 1

# orbit_ring_options.flags / orbit_ring_info.flags: a single-writer ring.
RING_SINGLE_WRITER = 1


class FleetOptions(Structure):
    _fields_ = [
        ("label", c_char_p),
        ("max_nodes", c_uint32),
        ("mode", c_uint32),
        ("stale_after_ms", c_uint64),
        ("reserved", c_uint64 * 6),
    ]


class Member(Structure):
    _fields_ = [
        ("node_id", c_uint16),
        ("pid", c_uint32),
        ("state", c_uint32),
        ("label", c_char * 32),
        ("joined_at_ms", c_uint64),
        ("last_heartbeat_ms", c_uint64),
    ]


class RingOptions(Structure):
    _fields_ = [
        ("capacity", c_uint64),
        ("max_payload", c_uint32),
        ("mode", c_uint32),
        ("kind", c_uint8),
        ("flags", c_uint8),
        ("reserved0", c_uint8 * 6),
        ("reserved", c_uint64 * 6),
    ]


class FrameC(Structure):
    _fields_ = [
        ("id", c_uint64),
        ("ver", c_uint64),
        ("lost", c_uint64),
        ("len", c_uint32),
        ("kind", c_uint8),
    ]


class RingInfoC(Structure):
    _fields_ = [
        ("capacity", c_uint64),
        ("head", c_uint64),
        ("takeovers", c_uint64),
        ("max_payload", c_uint32),
        ("slot_stride", c_uint32),
        ("kind", c_uint8),
        ("flags", c_uint8),
    ]


class CacheOptions(Structure):
    _fields_ = [
        ("capacity", c_uint64),
        ("max_key", c_uint32),
        ("max_value", c_uint32),
        ("mode", c_uint32),
        ("reserved0", c_uint32),
        ("reserved", c_uint64 * 6),
    ]


class CacheMeta(Structure):
    _fields_ = [("version", c_uint64), ("expires_at_ms", c_uint64)]


class CacheStatsC(Structure):
    _fields_ = [
        ("entries", c_uint64),
        ("hits", c_uint64),
        ("misses", c_uint64),
        ("sets", c_uint64),
        ("evictions", c_uint64),
        ("deletes", c_uint64),
        ("takeovers", c_uint64),
        ("clears", c_uint64),
        ("capacity", c_uint64),
        ("max_key", c_uint32),
        ("max_value", c_uint32),
    ]


class BusOptions(Structure):
    _fields_ = [
        ("capacity", c_uint64),
        ("max_payload", c_uint32),
        ("mode", c_uint32),
        ("reserved", c_uint64 * 6),
    ]


class EventC(Structure):
    _fields_ = [
        ("id", c_uint64),
        ("timestamp_ms", c_uint64),
        ("lost", c_uint64),
        ("topic_len", c_uint32),
        ("len", c_uint32),
    ]


class ContestOptions(Structure):
    _fields_ = [("capacity", c_uint32), ("mode", c_uint32), ("reserved", c_uint64 * 6)]


class HolderC(Structure):
    _fields_ = [
        ("node_id", c_uint16),
        ("pid", c_uint32),
        ("token", c_uint64),
        ("claimed_at_ms", c_uint64),
        ("expires_at_ms", c_uint64),
    ]


class HeartbeatC(Structure):
    _fields_ = [
        ("node_id", c_uint16),
        ("member", c_uint8),
        ("pid", c_uint32),
        ("state", c_uint32),
        ("last_heartbeat_ms", c_uint64),
        ("beats_in_history", c_uint64),
    ]


EXTRA_STRUCTS = {
    "orbit_cache_options": CacheOptions,
    "orbit_cache_meta": CacheMeta,
    "orbit_cache_stats": CacheStatsC,
    "orbit_bus_options": BusOptions,
    "orbit_event": EventC,
    "orbit_contest_options": ContestOptions,
    "orbit_holder": HolderC,
    "orbit_heartbeat": HeartbeatC,
}

STATUS = c_int32
H = c_void_p  # every handle is an opaque pointer

# name -> (restype, argtypes)
FUNCTIONS: Dict[str, Tuple[Optional[type], List[type]]] = {
    # library
    "orbit_version": (c_char_p, []),
    "orbit_abi_version": (c_uint32, []),
    "orbit_status_str": (c_char_p, [c_int32]),
    "orbit_last_error_message": (c_size_t, [c_char_p, c_size_t]),
    # fleet
    "orbit_fleet_options_init": (None, [POINTER(FleetOptions)]),
    "orbit_fleet_join": (STATUS, [c_char_p, POINTER(FleetOptions), POINTER(H)]),
    "orbit_fleet_observe": (STATUS, [c_char_p, POINTER(H)]),
    "orbit_fleet_node_id": (c_uint16, [H]),
    "orbit_fleet_heartbeat": (STATUS, [H]),
    "orbit_fleet_members": (STATUS, [H, POINTER(Member), c_size_t, POINTER(c_size_t)]),
    "orbit_fleet_heartbeats": (STATUS, [H, POINTER(HeartbeatC), c_size_t, POINTER(c_size_t)]),
    "orbit_fleet_free": (None, [H]),
    "orbit_fleet_unlink": (STATUS, [c_char_p]),
    # ring
    "orbit_ring_options_init": (None, [POINTER(RingOptions)]),
    "orbit_ring_open": (STATUS, [H, c_char_p, POINTER(RingOptions), POINTER(H)]),
    "orbit_ring_write": (STATUS, [H, c_uint8, c_uint64, c_void_p, c_size_t, POINTER(c_uint64)]),
    "orbit_ring_write_batch": (
        STATUS, [H, c_uint8, c_uint64, c_void_p, POINTER(c_size_t), c_size_t, POINTER(c_uint64), POINTER(c_size_t)]),
    "orbit_ring_read": (STATUS, [H, c_uint64, POINTER(FrameC), c_void_p, c_size_t]),
    "orbit_ring_stat": (STATUS, [H, POINTER(RingInfoC)]),
    "orbit_ring_free": (None, [H]),
    "orbit_ring_unlink": (STATUS, [c_char_p, c_char_p]),
    # single-writer ring's writer
    "orbit_ring_writer_open": (STATUS, [H, POINTER(H)]),
    "orbit_ring_writer_write": (STATUS, [H, c_uint8, c_uint64, c_void_p, c_size_t, POINTER(c_uint64)]),
    "orbit_ring_writer_free": (None, [H]),
    # cursor
    "orbit_cursor_open": (STATUS, [H, c_uint32, POINTER(H)]),
    "orbit_cursor_next": (STATUS, [H, POINTER(FrameC), c_void_p, c_size_t]),
    "orbit_cursor_next_batch": (STATUS, [H, POINTER(FrameC), c_size_t, c_void_p, c_size_t, POINTER(c_size_t)]),
    "orbit_cursor_wait": (STATUS, [H, c_uint64]),
    "orbit_cursor_lost": (c_uint64, [H]),
    "orbit_cursor_free": (None, [H]),
    # cache
    "orbit_cache_options_init": (None, [POINTER(CacheOptions)]),
    "orbit_cache_open": (STATUS, [H, c_char_p, POINTER(CacheOptions), POINTER(H)]),
    "orbit_cache_get": (STATUS, [H, c_void_p, c_size_t, c_void_p, c_size_t, POINTER(c_size_t), POINTER(CacheMeta)]),
    "orbit_cache_get_batch": (STATUS, [
        H, c_void_p, POINTER(c_size_t), c_size_t, c_void_p, c_size_t, POINTER(c_size_t), POINTER(c_int32),
        POINTER(c_size_t)]),
    "orbit_cache_exists": (STATUS, [H, c_void_p, c_size_t]),
    "orbit_cache_set": (STATUS, [H, c_void_p, c_size_t, c_void_p, c_size_t, c_uint64]),
    "orbit_cache_add": (STATUS, [H, c_void_p, c_size_t, c_void_p, c_size_t, c_uint64]),
    "orbit_cache_cas": (STATUS, [H, c_void_p, c_size_t, c_uint64, c_void_p, c_size_t, c_uint64]),
    "orbit_cache_incr": (STATUS, [H, c_void_p, c_size_t, c_int64, c_uint64, POINTER(c_int64)]),
    "orbit_cache_decr": (STATUS, [H, c_void_p, c_size_t, c_int64, c_uint64, POINTER(c_int64)]),
    "orbit_cache_delete": (STATUS, [H, c_void_p, c_size_t]),
    "orbit_cache_clear": (STATUS, [H]),
    "orbit_cache_stat": (STATUS, [H, POINTER(CacheStatsC)]),
    "orbit_cache_free": (None, [H]),
    "orbit_cache_unlink": (STATUS, [c_char_p, c_char_p]),
    # event bus (declared; no Python wrapper yet)
    "orbit_bus_options_init": (None, [POINTER(BusOptions)]),
    "orbit_bus_open": (STATUS, [H, c_char_p, POINTER(BusOptions), POINTER(H)]),
    "orbit_bus_publish": (STATUS, [H, c_char_p, c_void_p, c_size_t, POINTER(c_uint64)]),
    "orbit_bus_subscribe": (STATUS, [H, c_char_p, c_uint32, POINTER(H)]),
    "orbit_subscription_next": (STATUS, [H, POINTER(EventC), c_void_p, c_size_t, c_void_p, c_size_t]),
    "orbit_subscription_wait": (STATUS, [H, c_uint64]),
    "orbit_subscription_lost": (c_uint64, [H]),
    "orbit_subscription_free": (None, [H]),
    "orbit_bus_free": (None, [H]),
    "orbit_bus_unlink": (STATUS, [c_char_p, c_char_p]),
    # contest (declared; no Python wrapper yet)
    "orbit_contest_options_init": (None, [POINTER(ContestOptions)]),
    "orbit_contest_open": (STATUS, [H, POINTER(ContestOptions)]),
    "orbit_contest_claim": (STATUS, [H, c_char_p, c_uint64, POINTER(H)]),
    "orbit_contest_holder": (STATUS, [H, c_char_p, POINTER(HolderC)]),
    "orbit_lease_token": (c_uint64, [H]),
    "orbit_lease_renew": (STATUS, [H, c_uint64]),
    "orbit_lease_release": (STATUS, [H]),
    "orbit_lease_free": (None, [H]),
    "orbit_contest_unlink": (STATUS, [c_char_p]),
}


class LibraryNotFound(ImportError):
    """liborbit could not be loaded; the message lists every place tried."""


def _candidates() -> List[str]:
    found: List[str] = []
    env = os.environ.get("ORBIT_LIBRARY")
    if env:
        found.append(env)
    if shutil.which("pkg-config"):
        try:
            libdir = subprocess.run(
                ["pkg-config", "--variable=libdir", "orbit"], capture_output=True, text=True, timeout=10
            ).stdout.strip()
            if libdir:
                found.append(os.path.join(libdir, "liborbit.so"))
        except (OSError, subprocess.SubprocessError):
            pass
    found.append("liborbit.so")  # the system loader (LD_LIBRARY_PATH, ld.so.cache)
    return found


def _load() -> ctypes.CDLL:
    tried: List[str] = []
    for path in _candidates():
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"{path}: {e}")
    raise LibraryNotFound(
        "liborbit could not be loaded. Tried, in order:\n  "
        + "\n  ".join(tried)
        + "\nSet ORBIT_LIBRARY to the library's path, or install orbit where pkg-config or the loader finds it."
    )


lib = _load()

# The ABI version first: a library of another version may lack (or change)
# functions, and "lacks orbit_x" would hide the real reason.
try:
    _abi_fn = lib.orbit_abi_version
except AttributeError as e:
    raise ImportError(f"{lib._name} has no orbit_abi_version: not a liborbit this binding can use") from e
_abi_fn.restype, _abi_fn.argtypes = FUNCTIONS["orbit_abi_version"]
_abi = _abi_fn()
if _abi != ABI_VERSION:
    raise ImportError(
        f"{lib._name} has C ABI version {_abi}, this binding needs C ABI version {ABI_VERSION}: "
        "install a liborbit and an orbit Python package of matching versions"
    )

for _name, (_res, _args) in FUNCTIONS.items():
    try:
        _f = getattr(lib, _name)
    except AttributeError as e:  # an older library than this binding
        raise ImportError(f"{lib._name} lacks {_name}: library older than this binding") from e
    _f.restype = _res
    _f.argtypes = _args

# Hot paths, bound a second time without argtypes: ctypes then skips a
# from_param call and an argument object per parameter (about half the cost
# of a call). Callers must pass every argument as an instance of exactly the
# declared ctypes type (c_void_p handles, byref() out-parameters, c_size_t
# lengths, ...) or bytes/None for pointers; _core.py does, and the tests run
# every one of them.
FAST = ("orbit_ring_write", "orbit_ring_writer_write", "orbit_cursor_next", "orbit_cache_get")
_FuncPtr = type(lib.orbit_ring_write)


def unchecked(name: str):
    """``name`` bound without argtypes (see FAST); restype as declared."""
    f = _FuncPtr((name, lib))
    f.restype = FUNCTIONS[name][0]
    return f


def last_error() -> str:
    buf = ctypes.create_string_buffer(512)
    n = lib.orbit_last_error_message(buf, len(buf))
    if n >= len(buf):
        buf = ctypes.create_string_buffer(n + 1)
        lib.orbit_last_error_message(buf, len(buf))
    return buf.value.decode("utf-8", "replace")
