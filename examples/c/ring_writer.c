/* ring_writer: joins a fleet and writes frames into one of its rings.
 *
 *   ring_writer <fleet> <ring> [count=10] [interval_ms=100]
 *
 * Start ring_reader with the same fleet and ring, in any order: both create
 * the ring if it is not there yet (with the same geometry), and the reader
 * starts at the oldest frame the ring holds. */
#define _POSIX_C_SOURCE 200809L
#include <orbit.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEMO_CAPACITY 64
#define DEMO_MAX_PAYLOAD 256

static int fail(const char *what, orbit_status s) {
    char msg[512] = "";
    orbit_last_error_message(msg, sizeof msg);
    fprintf(stderr, "ring_writer: %s: %s (%s)\n", what, orbit_status_str(s), msg);
    return 1;
}

int main(int argc, char **argv) {
    const char *fleet_name, *ring_name;
    unsigned long count = 10, interval_ms = 100, i;
    orbit_fleet_options fo;
    orbit_ring_options ro;
    orbit_fleet *fleet = NULL;
    orbit_ring *ring = NULL;
    orbit_status s;

    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: %s <fleet> <ring> [count=10] [interval_ms=100]\n", argv[0]);
        return 2;
    }
    fleet_name = argv[1];
    ring_name = argv[2];
    if (argc > 3)
        count = strtoul(argv[3], NULL, 10);
    if (argc > 4)
        interval_ms = strtoul(argv[4], NULL, 10);
    setvbuf(stdout, NULL, _IOLBF, 0);

    orbit_fleet_options_init(&fo);
    fo.label = "ring_writer";
    if ((s = orbit_fleet_join(fleet_name, &fo, &fleet)) != ORBIT_STATUS_OK)
        return fail("join", s);
    orbit_ring_options_init(&ro);
    ro.capacity = DEMO_CAPACITY;
    ro.max_payload = DEMO_MAX_PAYLOAD;
    if ((s = orbit_ring_open(fleet, ring_name, &ro, &ring)) != ORBIT_STATUS_OK) {
        orbit_fleet_free(fleet);
        return fail("open", s);
    }
    printf("writer: pid %ld is node %u of fleet %s, writing %lu frames to ring %s\n",
           (long)getpid(), (unsigned)orbit_fleet_node_id(fleet), fleet_name, count, ring_name);

    for (i = 0; i < count; i++) {
        char payload[DEMO_MAX_PAYLOAD];
        uint64_t id = 0;
        int len = snprintf(payload, sizeof payload, "hello #%lu from pid %ld", i, (long)getpid());
        s = orbit_ring_write(ring, 1, (uint64_t)i, payload, (size_t)len, &id);
        if (s != ORBIT_STATUS_OK)
            break;
        /* NetId64: [KIND:8][NODE:16][COUNTER:40], shown as kind:node:counter */
        printf("writer: sent #%lu id=%u:%u:%llu \"%s\"\n", i, (unsigned)(id >> 56),
               (unsigned)((id >> 40) & 0xffff), (unsigned long long)(id & 0xffffffffffULL),
               payload);
        if (interval_ms > 0 && i + 1 < count) {
            struct timespec ts;
            ts.tv_sec = (time_t)(interval_ms / 1000);
            ts.tv_nsec = (long)(interval_ms % 1000) * 1000000L;
            nanosleep(&ts, NULL);
        }
    }
    orbit_ring_free(ring);
    orbit_fleet_free(fleet);
    if (s != ORBIT_STATUS_OK)
        return fail("write", s);
    return 0;
}
