/* Foreign, corrupt and half-created files under orbit's segment names.
 *
 * A segment is /dev/shm/orbit:<euid>:<fleet>:<kind>:<name>; its header
 * (src/shm/mod.rs) is: magic "ORBITSEG" u64 @0 (0 while initialising),
 * layout_version u32 @8, object_type u32 @12 (fleet 1, ring 2, cache 3, ...),
 * total_size u64 @16, geometry u64[8] @40 (ring: capacity, max_payload, kind,
 * slot stride). These tests write such files themselves and check what
 * orbit_ring_open / orbit_fleet_join make of them: another kind of file is
 * INCOMPATIBLE, a truncated or impossible one CORRUPT, and a creation that
 * was abandoned (zero length, or magic still 0) is repaired by the next
 * opener that may create. Nothing foreign is ever overwritten. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_SIZE 128
#define OFF_MAGIC 0
#define OFF_LAYOUT 8
#define OFF_TYPE 12
#define OFF_TOTAL 16
#define OFF_GEOMETRY 40

static char g_fleet[49];
static orbit_fleet *g_f;
static unsigned char g_template[HEADER_SIZE]; /* header of a real 16 x 64 ring, kind 9 */
static size_t g_template_size;

static void put_u32(unsigned char *p, uint32_t v) {
    int i;
    for (i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v) {
    int i;
    for (i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64(const unsigned char *p) {
    uint64_t v = 0;
    int i;
    for (i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void random_bytes(unsigned char *p, size_t n) {
    FILE *u = fopen("/dev/urandom", "rb");
    CHECK(u != NULL);
    CHECK(fread(p, 1, n, u) == n);
    fclose(u);
}

static void ring_path(char *out, size_t cap, const char *name) {
    t_shm_path(out, cap, g_fleet, "ring", name);
}

/* Creates `path` (it must not exist) with `len` bytes of `data` followed by
 * zeros up to `size`. */
static void write_file(const char *path, const unsigned char *data, size_t len, size_t size) {
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
    CHECK_MSG(fd >= 0, "create %s: %s", path, strerror(errno));
    CHECK(len == 0 || write(fd, data, len) == (ssize_t)len);
    CHECK(ftruncate(fd, (off_t)size) == 0);
    CHECK(close(fd) == 0);
}

static size_t file_size(const char *path) {
    struct stat st;
    CHECK_MSG(stat(path, &st) == 0, "stat %s: %s", path, strerror(errno));
    return (size_t)st.st_size;
}

/* The whole file must still be exactly `data` (len bytes). */
static void check_untouched(const char *path, const unsigned char *data, size_t len) {
    unsigned char *now = malloc(len + 1);
    FILE *fp = fopen(path, "rb");
    CHECK(now != NULL && fp != NULL);
    CHECK_MSG(fread(now, 1, len + 1, fp) == len, "%s changed size", path);
    fclose(fp);
    CHECK_MSG(memcmp(now, data, len) == 0, "%s was modified", path);
    free(now);
}

static const char *last_error(void) {
    static char msg[1024];
    orbit_last_error_message(msg, sizeof msg);
    return msg;
}

#define CHECK_ERROR_MENTIONS(text)                                                      \
    CHECK_MSG(strstr(last_error(), (text)) != NULL, "last error \"%s\" lacks \"%s\"", \
              last_error(), (text))

/* Opening `name` must fail with `want`, through a member with and without
 * options and through an observer; `*out` is NULL after each. */
static void check_open_fails(const char *name, orbit_status want) {
    orbit_ring_options o = t_ring_opts(16, 64, 9);
    orbit_ring *r = (orbit_ring *)&r;
    orbit_fleet *obs = NULL;
    CHECK_STATUS(orbit_ring_open(g_f, name, NULL, &r), want);
    CHECK(r == NULL);
    r = (orbit_ring *)&r;
    CHECK_STATUS(orbit_ring_open(g_f, name, &o, &r), want);
    CHECK(r == NULL);
    CHECK_OK(orbit_fleet_observe(g_fleet, &obs));
    r = (orbit_ring *)&r;
    CHECK_STATUS(orbit_ring_open(obs, name, NULL, &r), want);
    CHECK(r == NULL);
    orbit_fleet_free(obs);
}

/* A ring that opens must work: a round trip through it. */
static void check_ring_works(orbit_ring *r) {
    orbit_cursor *c = NULL;
    orbit_frame fr;
    unsigned char buf[64];
    uint64_t id;
    CHECK_OK(orbit_cursor_open(r, ORBIT_FROM_OLDEST, &c));
    CHECK_STATUS(orbit_cursor_next(c, &fr, buf, sizeof buf), ORBIT_STATUS_EMPTY);
    CHECK_OK(orbit_ring_write(r, 1, 2, "repaired", 8, &id));
    CHECK_OK(orbit_cursor_next(c, &fr, buf, sizeof buf));
    CHECK_EQ(fr.id, id);
    CHECK(memcmp(buf, "repaired", 8) == 0);
    CHECK_OK(orbit_ring_read(r, id, &fr, buf, sizeof buf));
    orbit_cursor_free(c);
}

static void setup(void) {
    orbit_ring *r = NULL;
    orbit_ring_options o = t_ring_opts(16, 64, 9);
    char path[256];
    FILE *fp;
    t_fleet_name(g_fleet, sizeof g_fleet, "segments");
    CHECK_OK(orbit_fleet_join(g_fleet, NULL, &g_f));
    CHECK_OK(orbit_ring_open(g_f, "template", &o, &r));
    ring_path(path, sizeof path, "template");
    g_template_size = file_size(path);
    fp = fopen(path, "rb");
    CHECK(fp != NULL);
    CHECK(fread(g_template, 1, HEADER_SIZE, fp) == HEADER_SIZE);
    fclose(fp);
    orbit_ring_free(r);
    CHECK_OK(orbit_ring_unlink(g_fleet, "template"));
    /* what the tests below rely on */
    CHECK(memcmp(g_template, "ORBITSEG", 8) == 0);
    CHECK_EQ(get_u64(g_template + OFF_TOTAL), g_template_size);
    CHECK_EQ(get_u64(g_template + OFF_GEOMETRY), 16);
    CHECK_EQ(get_u64(g_template + OFF_GEOMETRY + 8), 64);
    CHECK_EQ(get_u64(g_template + OFF_GEOMETRY + 16), 9);
}

static void test_random_bytes_are_incompatible(void) {
    unsigned char data[4096];
    char path[256];
    random_bytes(data, sizeof data);
    data[0] = 0x5A; /* a non-zero magic word: "ready", but not orbit's */
    ring_path(path, sizeof path, "random");
    write_file(path, data, sizeof data, sizeof data);
    check_open_fails("random", ORBIT_STATUS_INCOMPATIBLE);
    CHECK_ERROR_MENTIONS("not an orbit segment");
    check_untouched(path, data, sizeof data);
    CHECK_OK(orbit_ring_unlink(g_fleet, "random"));
}

static void test_file_smaller_than_a_header_is_corrupt(void) {
    unsigned char data[100];
    char path[256];
    random_bytes(data, sizeof data);
    data[0] = 0x5A;
    ring_path(path, sizeof path, "tiny");
    write_file(path, data, sizeof data, sizeof data);
    check_open_fails("tiny", ORBIT_STATUS_CORRUPT);
    check_untouched(path, data, sizeof data);
    CHECK_OK(orbit_ring_unlink(g_fleet, "tiny"));
}

static void test_other_object_type_is_incompatible(void) {
    unsigned char h[HEADER_SIZE];
    char path[256];
    memcpy(h, g_template, sizeof h);
    put_u32(h + OFF_TYPE, 3); /* a cache */
    ring_path(path, sizeof path, "cachekind");
    write_file(path, h, sizeof h, g_template_size);
    check_open_fails("cachekind", ORBIT_STATUS_INCOMPATIBLE);
    CHECK_ERROR_MENTIONS("cache");
    CHECK_OK(orbit_ring_unlink(g_fleet, "cachekind"));

    put_u32(h + OFF_TYPE, 77); /* no such kind */
    ring_path(path, sizeof path, "nokind");
    write_file(path, h, sizeof h, g_template_size);
    check_open_fails("nokind", ORBIT_STATUS_INCOMPATIBLE);
    CHECK_OK(orbit_ring_unlink(g_fleet, "nokind"));
}

static void test_other_layout_version_is_incompatible(void) {
    unsigned char h[HEADER_SIZE];
    char path[256];
    memcpy(h, g_template, sizeof h);
    put_u32(h + OFF_LAYOUT, 99);
    ring_path(path, sizeof path, "version");
    write_file(path, h, sizeof h, g_template_size);
    check_open_fails("version", ORBIT_STATUS_INCOMPATIBLE);
    CHECK_ERROR_MENTIONS("layout version");
    CHECK_OK(orbit_ring_unlink(g_fleet, "version"));
}

static void test_truncated_ring_is_corrupt(void) {
    char path[256];
    ring_path(path, sizeof path, "truncated");
    write_file(path, g_template, HEADER_SIZE, g_template_size / 2);
    check_open_fails("truncated", ORBIT_STATUS_CORRUPT);
    CHECK_ERROR_MENTIONS("truncated");
    CHECK_EQ(file_size(path), g_template_size / 2);
    CHECK_OK(orbit_ring_unlink(g_fleet, "truncated"));

    ring_path(path, sizeof path, "headeronly");
    write_file(path, g_template, HEADER_SIZE, HEADER_SIZE);
    check_open_fails("headeronly", ORBIT_STATUS_CORRUPT);
    CHECK_EQ(file_size(path), HEADER_SIZE);
    CHECK_OK(orbit_ring_unlink(g_fleet, "headeronly"));

    /* a real ring, truncated behind orbit's back */
    {
        orbit_ring *r = NULL;
        orbit_ring_options o = t_ring_opts(16, 64, 9);
        CHECK_OK(orbit_ring_open(g_f, "shrunk", &o, &r));
        orbit_ring_free(r);
        ring_path(path, sizeof path, "shrunk");
        CHECK(truncate(path, (off_t)(g_template_size - 64)) == 0);
        check_open_fails("shrunk", ORBIT_STATUS_CORRUPT);
        CHECK_OK(orbit_ring_unlink(g_fleet, "shrunk"));
    }
}

static void test_impossible_header_is_corrupt(void) {
    unsigned char h[HEADER_SIZE];
    char path[256];

    memcpy(h, g_template, sizeof h);
    put_u64(h + OFF_TOTAL, g_template_size + 64); /* disagrees with the geometry */
    ring_path(path, sizeof path, "badtotal");
    write_file(path, h, sizeof h, g_template_size + 64);
    check_open_fails("badtotal", ORBIT_STATUS_CORRUPT);
    CHECK_OK(orbit_ring_unlink(g_fleet, "badtotal"));

    memcpy(h, g_template, sizeof h);
    put_u64(h + OFF_GEOMETRY, 3); /* capacity not a power of two */
    ring_path(path, sizeof path, "badcap");
    write_file(path, h, sizeof h, g_template_size);
    check_open_fails("badcap", ORBIT_STATUS_CORRUPT);
    CHECK_OK(orbit_ring_unlink(g_fleet, "badcap"));

    memcpy(h, g_template, sizeof h);
    put_u64(h + OFF_GEOMETRY + 24, 8); /* slot stride */
    ring_path(path, sizeof path, "badstride");
    write_file(path, h, sizeof h, g_template_size);
    check_open_fails("badstride", ORBIT_STATUS_CORRUPT);
    CHECK_OK(orbit_ring_unlink(g_fleet, "badstride"));

    memcpy(h, g_template, sizeof h);
    put_u64(h + OFF_GEOMETRY + 16, 300); /* kind byte out of range */
    ring_path(path, sizeof path, "badkind");
    write_file(path, h, sizeof h, g_template_size);
    check_open_fails("badkind", ORBIT_STATUS_CORRUPT);
    CHECK_OK(orbit_ring_unlink(g_fleet, "badkind"));
}

/* The creator died right after shm_open: a zero-length file. */
static void test_zero_length_ring_is_repaired(void) {
    orbit_ring_options o = t_ring_opts(32, 64, 5);
    orbit_ring *r = NULL;
    orbit_ring_info info;
    char path[256];

    ring_path(path, sizeof path, "zero");
    write_file(path, NULL, 0, 0);
    CHECK_OK(orbit_ring_open(g_f, "zero", &o, &r));
    CHECK_OK(orbit_ring_stat(r, &info));
    CHECK_EQ(info.capacity, 32);
    CHECK_EQ(info.kind, 5);
    CHECK_EQ(info.head, 0);
    CHECK(file_size(path) > HEADER_SIZE);
    check_ring_works(r);
    orbit_ring_free(r);
    CHECK_OK(orbit_ring_unlink(g_fleet, "zero"));

    /* with opts NULL it is repaired with the defaults */
    write_file(path, NULL, 0, 0);
    CHECK_OK(orbit_ring_open(g_f, "zero", NULL, &r));
    CHECK_OK(orbit_ring_stat(r, &info));
    CHECK_EQ(info.capacity, 4096);
    CHECK_EQ(info.max_payload, 1024);
    check_ring_works(r);
    orbit_ring_free(r);
    CHECK_OK(orbit_ring_unlink(g_fleet, "zero"));
}

/* An observer may not create, so it may not repair either: NOT_EXIST after
 * waiting for the (dead) creator, and the file stays as it was. */
static void test_zero_length_ring_is_not_repaired_by_an_observer(void) {
    orbit_fleet *obs = NULL;
    orbit_ring *r = (orbit_ring *)&r;
    char path[256];
    uint64_t t0;

    ring_path(path, sizeof path, "zero-obs");
    write_file(path, NULL, 0, 0);
    CHECK_OK(orbit_fleet_observe(g_fleet, &obs));
    t0 = t_now_ns();
    CHECK_STATUS(orbit_ring_open(obs, "zero-obs", NULL, &r), ORBIT_STATUS_NOT_EXIST);
    CHECK(r == NULL);
    printf("    observer gave up after %.1f ms: %s\n", (double)(t_now_ns() - t0) / 1e6,
           last_error());
    CHECK_ERROR_MENTIONS("never initialised");
    CHECK_EQ(file_size(path), 0);
    orbit_fleet_free(obs);
    /* a member repairs it */
    CHECK_OK(orbit_ring_open(g_f, "zero-obs", NULL, &r));
    check_ring_works(r);
    orbit_ring_free(r);
    CHECK_OK(orbit_ring_unlink(g_fleet, "zero-obs"));
}

/* The creator died after sizing the file, or half-way through initialising:
 * magic still 0, so the next opener that may create initialises it afresh
 * (any bytes the dead creator left are gone). */
static void test_unpublished_ring_is_repaired(void) {
    unsigned char *data = malloc(g_template_size);
    orbit_ring_options o = t_ring_opts(16, 64, 9);
    orbit_ring *r = NULL;
    orbit_ring_info info;
    char path[256];

    CHECK(data != NULL);
    ring_path(path, sizeof path, "sized");
    write_file(path, NULL, 0, g_template_size);
    CHECK_OK(orbit_ring_open(g_f, "sized", &o, &r));
    check_ring_works(r);
    orbit_ring_free(r);
    CHECK_OK(orbit_ring_unlink(g_fleet, "sized"));

    random_bytes(data, g_template_size);
    memcpy(data, g_template, HEADER_SIZE);
    put_u64(data + OFF_MAGIC, 0);
    ring_path(path, sizeof path, "halfway");
    write_file(path, data, g_template_size, g_template_size);
    CHECK_OK(orbit_ring_open(g_f, "halfway", &o, &r));
    CHECK_OK(orbit_ring_stat(r, &info));
    CHECK_EQ(info.head, 0);
    CHECK_EQ(info.takeovers, 0);
    check_ring_works(r);
    orbit_ring_free(r);
    CHECK_OK(orbit_ring_unlink(g_fleet, "halfway"));
    free(data);
}

/* The same rules for the fleet table: orbit:<euid>:<fleet>:fleet:members. */
static void test_fleet_table_of_another_kind(void) {
    char fleet[49], path[256];
    unsigned char data[4096];
    orbit_fleet *f = (orbit_fleet *)&f;

    t_fleet_name(fleet, sizeof fleet, "foreign-table");
    t_shm_path(path, sizeof path, fleet, "fleet", "members");

    /* a ring's header where the table should be */
    write_file(path, g_template, HEADER_SIZE, g_template_size);
    CHECK_STATUS(orbit_fleet_join(fleet, NULL, &f), ORBIT_STATUS_INCOMPATIBLE);
    CHECK(f == NULL);
    CHECK_ERROR_MENTIONS("ring");
    CHECK_STATUS(orbit_fleet_observe(fleet, &f), ORBIT_STATUS_INCOMPATIBLE);
    CHECK_OK(orbit_fleet_unlink(fleet));

    /* random bytes */
    random_bytes(data, sizeof data);
    data[0] = 0x5A;
    write_file(path, data, sizeof data, sizeof data);
    CHECK_STATUS(orbit_fleet_join(fleet, NULL, &f), ORBIT_STATUS_INCOMPATIBLE);
    check_untouched(path, data, sizeof data);
    CHECK_OK(orbit_fleet_unlink(fleet));

    /* abandoned creation: repaired by the next join */
    write_file(path, NULL, 0, 0);
    CHECK_OK(orbit_fleet_join(fleet, NULL, &f));
    CHECK(orbit_fleet_node_id(f) >= 1);
    orbit_fleet_free(f);
    CHECK_OK(orbit_fleet_unlink(fleet));
}

static void test_permission_denied(void) {
    orbit_ring_options o = t_ring_opts(16, 64, 9);
    orbit_ring *r = NULL;
    char path[256];
    if (geteuid() == 0) {
        printf("    skipped: root ignores file modes\n");
        return;
    }
    CHECK_OK(orbit_ring_open(g_f, "private", &o, &r));
    orbit_ring_free(r);
    ring_path(path, sizeof path, "private");
    CHECK(chmod(path, 0) == 0);
    check_open_fails("private", ORBIT_STATUS_PERMISSION);
    CHECK_OK(orbit_ring_unlink(g_fleet, "private"));
}

static void teardown(void) {
    orbit_fleet_free(g_f);
    CHECK_OK(orbit_fleet_unlink(g_fleet));
}

int main(int argc, char **argv) {
    t_init(argc, argv, "segments");
    RUN(setup);
    RUN(test_random_bytes_are_incompatible);
    RUN(test_file_smaller_than_a_header_is_corrupt);
    RUN(test_other_object_type_is_incompatible);
    RUN(test_other_layout_version_is_incompatible);
    RUN(test_truncated_ring_is_corrupt);
    RUN(test_impossible_header_is_corrupt);
    RUN(test_zero_length_ring_is_repaired);
    RUN(test_zero_length_ring_is_not_repaired_by_an_observer);
    RUN(test_unpublished_ring_is_repaired);
    RUN(test_fleet_table_of_another_kind);
    RUN(test_permission_denied);
    RUN(teardown);
    return t_done();
}
