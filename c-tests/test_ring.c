/* Ring semantics in one process: round trip, ids, loss accounting after the
 * ring wraps, reads of overwritten ids, limits, geometry, observers, cursors,
 * unlink, membership. Built twice: against liborbit.so and liborbit.a. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ID_KIND(id) ((unsigned)((id) >> 56))
#define ID_NODE(id) ((unsigned)(((id) >> 40) & 0xffffu))
#define ID_COUNTER(id) ((uint64_t)(id) & 0xffffffffffULL)
#define MAKE_ID(kind, node, counter) \
    (((uint64_t)(kind) << 56) | ((uint64_t)(node) << 40) | ((uint64_t)(counter) & 0xffffffffffULL))

static orbit_fleet *join(char *fleet, const char *tag) {
    orbit_fleet *f = NULL;
    t_fleet_name(fleet, 49, tag);
    CHECK_OK(orbit_fleet_join(fleet, NULL, &f));
    CHECK(f != NULL);
    CHECK(orbit_fleet_node_id(f) >= 1);
    return f;
}

static void leave(orbit_fleet *f, const char *fleet) {
    orbit_fleet_free(f);
    CHECK_OK(orbit_fleet_unlink(fleet));
}

static orbit_ring *open_ring(orbit_fleet *f, const char *name, uint64_t cap, uint32_t max_payload,
                             uint8_t kind) {
    orbit_ring *r = NULL;
    orbit_ring_options o = t_ring_opts(cap, max_payload, kind);
    CHECK_OK(orbit_ring_open(f, name, &o, &r));
    CHECK(r != NULL);
    return r;
}

static orbit_ring_info stat_of(const orbit_ring *r) {
    orbit_ring_info i;
    CHECK_OK(orbit_ring_stat(r, &i));
    return i;
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static void test_version(void) {
    CHECK(strcmp(orbit_version(), ORBIT_VERSION_STRING) == 0);
    CHECK_EQ(orbit_abi_version(), ORBIT_ABI_VERSION);
}

static void test_options_defaults(void) {
    orbit_ring_options ro;
    orbit_fleet_options fo;
    size_t i;
    memset(&ro, 0xAB, sizeof ro);
    orbit_ring_options_init(&ro);
    CHECK_EQ(ro.capacity, 4096);
    CHECK_EQ(ro.max_payload, 1024);
    CHECK_EQ(ro.mode, 0);
    CHECK_EQ(ro.kind, 0);
    CHECK_EQ(ro.flags, 0);
    for (i = 0; i < sizeof ro.reserved0; i++)
        CHECK_EQ(ro.reserved0[i], 0);
    for (i = 0; i < sizeof ro.reserved / sizeof ro.reserved[0]; i++)
        CHECK_EQ(ro.reserved[i], 0);

    memset(&fo, 0xAB, sizeof fo);
    orbit_fleet_options_init(&fo);
    CHECK(fo.label == NULL);
    CHECK_EQ(fo.max_nodes, 256);
    CHECK_EQ(fo.mode, 0);
    CHECK_EQ(fo.stale_after_ms, 10000);
    for (i = 0; i < sizeof fo.reserved / sizeof fo.reserved[0]; i++)
        CHECK_EQ(fo.reserved[i], 0);
}

static void test_round_trip(void) {
    char fleet[49];
    orbit_fleet *f = join(fleet, "rt");
    uint16_t node = orbit_fleet_node_id(f);
    orbit_ring *r = open_ring(f, "events", 8, 100, 7);
    orbit_ring *again = NULL;
    orbit_cursor *c = NULL;
    uint64_t ids[5];
    unsigned char payload[100], buf[100];
    orbit_frame fr;
    orbit_ring_info info;
    uint8_t i;

    CHECK_OK(orbit_cursor_open(r, ORBIT_FROM_OLDEST, &c));
    CHECK_STATUS(orbit_cursor_next(c, &fr, buf, sizeof buf), ORBIT_STATUS_EMPTY);

    for (i = 0; i < 5; i++) {
        memset(payload, 'a' + i, sizeof payload);
        CHECK_OK(orbit_ring_write(r, i, 100u + i, payload, (size_t)i * 7, &ids[i]));
        CHECK_EQ(ID_KIND(ids[i]), 7);
        CHECK_EQ(ID_NODE(ids[i]), node);
        CHECK_EQ(ID_COUNTER(ids[i]), i);
    }
    /* by id */
    for (i = 0; i < 5; i++) {
        memset(buf, 0, sizeof buf);
        CHECK_OK(orbit_ring_read(r, ids[i], &fr, buf, sizeof buf));
        CHECK_EQ(fr.id, ids[i]);
        CHECK_EQ(fr.kind, i);
        CHECK_EQ(fr.ver, 100u + i);
        CHECK_EQ(fr.len, (uint32_t)i * 7);
        CHECK_EQ(fr.lost, 0);
        memset(payload, 'a' + i, sizeof payload);
        CHECK(memcmp(buf, payload, fr.len) == 0);
    }
    /* in order through the cursor */
    for (i = 0; i < 5; i++) {
        memset(&fr, 0xFF, sizeof fr);
        CHECK_OK(orbit_cursor_next(c, &fr, buf, sizeof buf));
        CHECK_EQ(fr.id, ids[i]);
        CHECK_EQ(fr.kind, i);
        CHECK_EQ(fr.ver, 100u + i);
        CHECK_EQ(fr.len, (uint32_t)i * 7);
        CHECK_EQ(fr.lost, 0);
        memset(payload, 'a' + i, sizeof payload);
        CHECK(memcmp(buf, payload, fr.len) == 0);
    }
    memset(&fr, 0xFF, sizeof fr);
    CHECK_STATUS(orbit_cursor_next(c, &fr, buf, sizeof buf), ORBIT_STATUS_EMPTY);
    CHECK_EQ(fr.id, 0); /* zeroed on EMPTY */
    CHECK_EQ(fr.len, 0);
    CHECK_EQ(orbit_cursor_lost(c), 0);

    /* empty payload with NULL data, and a NULL out_id */
    CHECK_OK(orbit_ring_write(r, 9, 1, NULL, 0, NULL));
    CHECK_OK(orbit_cursor_next(c, &fr, NULL, 0));
    CHECK_EQ(fr.len, 0);
    CHECK_EQ(fr.kind, 9);
    CHECK_EQ(ID_COUNTER(fr.id), 5);

    info = stat_of(r);
    CHECK_EQ(info.capacity, 8);
    CHECK_EQ(info.head, 6);
    CHECK_EQ(info.max_payload, 100);
    CHECK_EQ(info.kind, 7);
    CHECK_EQ(info.takeovers, 0);
    CHECK(info.slot_stride >= 100 && info.slot_stride % 64 == 0);

    /* a second handle on the same name sees the same ring (opts NULL attaches
     * whatever the geometry) */
    CHECK_OK(orbit_ring_open(f, "events", NULL, &again));
    info = stat_of(again);
    CHECK_EQ(info.capacity, 8);
    CHECK_EQ(info.head, 6);
    CHECK_OK(orbit_ring_read(again, ids[3], &fr, buf, sizeof buf));
    CHECK_EQ(fr.ver, 103);

    orbit_cursor_free(c);
    orbit_ring_free(again);
    orbit_ring_free(r);
    CHECK_OK(orbit_ring_unlink(fleet, "events"));
    CHECK_STATUS(orbit_ring_unlink(fleet, "events"), ORBIT_STATUS_NOT_EXIST);
    leave(f, fleet);
}

