/* Cache semantics through the C ABI: every operation and its outcomes
 * (OK, NOT_FOUND, CONFLICT, BUFFER_TOO_SMALL with the needed length,
 * TOO_LARGE, INVALID_ARGUMENT, READ_ONLY, INCOMPATIBLE), TTL, clear, stats,
 * observers, and counters incremented from several processes. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define VERSION_KIND(v) ((unsigned)((v) >> 56))
#define VERSION_NODE(v) ((unsigned)(((v) >> 40) & 0xffffu))

static orbit_fleet *join(char *fleet, const char *tag) {
    orbit_fleet *f = NULL;
    t_fleet_name(fleet, 49, tag);
    CHECK_OK(orbit_fleet_join(fleet, NULL, &f));
    CHECK(f != NULL);
    return f;
}

static orbit_cache *open_cache(orbit_fleet *f, const char *name, uint64_t capacity,
                               uint32_t max_key, uint32_t max_value) {
    orbit_cache *c = NULL;
    orbit_cache_options o;
    orbit_cache_options_init(&o);
    o.capacity = capacity;
    o.max_key = max_key;
    o.max_value = max_value;
    CHECK_OK(orbit_cache_open(f, name, &o, &c));
    CHECK(c != NULL);
    return c;
}

static void finish(orbit_cache *c, orbit_fleet *f, const char *fleet, const char *name) {
    orbit_cache_free(c);
    orbit_fleet_free(f);
    CHECK_OK(orbit_cache_unlink(fleet, name));
    CHECK_OK(orbit_fleet_unlink(fleet));
}

static orbit_status set_str(orbit_cache *c, const char *k, const char *v, uint64_t ttl_ms) {
    return orbit_cache_set(c, k, strlen(k), v, strlen(v), ttl_ms);
}

/* Gets `k` and checks it holds exactly `want`. */
static void expect_value(const orbit_cache *c, const char *k, const char *want) {
    char buf[256];
    size_t len = 99;
    CHECK_OK(orbit_cache_get(c, k, strlen(k), buf, sizeof buf, &len, NULL));
    CHECK_EQ(len, strlen(want));
    CHECK(memcmp(buf, want, len) == 0);
}

static void expect_missing(const orbit_cache *c, const char *k) {
    char buf[16];
    size_t len = 99;
    orbit_cache_meta meta;
    meta.version = 7;
    CHECK_STATUS(orbit_cache_get(c, k, strlen(k), buf, sizeof buf, &len, &meta),
                 ORBIT_STATUS_NOT_FOUND);
    CHECK_EQ(len, 0);
    CHECK_EQ(meta.version, 0);
}

static void test_options_defaults(void) {
    orbit_cache_options o;
    size_t i;
    memset(&o, 0xAB, sizeof o);
    orbit_cache_options_init(&o);
    CHECK_EQ(o.capacity, 4096);
    CHECK_EQ(o.max_key, 128);
    CHECK_EQ(o.max_value, 1024);
    CHECK_EQ(o.mode, 0);
    CHECK_EQ(o.reserved0, 0);
    for (i = 0; i < sizeof o.reserved / sizeof o.reserved[0]; i++)
        CHECK_EQ(o.reserved[i], 0);
    orbit_cache_options_init(NULL);
}

