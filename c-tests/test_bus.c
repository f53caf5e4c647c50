/* The event bus through the C ABI: publish and subscribe with topic
 * prefixes, NUL-terminated topics, BUFFER_TOO_SMALL with both needed lengths
 * (nothing consumed), exact loss after a wrap, replay for late subscribers,
 * bad input, observers, and subscribers and a blocked wait in other processes. */
#include "harness.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ID_KIND(id) ((unsigned)((id) >> 56))
#define ID_NODE(id) ((unsigned)(((id) >> 40) & 0xffffu))

static orbit_fleet *join(char *fleet, const char *tag) {
    orbit_fleet *f = NULL;
    t_fleet_name(fleet, 49, tag);
    CHECK_OK(orbit_fleet_join(fleet, NULL, &f));
    CHECK(f != NULL);
    return f;
}

static orbit_bus *open_bus(orbit_fleet *f, const char *name, uint64_t capacity, uint32_t max_payload) {
    orbit_bus *b = NULL;
    orbit_bus_options o;
    orbit_bus_options_init(&o);
    o.capacity = capacity;
    o.max_payload = max_payload;
    CHECK_OK(orbit_bus_open(f, name, &o, &b));
    CHECK(b != NULL);
    return b;
}

static void finish(orbit_bus *b, orbit_fleet *f, const char *fleet, const char *name) {
    orbit_bus_free(b);
    orbit_fleet_free(f);
    CHECK_OK(orbit_bus_unlink(fleet, name));
    CHECK_OK(orbit_fleet_unlink(fleet));
}

static void publish_str(orbit_bus *b, const char *topic, const char *payload) {
    CHECK_OK(orbit_bus_publish(b, topic, payload, strlen(payload), NULL));
}

/* Reads the next event and checks its topic and payload. Returns its `lost`. */
static uint64_t expect_event(orbit_subscription *s, const char *topic, const char *payload) {
    char t[256], p[256];
    orbit_event e;
    CHECK_OK(orbit_subscription_next(s, &e, t, sizeof t, p, sizeof p));
    CHECK_MSG(strcmp(t, topic) == 0, "topic %s, want %s", t, topic);
    CHECK_EQ(e.topic_len, strlen(topic));
    CHECK_EQ(e.len, strlen(payload));
    CHECK(memcmp(p, payload, e.len) == 0);
    CHECK_EQ(ID_KIND(e.id), 220);
    CHECK(e.timestamp_ms > 0);
    return e.lost;
}

static void expect_empty(orbit_subscription *s) {
    char t[256], p[256];
    orbit_event e;
    e.len = 77;
    CHECK_STATUS(orbit_subscription_next(s, &e, t, sizeof t, p, sizeof p), ORBIT_STATUS_EMPTY);
    CHECK_EQ(e.len, 0);
}

static void test_options_defaults(void) {
    orbit_bus_options o;
    size_t i;
    memset(&o, 0xAB, sizeof o);
    orbit_bus_options_init(&o);
    CHECK_EQ(o.capacity, 4096);
    CHECK_EQ(o.max_payload, 1024);
    CHECK_EQ(o.mode, 0);
    for (i = 0; i < sizeof o.reserved / sizeof o.reserved[0]; i++)
        CHECK_EQ(o.reserved[i], 0);
    orbit_bus_options_init(NULL);
}

