"""Status codes of the C ABI and the exceptions they become."""

from __future__ import annotations

from typing import Dict, Type

OK = 0
EMPTY = 1
NOT_FOUND = 2
TIMEOUT = 3
CONFLICT = 4
LEASE_LOST = 5
NULL_ARGUMENT = 16
INVALID_ARGUMENT = 17
TOO_LARGE = 18
BUFFER_TOO_SMALL = 19
NOT_EXIST = 20
EXISTS = 21
INCOMPATIBLE = 22
CORRUPT = 23
PERMISSION = 24
READ_ONLY = 25
FULL = 26
IO = 27
PANIC = 28


class OrbitError(Exception):
    """Base of every orbit error; ``code`` is the ``ORBIT_STATUS_*`` value."""

    code: int = -1

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class NotFound(OrbitError, LookupError):
    code = NOT_FOUND


class Timeout(OrbitError, TimeoutError):
    code = TIMEOUT


class Conflict(OrbitError):
    code = CONFLICT


class LeaseLost(OrbitError):
    code = LEASE_LOST


class InvalidArgument(OrbitError, ValueError):
    code = INVALID_ARGUMENT


class NullArgument(InvalidArgument):
    code = NULL_ARGUMENT


class TooLarge(InvalidArgument):
    code = TOO_LARGE


class BufferTooSmall(OrbitError):
    code = BUFFER_TOO_SMALL


class NotExist(OrbitError, FileNotFoundError):
    code = NOT_EXIST


class Exists(OrbitError, FileExistsError):
    code = EXISTS


class Incompatible(OrbitError):
    code = INCOMPATIBLE


class Corrupt(OrbitError):
    code = CORRUPT


class PermissionDenied(OrbitError, PermissionError):
    code = PERMISSION


class ReadOnly(OrbitError):
    code = READ_ONLY


class Full(OrbitError):
    code = FULL


class IOFailure(OrbitError, OSError):
    code = IO


class InternalError(OrbitError):
    code = PANIC


class Empty(OrbitError):
    code = EMPTY


BY_CODE: Dict[int, Type[OrbitError]] = {
    c.code: c
    for c in (
        Empty, NotFound, Timeout, Conflict, LeaseLost, NullArgument, InvalidArgument, TooLarge,
        BufferTooSmall, NotExist, Exists, Incompatible, Corrupt, PermissionDenied, ReadOnly, Full,
        IOFailure, InternalError,
    )
}