static void test_get_set_and_meta(void) {
    char fleet[49], buf[64];
    orbit_fleet *f = join(fleet, "getset");
    orbit_cache *c = open_cache(f, "kv", 64, 16, 64);
    orbit_cache_meta meta;
    size_t len = 99;

    expect_missing(c, "alpha");
    CHECK_OK(set_str(c, "alpha", "one", 0));
    CHECK_OK(orbit_cache_get(c, "alpha", 5, buf, sizeof buf, &len, &meta));
    CHECK_EQ(len, 3);
    CHECK(memcmp(buf, "one", 3) == 0);
    CHECK_EQ(VERSION_KIND(meta.version), 200);
    CHECK_EQ(VERSION_NODE(meta.version), orbit_fleet_node_id(f));
    CHECK_EQ(meta.expires_at_ms, 0);

    /* replacing gives a new version; binary keys and values work */
    {
        orbit_cache_meta meta2;
        const unsigned char bin_key[4] = {0, 1, 0, 2};
        const unsigned char bin_val[5] = {0, 0xff, 0, 0xfe, 0};
        CHECK_OK(set_str(c, "alpha", "two", 0));
        CHECK_OK(orbit_cache_get(c, "alpha", 5, buf, sizeof buf, &len, &meta2));
        CHECK(meta2.version != meta.version);
        expect_value(c, "alpha", "two");
        CHECK_OK(orbit_cache_set(c, bin_key, sizeof bin_key, bin_val, sizeof bin_val, 0));
        CHECK_OK(orbit_cache_get(c, bin_key, sizeof bin_key, buf, sizeof buf, &len, NULL));
        CHECK_EQ(len, sizeof bin_val);
        CHECK(memcmp(buf, bin_val, len) == 0);
    }
    /* an empty value is a value */
    CHECK_OK(orbit_cache_set(c, "empty", 5, NULL, 0, 0));
    CHECK_OK(orbit_cache_get(c, "empty", 5, NULL, 0, &len, NULL));
    CHECK_EQ(len, 0);
    CHECK_OK(orbit_cache_exists(c, "empty", 5));
    CHECK_STATUS(orbit_cache_exists(c, "nothing", 7), ORBIT_STATUS_NOT_FOUND);
    finish(c, f, fleet, "kv");
}

static void test_buffer_too_small_reports_length(void) {
    char fleet[49], buf[8];
    orbit_fleet *f = join(fleet, "small");
    orbit_cache *c = open_cache(f, "kv", 64, 16, 64);
    orbit_cache_meta meta;
    size_t len = 0;

    CHECK_OK(set_str(c, "k", "0123456789abcdef", 0));
    memset(buf, 'x', sizeof buf);
    meta.version = 7;
    CHECK_STATUS(orbit_cache_get(c, "k", 1, buf, sizeof buf, &len, &meta),
                 ORBIT_STATUS_BUFFER_TOO_SMALL);
    CHECK_EQ(len, 16);
    CHECK_EQ(meta.version, 0);
    CHECK(buf[0] == 'x'); /* nothing copied */
    CHECK_STATUS(orbit_cache_get(c, "k", 1, NULL, 0, &len, NULL), ORBIT_STATUS_BUFFER_TOO_SMALL);
    CHECK_EQ(len, 16);
    {
        char *big = malloc(len);
        CHECK(big != NULL);
        CHECK_OK(orbit_cache_get(c, "k", 1, big, len, &len, NULL));
        CHECK(memcmp(big, "0123456789abcdef", 16) == 0);
        free(big);
    }
    finish(c, f, fleet, "kv");
}