static void test_publish_subscribe_filter(void) {
    char fleet[49];
    orbit_fleet *f = join(fleet, "pubsub");
    orbit_bus *b = open_bus(f, "events", 64, 128);
    orbit_subscription *all = NULL, *orders = NULL;
    uint64_t id = 0;

    CHECK_OK(orbit_bus_subscribe(b, NULL, ORBIT_FROM_OLDEST, &all));
    CHECK_OK(orbit_bus_subscribe(b, "orders.", ORBIT_FROM_HEAD, &orders));
    CHECK_OK(orbit_bus_publish(b, "orders.paid", "42", 2, &id));
    CHECK_EQ(ID_KIND(id), 220);
    CHECK_EQ(ID_NODE(id), orbit_fleet_node_id(f));
    publish_str(b, "users.new", "ann");
    publish_str(b, "orders.shipped", "43");
    CHECK_OK(orbit_bus_publish(b, "orders.empty", NULL, 0, NULL)); /* an empty payload */

    CHECK_EQ(expect_event(all, "orders.paid", "42"), 0);
    CHECK_EQ(expect_event(all, "users.new", "ann"), 0);
    CHECK_EQ(expect_event(all, "orders.shipped", "43"), 0);
    CHECK_EQ(expect_event(all, "orders.empty", ""), 0);
    expect_empty(all);
    CHECK_EQ(expect_event(orders, "orders.paid", "42"), 0);
    CHECK_EQ(expect_event(orders, "orders.shipped", "43"), 0);
    CHECK_EQ(expect_event(orders, "orders.empty", ""), 0);
    expect_empty(orders);

    /* a late subscriber replays what the bus still holds */
    {
        orbit_subscription *late = NULL;
        CHECK_OK(orbit_bus_subscribe(b, "users", ORBIT_FROM_OLDEST, &late));
        CHECK_EQ(expect_event(late, "users.new", "ann"), 0);
        expect_empty(late);
        orbit_subscription_free(late);
    }
    orbit_subscription_free(all);
    orbit_subscription_free(orders);
    finish(b, f, fleet, "events");
}

static void test_buffer_too_small_consumes_nothing(void) {
    char fleet[49], t[64], p[64];
    orbit_fleet *f = join(fleet, "small");
    orbit_bus *b = open_bus(f, "events", 8, 64);
    orbit_subscription *s = NULL;
    orbit_event e;

    CHECK_OK(orbit_bus_subscribe(b, "", ORBIT_FROM_OLDEST, &s));
    publish_str(b, "topic.of.ten", "payload-of-16-by");
    /* no buffers at all: both lengths reported */
    CHECK_STATUS(orbit_subscription_next(s, &e, NULL, 0, NULL, 0), ORBIT_STATUS_BUFFER_TOO_SMALL);
    CHECK_EQ(e.topic_len, 12);
    CHECK_EQ(e.len, 16);
    /* the topic needs room for its NUL */
    CHECK_STATUS(orbit_subscription_next(s, &e, t, 12, p, sizeof p), ORBIT_STATUS_BUFFER_TOO_SMALL);
    CHECK_EQ(e.topic_len, 12);
    CHECK_STATUS(orbit_subscription_next(s, &e, t, 13, p, 15), ORBIT_STATUS_BUFFER_TOO_SMALL);
    CHECK_EQ(e.len, 16);
    CHECK_OK(orbit_subscription_next(s, &e, t, 13, p, 16));
    CHECK(strcmp(t, "topic.of.ten") == 0);
    CHECK(memcmp(p, "payload-of-16-by", 16) == 0);
    expect_empty(s);
    orbit_subscription_free(s);
    finish(b, f, fleet, "events");
}

static void test_exact_loss_after_wrap(void) {
    char fleet[49], payload[16];
    orbit_fleet *f = join(fleet, "loss");
    orbit_bus *b = open_bus(f, "events", 16, 16);
    orbit_subscription *s = NULL;
    unsigned i;

    CHECK_OK(orbit_bus_subscribe(b, "odd", ORBIT_FROM_HEAD, &s));
    for (i = 0; i < 40; i++) {
        snprintf(payload, sizeof payload, "%u", i);
        publish_str(b, i % 2 ? "odd" : "even", payload);
    }
    /* 40 frames into 16 slots: 24 lost, of both topics; then 8 odd ones */
    CHECK_EQ(expect_event(s, "odd", "25"), 24);
    for (i = 27; i < 40; i += 2) {
        snprintf(payload, sizeof payload, "%u", i);
        CHECK_EQ(expect_event(s, "odd", payload), 0);
    }
    expect_empty(s);
    CHECK_EQ(orbit_subscription_lost(s), 24);
    CHECK_EQ(orbit_subscription_lost(NULL), 0);
    orbit_subscription_free(s);
    finish(b, f, fleet, "events");
}

