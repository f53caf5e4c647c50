/* Hot-path shims for the Go binding: each runs one C function and, on an
 * error, copies the thread's last error message in the same cgo call (a
 * goroutine may change OS threads between two cgo calls, and the message is
 * per thread). No runtime.LockOSThread needed, and nothing is allocated unless
 * the call failed. */
#ifndef ORBIT_GO_SHIM_H
#define ORBIT_GO_SHIM_H
#include <orbit.h>
#include <stdlib.h>

static inline char *orbit_go_take_error(orbit_status st) {
    if (st < 16) return NULL;
    size_t n = orbit_last_error_message(NULL, 0);
    char *m = (char *)malloc(n + 1);
    if (m) orbit_last_error_message(m, n + 1);
    return m;
}

static inline orbit_status orbit_go_ring_write(orbit_ring *r, uint8_t kind, uint64_t ver, const void *data,
                                               size_t len, uint64_t *id, char **err) {
    orbit_status st = orbit_ring_write(r, kind, ver, data, len, id);
    *err = orbit_go_take_error(st);
    return st;
}

static inline orbit_status orbit_go_ring_writer_write(orbit_ring_writer *w, uint8_t kind, uint64_t ver,
                                                      const void *data, size_t len, uint64_t *id, char **err) {
    orbit_status st = orbit_ring_writer_write(w, kind, ver, data, len, id);
    *err = orbit_go_take_error(st);
    return st;
}

static inline orbit_status orbit_go_cursor_next(orbit_cursor *c, orbit_frame *f, void *buf, size_t cap,
                                                char **err) {
    orbit_status st = orbit_cursor_next(c, f, buf, cap);
    *err = orbit_go_take_error(st);
    return st;
}

static inline orbit_status orbit_go_cache_get(const orbit_cache *c, const void *key, size_t klen, void *buf,
                                              size_t cap, size_t *len, orbit_cache_meta *meta, char **err) {
    orbit_status st = orbit_cache_get(c, key, klen, buf, cap, len, meta);
    *err = orbit_go_take_error(st);
    return st;
}

static inline orbit_status orbit_go_ring_write_batch(orbit_ring *r, uint8_t kind, uint64_t ver, const void *data,
                                                     const size_t *lens, size_t count, size_t *written,
                                                     char **err) {
    orbit_status st = orbit_ring_write_batch(r, kind, ver, data, lens, count, NULL, written);
    *err = orbit_go_take_error(st);
    return st;
}

static inline orbit_status orbit_go_cursor_next_batch(orbit_cursor *c, orbit_frame *frames, size_t max, void *buf,
                                                      size_t cap, size_t *count, char **err) {
    orbit_status st = orbit_cursor_next_batch(c, frames, max, buf, cap, count);
    *err = orbit_go_take_error(st);
    return st;
}

static inline orbit_status orbit_go_cache_get_batch(const orbit_cache *c, const void *keys, const size_t *klens,
                                                    size_t count, void *buf, size_t cap, size_t *vlens,
                                                    orbit_status *statuses, size_t *done, char **err) {
    orbit_status st = orbit_cache_get_batch(c, keys, klens, count, buf, cap, vlens, statuses, done);
    *err = orbit_go_take_error(st);
    return st;
}
#endif
