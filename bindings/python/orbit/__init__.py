"""orbit: fleet-shared memory for the processes of one host (ctypes binding of liborbit)."""

from ._errors import *  # noqa: F401,F403  (exception classes and status codes)
from ._errors import OrbitError
from ._core import FROM_HEAD, FROM_OLDEST, Cache, CacheStats, CacheValue, Cursor, Fleet, Frame, MemberInfo, Ring
from ._core import Bus, Event, Heartbeat, Holder, Lease, RingInfo, RingWriter, Subscription
from ._ffi import ABI_VERSION, LibraryNotFound, lib as _lib

__version__ = "0.1.0"


def library_version() -> str:
    """The loaded liborbit's version string."""
    return _lib.orbit_version().decode()


def status_str(code: int) -> str:
    """The library's static description of a status code."""
    return _lib.orbit_status_str(code).decode()


__all__ = [
    "ABI_VERSION", "Bus", "Event", "Heartbeat", "Holder", "Lease", "Subscription", "Cache", "CacheStats", "CacheValue", "FROM_HEAD", "FROM_OLDEST", "Cursor", "Fleet", "Frame", "LibraryNotFound", "MemberInfo",
    "OrbitError", "Ring", "RingInfo", "RingWriter", "library_version", "status_str",
]