static void test_bad_input(void) {
    char fleet[49], big[300];
    orbit_fleet *f = join(fleet, "bad");
    orbit_bus *b = open_bus(f, "events", 8, 4);
    orbit_bus *other = (orbit_bus *)1;
    orbit_subscription *s = (orbit_subscription *)1;
    orbit_bus_options o;
    orbit_event e;

    memset(big, 'x', 256);
    big[256] = '\0';
    CHECK_STATUS(orbit_bus_publish(b, "", "x", 1, NULL), ORBIT_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(orbit_bus_publish(b, big, "x", 1, NULL), ORBIT_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(orbit_bus_publish(b, "\xff\xfe", "x", 1, NULL), ORBIT_STATUS_INVALID_ARGUMENT);
    big[255] = '\0';
    CHECK_OK(orbit_bus_publish(b, big, "1234", 4, NULL)); /* 255 bytes is the longest */
    CHECK_STATUS(orbit_bus_publish(b, "t", "12345", 5, NULL), ORBIT_STATUS_TOO_LARGE);
    CHECK_STATUS(orbit_bus_publish(b, NULL, "x", 1, NULL), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_bus_publish(b, "t", NULL, 1, NULL), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_bus_publish(NULL, "t", "x", 1, NULL), ORBIT_STATUS_NULL_ARGUMENT);

    big[255] = 'x';
    CHECK_STATUS(orbit_bus_subscribe(b, big, ORBIT_FROM_HEAD, &s), ORBIT_STATUS_INVALID_ARGUMENT);
    CHECK(s == NULL);
    CHECK_STATUS(orbit_bus_subscribe(b, "t", 7, &s), ORBIT_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(orbit_bus_subscribe(b, "t", ORBIT_FROM_HEAD, NULL), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_subscription_next(NULL, &e, NULL, 0, NULL, 0), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_subscription_wait(NULL, 0), ORBIT_STATUS_NULL_ARGUMENT);

    orbit_bus_options_init(&o);
    o.reserved[5] = 1;
    CHECK_STATUS(orbit_bus_open(f, "events2", &o, &other), ORBIT_STATUS_INVALID_ARGUMENT);
    CHECK(other == NULL);
    orbit_bus_options_init(&o);
    o.capacity = 3;
    CHECK_STATUS(orbit_bus_open(f, "events2", &o, &other), ORBIT_STATUS_INVALID_ARGUMENT);
    o.capacity = 16;
    CHECK_STATUS(orbit_bus_open(f, "events", &o, &other), ORBIT_STATUS_INCOMPATIBLE);
    CHECK_STATUS(orbit_bus_open(f, "bad name", NULL, &other), ORBIT_STATUS_INVALID_ARGUMENT);
    /* a ring of the same name is another object */
    {
        orbit_ring *r = NULL;
        CHECK_STATUS(orbit_ring_unlink(fleet, "events"), ORBIT_STATUS_NOT_EXIST);
        CHECK_OK(orbit_ring_open(f, "events", NULL, &r));
        orbit_ring_free(r);
        CHECK_OK(orbit_ring_unlink(fleet, "events"));
    }
    /* observers read, never publish */
    {
        orbit_fleet *obs = NULL;
        orbit_bus *ob = NULL;
        orbit_subscription *os = NULL;
        CHECK_OK(orbit_fleet_observe(fleet, &obs));
        CHECK_STATUS(orbit_bus_open(obs, "absent", NULL, &ob), ORBIT_STATUS_NOT_EXIST);
        CHECK_OK(orbit_bus_open(obs, "events", NULL, &ob));
        CHECK_STATUS(orbit_bus_publish(ob, "t", "x", 1, NULL), ORBIT_STATUS_READ_ONLY);
        CHECK_OK(orbit_bus_subscribe(ob, NULL, ORBIT_FROM_OLDEST, &os));
        CHECK_STATUS(orbit_subscription_wait(os, 0), ORBIT_STATUS_OK);
        orbit_subscription_free(os);
        orbit_bus_free(ob);
        orbit_fleet_free(obs);
    }
    orbit_bus_free(NULL);
    orbit_subscription_free(NULL);
    finish(b, f, fleet, "events");
    CHECK_STATUS(orbit_bus_unlink(fleet, "events"), ORBIT_STATUS_NOT_EXIST);
}

/* --- other processes ---------------------------------------------------- */

/* Subscribes with prefix a[1] from the oldest event and exits with the
 * number of events it read (all published before it started). */
static int child_count(char **a) {
    orbit_fleet *f = NULL;
    orbit_bus *b = NULL;
    orbit_subscription *s = NULL;
    char t[64], p[64];
    orbit_event e;
    int n = 0;
    if (orbit_fleet_join(a[0], NULL, &f) != ORBIT_STATUS_OK) return 100;
    if (orbit_bus_open(f, "events", NULL, &b) != ORBIT_STATUS_OK) return 101;
    if (orbit_bus_subscribe(b, a[1][0] ? a[1] : NULL, ORBIT_FROM_OLDEST, &s) != ORBIT_STATUS_OK)
        return 102;
    while (orbit_subscription_next(s, &e, t, sizeof t, p, sizeof p) == ORBIT_STATUS_OK) {
        if (strncmp(t, a[1], strlen(a[1])) != 0) return 103;
        n++;
    }
    orbit_subscription_free(s);
    orbit_bus_free(b);
    orbit_fleet_free(f);
    return n;
}

/* Sleeps, then publishes "ping" carrying its monotonic send time. */
static int child_ping(char **a) {
    orbit_fleet *f = NULL;
    orbit_bus *b = NULL;
    uint64_t now;
    if (orbit_fleet_join(a[0], NULL, &f) != ORBIT_STATUS_OK) return 100;
    if (orbit_bus_open(f, "events", NULL, &b) != ORBIT_STATUS_OK) return 101;
    t_sleep_ms(150);
    now = t_now_ns();
    if (orbit_bus_publish(b, "ping", &now, sizeof now, NULL) != ORBIT_STATUS_OK) return 102;
    orbit_bus_free(b);
    orbit_fleet_free(f);
    return 0;
}

static void test_subscribers_in_three_processes(void) {
    char fleet[49];
    orbit_fleet *f = join(fleet, "fanout");
    orbit_bus *b = open_bus(f, "events", 64, 32);
    const char *prefixes[3] = {"", "orders.", "users."};
    const int want[3] = {5, 3, 2};
    pid_t kids[3];
    unsigned i;

    publish_str(b, "orders.paid", "1");
    publish_str(b, "users.new", "2");
    publish_str(b, "orders.paid", "3");
    publish_str(b, "users.gone", "4");
    publish_str(b, "orders.refund", "5");
    for (i = 0; i < 3; i++) {
        const char *args[] = {fleet, prefixes[i], NULL};
        kids[i] = t_spawn("count", args);
    }
    for (i = 0; i < 3; i++)
        CHECK_EQ(t_wait(kids[i]), want[i]);
    finish(b, f, fleet, "events");
}

static void test_wait_wakes_on_another_process(void) {
    char fleet[49], t[16];
    orbit_fleet *f = join(fleet, "wake");
    orbit_bus *b = open_bus(f, "events", 64, 32);
    orbit_subscription *s = NULL;
    orbit_event e;
    uint64_t sent = 0, woke, t0;
    pid_t kid;

    CHECK_OK(orbit_bus_subscribe(b, "ping", ORBIT_FROM_HEAD, &s));
    CHECK_STATUS(orbit_subscription_wait(s, 20 * 1000000u), ORBIT_STATUS_TIMEOUT);
    {
        const char *args[] = {fleet, NULL};
        kid = t_spawn("ping", args);
    }
    t0 = t_now_ns();
    CHECK_OK(orbit_subscription_wait(s, 20000u * 1000000u));
    woke = t_now_ns();
    CHECK_OK(orbit_subscription_next(s, &e, t, sizeof t, &sent, sizeof sent));
    CHECK_EQ(t_wait(kid), 0);
    CHECK_MSG(woke - t0 > 50u * 1000000u, "did not block (%" PRIu64 " ns)", woke - t0);
    CHECK_MSG(woke - sent < t_scale(500, 5000) * 1000000u, "woke %" PRIu64 " ns after the publish",
              woke - sent);
    orbit_subscription_free(s);
    finish(b, f, fleet, "events");
}

int main(int argc, char **argv) {
    const char *role;
    t_init(argc, argv, "bus");
    role = t_child_role();
    if (role != NULL) {
        if (strcmp(role, "count") == 0 && t_child_argc() == 2)
            return child_count(t_child_argv());
        if (strcmp(role, "ping") == 0 && t_child_argc() == 1)
            return child_ping(t_child_argv());
        fprintf(stderr, "unknown child role %s\n", role);
        return 2;
    }
    RUN(test_options_defaults);
    RUN(test_publish_subscribe_filter);
    RUN(test_buffer_too_small_consumes_nothing);
    RUN(test_exact_loss_after_wrap);
    RUN(test_bad_input);
    RUN(test_subscribers_in_three_processes);
    RUN(test_wait_wakes_on_another_process);
    return t_done();
}
