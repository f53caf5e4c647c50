/* Every bad input through the C ABI gets a status, never a crash: NULL for
 * every pointer argument of every function, malformed names and options,
 * unknown enum values, wrong and freed handles; plus status strings and the
 * thread's last error message. */
#include "harness.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static orbit_fleet *join(char *fleet, const char *tag) {
    orbit_fleet *f = NULL;
    t_fleet_name(fleet, 49, tag);
    CHECK_OK(orbit_fleet_join(fleet, NULL, &f));
    return f;
}

static orbit_ring *open_ring(orbit_fleet *f, const char *name) {
    orbit_ring *r = NULL;
    orbit_ring_options o = t_ring_opts(8, 32, 0);
    CHECK_OK(orbit_ring_open(f, name, &o, &r));
    return r;
}

/* The last error message of this thread (static buffer). */
static const char *last_error(void) {
    static char msg[1024];
    size_t n = orbit_last_error_message(msg, sizeof msg);
    CHECK(n < sizeof msg);
    CHECK_EQ(strlen(msg), n);
    return msg;
}

#define CHECK_ERROR_MENTIONS(text)                                                      \
    CHECK_MSG(strstr(last_error(), (text)) != NULL, "last error \"%s\" lacks \"%s\"", \
              last_error(), (text))