/* Capacity 16: a cursor at position 0 that falls 34 frames behind is told
 * exactly 34, on the first frame it gets and in its total. */
static void test_loss_is_exact_after_wrap(void) {
    char fleet[49];
    orbit_fleet *f = join(fleet, "wrap");
    orbit_ring *r = open_ring(f, "w", 16, 8, 0);
    orbit_cursor *c = NULL, *late = NULL;
    uint64_t ids[100], i, n;
    unsigned char buf[8];
    orbit_frame fr;

    CHECK_OK(orbit_cursor_open(r, ORBIT_FROM_OLDEST, &c));
    for (i = 0; i < 50; i++)
        CHECK_OK(orbit_ring_write(r, 0, i, &i, sizeof i, &ids[i]));

    CHECK_OK(orbit_cursor_next(c, &fr, buf, sizeof buf));
    CHECK_EQ(fr.ver, 34);
    CHECK_EQ(fr.lost, 34);
    CHECK_EQ(fr.id, ids[34]);
    CHECK_EQ(orbit_cursor_lost(c), 34);
    for (n = 1; orbit_cursor_next(c, &fr, buf, sizeof buf) == ORBIT_STATUS_OK; n++) {
        CHECK_EQ(fr.lost, 0);
        CHECK_EQ(fr.ver, 34 + n);
        CHECK(memcmp(buf, &fr.ver, 8) == 0);
    }
    CHECK_EQ(n, 16);
    CHECK_EQ(orbit_cursor_lost(c), 34);

    /* caught up: 5 more arrive without loss, then 40 unread ones lose 24 */
    for (i = 50; i < 55; i++)
        CHECK_OK(orbit_ring_write(r, 0, i, &i, sizeof i, &ids[i]));
    for (i = 50; i < 55; i++) {
        CHECK_OK(orbit_cursor_next(c, &fr, buf, sizeof buf));
        CHECK_EQ(fr.ver, i);
        CHECK_EQ(fr.lost, 0);
    }
    for (i = 55; i < 95; i++)
        CHECK_OK(orbit_ring_write(r, 0, i, &i, sizeof i, &ids[i]));
    CHECK_OK(orbit_cursor_next(c, &fr, buf, sizeof buf));
    CHECK_EQ(fr.ver, 79);
    CHECK_EQ(fr.lost, 24);
    CHECK_EQ(orbit_cursor_lost(c), 58);

    /* a cursor opened now starts at the oldest frame still held, losing nothing */
    CHECK_OK(orbit_cursor_open(r, ORBIT_FROM_OLDEST, &late));
    CHECK_OK(orbit_cursor_next(late, &fr, buf, sizeof buf));
    CHECK_EQ(fr.ver, 95 - 16);
    CHECK_EQ(fr.lost, 0);
    CHECK_EQ(orbit_cursor_lost(late), 0);

    orbit_cursor_free(late);
    orbit_cursor_free(c);
    orbit_ring_free(r);
    CHECK_OK(orbit_ring_unlink(fleet, "w"));
    leave(f, fleet);
}

