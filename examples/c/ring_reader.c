/* ring_reader: follows a ring of a fleet with a cursor and prints what it gets.
 *
 *   ring_reader <fleet> <ring> [count=10] [timeout_ms=5000] [--unlink]
 *
 * Exits 0 after `count` frames, 1 if no frame came for `timeout_ms`. With
 * --unlink it removes the ring and the fleet's membership table when done
 * (the demo's reader is the last process out). */
#define _POSIX_C_SOURCE 200809L
#include <orbit.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEMO_CAPACITY 64
#define DEMO_MAX_PAYLOAD 256

static int fail(const char *what, orbit_status s) {
    char msg[512] = "";
    orbit_last_error_message(msg, sizeof msg);
    fprintf(stderr, "ring_reader: %s: %s (%s)\n", what, orbit_status_str(s), msg);
    return 1;
}

int main(int argc, char **argv) {
    const char *fleet_name, *ring_name;
    unsigned long count = 10, timeout_ms = 5000, got = 0;
    int unlink_when_done = 0, rc = 0;
    orbit_fleet_options fo;
    orbit_ring_options ro;
    orbit_fleet *fleet = NULL;
    orbit_ring *ring = NULL;
    orbit_cursor *cursor = NULL;
    orbit_status s;

    if (argc > 3 && strcmp(argv[argc - 1], "--unlink") == 0) {
        unlink_when_done = 1;
        argc--;
    }
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: %s <fleet> <ring> [count=10] [timeout_ms=5000] [--unlink]\n",
                argv[0]);
        return 2;
    }
    fleet_name = argv[1];
    ring_name = argv[2];
    if (argc > 3)
        count = strtoul(argv[3], NULL, 10);
    if (argc > 4)
        timeout_ms = strtoul(argv[4], NULL, 10);
    setvbuf(stdout, NULL, _IOLBF, 0);

    orbit_fleet_options_init(&fo);
    fo.label = "ring_reader";
    if ((s = orbit_fleet_join(fleet_name, &fo, &fleet)) != ORBIT_STATUS_OK)
        return fail("join", s);
    orbit_ring_options_init(&ro);
    ro.capacity = DEMO_CAPACITY;
    ro.max_payload = DEMO_MAX_PAYLOAD;
    if ((s = orbit_ring_open(fleet, ring_name, &ro, &ring)) != ORBIT_STATUS_OK ||
        (s = orbit_cursor_open(ring, ORBIT_FROM_OLDEST, &cursor)) != ORBIT_STATUS_OK) {
        orbit_ring_free(ring);
        orbit_fleet_free(fleet);
        return fail("open", s);
    }
    printf("reader: pid %ld is node %u of fleet %s, waiting for %lu frames on ring %s\n",
           (long)getpid(), (unsigned)orbit_fleet_node_id(fleet), fleet_name, count, ring_name);

    while (got < count) {
        char payload[DEMO_MAX_PAYLOAD + 1];
        orbit_frame frame;
        s = orbit_cursor_next(cursor, &frame, payload, DEMO_MAX_PAYLOAD);
        if (s == ORBIT_STATUS_EMPTY) {
            /* sleeps on a futex in the ring until a writer writes */
            s = orbit_cursor_wait(cursor, (uint64_t)timeout_ms * 1000000u);
            if (s == ORBIT_STATUS_TIMEOUT) {
                fprintf(stderr, "reader: nothing for %lu ms after %lu of %lu frames\n",
                        timeout_ms, got, count);
                rc = 1;
                break;
            }
            continue;
        }
        if (s != ORBIT_STATUS_OK) {
            rc = fail("next", s);
            break;
        }
        payload[frame.len] = '\0';
        got++;
        printf("reader: got  #%llu id=%u:%u:%llu lost=%llu \"%s\"\n",
               (unsigned long long)frame.ver, (unsigned)(frame.id >> 56),
               (unsigned)((frame.id >> 40) & 0xffff),
               (unsigned long long)(frame.id & 0xffffffffffULL),
               (unsigned long long)frame.lost, payload);
    }
    if (rc == 0)
        printf("reader: received %lu frames, %llu lost\n", got,
               (unsigned long long)orbit_cursor_lost(cursor));
    orbit_cursor_free(cursor);
    orbit_ring_free(ring);
    orbit_fleet_free(fleet);
    if (unlink_when_done) {
        orbit_ring_unlink(fleet_name, ring_name);
        orbit_fleet_unlink(fleet_name);
    }
    return rc;
}