static void test_null_arguments(void) {
    char fleet[49];
    orbit_fleet *f = join(fleet, "null");
    orbit_ring *r = open_ring(f, "r");
    orbit_cursor *c = NULL;
    orbit_fleet *fo = (orbit_fleet *)&fo;  /* sentinels: failures must set NULL */
    orbit_ring *ro = (orbit_ring *)&ro;
    orbit_cursor *co = (orbit_cursor *)&co;
    orbit_fleet_options fopts;
    orbit_ring_options ropts = t_ring_opts(8, 32, 0);
    orbit_member m[2];
    orbit_frame fr;
    orbit_ring_info info;
    unsigned char buf[32];
    size_t count = 0;
    uint64_t id;

    CHECK_OK(orbit_ring_write(r, 0, 0, "abc", 3, &id));
    CHECK_OK(orbit_cursor_open(r, ORBIT_FROM_OLDEST, &c));
    orbit_fleet_options_init(&fopts);

    /* NULL is ignored by the initialisers */
    orbit_fleet_options_init(NULL);
    orbit_ring_options_init(NULL);

    /* fleet */
    CHECK_STATUS(orbit_fleet_join(NULL, &fopts, &fo), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK(fo == NULL);
    CHECK_ERROR_MENTIONS("NULL");
    CHECK_STATUS(orbit_fleet_join(fleet, &fopts, NULL), ORBIT_STATUS_NULL_ARGUMENT);
    fo = (orbit_fleet *)&fo;
    CHECK_STATUS(orbit_fleet_observe(NULL, &fo), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK(fo == NULL);
    CHECK_STATUS(orbit_fleet_observe(fleet, NULL), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_EQ(orbit_fleet_node_id(NULL), 0);
    CHECK_STATUS(orbit_fleet_heartbeat(NULL), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_fleet_members(NULL, m, 2, &count), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_fleet_members(f, m, 2, NULL), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_fleet_members(f, NULL, 2, &count), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_fleet_unlink(NULL), ORBIT_STATUS_NULL_ARGUMENT);
    orbit_fleet_free(NULL);

    /* ring */
    CHECK_STATUS(orbit_ring_open(NULL, "r", &ropts, &ro), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK(ro == NULL);
    ro = (orbit_ring *)&ro;
    CHECK_STATUS(orbit_ring_open(f, NULL, &ropts, &ro), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK(ro == NULL);
    CHECK_STATUS(orbit_ring_open(f, "r", &ropts, NULL), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_ring_write(NULL, 0, 0, "abc", 3, &id), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_ring_write(r, 0, 0, NULL, 3, &id), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_ring_read(NULL, id, &fr, buf, sizeof buf), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_ring_read(r, id, NULL, buf, sizeof buf), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_ring_read(r, id, &fr, NULL, sizeof buf), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_ring_stat(NULL, &info), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_ring_stat(r, NULL), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_ring_unlink(NULL, "r"), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_ring_unlink(fleet, NULL), ORBIT_STATUS_NULL_ARGUMENT);
    orbit_ring_free(NULL);

    /* cursor */
    CHECK_STATUS(orbit_cursor_open(NULL, ORBIT_FROM_OLDEST, &co), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK(co == NULL);
    CHECK_STATUS(orbit_cursor_open(r, ORBIT_FROM_OLDEST, NULL), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_cursor_next(NULL, &fr, buf, sizeof buf), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_cursor_next(c, NULL, buf, sizeof buf), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_cursor_next(c, &fr, NULL, sizeof buf), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_cursor_wait(NULL, 0), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_cursor_wait(NULL, 1000000000u), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_EQ(orbit_cursor_lost(NULL), 0);
    orbit_cursor_free(NULL);

    /* library */
    CHECK(orbit_last_error_message(NULL, 0) > 0);
    CHECK(orbit_last_error_message(NULL, 16) > 0); /* NULL buffer: length only */

    /* none of that touched the ring or consumed the cursor's frame */
    CHECK_OK(orbit_ring_stat(r, &info));
    CHECK_EQ(info.head, 1);
    CHECK_OK(orbit_cursor_next(c, &fr, buf, sizeof buf));
    CHECK_EQ(fr.id, id);
    CHECK_EQ(fr.len, 3);

    orbit_cursor_free(c);
    orbit_ring_free(r);
    CHECK_OK(orbit_ring_unlink(fleet, "r"));
    orbit_fleet_free(f);
    CHECK_OK(orbit_fleet_unlink(fleet));
}

static void test_bad_names(void) {
    static const char *const bad[] = {
        "",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", /* 49 bytes */
        "a/b",
        "/abs",
        "..",
        "a..b",
        "../up",
        ".",
        "a b",
        " lead",
        "trail ",
        "tab\tx",
        "new\nline",
        "a:b",
        "a*",
        "caf\xc3\xa9", /* UTF-8, but not [A-Za-z0-9_.-] */
        "bad\xff",     /* not UTF-8 */
    };
    char fleet[49], long_fleet[49], path[256];
    const char *name48 = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV";
    orbit_fleet *f = join(fleet, "names");
    orbit_fleet *fo = NULL, *lf = NULL;
    orbit_ring *ro = NULL;
    orbit_ring_options o = t_ring_opts(8, 32, 0);
    size_t i;

    CHECK_EQ(strlen(bad[1]), 49);
    CHECK_EQ(strlen(name48), 48);
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *b = bad[i];
        fo = (orbit_fleet *)&fo;
        CHECK_STATUS(orbit_fleet_join(b, NULL, &fo), ORBIT_STATUS_INVALID_ARGUMENT);
        CHECK(fo == NULL);
        CHECK_STATUS(orbit_fleet_observe(b, &fo), ORBIT_STATUS_INVALID_ARGUMENT);
        CHECK_STATUS(orbit_fleet_unlink(b), ORBIT_STATUS_INVALID_ARGUMENT);
        ro = (orbit_ring *)&ro;
        CHECK_STATUS(orbit_ring_open(f, b, &o, &ro), ORBIT_STATUS_INVALID_ARGUMENT);
        CHECK(ro == NULL);
        CHECK_STATUS(orbit_ring_open(f, b, NULL, &ro), ORBIT_STATUS_INVALID_ARGUMENT);
        CHECK_STATUS(orbit_ring_unlink(b, "r"), ORBIT_STATUS_INVALID_ARGUMENT);
        CHECK_STATUS(orbit_ring_unlink(fleet, b), ORBIT_STATUS_INVALID_ARGUMENT);
    }
    /* the messages say what is wrong */
    CHECK_STATUS(orbit_ring_open(f, "a/b", &o, &ro), ORBIT_STATUS_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("a/b");
    CHECK_STATUS(orbit_fleet_join(bad[1], NULL, &fo), ORBIT_STATUS_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("48");
    t_shm_path(path, sizeof path, fleet, "ring", bad[1]);
    CHECK(!exists(path));

    /* 48 bytes is fine, for an object and for a fleet */
    CHECK_OK(orbit_ring_open(f, name48, &o, &ro));
    orbit_ring_free(ro);
    CHECK_OK(orbit_ring_unlink(fleet, name48));
    t_fleet_name(long_fleet, sizeof long_fleet, "long-fleet-name-padding-padding-padding-padding");
    CHECK_EQ(strlen(long_fleet), 48);
    CHECK_OK(orbit_fleet_join(long_fleet, NULL, &lf));
    CHECK_OK(orbit_ring_open(lf, name48, &o, &ro));
    orbit_ring_free(ro);
    CHECK_OK(orbit_ring_unlink(long_fleet, name48));
    orbit_fleet_free(lf);
    CHECK_OK(orbit_fleet_unlink(long_fleet));

    orbit_fleet_free(f);
    CHECK_OK(orbit_fleet_unlink(fleet));
}

static void test_bad_options(void) {
    char fleet[49], path[256];
    orbit_fleet_options o;
    orbit_fleet *f = (orbit_fleet *)&f;

    t_fleet_name(fleet, sizeof fleet, "opts");
    t_shm_path(path, sizeof path, fleet, "fleet", "members");

    orbit_fleet_options_init(&o);
    o.label = "0123456789012345678901234567890x"; /* 32 bytes: one too many */
    CHECK_STATUS(orbit_fleet_join(fleet, &o, &f), ORBIT_STATUS_INVALID_ARGUMENT);
    CHECK(f == NULL);
    CHECK_ERROR_MENTIONS("label");
    o.label = "bad\xff";
    CHECK_STATUS(orbit_fleet_join(fleet, &o, &f), ORBIT_STATUS_INVALID_ARGUMENT);

    orbit_fleet_options_init(&o);
    o.reserved[0] = 1;
    CHECK_STATUS(orbit_fleet_join(fleet, &o, &f), ORBIT_STATUS_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("reserved");
    orbit_fleet_options_init(&o);
    o.max_nodes = 0;
    CHECK_STATUS(orbit_fleet_join(fleet, &o, &f), ORBIT_STATUS_INVALID_ARGUMENT);
    o.max_nodes = 4097;
    CHECK_STATUS(orbit_fleet_join(fleet, &o, &f), ORBIT_STATUS_INVALID_ARGUMENT);
    orbit_fleet_options_init(&o);
    o.mode = 0777;
    CHECK_STATUS(orbit_fleet_join(fleet, &o, &f), ORBIT_STATUS_INVALID_ARGUMENT);
    o.mode = 0200;
    CHECK_STATUS(orbit_fleet_join(fleet, &o, &f), ORBIT_STATUS_INVALID_ARGUMENT);
    CHECK(!exists(path));

    /* valid extremes */
    orbit_fleet_options_init(&o);
    o.max_nodes = 1;
    o.mode = 0660;
    CHECK_OK(orbit_fleet_join(fleet, &o, &f));
    {
        struct stat st;
        orbit_fleet *second = (orbit_fleet *)&second;
        CHECK(stat(path, &st) == 0);
        CHECK_EQ(st.st_mode & 0777, 0660);
        /* one node, taken by a live process: FULL */
        CHECK_STATUS(orbit_fleet_join(fleet, &o, &second), ORBIT_STATUS_FULL);
        CHECK(second == NULL);
    }
    orbit_fleet_free(f);
    CHECK_OK(orbit_fleet_unlink(fleet));
}

static void test_status_strings(void) {
    static const int32_t codes[] = {
        ORBIT_STATUS_OK, ORBIT_STATUS_EMPTY, ORBIT_STATUS_NOT_FOUND, ORBIT_STATUS_TIMEOUT,
        ORBIT_STATUS_CONFLICT, ORBIT_STATUS_LEASE_LOST, ORBIT_STATUS_NULL_ARGUMENT,
        ORBIT_STATUS_INVALID_ARGUMENT, ORBIT_STATUS_TOO_LARGE, ORBIT_STATUS_BUFFER_TOO_SMALL,
        ORBIT_STATUS_NOT_EXIST, ORBIT_STATUS_EXISTS, ORBIT_STATUS_INCOMPATIBLE,
        ORBIT_STATUS_CORRUPT, ORBIT_STATUS_PERMISSION, ORBIT_STATUS_READ_ONLY, ORBIT_STATUS_FULL,
        ORBIT_STATUS_IO, ORBIT_STATUS_PANIC,
    };
    static const int32_t unknown[] = {6, 7, 15, 29, 100, -1, INT32_MIN, INT32_MAX};
    const size_t n = sizeof codes / sizeof codes[0];
    const char *generic = orbit_status_str(unknown[0]);
    const char *texts[sizeof codes / sizeof codes[0]];
    size_t i, j;

    /* the values are the contract */
    CHECK_EQ(ORBIT_STATUS_OK, 0);
    CHECK_EQ(ORBIT_STATUS_LEASE_LOST, 5);
    CHECK_EQ(ORBIT_STATUS_NULL_ARGUMENT, 16);
    CHECK_EQ(ORBIT_STATUS_PANIC, 28);
    CHECK(generic != NULL && generic[0] != '\0');
    for (i = 0; i < n; i++) {
        texts[i] = orbit_status_str(codes[i]);
        CHECK(texts[i] != NULL);
        CHECK_MSG(strlen(texts[i]) >= 2, "status %d has text \"%s\"", (int)codes[i], texts[i]);
        CHECK_MSG(strcmp(texts[i], generic) != 0, "status %d has the generic text", (int)codes[i]);
        CHECK(orbit_status_str(codes[i]) == texts[i]); /* static */
        for (j = 0; j < i; j++)
            CHECK_MSG(strcmp(texts[i], texts[j]) != 0, "statuses %d and %d share \"%s\"",
                      (int)codes[i], (int)codes[j], texts[i]);
        printf("    %2d %-30s %s\n", (int)codes[i], t_status_name(codes[i]), texts[i]);
    }
    for (i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *s = orbit_status_str(unknown[i]);
        CHECK(s != NULL);
        CHECK(strcmp(s, generic) == 0);
    }
}

static void *no_error_in_new_thread(void *arg) {
    char buf[8] = "x";
    (void)arg;
    /* no message: length 0, and an empty string copied */
    return (void *)(uintptr_t)(orbit_last_error_message(buf, sizeof buf) == 0 && buf[0] == '\0');
}

static void test_last_error_message(void) {
    char fleet[49], buf[8], full[1024];
    orbit_fleet *f = join(fleet, "lasterr");
    orbit_ring *r = open_ring(f, "r"), *none = NULL;
    orbit_cursor *c = NULL;
    orbit_frame fr;
    size_t len, again;
    pthread_t th;
    void *thread_ok = NULL;
    unsigned char big[64] = {0};

    /* an error records why */
    CHECK_STATUS(orbit_ring_write(r, 0, 0, big, 33, NULL), ORBIT_STATUS_TOO_LARGE);
    len = orbit_last_error_message(full, sizeof full);
    CHECK(len > 10 && len < sizeof full);
    CHECK_MSG(strstr(full, "33") != NULL && strstr(full, "32") != NULL,
              "message \"%s\" should give the size and the limit", full);
    printf("    TOO_LARGE: %s\n", full);

    /* snprintf-like truncation: the full length is returned */
    memset(buf, '#', sizeof buf);
    again = orbit_last_error_message(buf, sizeof buf);
    CHECK_EQ(again, len);
    CHECK_EQ(strlen(buf), sizeof buf - 1);
    CHECK(strncmp(buf, full, sizeof buf - 1) == 0);
    memset(buf, '#', sizeof buf);
    CHECK_EQ(orbit_last_error_message(buf, 1), len);
    CHECK_EQ(buf[0], '\0');
    CHECK_EQ(buf[1], '#');
    CHECK_EQ(orbit_last_error_message(NULL, 0), len);

    /* successes and outcomes (EMPTY, NOT_FOUND, TIMEOUT) leave it alone */
    CHECK_OK(orbit_ring_write(r, 0, 0, big, 3, NULL));
    CHECK_OK(orbit_cursor_open(r, ORBIT_FROM_HEAD, &c));
    CHECK_STATUS(orbit_cursor_next(c, &fr, big, sizeof big), ORBIT_STATUS_EMPTY);
    CHECK_STATUS(orbit_cursor_wait(c, 1000), ORBIT_STATUS_TIMEOUT);
    CHECK_STATUS(orbit_ring_read(r, 999, &fr, big, sizeof big), ORBIT_STATUS_NOT_FOUND);
    CHECK(strcmp(last_error(), full) == 0);

    /* each error replaces it */
    CHECK_STATUS(orbit_ring_open(f, "r", NULL, NULL), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK(strcmp(last_error(), full) != 0);
    CHECK_ERROR_MENTIONS("out");
    CHECK_STATUS(orbit_ring_unlink(fleet, "never-created"), ORBIT_STATUS_NOT_EXIST);
    CHECK_ERROR_MENTIONS("never-created");
    printf("    NOT_EXIST: %s\n", last_error());
    CHECK_STATUS(orbit_ring_open(f, "x y", NULL, &none), ORBIT_STATUS_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("x y");
    printf("    INVALID_ARGUMENT: %s\n", last_error());

    /* per thread: a new thread has none */
    CHECK(pthread_create(&th, NULL, no_error_in_new_thread, NULL) == 0);
    CHECK(pthread_join(th, &thread_ok) == 0);
    CHECK_MSG(thread_ok != NULL, "a new thread saw another thread's last error");

    orbit_cursor_free(c);
    orbit_ring_free(r);
    CHECK_OK(orbit_ring_unlink(fleet, "r"));
    orbit_fleet_free(f);
    CHECK_OK(orbit_fleet_unlink(fleet));
}

/* Parents may be freed before their children: the fleet, then the ring, while
 * a cursor and a second ring handle stay usable. */
static void test_parents_may_be_freed_first(void) {
    char fleet[49];
    orbit_fleet *f = join(fleet, "parents");
    orbit_ring *r = open_ring(f, "r");
    orbit_ring *r2 = open_ring(f, "r");
    orbit_cursor *c = NULL;
    orbit_frame fr;
    unsigned char buf[32];

    CHECK_OK(orbit_cursor_open(r, ORBIT_FROM_OLDEST, &c));
    orbit_fleet_free(f);
    CHECK_OK(orbit_ring_write(r, 0, 1, "one", 3, NULL));
    orbit_ring_free(r);
    CHECK_OK(orbit_ring_write(r2, 0, 2, "two", 3, NULL));
    CHECK_OK(orbit_cursor_next(c, &fr, buf, sizeof buf));
    CHECK_EQ(fr.ver, 1);
    CHECK_OK(orbit_cursor_next(c, &fr, buf, sizeof buf));
    CHECK_EQ(fr.ver, 2);
    orbit_ring_free(r2);
    CHECK_STATUS(orbit_cursor_next(c, &fr, buf, sizeof buf), ORBIT_STATUS_EMPTY);
    orbit_cursor_free(c);
    CHECK_OK(orbit_ring_unlink(fleet, "r"));
    CHECK_OK(orbit_fleet_unlink(fleet));
}

/* A second free is detected and ignored. The detection is best effort: it
 * reads the freed block's magic word, which valgrind rightly reports as an
 * invalid read, so this test does not run under valgrind. */
static void test_double_free_is_harmless(void) {
    char fleet[49];
    orbit_fleet *f;
    orbit_ring *r, *keep;
    orbit_cursor *c = NULL, *keep_c = NULL;
    orbit_frame fr;
    unsigned char buf[32];

    if (t_under_valgrind()) {
        printf("    skipped under valgrind (the detection reads freed memory)\n");
        return;
    }
    f = join(fleet, "double-free");
    r = open_ring(f, "r");
    keep = open_ring(f, "r");
    CHECK_OK(orbit_cursor_open(r, ORBIT_FROM_OLDEST, &c));
    CHECK_OK(orbit_cursor_open(keep, ORBIT_FROM_OLDEST, &keep_c));

    orbit_cursor_free(c);
    orbit_cursor_free(c);
    CHECK_ERROR_MENTIONS("already freed");
    orbit_ring_free(r);
    orbit_ring_free(r);
    CHECK_ERROR_MENTIONS("already freed");
    orbit_fleet_free(f);
    orbit_fleet_free(f);
    CHECK_ERROR_MENTIONS("already freed");
    /* using a freed handle is refused the same way */
    CHECK_STATUS(orbit_ring_write(r, 0, 0, "x", 1, NULL), ORBIT_STATUS_INVALID_ARGUMENT);

    /* what is left still works */
    CHECK_OK(orbit_ring_write(keep, 0, 9, "alive", 5, NULL));
    CHECK_OK(orbit_cursor_next(keep_c, &fr, buf, sizeof buf));
    CHECK_EQ(fr.ver, 9);
    orbit_cursor_free(keep_c);
    orbit_ring_free(keep);
    CHECK_OK(orbit_ring_unlink(fleet, "r"));
    CHECK_OK(orbit_fleet_unlink(fleet));
}

/* A handle of another type is refused. Every handle is repr(C) with its magic
 * word first, so the check reads only the first 8 bytes of any handle: this
 * runs under valgrind too. */
static void test_wrong_handle_type_is_refused(void) {
    char fleet[49];
    orbit_fleet *f;
    orbit_ring *r;
    orbit_cursor *c = NULL, *c3 = (orbit_cursor *)&c3;
    orbit_frame fr;
    unsigned char buf[32];

    f = join(fleet, "wrong-type");
    r = open_ring(f, "r");
    CHECK_OK(orbit_cursor_open(r, ORBIT_FROM_OLDEST, &c));
    CHECK_STATUS(orbit_ring_write((orbit_ring *)(void *)f, 0, 0, "a", 1, NULL),
                 ORBIT_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(orbit_fleet_heartbeat((orbit_fleet *)(void *)r), ORBIT_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(orbit_cursor_next((orbit_cursor *)(void *)r, &fr, buf, sizeof buf),
                 ORBIT_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(orbit_cursor_open((orbit_ring *)(void *)f, 0, &c3), ORBIT_STATUS_INVALID_ARGUMENT);
    CHECK(c3 == NULL);
    orbit_ring_free((orbit_ring *)(void *)c);     /* refused: not a ring */
    orbit_cursor_free((orbit_cursor *)(void *)f); /* refused: not a cursor */
    orbit_fleet_free((orbit_fleet *)(void *)r);   /* refused: not a fleet */
    CHECK_OK(orbit_ring_write(r, 0, 7, "still", 5, NULL));
    CHECK_OK(orbit_cursor_next(c, &fr, buf, sizeof buf));
    CHECK_EQ(fr.ver, 7);
    CHECK(orbit_fleet_node_id(f) > 0);
    orbit_cursor_free(c);
    orbit_ring_free(r);
    CHECK_OK(orbit_ring_unlink(fleet, "r"));
    orbit_fleet_free(f);
    CHECK_OK(orbit_fleet_unlink(fleet));
}

/* The batch functions: NULL for every pointer, zero counts, oversized payloads
 * and keys, impossible counts, too-small buffers and wrong handles. Refused
 * calls write and consume nothing. Ring: max payload 32. */
static void test_batch_functions(void) {
    char fleet[49];
    orbit_fleet *f = join(fleet, "batch");
    orbit_ring *r = open_ring(f, "r");
    orbit_cursor *c = NULL;
    orbit_cache *cache = NULL;
    orbit_cache_options co;
    orbit_ring_info info;
    orbit_frame frames[8];
    unsigned char buf[64], big[64] = {0};
    const size_t lens[2] = {3, 5}, zero_lens[2] = {0, 0}, over[3] = {1, 33, 1}, klens[3] = {2, 2, 2};
    const size_t huge_klens[2] = {SIZE_MAX, 2};
    size_t vlens[3], written = 99, n = 99, done = 99;
    orbit_status found[3] = {-1, -1, -1};
    uint64_t ids[2] = {0, 0};

    CHECK_OK(orbit_cursor_open(r, ORBIT_FROM_OLDEST, &c));

    /* orbit_ring_write_batch */
    CHECK_STATUS(orbit_ring_write_batch(NULL, 0, 0, "abcdefgh", lens, 2, NULL, &written),
                 ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_EQ(written, 0);
    CHECK_STATUS(orbit_ring_write_batch(r, 0, 0, "abcdefgh", lens, 2, NULL, NULL), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_ring_write_batch(r, 0, 0, "abcdefgh", NULL, 2, NULL, &written), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_ring_write_batch(r, 0, 0, NULL, lens, 2, NULL, &written), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_ring_write_batch(r, 0, 0, big, over, 3, NULL, &written), ORBIT_STATUS_TOO_LARGE);
    CHECK_ERROR_MENTIONS("33");
    CHECK_STATUS(orbit_ring_write_batch(r, 0, 0, big, lens, SIZE_MAX, NULL, &written),
                 ORBIT_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(orbit_ring_write_batch((orbit_ring *)f, 0, 0, "abcdefgh", lens, 2, NULL, &written),
                 ORBIT_STATUS_INVALID_ARGUMENT);
    CHECK_OK(orbit_ring_stat(r, &info));
    CHECK_EQ(info.head, 0); /* nothing written by the refused calls */
    CHECK_OK(orbit_ring_write_batch(r, 0, 0, NULL, NULL, 0, NULL, &written));
    CHECK_EQ(written, 0);
    CHECK_OK(orbit_ring_write_batch(r, 0, 0, NULL, zero_lens, 2, NULL, &written));
    CHECK_EQ(written, 2);
    CHECK_OK(orbit_ring_write_batch(r, 4, 5, "abcdefgh", lens, 2, ids, &written));
    CHECK_EQ(written, 2);
    CHECK(ids[1] > ids[0]);

    /* orbit_cursor_next_batch: two empty frames, "abc", "defgh" */
    CHECK_STATUS(orbit_cursor_next_batch(NULL, frames, 8, buf, sizeof buf, &n), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_EQ(n, 0);
    CHECK_STATUS(orbit_cursor_next_batch(c, NULL, 8, buf, sizeof buf, &n), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_cursor_next_batch(c, frames, 8, NULL, sizeof buf, &n), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_cursor_next_batch(c, frames, 8, buf, sizeof buf, NULL), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_cursor_next_batch(c, frames, SIZE_MAX, buf, sizeof buf, &n), ORBIT_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(orbit_cursor_next_batch((orbit_cursor *)r, frames, 8, buf, sizeof buf, &n),
                 ORBIT_STATUS_INVALID_ARGUMENT);
    CHECK_OK(orbit_cursor_next_batch(c, NULL, 0, buf, sizeof buf, &n));
    CHECK_EQ(n, 0);
    CHECK_OK(orbit_cursor_next_batch(c, frames, 3, buf, 2, &n)); /* "abc" does not fit: stops before it */
    CHECK_EQ(n, 2);
    CHECK_STATUS(orbit_cursor_next_batch(c, frames, 8, buf, 2, &n), ORBIT_STATUS_BUFFER_TOO_SMALL);
    CHECK_EQ(frames[0].len, 3);
    CHECK_OK(orbit_cursor_next_batch(c, frames, 8, buf, sizeof buf, &n));
    CHECK_EQ(n, 2);
    CHECK_EQ(frames[1].ver, 5);
    CHECK(memcmp(buf, "abcdefgh", 8) == 0);
    CHECK_STATUS(orbit_cursor_next_batch(c, frames, 8, buf, sizeof buf, &n), ORBIT_STATUS_EMPTY);

    /* orbit_cache_get_batch: max key 8 */
    orbit_cache_options_init(&co);
    co.max_key = 8;
    co.max_value = 8;
    CHECK_OK(orbit_cache_open(f, "c", &co, &cache));
    CHECK_OK(orbit_cache_set(cache, "k1", 2, "one", 3, 0));
    CHECK_STATUS(orbit_cache_get_batch(NULL, "k1zzk1", klens, 3, buf, sizeof buf, vlens, found, &done),
                 ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_EQ(done, 0);
    CHECK_STATUS(orbit_cache_get_batch(cache, NULL, klens, 3, buf, sizeof buf, vlens, found, &done),
                 ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_cache_get_batch(cache, "k1zzk1", NULL, 3, buf, sizeof buf, vlens, found, &done),
                 ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_cache_get_batch(cache, "k1zzk1", klens, 3, NULL, sizeof buf, vlens, found, &done),
                 ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_cache_get_batch(cache, "k1zzk1", klens, 3, buf, sizeof buf, NULL, found, &done),
                 ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_cache_get_batch(cache, "k1zzk1", klens, 3, buf, sizeof buf, vlens, NULL, &done),
                 ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_cache_get_batch(cache, "k1zzk1", klens, 3, buf, sizeof buf, vlens, found, NULL),
                 ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_cache_get_batch(cache, "k1zzk1", huge_klens, 2, buf, sizeof buf, vlens, found, &done),
                 ORBIT_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(orbit_cache_get_batch((orbit_cache *)r, "k1zzk1", klens, 3, buf, sizeof buf, vlens, found, &done),
                 ORBIT_STATUS_INVALID_ARGUMENT);
    CHECK_EQ(found[0], (orbit_status)-1); /* refused calls write no results */
    CHECK_OK(orbit_cache_get_batch(cache, NULL, NULL, 0, NULL, 0, NULL, NULL, &done));
    CHECK_EQ(done, 0);
    CHECK_OK(orbit_cache_get_batch(cache, "k1zzk1", klens, 3, buf, sizeof buf, vlens, found, &done));
    CHECK_EQ(done, 3);
    CHECK_STATUS(found[0], ORBIT_STATUS_OK);
    CHECK_STATUS(found[1], ORBIT_STATUS_NOT_FOUND);
    CHECK_EQ(vlens[2], 3);
    CHECK(memcmp(buf, "oneone", 6) == 0);
    CHECK_STATUS(orbit_cache_get_batch(cache, "k1123456789", (const size_t[]){2, 9}, 2, buf, sizeof buf, vlens,
                                       found, &done),
                 ORBIT_STATUS_TOO_LARGE);
    CHECK_EQ(done, 1);
    CHECK_STATUS(orbit_cache_get_batch(cache, "k1zzk1", klens, 3, buf, 5, vlens, found, &done),
                 ORBIT_STATUS_BUFFER_TOO_SMALL);
    CHECK_EQ(done, 2);
    CHECK_EQ(vlens[2], 3);

    orbit_cache_free(cache);
    orbit_cursor_free(c);
    orbit_ring_free(r);
    orbit_fleet_free(f);
    CHECK_OK(orbit_cache_unlink(fleet, "c"));
    CHECK_OK(orbit_ring_unlink(fleet, "r"));
    CHECK_OK(orbit_fleet_unlink(fleet));
}

int main(int argc, char **argv) {
    t_init(argc, argv, "bad_input");
    RUN(test_null_arguments);
    RUN(test_bad_names);
    RUN(test_bad_options);
    RUN(test_status_strings);
    RUN(test_last_error_message);
    RUN(test_parents_may_be_freed_first);
    RUN(test_double_free_is_harmless);
    RUN(test_wrong_handle_type_is_refused);
    RUN(test_batch_functions);
    return t_done();
}