static void test_read_of_overwritten_id_is_not_found(void) {
    char fleet[49];
    orbit_fleet *f = join(fleet, "ow");
    uint16_t node = orbit_fleet_node_id(f);
    orbit_ring *r = open_ring(f, "w", 16, 8, 3);
    uint64_t ids[50], i;
    unsigned char buf[8];
    orbit_frame fr;

    for (i = 0; i < 50; i++)
        CHECK_OK(orbit_ring_write(r, 0, i, &i, sizeof i, &ids[i]));
    /* positions 0..33 are overwritten, 34..49 held */
    CHECK_STATUS(orbit_ring_read(r, ids[0], &fr, buf, sizeof buf), ORBIT_STATUS_NOT_FOUND);
    CHECK_STATUS(orbit_ring_read(r, ids[33], &fr, buf, sizeof buf), ORBIT_STATUS_NOT_FOUND);
    CHECK_EQ(fr.id, 0);
    CHECK_EQ(fr.len, 0);
    CHECK_OK(orbit_ring_read(r, ids[34], &fr, buf, sizeof buf));
    CHECK_EQ(fr.ver, 34);
    CHECK_OK(orbit_ring_read(r, ids[49], &fr, buf, sizeof buf));
    CHECK_EQ(fr.ver, 49);
    /* not written yet */
    CHECK_STATUS(orbit_ring_read(r, MAKE_ID(3, node, 50), &fr, buf, sizeof buf),
                 ORBIT_STATUS_NOT_FOUND);
    CHECK_STATUS(orbit_ring_read(r, MAKE_ID(3, node, 1000), &fr, buf, sizeof buf),
                 ORBIT_STATUS_NOT_FOUND);
    /* another ring's kind byte, another node */
    CHECK_STATUS(orbit_ring_read(r, MAKE_ID(4, node, 49), &fr, buf, sizeof buf),
                 ORBIT_STATUS_NOT_FOUND);
    CHECK_STATUS(orbit_ring_read(r, MAKE_ID(3, node + 1, 49), &fr, buf, sizeof buf),
                 ORBIT_STATUS_NOT_FOUND);

    orbit_ring_free(r);
    CHECK_OK(orbit_ring_unlink(fleet, "w"));
    leave(f, fleet);
}