static void test_limits_are_too_large_and_store_nothing(void) {
    char fleet[49], buf[64];
    orbit_fleet *f = join(fleet, "limits");
    orbit_cache *c = open_cache(f, "kv", 64, 8, 16);
    orbit_cache_stats st;
    size_t len;
    int64_t n = 5;

    CHECK_STATUS(set_str(c, "123456789", "v", 0), ORBIT_STATUS_TOO_LARGE);
    CHECK_STATUS(set_str(c, "k", "0123456789abcdefg", 0), ORBIT_STATUS_TOO_LARGE);
    CHECK_STATUS(orbit_cache_add(c, "k", 1, "0123456789abcdefg", 17, 0), ORBIT_STATUS_TOO_LARGE);
    CHECK_STATUS(orbit_cache_cas(c, "k", 1, 1, "0123456789abcdefg", 17, 0),
                 ORBIT_STATUS_TOO_LARGE);
    CHECK_STATUS(orbit_cache_incr(c, "123456789", 9, 1, 0, &n), ORBIT_STATUS_TOO_LARGE);
    CHECK_EQ(n, 0);
    CHECK_STATUS(orbit_cache_get(c, "123456789", 9, buf, sizeof buf, &len, NULL),
                 ORBIT_STATUS_TOO_LARGE);
    /* exactly at the limits is fine */
    CHECK_OK(set_str(c, "12345678", "0123456789abcdef", 0));
    expect_value(c, "12345678", "0123456789abcdef");
    expect_missing(c, "k");
    CHECK_OK(orbit_cache_stat(c, &st));
    CHECK_EQ(st.sets, 1);
    CHECK_EQ(st.entries, 1);

    /* zero-length and NULL keys */
    CHECK_STATUS(orbit_cache_set(c, "", 0, "v", 1, 0), ORBIT_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(orbit_cache_set(c, NULL, 0, "v", 1, 0), ORBIT_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(orbit_cache_set(c, NULL, 3, "v", 1, 0), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_cache_set(c, "k", 1, NULL, 1, 0), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_cache_get(c, NULL, 3, buf, sizeof buf, &len, NULL),
                 ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_cache_get(c, "k", 1, buf, sizeof buf, NULL, NULL),
                 ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_cache_get(NULL, "k", 1, buf, sizeof buf, &len, NULL),
                 ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_cache_delete(c, NULL, 1), ORBIT_STATUS_NULL_ARGUMENT);
    finish(c, f, fleet, "kv");
}

static void test_add_conflicts_when_present(void) {
    char fleet[49];
    orbit_fleet *f = join(fleet, "add");
    orbit_cache *c = open_cache(f, "kv", 64, 16, 64);

    CHECK_OK(orbit_cache_add(c, "k", 1, "first", 5, 0));
    CHECK_STATUS(orbit_cache_add(c, "k", 1, "second", 6, 0), ORBIT_STATUS_CONFLICT);
    expect_value(c, "k", "first");
    CHECK_OK(orbit_cache_delete(c, "k", 1));
    CHECK_OK(orbit_cache_add(c, "k", 1, "third", 5, 0));
    expect_value(c, "k", "third");
    finish(c, f, fleet, "kv");
}

static void test_cas_compares_versions(void) {
    char fleet[49], buf[64];
    orbit_fleet *f = join(fleet, "cas");
    orbit_cache *c = open_cache(f, "kv", 64, 16, 64);
    orbit_cache_meta m1, m2;
    size_t len;

    CHECK_OK(set_str(c, "k", "v1", 0));
    CHECK_OK(orbit_cache_get(c, "k", 1, buf, sizeof buf, &len, &m1));
    CHECK_OK(orbit_cache_cas(c, "k", 1, m1.version, "v2", 2, 0));
    CHECK_OK(orbit_cache_get(c, "k", 1, buf, sizeof buf, &len, &m2));
    CHECK(m2.version != m1.version);
    /* a stale version conflicts and stores nothing */
    CHECK_STATUS(orbit_cache_cas(c, "k", 1, m1.version, "v3", 2, 0), ORBIT_STATUS_CONFLICT);
    CHECK_STATUS(orbit_cache_cas(c, "k", 1, 0, "v3", 2, 0), ORBIT_STATUS_CONFLICT);
    expect_value(c, "k", "v2");
    /* an absent key is NOT_FOUND */
    CHECK_STATUS(orbit_cache_cas(c, "absent", 6, m2.version, "v", 1, 0), ORBIT_STATUS_NOT_FOUND);
    expect_missing(c, "absent");
    finish(c, f, fleet, "kv");
}

static void test_incr_and_decr(void) {
    char fleet[49], buf[64];
    orbit_fleet *f = join(fleet, "incr");
    orbit_cache *c = open_cache(f, "kv", 64, 16, 64);
    int64_t n = 99, stored;
    size_t len;

    CHECK_OK(orbit_cache_incr(c, "n", 1, 5, 0, &n));
    CHECK_EQ(n, 5);
    CHECK_OK(orbit_cache_incr(c, "n", 1, 10, 0, &n));
    CHECK_EQ(n, 15);
    CHECK_OK(orbit_cache_decr(c, "n", 1, 20, 0, &n));
    CHECK_EQ((uint64_t)n, (uint64_t)(int64_t)-5);
    CHECK_OK(orbit_cache_incr(c, "n", 1, 1, 0, NULL));
    /* the value is an 8-byte little-endian int64 */
    CHECK_OK(orbit_cache_get(c, "n", 1, &stored, sizeof stored, &len, NULL));
    CHECK_EQ(len, 8);
    {
        unsigned char b[8];
        memcpy(b, &stored, 8);
        CHECK_EQ(b[0], 0xfc); /* -4 */
        CHECK_EQ(b[7], 0xff);
    }
    /* a set of 8 bytes is a counter too */
    {
        unsigned char le[8] = {7, 0, 0, 0, 0, 0, 0, 0};
        CHECK_OK(orbit_cache_set(c, "m", 1, le, 8, 0));
        CHECK_OK(orbit_cache_incr(c, "m", 1, 1, 0, &n));
        CHECK_EQ(n, 8);
    }
    /* a non-counter is INVALID_ARGUMENT and stays untouched */
    CHECK_OK(set_str(c, "s", "text", 0));
    n = 99;
    CHECK_STATUS(orbit_cache_incr(c, "s", 1, 1, 0, &n), ORBIT_STATUS_INVALID_ARGUMENT);
    CHECK_EQ(n, 0);
    expect_value(c, "s", "text");
    /* overflow too */
    {
        unsigned char max[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f};
        CHECK_OK(orbit_cache_set(c, "max", 3, max, 8, 0));
        CHECK_STATUS(orbit_cache_incr(c, "max", 3, 1, 0, &n), ORBIT_STATUS_INVALID_ARGUMENT);
        CHECK_OK(orbit_cache_get(c, "max", 3, buf, sizeof buf, &len, NULL));
        CHECK(memcmp(buf, max, 8) == 0);
    }
    CHECK_STATUS(orbit_cache_decr(c, "n", 1, INT64_MIN, 0, &n), ORBIT_STATUS_INVALID_ARGUMENT);
    finish(c, f, fleet, "kv");
}

static void test_delete(void) {
    char fleet[49];
    orbit_fleet *f = join(fleet, "delete");
    orbit_cache *c = open_cache(f, "kv", 64, 16, 64);
    orbit_cache_stats st;

    CHECK_STATUS(orbit_cache_delete(c, "k", 1), ORBIT_STATUS_NOT_FOUND);
    CHECK_OK(set_str(c, "k", "v", 0));
    CHECK_OK(orbit_cache_delete(c, "k", 1));
    expect_missing(c, "k");
    CHECK_STATUS(orbit_cache_delete(c, "k", 1), ORBIT_STATUS_NOT_FOUND);
    CHECK_OK(orbit_cache_stat(c, &st));
    CHECK_EQ(st.deletes, 1);
    CHECK_EQ(st.entries, 0);
    finish(c, f, fleet, "kv");
}

static void test_ttl_expires(void) {
    char fleet[49], buf[16];
    orbit_fleet *f = join(fleet, "ttl");
    orbit_cache *c = open_cache(f, "kv", 64, 16, 64);
    orbit_cache_meta meta;
    size_t len;
    unsigned ttl = (unsigned)t_scale(50, 500);

    CHECK_OK(set_str(c, "short", "v", ttl));
    CHECK_OK(set_str(c, "long", "v", 600000));
    CHECK_OK(orbit_cache_get(c, "short", 5, buf, sizeof buf, &len, &meta));
    CHECK(meta.expires_at_ms != 0);
    t_sleep_ms(ttl * 2);
    expect_missing(c, "short");
    CHECK_STATUS(orbit_cache_delete(c, "short", 5), ORBIT_STATUS_NOT_FOUND);
    expect_value(c, "long", "v");
    /* an expired key can be added again */
    CHECK_OK(orbit_cache_add(c, "short", 5, "again", 5, 0));
    expect_value(c, "short", "again");
    finish(c, f, fleet, "kv");
}

static void test_clear_and_stats(void) {
    char fleet[49], key[16];
    orbit_fleet *f = join(fleet, "clear");
    orbit_cache *c = open_cache(f, "kv", 64, 16, 64);
    orbit_cache_stats st;
    unsigned i;

    for (i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "key-%u", i);
        CHECK_OK(set_str(c, key, "v", 0));
    }
    expect_value(c, "key-3", "v");
    expect_missing(c, "key-99");
    CHECK_OK(orbit_cache_stat(c, &st));
    CHECK_EQ(st.entries, 20);
    CHECK_EQ(st.sets, 20);
    CHECK_EQ(st.hits, 1);
    CHECK_EQ(st.misses, 1);
    CHECK_EQ(st.capacity, 64);
    CHECK_EQ(st.max_key, 16);
    CHECK_EQ(st.max_value, 64);
    CHECK_OK(orbit_cache_clear(c));
    for (i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "key-%u", i);
        expect_missing(c, key);
    }
    CHECK_OK(orbit_cache_stat(c, &st));
    CHECK_EQ(st.entries, 0);
    CHECK_EQ(st.clears, 1);
    CHECK_STATUS(orbit_cache_stat(c, NULL), ORBIT_STATUS_NULL_ARGUMENT);
    finish(c, f, fleet, "kv");
}

