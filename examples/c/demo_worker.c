/* demo_worker: one member of the `make demo` fleet (C version).
 *
 *   demo_worker <fleet> <label>
 *
 * The same protocol as examples/python/demo_worker.py and
 * examples/go/demo_worker (see examples/demo.py):
 *
 * - joins <fleet> as <label>; opens ring "events" (1024 x 128 B) and cache
 *   "state" (16384 entries, keys <= 64 B, values <= 128 B: every write
 *   appends to its log, so it is sized to keep a dead worker's counter);
 * - every 10 ms writes a frame "<label> #<seq> <filler> crc=<crc32>", the
 *   CRC-32 covering everything before " crc=", and counts it in the cache
 *   under "written.<label>" (incr: exact across processes);
 * - reads every frame of the ring with a cursor and checks its CRC: a torn
 *   frame would fail it; counts frames per writer node and frames lost;
 * - every 100 ms heartbeats and takes part in the election: the key "leader"
 *   holds "<label> <pid>" with an 800 ms TTL; the holder renews it with
 *   cas (its version), the others try add. A leader killed with SIGKILL
 *   stops renewing, its key expires and another member takes it;
 * - stops when the key "demo.stop" appears (or on SIGTERM) and prints
 *   SUMMARY {json}. Exits 0, or 1 if it saw a torn frame.
 */
#define _POSIX_C_SOURCE 200809L
#include <orbit.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RING_CAPACITY 1024
#define MAX_PAYLOAD 128
#define LEADER_TTL_MS 800
#define MAX_NODES 256

static volatile sig_atomic_t stop_requested = 0;
static void on_term(int sig) {
    (void)sig;
    stop_requested = 1;
}