static void test_too_large_writes_nothing(void) {
    char fleet[49];
    orbit_fleet *f = join(fleet, "big");
    orbit_ring *r = open_ring(f, "w", 8, 64, 0);
    orbit_cursor *c = NULL;
    unsigned char payload[65] = {0}, buf[64];
    unsigned char *huge = malloc(1u << 20);
    uint64_t id = 12345;
    orbit_frame fr;

    CHECK(huge != NULL);
    memset(huge, 1, 1u << 20);
    CHECK_OK(orbit_cursor_open(r, ORBIT_FROM_OLDEST, &c));
    CHECK_STATUS(orbit_ring_write(r, 0, 0, payload, 65, &id), ORBIT_STATUS_TOO_LARGE);
    CHECK_EQ(id, 12345); /* out_id untouched */
    CHECK_STATUS(orbit_ring_write(r, 0, 0, huge, 1u << 20, NULL), ORBIT_STATUS_TOO_LARGE);
    CHECK_EQ(stat_of(r).head, 0);
    CHECK_STATUS(orbit_cursor_next(c, &fr, buf, sizeof buf), ORBIT_STATUS_EMPTY);
    CHECK_STATUS(orbit_cursor_wait(c, 0), ORBIT_STATUS_TIMEOUT);

    CHECK_OK(orbit_ring_write(r, 0, 0, payload, 64, &id)); /* exactly max_payload */
    CHECK_EQ(stat_of(r).head, 1);
    CHECK_OK(orbit_cursor_next(c, &fr, buf, sizeof buf));
    CHECK_EQ(fr.len, 64);
    CHECK_EQ(fr.id, id);

    free(huge);
    orbit_cursor_free(c);
    orbit_ring_free(r);
    CHECK_OK(orbit_ring_unlink(fleet, "w"));
    leave(f, fleet);
}

static void test_buffer_too_small_reports_length(void) {
    char fleet[49];
    orbit_fleet *f = join(fleet, "small");
    orbit_ring *r = open_ring(f, "w", 8, 64, 0);
    orbit_cursor *c = NULL;
    unsigned char payload[40], small[10], buf[64];
    uint64_t id;
    orbit_frame fr;

    memset(payload, 'x', sizeof payload);
    CHECK_OK(orbit_cursor_open(r, ORBIT_FROM_OLDEST, &c));
    CHECK_OK(orbit_ring_write(r, 5, 6, payload, sizeof payload, &id));

    CHECK_STATUS(orbit_ring_read(r, id, &fr, small, sizeof small), ORBIT_STATUS_BUFFER_TOO_SMALL);
    CHECK_EQ(fr.len, 40);
    CHECK_STATUS(orbit_ring_read(r, id, &fr, NULL, 0), ORBIT_STATUS_BUFFER_TOO_SMALL);
    CHECK_EQ(fr.len, 40);
    CHECK_STATUS(orbit_ring_read(r, id, &fr, buf, 39), ORBIT_STATUS_BUFFER_TOO_SMALL);
    CHECK_EQ(fr.len, 40);

    CHECK_STATUS(orbit_cursor_next(c, &fr, small, sizeof small), ORBIT_STATUS_BUFFER_TOO_SMALL);
    CHECK_EQ(fr.len, 40);
    CHECK_STATUS(orbit_cursor_next(c, &fr, NULL, 0), ORBIT_STATUS_BUFFER_TOO_SMALL);
    CHECK_EQ(fr.len, 40);
    /* not consumed: the same frame comes with a big enough buffer */
    CHECK_OK(orbit_cursor_next(c, &fr, buf, 40));
    CHECK_EQ(fr.id, id);
    CHECK_EQ(fr.len, 40);
    CHECK_EQ(fr.kind, 5);
    CHECK_EQ(fr.ver, 6);
    CHECK(memcmp(buf, payload, 40) == 0);
    CHECK_EQ(orbit_cursor_lost(c), 0);
    CHECK_STATUS(orbit_cursor_next(c, &fr, buf, sizeof buf), ORBIT_STATUS_EMPTY);

    orbit_cursor_free(c);
    orbit_ring_free(r);
    CHECK_OK(orbit_ring_unlink(fleet, "w"));
    leave(f, fleet);
}

