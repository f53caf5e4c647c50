/* tour: a ring, a cache, a bus and a lease from C, in one short program.
 *
 *   cc -std=c99 tour.c $(pkg-config --cflags --libs orbit) -o tour && ./tour [fleet]
 *
 * Every object lives in shared memory: run it twice at once, or run the Go,
 * C++ or Python tour on the same fleet name, and they all meet there. It
 * removes its objects at the end. */
#include <orbit.h>

#include <stdio.h>
#include <string.h>

static int check(orbit_status s, const char *what) {
    if (s != ORBIT_STATUS_OK) {
        char msg[256] = "";
        orbit_last_error_message(msg, sizeof msg);
        fprintf(stderr, "tour: %s: %s (%s)\n", what, orbit_status_str(s), msg);
    }
    return s == ORBIT_STATUS_OK;
}

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : "tour";
    orbit_fleet_options fo;
    orbit_fleet *fleet = NULL;
    orbit_ring *ring = NULL;
    orbit_cursor *cur = NULL;
    orbit_cache *cache = NULL;
    orbit_bus *bus = NULL;
    orbit_subscription *sub = NULL;
    orbit_lease *lease = NULL;
    orbit_frame f;
    orbit_event ev;
    char buf[256], topic[256];
    size_t len = 0;
    int ok = 0;

    orbit_fleet_options_init(&fo);
    fo.label = "c-tour";
    if (!check(orbit_fleet_join(name, &fo, &fleet), "join")) return 1;

    /* Ring: append frames; a cursor reads them in order. */
    if (!check(orbit_ring_open(fleet, "events", NULL, &ring), "open ring")) goto out;
    if (!check(orbit_cursor_open(ring, ORBIT_FROM_HEAD, &cur), "cursor")) goto out;
    if (!check(orbit_ring_write(ring, 1, 0, "order 42 paid", 13, NULL), "write")) goto out;
    while (orbit_cursor_next(cur, &f, buf, sizeof buf) == ORBIT_STATUS_OK)
        printf("ring:  frame %u:%u:%llu: %.*s\n", (unsigned)(f.id >> 56), (unsigned)(f.id >> 40) & 0xffffu,
               (unsigned long long)(f.id & 0xffffffffffull), (int)f.len, buf); /* kind:node:counter */

    /* Cache: set and get a key; incr a counter. */
    if (!check(orbit_cache_open(fleet, "sessions", NULL, &cache), "open cache")) goto out;
    if (!check(orbit_cache_set(cache, "user:42", 7, "{\"cart\":3}", 10, 0), "set")) goto out;
    if (!check(orbit_cache_get(cache, "user:42", 7, buf, sizeof buf, &len, NULL), "get")) goto out;
    printf("cache: user:42 = %.*s\n", (int)len, buf);

    /* Bus: subscribe to a topic prefix, publish, receive. */
    if (!check(orbit_bus_open(fleet, "news", NULL, &bus), "open bus")) goto out;
    if (!check(orbit_bus_subscribe(bus, "orders.", ORBIT_FROM_HEAD, &sub), "subscribe")) goto out;
    if (!check(orbit_bus_publish(bus, "orders.paid", "42", 2, NULL), "publish")) goto out;
    if (!check(orbit_subscription_next(sub, &ev, topic, sizeof topic, buf, sizeof buf), "next")) goto out;
    printf("bus:   %s -> %.*s\n", topic, (int)ev.len, buf);

    /* Lease: one holder at a time in the whole fleet, with a fencing token. */
    if (!check(orbit_contest_claim(fleet, "leader", 5000, &lease), "claim")) goto out;
    printf("lease: leader, token %llu\n", (unsigned long long)orbit_lease_token(lease));
    ok = check(orbit_lease_release(lease), "release");

out:
    orbit_lease_free(lease);
    orbit_subscription_free(sub);
    orbit_bus_free(bus);
    orbit_cache_free(cache);
    orbit_cursor_free(cur);
    orbit_ring_free(ring);
    orbit_fleet_free(fleet);
    orbit_ring_unlink(name, "events");
    orbit_cache_unlink(name, "sessions");
    orbit_bus_unlink(name, "news");
    orbit_contest_unlink(name);
    orbit_fleet_unlink(name);
    return ok ? 0 : 1;
}