static uint32_t crc32(const unsigned char *p, size_t n) {
    uint32_t c = 0xffffffffu;
    size_t i;
    int k;
    for (i = 0; i < n; i++) {
        c ^= p[i];
        for (k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int fail(const char *label, const char *what, orbit_status s) {
    char msg[512] = "";
    orbit_last_error_message(msg, sizeof msg);
    fprintf(stderr, "[%s] %s: %s (%s)\n", label, what, orbit_status_str(s), msg);
    return 2;
}

/* "<label> #<seq> <filler> crc=xxxxxxxx": a different length every frame. */
static size_t make_frame(char *out, const char *label, unsigned long seq) {
    size_t n = (size_t)sprintf(out, "%s #%lu ", label, seq), i, fill = (seq * 7u) % 40u;
    for (i = 0; i < fill; i++)
        out[n++] = (char)('a' + (seq + i) % 26u);
    n += (size_t)sprintf(out + n, " crc=%08lx", (unsigned long)crc32((unsigned char *)out, n));
    return n;
}

/* 1 when the frame's CRC matches its body. */
static int frame_ok(const char *p, size_t n) {
    char want[16];
    if (n < 13 || memcmp(p + n - 13, " crc=", 5) != 0)
        return 0;
    sprintf(want, "%08lx", (unsigned long)crc32((const unsigned char *)p, n - 13));
    return memcmp(p + n - 8, want, 8) == 0;
}

typedef struct {
    int leading;
    uint64_t version; /* of our value under "leader" while leading */
    unsigned long terms;
} election;

static orbit_status election_step(orbit_cache *c, election *e, const char *me, const char *label,
                                  orbit_ring *ring) {
    orbit_status s;
    if (e->leading) {
        s = orbit_cache_cas(c, "leader", 6, e->version, me, strlen(me), LEADER_TTL_MS);
        if (s == ORBIT_STATUS_CONFLICT || s == ORBIT_STATUS_NOT_FOUND) {
            e->leading = 0;
            printf("[%s] lost the leadership\n", label);
            return ORBIT_STATUS_OK;
        }
    } else {
        s = orbit_cache_add(c, "leader", 6, me, strlen(me), LEADER_TTL_MS);
        if (s == ORBIT_STATUS_CONFLICT)
            return ORBIT_STATUS_OK;
        if (s == ORBIT_STATUS_OK) {
            char frame[MAX_PAYLOAD];
            size_t n;
            int64_t term = 0;
            e->leading = 1;
            e->terms++;
            orbit_cache_incr(c, "leader.terms", 12, 1, 0, &term);
            printf("[%s] became the leader (term %lld)\n", label, (long long)term);
            n = (size_t)sprintf(frame, "%s leads term %lld", label, (long long)term);
            n += (size_t)sprintf(frame + n, " crc=%08lx", (unsigned long)crc32((unsigned char *)frame, n));
            orbit_ring_write(ring, 2, (uint64_t)term, frame, n, NULL);
        }
    }
    if (s != ORBIT_STATUS_OK)
        return s;
    /* Our version, for the next renewal. */
    {
        char buf[MAX_PAYLOAD];
        size_t len = 0;
        orbit_cache_meta meta;
        s = orbit_cache_get(c, "leader", 6, buf, sizeof buf, &len, &meta);
        if (s == ORBIT_STATUS_OK && len == strlen(me) && memcmp(buf, me, len) == 0)
            e->version = meta.version;
        else if (s == ORBIT_STATUS_OK || s == ORBIT_STATUS_NOT_FOUND)
            e->leading = 0;
        return s == ORBIT_STATUS_NOT_FOUND ? ORBIT_STATUS_OK : s;
    }
}

int main(int argc, char **argv) {
    const char *fleet_name, *label;
    char me[64], key[80];
    orbit_fleet_options fo;
    orbit_ring_options ro;
    orbit_cache_options co;
    orbit_fleet *fleet = NULL;
    orbit_ring *ring = NULL;
    orbit_cursor *cursor = NULL;
    orbit_cache *cache = NULL;
    orbit_status s;
    election e = {0, 0, 0};
    unsigned long seq = 0, verified = 0, torn = 0, from_node[MAX_NODES + 1] = {0};
    uint64_t lost = 0, next_write, next_tick;
    int i, first;
    struct sigaction sa;

    if (argc != 3) {
        fprintf(stderr, "usage: %s <fleet> <label>\n", argv[0]);
        return 2;
    }
    fleet_name = argv[1];
    label = argv[2];
    setvbuf(stdout, NULL, _IOLBF, 0);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    snprintf(me, sizeof me, "%s %ld", label, (long)getpid());
    snprintf(key, sizeof key, "written.%s", label);

    orbit_fleet_options_init(&fo);
    fo.label = label;
    if ((s = orbit_fleet_join(fleet_name, &fo, &fleet)) != ORBIT_STATUS_OK)
        return fail(label, "join", s);
    orbit_ring_options_init(&ro);
    ro.capacity = RING_CAPACITY;
    ro.max_payload = MAX_PAYLOAD;
    orbit_cache_options_init(&co);
    co.capacity = 16384;
    co.max_key = 64;
    co.max_value = MAX_PAYLOAD;
    if ((s = orbit_ring_open(fleet, "events", &ro, &ring)) != ORBIT_STATUS_OK ||
        (s = orbit_cache_open(fleet, "state", &co, &cache)) != ORBIT_STATUS_OK ||
        (s = orbit_cursor_open(ring, ORBIT_FROM_HEAD, &cursor)) != ORBIT_STATUS_OK) {
        fail(label, "open", s);
        goto done;
    }
    printf("[%s] C worker, pid %ld, joined as node %u\n", label, (long)getpid(),
           (unsigned)orbit_fleet_node_id(fleet));

    next_write = next_tick = now_ms();
    while (!stop_requested) {
        uint64_t now = now_ms(), until;
        char buf[MAX_PAYLOAD];
        orbit_frame f;
        if (now >= next_write) {
            char frame[MAX_PAYLOAD];
            size_t n = make_frame(frame, label, ++seq);
            if ((s = orbit_ring_write(ring, 1, seq, frame, n, NULL)) != ORBIT_STATUS_OK ||
                (s = orbit_cache_incr(cache, key, strlen(key), 1, 0, NULL)) != ORBIT_STATUS_OK) {
                fail(label, "write", s);
                goto done;
            }
            next_write += 10;
        }
        while ((s = orbit_cursor_next(cursor, &f, buf, sizeof buf)) == ORBIT_STATUS_OK) {
            unsigned node = (unsigned)((f.id >> 40) & 0xffffu);
            lost += f.lost;
            if (frame_ok(buf, f.len)) {
                verified++;
                if (node <= MAX_NODES)
                    from_node[node]++;
            } else {
                torn++;
                fprintf(stderr, "[%s] TORN frame %llx: %.*s\n", label, (unsigned long long)f.id,
                        (int)f.len, buf);
            }
        }
        if (s != ORBIT_STATUS_EMPTY) {
            fail(label, "read", s);
            goto done;
        }
        if (now >= next_tick) {
            char v[8];
            size_t vl;
            orbit_fleet_heartbeat(fleet);
            if ((s = election_step(cache, &e, me, label, ring)) != ORBIT_STATUS_OK) {
                fail(label, "election", s);
                goto done;
            }
            if (orbit_cache_get(cache, "demo.stop", 9, v, sizeof v, &vl, NULL) == ORBIT_STATUS_OK)
                break;
            next_tick += 100;
        }
        until = next_write < next_tick ? next_write : next_tick;
        now = now_ms();
        if (until > now)
            orbit_cursor_wait(cursor, (until - now) * 1000000u);
    }
    printf("SUMMARY {\"label\":\"%s\",\"lang\":\"C\",\"pid\":%ld,\"written\":%lu,\"verified\":%lu,"
           "\"torn\":%lu,\"lost\":%llu,\"terms_led\":%lu,\"from_nodes\":{",
           label, (long)getpid(), seq, verified, torn, (unsigned long long)lost, e.terms);
    for (i = 1, first = 1; i <= MAX_NODES; i++) {
        if (from_node[i]) {
            printf("%s\"%d\":%lu", first ? "" : ",", i, from_node[i]);
            first = 0;
        }
    }
    printf("}}\n");
done:
    orbit_cursor_free(cursor);
    orbit_cache_free(cache);
    orbit_ring_free(ring);
    orbit_fleet_free(fleet);
    return s != ORBIT_STATUS_OK && s != ORBIT_STATUS_EMPTY ? 2 : torn ? 1 : 0;
}