static void test_bad_geometry_is_invalid(void) {
    static const uint64_t bad_caps[] = {0, 3, 6, 100, 4095, (uint64_t)1 << 31, UINT64_MAX};
    char fleet[49], path[256];
    orbit_fleet *f = join(fleet, "geo");
    orbit_ring *r = (orbit_ring *)&r; /* non-NULL: must be reset to NULL */
    orbit_ring_options o;
    orbit_frame fr;
    unsigned char buf[4];
    uint64_t id;
    size_t i;

    t_shm_path(path, sizeof path, fleet, "ring", "g");
    for (i = 0; i < sizeof bad_caps / sizeof bad_caps[0]; i++) {
        o = t_ring_opts(bad_caps[i], 8, 0);
        r = (orbit_ring *)&r;
        CHECK_STATUS(orbit_ring_open(f, "g", &o, &r), ORBIT_STATUS_INVALID_ARGUMENT);
        CHECK(r == NULL);
    }
    o = t_ring_opts(8, 0, 0);
    CHECK_STATUS(orbit_ring_open(f, "g", &o, &r), ORBIT_STATUS_INVALID_ARGUMENT);
    o = t_ring_opts(8, (16u << 20) + 1, 0);
    CHECK_STATUS(orbit_ring_open(f, "g", &o, &r), ORBIT_STATUS_INVALID_ARGUMENT);
    o = t_ring_opts(8, 8, 0);
    o.mode = 0777;
    CHECK_STATUS(orbit_ring_open(f, "g", &o, &r), ORBIT_STATUS_INVALID_ARGUMENT);
    o.mode = 0400; /* the owner needs read and write */
    CHECK_STATUS(orbit_ring_open(f, "g", &o, &r), ORBIT_STATUS_INVALID_ARGUMENT);
    o = t_ring_opts(8, 8, 0);
    o.reserved[5] = 1; /* a caller built against a newer header */
    CHECK_STATUS(orbit_ring_open(f, "g", &o, &r), ORBIT_STATUS_INVALID_ARGUMENT);
    o = t_ring_opts(8, 8, 0);
    o.reserved0[0] = 1;
    CHECK_STATUS(orbit_ring_open(f, "g", &o, &r), ORBIT_STATUS_INVALID_ARGUMENT);
    CHECK_MSG(!exists(path), "a rejected open created %s", path);

    /* the extremes are valid: one slot; the largest payload */
    o = t_ring_opts(1, 8, 0);
    CHECK_OK(orbit_ring_open(f, "one", &o, &r));
    for (id = 0; id < 3; id++)
        CHECK_OK(orbit_ring_write(r, 0, id, &id, 1, NULL));
    CHECK_OK(orbit_ring_read(r, MAKE_ID(0, orbit_fleet_node_id(f), 2), &fr, buf, sizeof buf));
    CHECK_EQ(fr.ver, 2);
    orbit_ring_free(r);
    o = t_ring_opts(2, 16u << 20, 0);
    CHECK_OK(orbit_ring_open(f, "huge", &o, &r));
    CHECK_EQ(stat_of(r).max_payload, 16u << 20);
    orbit_ring_free(r);

    CHECK_OK(orbit_ring_unlink(fleet, "one"));
    CHECK_OK(orbit_ring_unlink(fleet, "huge"));
    leave(f, fleet);
}

static void test_other_geometry_is_incompatible(void) {
    char fleet[49], msg[512];
    orbit_fleet *f = join(fleet, "incompat");
    orbit_ring *r = open_ring(f, "g", 16, 64, 1);
    orbit_ring *other = (orbit_ring *)&other;
    orbit_ring_options o;
    orbit_ring_info info;

    o = t_ring_opts(32, 64, 1);
    CHECK_STATUS(orbit_ring_open(f, "g", &o, &other), ORBIT_STATUS_INCOMPATIBLE);
    CHECK(other == NULL);
    CHECK(orbit_last_error_message(msg, sizeof msg) > 0);
    CHECK_MSG(strstr(msg, "geometry") != NULL, "message: %s", msg);
    o = t_ring_opts(16, 128, 1);
    CHECK_STATUS(orbit_ring_open(f, "g", &o, &other), ORBIT_STATUS_INCOMPATIBLE);
    o = t_ring_opts(16, 64, 2);
    CHECK_STATUS(orbit_ring_open(f, "g", &o, &other), ORBIT_STATUS_INCOMPATIBLE);
    /* the same geometry attaches; so does NULL (whatever exists) */
    o = t_ring_opts(16, 64, 1);
    CHECK_OK(orbit_ring_open(f, "g", &o, &other));
    orbit_ring_free(other);
    CHECK_OK(orbit_ring_open(f, "g", NULL, &other));
    info = stat_of(other);
    CHECK_EQ(info.capacity, 16);
    CHECK_EQ(info.max_payload, 64);
    CHECK_EQ(info.kind, 1);
    orbit_ring_free(other);

    orbit_ring_free(r);
    CHECK_OK(orbit_ring_unlink(fleet, "g"));
    leave(f, fleet);
}

static void test_default_geometry(void) {
    char fleet[49];
    orbit_fleet *f = join(fleet, "defaults");
    orbit_ring *r = NULL;
    orbit_ring_info info;
    CHECK_OK(orbit_ring_open(f, "d", NULL, &r));
    info = stat_of(r);
    CHECK_EQ(info.capacity, 4096);
    CHECK_EQ(info.max_payload, 1024);
    CHECK_EQ(info.kind, 0);
    orbit_ring_free(r);
    CHECK_OK(orbit_ring_unlink(fleet, "d"));
    leave(f, fleet);
}

