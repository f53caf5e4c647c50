#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *g_self;      /* argv[0], for t_spawn */
static const char *g_suite = "?";
static int g_is_child;          /* forked or exec'd helper process */
static const char *g_role;
static int g_child_argc;
static char **g_child_argv;
static unsigned g_names;
static unsigned g_tests;
static char g_prefix[32];       /* "ct<pid>x<rand>-": every fleet of this run starts with it */
static pid_t g_children[64];    /* spawned or forked, killed if the parent fails */
static unsigned g_nchildren;

static void sweep(int report);

static void remember_child(pid_t pid) {
    if (g_nchildren < sizeof g_children / sizeof g_children[0])
        g_children[g_nchildren++] = pid;
}

/* After a failure, children blocked on the parent would otherwise linger. */
static void kill_children(void) {
    unsigned i;
    for (i = 0; i < g_nchildren; i++)
        if (kill(g_children[i], SIGKILL) == 0)
            waitpid(g_children[i], NULL, 0);
    g_nchildren = 0;
}

const char *t_status_name(orbit_status s) {
    static char unknown[32];
    switch (s) {
    case ORBIT_STATUS_OK: return "ORBIT_STATUS_OK";
    case ORBIT_STATUS_EMPTY: return "ORBIT_STATUS_EMPTY";
    case ORBIT_STATUS_NOT_FOUND: return "ORBIT_STATUS_NOT_FOUND";
    case ORBIT_STATUS_TIMEOUT: return "ORBIT_STATUS_TIMEOUT";
    case ORBIT_STATUS_CONFLICT: return "ORBIT_STATUS_CONFLICT";
    case ORBIT_STATUS_LEASE_LOST: return "ORBIT_STATUS_LEASE_LOST";
    case ORBIT_STATUS_NULL_ARGUMENT: return "ORBIT_STATUS_NULL_ARGUMENT";
    case ORBIT_STATUS_INVALID_ARGUMENT: return "ORBIT_STATUS_INVALID_ARGUMENT";
    case ORBIT_STATUS_TOO_LARGE: return "ORBIT_STATUS_TOO_LARGE";
    case ORBIT_STATUS_BUFFER_TOO_SMALL: return "ORBIT_STATUS_BUFFER_TOO_SMALL";
    case ORBIT_STATUS_NOT_EXIST: return "ORBIT_STATUS_NOT_EXIST";
    case ORBIT_STATUS_EXISTS: return "ORBIT_STATUS_EXISTS";
    case ORBIT_STATUS_INCOMPATIBLE: return "ORBIT_STATUS_INCOMPATIBLE";
    case ORBIT_STATUS_CORRUPT: return "ORBIT_STATUS_CORRUPT";
    case ORBIT_STATUS_PERMISSION: return "ORBIT_STATUS_PERMISSION";
    case ORBIT_STATUS_READ_ONLY: return "ORBIT_STATUS_READ_ONLY";
    case ORBIT_STATUS_FULL: return "ORBIT_STATUS_FULL";
    case ORBIT_STATUS_IO: return "ORBIT_STATUS_IO";
    case ORBIT_STATUS_PANIC: return "ORBIT_STATUS_PANIC";
    }
    snprintf(unknown, sizeof unknown, "status %d", (int)s);
    return unknown;
}

void t_fail(const char *file, int line, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s%s:%d: FAILED: ", g_is_child ? "[child] " : "", file, line);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (orbit_last_error_message(msg, sizeof msg) > 0)
        fprintf(stderr, "\n    last orbit error on this thread: %s", msg);
    fputc('\n', stderr);
    fflush(stderr);
    if (g_is_child)
        _exit(1);
    kill_children();
    sweep(0);
    exit(1);
}

void t_init(int argc, char **argv, const char *suite) {
    g_self = argv[0];
    g_suite = suite;
    if (argc >= 3 && strcmp(argv[1], "--child") == 0) {
        g_is_child = 1;
        g_role = argv[2];
        g_child_argc = argc - 3;
        g_child_argv = argv + 3;
        return;
    }
    /* pid plus a few random bits: unique among concurrent runs, and unlike
     * any other suite's names, since the final sweep removes what matches */
    snprintf(g_prefix, sizeof g_prefix, "ct%ldx%04x-", (long)getpid(),
             (unsigned)(t_now_ns() / 1000u) & 0xffffu);
    printf("[==========] %s (pid %ld%s)\n", suite, (long)getpid(),
           t_under_valgrind() ? ", under valgrind" : "");
    fflush(stdout);
}

const char *t_child_role(void) { return g_role; }
int t_child_argc(void) { return g_child_argc; }
char **t_child_argv(void) { return g_child_argv; }

void t_run(const char *name, void (*fn)(void)) {
    uint64_t t0 = t_now_ns();
    printf("[ RUN      ] %s\n", name);
    fflush(stdout);
    fn();
    printf("[       OK ] %s (%" PRIu64 " ms)\n", name, (t_now_ns() - t0) / 1000000);
    fflush(stdout);
    g_tests++;
}

/* Removes every segment of this run; with `report`, fails if there was one
 * (each test unlinks what it created with the orbit_*_unlink functions). */
