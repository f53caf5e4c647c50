// Package orbit is the Go binding of liborbit: fleet-shared memory for the
// processes of one host. Every call goes through the C ABI (orbit.h); there is
// no second implementation of the shared layout.
//
// Handles (Fleet, Ring, Cursor, RingWriter, ...) must be closed with Close; a
// finalizer is only a safety net. Fleets and rings are safe for concurrent
// use; a Cursor or a RingWriter is used by one goroutine at a time.
package orbit

/*
#cgo pkg-config: orbit
#include <orbit.h>
#include <stdlib.h>

// Reads the last error in the same cgo call as the failing function: Go may
// move a goroutine between OS threads between two cgo calls, and the message
// is per thread.
static size_t orbit_go_last_error(char *buf, size_t cap) { return orbit_last_error_message(buf, cap); }
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"
)

// ABIVersion is the C ABI version this binding is written for.
const ABIVersion = 1

func init() {
	if v := uint32(C.orbit_abi_version()); v != ABIVersion {
		panic(fmt.Sprintf("orbit: liborbit has C ABI version %d, this binding needs C ABI version %d: "+
			"install a liborbit and an orbit Go module of matching versions", v, ABIVersion))
	}
}

// Status is an ORBIT_STATUS_* code.
type Status int32

// Status codes; they never change.
const (
	StatusOK              Status = C.ORBIT_STATUS_OK
	StatusEmpty           Status = C.ORBIT_STATUS_EMPTY
	StatusNotFound        Status = C.ORBIT_STATUS_NOT_FOUND
	StatusTimeout         Status = C.ORBIT_STATUS_TIMEOUT
	StatusConflict        Status = C.ORBIT_STATUS_CONFLICT
	StatusLeaseLost       Status = C.ORBIT_STATUS_LEASE_LOST
	StatusNullArgument    Status = C.ORBIT_STATUS_NULL_ARGUMENT
	StatusInvalidArgument Status = C.ORBIT_STATUS_INVALID_ARGUMENT
	StatusTooLarge        Status = C.ORBIT_STATUS_TOO_LARGE
	StatusBufferTooSmall  Status = C.ORBIT_STATUS_BUFFER_TOO_SMALL
	StatusNotExist        Status = C.ORBIT_STATUS_NOT_EXIST
	StatusExists          Status = C.ORBIT_STATUS_EXISTS
	StatusIncompatible    Status = C.ORBIT_STATUS_INCOMPATIBLE
	StatusCorrupt         Status = C.ORBIT_STATUS_CORRUPT
	StatusPermission      Status = C.ORBIT_STATUS_PERMISSION
	StatusReadOnly        Status = C.ORBIT_STATUS_READ_ONLY
	StatusFull            Status = C.ORBIT_STATUS_FULL
	StatusIO              Status = C.ORBIT_STATUS_IO
	StatusPanic           Status = C.ORBIT_STATUS_PANIC
)

func (s Status) String() string { return C.GoString(C.orbit_status_str(C.int32_t(s))) }

// Error is returned for every failing call. errors.Is(err, orbit.StatusTimeout) works.
type Error struct {
	Status  Status
	Op      string
	Message string
}

func (e *Error) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("orbit: %s: %s", e.Op, e.Message)
	}
	return fmt.Sprintf("orbit: %s: %s", e.Op, e.Status)
}

// Is reports whether target is the same Status (or an *Error with the same Status).
func (e *Error) Is(target error) bool {
	switch t := target.(type) {
	case Status:
		return e.Status == t
	case *Error:
		return e.Status == t.Status
	}
	return false
}

// Error makes a Status usable as an errors.Is target.
func (s Status) Error() string { return s.String() }

// errOf turns a status into an error; msg is the message fetched in the same cgo call.
func errOf(st C.orbit_status, op string, msg string) error {
	if st == C.ORBIT_STATUS_OK {
		return nil
	}
	return &Error{Status: Status(st), Op: op, Message: msg}
}

// ErrClosed is returned when a closed handle is used.
var ErrClosed = errors.New("orbit: handle is closed")

func cstr(s string) *C.char { return C.CString(s) }

func lastError() string {
	var buf [512]C.char
	n := C.orbit_go_last_error(&buf[0], C.size_t(len(buf)))
	if n == 0 {
		return ""
	}
	return C.GoString(&buf[0])
}

func bytesPtr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// Version is the loaded library's version.
func Version() string { return C.GoString(C.orbit_version()) }

// errFrom turns a shim's status and error copy (see shim.h) into an error,
// freeing the copy.
func errFrom(st C.orbit_status, op string, cerr *C.char) error {
	if cerr != nil {
		defer C.free(unsafe.Pointer(cerr))
	}
	if st == C.ORBIT_STATUS_OK {
		return nil
	}
	msg := ""
	if cerr != nil {
		msg = C.GoString(cerr)
	}
	return errOf(st, op, msg)
}

// call runs f on a locked OS thread so the per-thread last error belongs to it.
func call(op string, f func() C.orbit_status) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	st := f()
	if st == C.ORBIT_STATUS_OK {
		return nil
	}
	msg := ""
	if st >= 16 {
		msg = lastError()
	}
	return errOf(st, op, msg)
}