static void test_observer_is_read_only(void) {
    char fleet[49], path[256], missing[49];
    orbit_fleet *f = join(fleet, "obs");
    orbit_ring *r = open_ring(f, "r", 8, 16, 2);
    orbit_fleet *obs = (orbit_fleet *)&obs;
    orbit_ring *ro = NULL, *tmp = (orbit_ring *)&tmp;
    orbit_cursor *c = NULL;
    orbit_ring_options o;
    orbit_member members[4];
    size_t count = 0;
    uint64_t id, i;
    unsigned char buf[16];
    orbit_frame fr;

    for (i = 0; i < 3; i++)
        CHECK_OK(orbit_ring_write(r, 1, i, "abc", 3, &id));

    CHECK_OK(orbit_fleet_observe(fleet, &obs));
    CHECK(obs != NULL);
    CHECK_EQ(orbit_fleet_node_id(obs), 0);
    CHECK_STATUS(orbit_fleet_heartbeat(obs), ORBIT_STATUS_READ_ONLY);
    CHECK_OK(orbit_fleet_members(obs, members, 4, &count));
    CHECK_EQ(count, 1);
    CHECK_EQ(members[0].pid, (uint32_t)getpid());

    CHECK_OK(orbit_ring_open(obs, "r", NULL, &ro));
    CHECK_STATUS(orbit_ring_write(ro, 1, 9, "x", 1, &id), ORBIT_STATUS_READ_ONLY);
    CHECK_STATUS(orbit_ring_write(ro, 1, 9, NULL, 0, NULL), ORBIT_STATUS_READ_ONLY);
    CHECK_EQ(stat_of(ro).head, 3);
    CHECK_EQ(stat_of(r).head, 3);
    /* reading works */
    CHECK_OK(orbit_ring_read(ro, id, &fr, buf, sizeof buf));
    CHECK_EQ(fr.ver, 2);
    CHECK_OK(orbit_cursor_open(ro, ORBIT_FROM_OLDEST, &c));
    for (i = 0; i < 3; i++) {
        CHECK_OK(orbit_cursor_next(c, &fr, buf, sizeof buf));
        CHECK_EQ(fr.ver, i);
    }
    /* a member's write shows up through the observer */
    CHECK_OK(orbit_ring_write(r, 1, 77, "z", 1, NULL));
    CHECK_OK(orbit_cursor_wait(c, 1000000000u));
    CHECK_OK(orbit_cursor_next(c, &fr, buf, sizeof buf));
    CHECK_EQ(fr.ver, 77);

    /* geometry checks apply to observers too */
    o = t_ring_opts(8, 16, 2);
    CHECK_OK(orbit_ring_open(obs, "r", &o, &tmp));
    orbit_ring_free(tmp);
    o = t_ring_opts(16, 16, 2);
    CHECK_STATUS(orbit_ring_open(obs, "r", &o, &tmp), ORBIT_STATUS_INCOMPATIBLE);
    CHECK(tmp == NULL);
    /* an observer never creates */
    t_shm_path(path, sizeof path, fleet, "ring", "nope");
    CHECK_STATUS(orbit_ring_open(obs, "nope", NULL, &tmp), ORBIT_STATUS_NOT_EXIST);
    CHECK_STATUS(orbit_ring_open(obs, "nope", &o, &tmp), ORBIT_STATUS_NOT_EXIST);
    CHECK(!exists(path));
    /* nor observes a fleet that is not there */
    t_fleet_name(missing, sizeof missing, "missing");
    {
        orbit_fleet *none = (orbit_fleet *)&none;
        CHECK_STATUS(orbit_fleet_observe(missing, &none), ORBIT_STATUS_NOT_EXIST);
        CHECK(none == NULL);
    }

    orbit_cursor_free(c);
    orbit_ring_free(ro);
    orbit_fleet_free(obs);
    orbit_ring_free(r);
    CHECK_OK(orbit_ring_unlink(fleet, "r"));
    leave(f, fleet);
}