static void sweep(int report) {
    char needle[64], path[512], left[1024] = "";
    DIR *d;
    struct dirent *e;
    if (g_prefix[0] == '\0')
        return;
    snprintf(needle, sizeof needle, "orbit:%u:%s", (unsigned)geteuid(), g_prefix);
    d = opendir("/dev/shm");
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, needle, strlen(needle)) != 0)
            continue;
        if (strlen(left) + strlen(e->d_name) + 3 < sizeof left) {
            strcat(left, " ");
            strcat(left, e->d_name);
        }
        snprintf(path, sizeof path, "/dev/shm/%s", e->d_name);
        unlink(path);
    }
    closedir(d);
    if (report && left[0] != '\0')
        t_fail(__FILE__, __LINE__, "segments left behind in /dev/shm:%s", left);
}

int t_done(void) {
    sweep(1);
    printf("[  PASSED  ] %s: %u tests\n", g_suite, g_tests);
    fflush(stdout);
    return 0;
}

void t_fleet_name(char *out, size_t cap, const char *tag) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s%u-%s", g_prefix, ++g_names, tag);
    buf[48] = '\0';
    CHECK(cap > strlen(buf));
    strcpy(out, buf);
}

void t_shm_path(char *out, size_t cap, const char *fleet, const char *kind, const char *name) {
    int n = snprintf(out, cap, "/dev/shm/orbit:%u:%s:%s:%s", (unsigned)geteuid(), fleet, kind, name);
    CHECK(n > 0 && (size_t)n < cap);
}

int t_under_valgrind(void) {
    const char *v = getenv("ORBIT_TEST_VALGRIND");
    return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

uint64_t t_scale(uint64_t normal, uint64_t valgrind) {
    return t_under_valgrind() ? valgrind : normal;
}

uint64_t t_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void t_sleep_ms(unsigned ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

pid_t t_spawn(const char *role, const char *const *args) {
    char *argv[32];
    int n = 0, i;
    pid_t pid;
    argv[n++] = (char *)g_self;
    argv[n++] = (char *)"--child";
    argv[n++] = (char *)role;
    for (i = 0; args != NULL && args[i] != NULL; i++) {
        CHECK(n < 31);
        argv[n++] = (char *)args[i];
    }
    argv[n] = NULL;
    fflush(NULL);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        execv(g_self, argv);
        fprintf(stderr, "execv %s: %s\n", g_self, strerror(errno));
        _exit(127);
    }
    remember_child(pid);
    return pid;
}

pid_t t_fork(void) {
    pid_t pid;
    fflush(NULL);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        g_is_child = 1;
    else
        remember_child(pid);
    return pid;
}

void t_child_exit(int code) {
    fflush(NULL);
    _exit(code);
}

static int decode_status(pid_t pid, int st) {
    if (WIFSIGNALED(st))
        t_fail(__FILE__, __LINE__, "child %ld killed by signal %d", (long)pid, WTERMSIG(st));
    return WEXITSTATUS(st);
}

int t_wait(pid_t pid) {
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            t_fail(__FILE__, __LINE__, "waitpid %ld: %s", (long)pid, strerror(errno));
    }
    return decode_status(pid, st);
}

int t_wait_timeout(pid_t pid, unsigned timeout_ms) {
    uint64_t deadline = t_now_ns() + (uint64_t)timeout_ms * 1000000u;
    int st;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return decode_status(pid, st);
        if (r < 0 && errno != EINTR)
            t_fail(__FILE__, __LINE__, "waitpid %ld: %s", (long)pid, strerror(errno));
        if (t_now_ns() > deadline)
            return -1;
        t_sleep_ms(5);
    }
}

void t_pipe(int fds[2]) {
    CHECK(pipe(fds) == 0);
}

void t_send_u64(int fd, uint64_t v) {
    char line[32];
    int n = snprintf(line, sizeof line, "%" PRIu64 "\n", v);
    CHECK(write(fd, line, (size_t)n) == n);
}

uint64_t t_recv_u64(int fd, unsigned timeout_ms) {
    char line[32];
    size_t len = 0;
    uint64_t deadline = t_now_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        struct pollfd p;
        ssize_t r;
        uint64_t now = t_now_ns();
        CHECK_MSG(now < deadline, "no message from the child within %u ms", timeout_ms);
        p.fd = fd;
        p.events = POLLIN;
        p.revents = 0;
        if (poll(&p, 1, (int)((deadline - now) / 1000000u) + 1) <= 0)
            continue;
        r = read(fd, line + len, 1);
        CHECK_MSG(r == 1, "the child closed the pipe before sending a value");
        if (line[len] == '\n') {
            line[len] = '\0';
            return strtoull(line, NULL, 10);
        }
        len++;
        CHECK(len < sizeof line);
    }
}

orbit_ring_options t_ring_opts(uint64_t capacity, uint32_t max_payload, uint8_t kind) {
    orbit_ring_options o;
    orbit_ring_options_init(&o);
    o.capacity = capacity;
    o.max_payload = max_payload;
    o.kind = kind;
    return o;
}
