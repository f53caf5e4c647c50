/* A tiny test harness for the orbit C tests: fail-fast checks, unique fleet
 * names, child processes, timing, and a sweep of /dev/shm at exit.
 *
 * Every test program includes this header first (it sets the POSIX feature
 * macro the rest of the program needs under -std=c99).
 *
 * Environment: ORBIT_TEST_VALGRIND=1 shrinks iteration counts and widens
 * timing bounds (the valgrind run of ctest sets it). */
#ifndef ORBIT_TEST_HARNESS_H
#define ORBIT_TEST_HARNESS_H

#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <orbit.h>

/* --- checks (fail fast: print, clean up, exit 1) --- */

void t_fail(const char *file, int line, const char *fmt, ...);

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) t_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);          \
    } while (0)

#define CHECK_MSG(cond, ...)                                                   \
    do {                                                                       \
        if (!(cond)) t_fail(__FILE__, __LINE__, __VA_ARGS__);                 \
    } while (0)

#define CHECK_EQ(a, b)                                                         \
    do {                                                                       \
        uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                       \
        if (a_ != b_)                                                          \
            t_fail(__FILE__, __LINE__, "%s == %s: %" PRIu64 " != %" PRIu64,   \
                   #a, #b, a_, b_);                                            \
    } while (0)

#define CHECK_STATUS(expr, want)                                               \
    do {                                                                       \
        orbit_status got_ = (expr);                                            \
        orbit_status want_ = (want);                                           \
        if (got_ != want_)                                                     \
            t_fail(__FILE__, __LINE__, "%s: got %s, want %s", #expr,           \
                   t_status_name(got_), t_status_name(want_));                 \
    } while (0)

#define CHECK_OK(expr) CHECK_STATUS(expr, ORBIT_STATUS_OK)

/* "ORBIT_STATUS_NOT_FOUND" for 2, "status 99" for unknown codes (static buffer). */
const char *t_status_name(orbit_status s);

/* --- program structure --- */

/* Parses `--child <role> ...` (returns the role's exit code through `child`),
 * records argv[0] for t_spawn, and prints the suite header. */
void t_init(int argc, char **argv, const char *suite);
void t_run(const char *name, void (*fn)(void));
#define RUN(fn) t_run(#fn, fn)
/* Checks that no segment of this run is left in /dev/shm, prints a summary,
 * returns the exit code of main. */
int t_done(void);

/* --- names --- */

/* A fleet name unique to this run: "ct<pid>x<rand>-<n>-<tag>" (at most 48 bytes). */
void t_fleet_name(char *out, size_t cap, const char *tag);
/* "/dev/shm/orbit:<euid>:<fleet>:<kind>:<name>" */
void t_shm_path(char *out, size_t cap, const char *fleet, const char *kind, const char *name);

/* --- environment and time --- */

int t_under_valgrind(void);
/* `normal`, or `valgrind` when running under valgrind. */
uint64_t t_scale(uint64_t normal, uint64_t valgrind);
uint64_t t_now_ns(void);
void t_sleep_ms(unsigned ms);

/* --- processes --- */

/* fork + exec of this test program as `prog --child <role> args...`
 * (args is NULL-terminated). */
pid_t t_spawn(const char *role, const char *const *args);
/* fork only; in the child, t_fail exits with _exit and skips the cleanup. */
pid_t t_fork(void);
/* Ends a forked (not exec'd) child. */
void t_child_exit(int code);
/* Waits for a child; returns its exit code (fails on a signal). */
int t_wait(pid_t pid);
/* Waits at most `timeout_ms`; returns -1 if still running. */
int t_wait_timeout(pid_t pid, unsigned timeout_ms);

/* The role a `--child` invocation asked for; NULL in the parent. Tests
 * dispatch on it in main before t_run. */
const char *t_child_role(void);
int t_child_argc(void);
char **t_child_argv(void);

/* --- pipes: a tiny line protocol between parent and children --- */

void t_pipe(int fds[2]);
void t_send_u64(int fd, uint64_t v);
/* Reads one value; fails after timeout_ms. */
uint64_t t_recv_u64(int fd, unsigned timeout_ms);

/* A ring options struct with the given geometry. */
orbit_ring_options t_ring_opts(uint64_t capacity, uint32_t max_payload, uint8_t kind);

#endif