static void test_cursor_positions(void) {
    char fleet[49];
    orbit_fleet *f = join(fleet, "cursor");
    orbit_ring *r = open_ring(f, "c", 8, 8, 0);
    orbit_cursor *head = NULL, *oldest = NULL;
    orbit_cursor *bad = (orbit_cursor *)&bad;
    unsigned char buf[8];
    orbit_frame fr;
    uint64_t i;

    for (i = 0; i < 3; i++)
        CHECK_OK(orbit_ring_write(r, 0, i, NULL, 0, NULL));
    CHECK_OK(orbit_cursor_open(r, ORBIT_FROM_HEAD, &head));
    CHECK_OK(orbit_cursor_open(r, ORBIT_FROM_OLDEST, &oldest));
    CHECK_STATUS(orbit_cursor_open(r, 2, &bad), ORBIT_STATUS_INVALID_ARGUMENT);
    CHECK(bad == NULL);
    CHECK_STATUS(orbit_cursor_open(r, 0xFFFFFFFFu, &bad), ORBIT_STATUS_INVALID_ARGUMENT);

    CHECK_STATUS(orbit_cursor_next(head, &fr, buf, sizeof buf), ORBIT_STATUS_EMPTY);
    CHECK_STATUS(orbit_cursor_wait(head, 0), ORBIT_STATUS_TIMEOUT);
    CHECK_OK(orbit_cursor_wait(oldest, 0));
    CHECK_OK(orbit_cursor_next(oldest, &fr, buf, sizeof buf));
    CHECK_EQ(fr.ver, 0);

    CHECK_OK(orbit_ring_write(r, 0, 3, NULL, 0, NULL));
    CHECK_OK(orbit_cursor_wait(head, 0));
    CHECK_OK(orbit_cursor_next(head, &fr, buf, sizeof buf));
    CHECK_EQ(fr.ver, 3);
    CHECK_STATUS(orbit_cursor_next(head, &fr, buf, sizeof buf), ORBIT_STATUS_EMPTY);
    for (i = 1; i <= 3; i++) {
        CHECK_OK(orbit_cursor_next(oldest, &fr, buf, sizeof buf));
        CHECK_EQ(fr.ver, i);
    }

    /* a cursor keeps the ring mapped after its ring handle is freed */
    orbit_ring_free(r);
    CHECK_STATUS(orbit_cursor_next(oldest, &fr, buf, sizeof buf), ORBIT_STATUS_EMPTY);
    orbit_cursor_free(head);
    orbit_cursor_free(oldest);
    CHECK_OK(orbit_ring_unlink(fleet, "c"));
    leave(f, fleet);
}

static void test_unlink_keeps_open_handles(void) {
    char fleet[49], path[256];
    orbit_fleet *f = join(fleet, "unlink");
    orbit_ring *old = open_ring(f, "u", 8, 8, 0);
    orbit_ring *fresh = NULL;
    orbit_frame fr;
    unsigned char buf[8];
    uint64_t id;

    t_shm_path(path, sizeof path, fleet, "ring", "u");
    CHECK(exists(path));
    CHECK_OK(orbit_ring_write(old, 0, 1, "a", 1, NULL));
    CHECK_OK(orbit_ring_unlink(fleet, "u"));
    CHECK(!exists(path));
    /* the unlinked ring still works for whoever has it open */
    CHECK_OK(orbit_ring_write(old, 0, 2, "b", 1, &id));
    CHECK_OK(orbit_ring_read(old, id, &fr, buf, sizeof buf));
    CHECK_EQ(stat_of(old).head, 2);
    /* the next open creates a new one */
    fresh = open_ring(f, "u", 8, 8, 0);
    CHECK_EQ(stat_of(fresh).head, 0);
    CHECK_STATUS(orbit_ring_read(fresh, id, &fr, buf, sizeof buf), ORBIT_STATUS_NOT_FOUND);
    orbit_ring_free(fresh);
    orbit_ring_free(old);
    CHECK_OK(orbit_ring_unlink(fleet, "u"));

    /* the fleet table too */
    t_shm_path(path, sizeof path, fleet, "fleet", "members");
    CHECK(exists(path));
    leave(f, fleet);
    CHECK(!exists(path));
    CHECK_STATUS(orbit_fleet_unlink(fleet), ORBIT_STATUS_NOT_EXIST);
}