static void test_log_wrap_evicts_oldest(void) {
    char fleet[49], key[16];
    orbit_fleet *f = join(fleet, "wrap");
    orbit_cache *c = open_cache(f, "kv", 16, 16, 64);
    orbit_cache_stats st;
    unsigned i;

    for (i = 0; i < 40; i++) {
        snprintf(key, sizeof key, "key-%u", i);
        CHECK_OK(set_str(c, key, key, 0));
    }
    /* only the last 16 writes can be held; the first ones are gone */
    for (i = 0; i < 24; i++) {
        snprintf(key, sizeof key, "key-%u", i);
        expect_missing(c, key);
    }
    CHECK_OK(orbit_cache_stat(c, &st));
    CHECK(st.entries <= 16);
    CHECK(st.evictions >= 24);
    finish(c, f, fleet, "kv");
}

static void test_geometry_and_observer(void) {
    char fleet[49];
    orbit_fleet *f = join(fleet, "geom"), *obs = NULL;
    orbit_cache *c = open_cache(f, "kv", 64, 16, 64), *c2 = NULL, *oc = NULL;
    orbit_cache_options o;
    orbit_cache_stats st;

    orbit_cache_options_init(&o);
    o.capacity = 128;
    CHECK_STATUS(orbit_cache_open(f, "kv", &o, &c2), ORBIT_STATUS_INCOMPATIBLE);
    CHECK(c2 == NULL);
    o.capacity = 100;
    CHECK_STATUS(orbit_cache_open(f, "other", &o, &c2), ORBIT_STATUS_INVALID_ARGUMENT);
    o.capacity = 64;
    o.reserved[0] = 1;
    CHECK_STATUS(orbit_cache_open(f, "kv", &o, &c2), ORBIT_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(orbit_cache_open(f, "bad/name", NULL, &c2), ORBIT_STATUS_INVALID_ARGUMENT);
    CHECK_OK(orbit_cache_open(f, "kv", NULL, &c2));
    CHECK_OK(orbit_cache_stat(c2, &st));
    CHECK_EQ(st.capacity, 64);
    orbit_cache_free(c2);

    CHECK_OK(set_str(c, "k", "v", 0));
    CHECK_OK(orbit_fleet_observe(fleet, &obs));
    CHECK_STATUS(orbit_cache_open(obs, "absent", NULL, &oc), ORBIT_STATUS_NOT_EXIST);
    CHECK_OK(orbit_cache_open(obs, "kv", NULL, &oc));
    expect_value(oc, "k", "v");
    CHECK_STATUS(set_str(oc, "k", "w", 0), ORBIT_STATUS_READ_ONLY);
    CHECK_STATUS(orbit_cache_delete(oc, "k", 1), ORBIT_STATUS_READ_ONLY);
    CHECK_STATUS(orbit_cache_incr(oc, "n", 1, 1, 0, NULL), ORBIT_STATUS_READ_ONLY);
    CHECK_STATUS(orbit_cache_clear(oc), ORBIT_STATUS_READ_ONLY);
    expect_value(c, "k", "v");
    orbit_cache_free(oc);
    orbit_fleet_free(obs);
    finish(c, f, fleet, "kv");
    CHECK_STATUS(orbit_cache_unlink(fleet, "kv"), ORBIT_STATUS_NOT_EXIST);
    orbit_cache_free(NULL);
}

/* --- several processes ------------------------------------------------- */

static int child_incr(char **a) {
    orbit_fleet *f = NULL;
    orbit_cache *c = NULL;
    uint64_t i, n = strtoull(a[1], NULL, 10);
    int rc = 0;
    if (orbit_fleet_join(a[0], NULL, &f) != ORBIT_STATUS_OK) return 3;
    if (orbit_cache_open(f, "counters", NULL, &c) != ORBIT_STATUS_OK) return 4;
    for (i = 0; i < n && rc == 0; i++)
        if (orbit_cache_incr(c, "hits", 4, 1, 0, NULL) != ORBIT_STATUS_OK) rc = 5;
    if (rc == 0 && orbit_cache_add(c, "first", 5, "x", 1, 0) == ORBIT_STATUS_OK) rc = 10;
    orbit_cache_free(c);
    orbit_fleet_free(f);
    return rc;
}

static void test_processes_share_counters(void) {
    char fleet[49], n_s[24];
    orbit_fleet *f = join(fleet, "procs");
    /* Larger than every write of the test: each increment appends to the
     * log, and a smaller log would evict "first" (FIFO) before the last
     * child tries to add it. */
    orbit_cache *c = open_cache(f, "counters", 8192, 16, 64);
    uint64_t per = t_scale(2000, 100);
    pid_t kids[3];
    unsigned i, winners = 0;
    int64_t total = 0;

    snprintf(n_s, sizeof n_s, "%" PRIu64, per);
    for (i = 0; i < 3; i++) {
        const char *args[] = {fleet, n_s, NULL};
        kids[i] = t_spawn("incr", args);
    }
    for (i = 0; i < 3; i++) {
        int rc = t_wait(kids[i]);
        CHECK_MSG(rc == 0 || rc == 10, "child %u exited %d", i, rc);
        winners += rc == 10;
    }
    CHECK_EQ(winners, 1); /* exactly one add of "first" won */
    CHECK_OK(orbit_cache_incr(c, "hits", 4, 0, 0, &total));
    CHECK_EQ(total, 3 * per);
    finish(c, f, fleet, "counters");
}

int main(int argc, char **argv) {
    const char *role;
    t_init(argc, argv, "cache");
    role = t_child_role();
    if (role != NULL) {
        if (strcmp(role, "incr") == 0 && t_child_argc() == 2)
            return child_incr(t_child_argv());
        fprintf(stderr, "unknown child role %s\n", role);
        return 2;
    }
    RUN(test_options_defaults);
    RUN(test_get_set_and_meta);
    RUN(test_buffer_too_small_reports_length);
    RUN(test_limits_are_too_large_and_store_nothing);
    RUN(test_add_conflicts_when_present);
    RUN(test_cas_compares_versions);
    RUN(test_incr_and_decr);
    RUN(test_delete);
    RUN(test_ttl_expires);
    RUN(test_clear_and_stats);
    RUN(test_log_wrap_evicts_oldest);
    RUN(test_geometry_and_observer);
    RUN(test_processes_share_counters);
    return t_done();
}
