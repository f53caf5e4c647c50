/* A consumer built with nothing but `pkg-config --cflags --libs orbit`:
 * joins a fleet, writes a frame, reads it back by id and through a cursor,
 * and cleans up. */
#define _POSIX_C_SOURCE 200809L
#include <orbit.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int check(orbit_status s, const char *what) {
    char msg[256] = "";
    if (s == ORBIT_STATUS_OK)
        return 0;
    orbit_last_error_message(msg, sizeof msg);
    fprintf(stderr, "%s: %s (%s)\n", what, orbit_status_str(s), msg);
    return 1;
}

int main(void) {
    char fleet[48];
    orbit_fleet *f = NULL;
    orbit_ring *r = NULL;
    orbit_cursor *c = NULL;
    orbit_frame fr;
    char buf[64] = "";
    uint64_t id = 0;
    int bad = 0;

    snprintf(fleet, sizeof fleet, "pkgconfig-%ld", (long)getpid());
    if (check(orbit_fleet_join(fleet, NULL, &f), "join") ||
        check(orbit_ring_open(f, "hello", NULL, &r), "open") ||
        check(orbit_cursor_open(r, ORBIT_FROM_HEAD, &c), "cursor") ||
        check(orbit_ring_write(r, 1, 2, "hello", 5, &id), "write") ||
        check(orbit_ring_read(r, id, &fr, buf, sizeof buf), "read"))
        return 1;
    bad |= fr.len != 5 || memcmp(buf, "hello", 5) != 0;
    bad |= check(orbit_cursor_next(c, &fr, buf, sizeof buf), "next");
    bad |= fr.id != id || fr.ver != 2;
    orbit_cursor_free(c);
    orbit_ring_free(r);
    orbit_fleet_free(f);
    bad |= check(orbit_ring_unlink(fleet, "hello"), "unlink ring");
    bad |= check(orbit_fleet_unlink(fleet), "unlink fleet");
    printf("pkg-config consumer: %s (liborbit %s)\n", bad ? "FAILED" : "ok", orbit_version());
    return bad;
}