static void test_members_and_heartbeat(void) {
    char fleet[49];
    orbit_fleet *f = NULL, *g = NULL;
    orbit_fleet_options o;
    orbit_member m[4];
    size_t count = 99;
    int i;

    t_fleet_name(fleet, sizeof fleet, "members");
    orbit_fleet_options_init(&o);
    o.label = "ring-test";
    o.stale_after_ms = 100;
    CHECK_OK(orbit_fleet_join(fleet, &o, &f));
    o.label = "0123456789012345678901234567890"; /* 31 bytes: the longest label */
    CHECK_OK(orbit_fleet_join(fleet, &o, &g));
    CHECK(orbit_fleet_node_id(f) != orbit_fleet_node_id(g));

    CHECK_STATUS(orbit_fleet_members(f, m, 1, &count), ORBIT_STATUS_BUFFER_TOO_SMALL);
    CHECK_EQ(count, 2);
    CHECK_STATUS(orbit_fleet_members(f, NULL, 0, &count), ORBIT_STATUS_BUFFER_TOO_SMALL);
    CHECK_EQ(count, 2);
    CHECK_OK(orbit_fleet_members(f, m, 4, &count));
    CHECK_EQ(count, 2);
    for (i = 0; i < 2; i++) {
        CHECK_EQ(m[i].pid, (uint32_t)getpid());
        CHECK_EQ(m[i].state, ORBIT_MEMBER_STATE_ALIVE);
        CHECK(m[i].joined_at_ms > 0);
        CHECK(m[i].last_heartbeat_ms >= m[i].joined_at_ms);
        if (m[i].node_id == orbit_fleet_node_id(f))
            CHECK(strcmp(m[i].label, "ring-test") == 0);
        else
            CHECK(strcmp(m[i].label, "0123456789012345678901234567890") == 0);
    }
    /* stale after 100 ms without a heartbeat; alive again after one */
    t_sleep_ms(250);
    CHECK_OK(orbit_fleet_heartbeat(f));
    CHECK_OK(orbit_fleet_members(f, m, 4, &count));
    for (i = 0; i < 2; i++)
        CHECK_EQ(m[i].state, m[i].node_id == orbit_fleet_node_id(f) ? ORBIT_MEMBER_STATE_ALIVE
                                                                     : ORBIT_MEMBER_STATE_STALE);
    /* leaving frees the node */
    orbit_fleet_free(g);
    CHECK_OK(orbit_fleet_members(f, m, 4, &count));
    CHECK_EQ(count, 1);
    CHECK_EQ(m[0].node_id, orbit_fleet_node_id(f));
    leave(f, fleet);
}

/* Many frames of every length through a cursor that keeps up. */
static void test_many_frames(void) {
    char fleet[49];
    orbit_fleet *f = join(fleet, "many");
    orbit_ring *r = open_ring(f, "m", 64, 256, 0);
    orbit_cursor *c = NULL;
    uint64_t n = t_scale(200000, 20000), i, id;
    unsigned char payload[256], buf[256];
    orbit_frame fr;
    uint32_t len, j;
    uint64_t last = 0;

    CHECK_OK(orbit_cursor_open(r, ORBIT_FROM_OLDEST, &c));
    for (i = 0; i < n; i++) {
        len = (uint32_t)(i % 257);
        for (j = 0; j < len; j++)
            payload[j] = (unsigned char)(i + j);
        CHECK_OK(orbit_ring_write(r, (uint8_t)i, i, payload, len, &id));
        if (i % 7 == 6 || i + 1 == n) {
            /* read in bursts so the ring wraps between reads, never overflows */
            while (orbit_cursor_next(c, &fr, buf, sizeof buf) == ORBIT_STATUS_OK) {
                CHECK_EQ(fr.lost, 0);
                CHECK_EQ(fr.len, fr.ver % 257);
                CHECK_EQ(fr.kind, (uint8_t)fr.ver);
                CHECK_EQ(ID_COUNTER(fr.id), fr.ver);
                for (j = 0; j < fr.len; j++)
                    CHECK_EQ(buf[j], (unsigned char)(fr.ver + j));
                if (fr.ver != 0)
                    CHECK_EQ(fr.ver, last + 1);
                last = fr.ver;
            }
            CHECK_EQ(last, i);
        }
    }
    CHECK_EQ(orbit_cursor_lost(c), 0);
    CHECK_EQ(stat_of(r).head, n);
    orbit_cursor_free(c);
    orbit_ring_free(r);
    CHECK_OK(orbit_ring_unlink(fleet, "m"));
    leave(f, fleet);
}

int main(int argc, char **argv) {
    t_init(argc, argv, "ring");
    RUN(test_version);
    RUN(test_options_defaults);
    RUN(test_round_trip);
    RUN(test_loss_is_exact_after_wrap);
    RUN(test_read_of_overwritten_id_is_not_found);
    RUN(test_too_large_writes_nothing);
    RUN(test_buffer_too_small_reports_length);
    RUN(test_bad_geometry_is_invalid);
    RUN(test_other_geometry_is_incompatible);
    RUN(test_default_geometry);
    RUN(test_observer_is_read_only);
    RUN(test_cursor_positions);
    RUN(test_unlink_keeps_open_handles);
    RUN(test_members_and_heartbeat);
    RUN(test_many_frames);
    return t_done();
}
