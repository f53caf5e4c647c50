/* demo_worker: one member of the `make demo` fleet (C version).
 *
 *   demo_worker <fleet> <label>
 *
 * The protocol every demo worker follows (examples/python/demo_worker.py and
 * examples/go/demo_worker/main.go the same in Python and Go); examples/demo.py
 * drives them:
 *
 * - joins <fleet> as <label>; opens ring "events" (1024 x 128 B), cache
 *   "state" (16384 entries, keys <= 64 B, values <= 128 B: every write
 *   appends to its log, so it is sized to keep a dead worker's counter) and
 *   bus "news" (1024 events x 128 B);
 * - every 10 ms writes a frame "<label> #<seq> <filler> crc=<crc32>", the
 *   CRC-32 covering everything before " crc=", and counts it in the cache
 *   under "written.<label>" (incr: exact across processes);
 * - reads every frame of the ring with a cursor and checks its CRC: a torn
 *   frame would fail it; counts frames per writer node and frames lost;
 * - every 100 ms heartbeats and runs for leader: claims the lease "leader"
 *   (800 ms TTL), or renews it while it holds it. A new leader publishes
 *   "<label> leads with token <T>" on topic "leader"; the leader publishes
 *   "<label> token <T> tick <n>" on topic "tick" every 100 ms. Every event
 *   carries a CRC like the frames; readers check it, and reject a tick whose
 *   fencing token is below one already seen (a deposed leader's). A leader
 *   killed with SIGKILL is replaced at the next claim: its process is dead;
 * - stops when the cache key "demo.stop" appears (or on SIGTERM) and prints
 *   SUMMARY {json}. Exits 0, or 1 if it saw a torn frame or event.
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
#define BUS_CAPACITY 1024

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

/* Appends " crc=xxxxxxxx" (the CRC-32 of out[0..n)) and returns the new length. */
static size_t seal(char *out, size_t n) {
    return n + (size_t)sprintf(out + n, " crc=%08lx", (unsigned long)crc32((unsigned char *)out, n));
}

/* "<label> #<seq> <filler> crc=xxxxxxxx": a different length every frame. */
static size_t make_frame(char *out, const char *label, unsigned long seq) {
    size_t n = (size_t)sprintf(out, "%s #%lu ", label, seq), i, fill = (seq * 7u) % 40u;
    for (i = 0; i < fill; i++)
        out[n++] = (char)('a' + (seq + i) % 26u);
    return seal(out, n);
}

/* 1 when the frame's CRC matches its body. */
static int frame_ok(const char *p, size_t n) {
    char want[16];
    if (n < 13 || memcmp(p + n - 13, " crc=", 5) != 0)
        return 0;
    sprintf(want, "%08lx", (unsigned long)crc32((const unsigned char *)p, n - 13));
    return memcmp(p + n - 8, want, 8) == 0;
}

/* Leadership: the lease "leader", claimed by whoever finds it free (or its
 * holder dead, or expired) and renewed by its holder every tick. */
typedef struct {
    orbit_lease *lease; /* NULL while not leading */
    unsigned long terms, ticks_sent;
} election;

static orbit_status publish(orbit_bus *bus, const char *topic, char *body, size_t n) {
    return orbit_bus_publish(bus, topic, body, seal(body, n), NULL);
}

static orbit_status election_step(orbit_fleet *fleet, orbit_bus *bus, election *e,
                                  const char *label) {
    char body[MAX_PAYLOAD];
    orbit_status s;
    if (e->lease) {
        s = orbit_lease_renew(e->lease, LEADER_TTL_MS);
        if (s == ORBIT_STATUS_LEASE_LOST) {
            orbit_lease_free(e->lease);
            e->lease = NULL;
            printf("[%s] lost the leadership\n", label);
            return ORBIT_STATUS_OK;
        }
        if (s != ORBIT_STATUS_OK)
            return s;
    } else {
        s = orbit_contest_claim(fleet, "leader", LEADER_TTL_MS, &e->lease);
        if (s == ORBIT_STATUS_CONFLICT)
            return ORBIT_STATUS_OK;
        if (s != ORBIT_STATUS_OK)
            return s;
        e->terms++;
        printf("[%s] became the leader with fencing token %llu\n", label,
               (unsigned long long)orbit_lease_token(e->lease));
        s = publish(bus, "leader", body,
                    (size_t)sprintf(body, "%s leads with token %llu", label,
                                    (unsigned long long)orbit_lease_token(e->lease)));
        if (s != ORBIT_STATUS_OK)
            return s;
    }
    return publish(bus, "tick", body,
                   (size_t)sprintf(body, "%s token %llu tick %lu", label,
                                   (unsigned long long)orbit_lease_token(e->lease),
                                   ++e->ticks_sent));
}

/* What a worker saw on the bus. */
typedef struct {
    unsigned long events, torn, ticks, stale_ticks;
    unsigned long long max_token;
    uint64_t lost;
} bus_seen;

static orbit_status read_events(orbit_subscription *sub, bus_seen *b, const char *label) {
    char topic[256], buf[MAX_PAYLOAD + 1];
    orbit_event ev;
    orbit_status s;
    while ((s = orbit_subscription_next(sub, &ev, topic, sizeof topic, buf, MAX_PAYLOAD)) ==
           ORBIT_STATUS_OK) {
        const char *tok;
        b->events++;
        b->lost += ev.lost;
        if (!frame_ok(buf, ev.len)) {
            b->torn++;
            fprintf(stderr, "[%s] TORN event on %s: %.*s\n", label, topic, (int)ev.len, buf);
            continue;
        }
        buf[ev.len] = '\0';
        if (strcmp(topic, "tick") == 0 && (tok = strstr(buf, " token ")) != NULL) {
            unsigned long long t = strtoull(tok + 7, NULL, 10);
            b->ticks++;
            /* Fencing: a tick under a lower token than one already seen comes
             * from a deposed leader and is rejected (none is expected here). */
            if (t < b->max_token)
                b->stale_ticks++;
            else
                b->max_token = t;
        }
    }
    return s == ORBIT_STATUS_EMPTY ? ORBIT_STATUS_OK : s;
}

int main(int argc, char **argv) {
    const char *fleet_name, *label;
    char key[80];
    orbit_fleet_options fo;
    orbit_ring_options ro;
    orbit_cache_options co;
    orbit_bus_options bo;
    orbit_fleet *fleet = NULL;
    orbit_ring *ring = NULL;
    orbit_cursor *cursor = NULL;
    orbit_cache *cache = NULL;
    orbit_bus *bus = NULL;
    orbit_subscription *sub = NULL;
    orbit_status s;
    election e = {NULL, 0, 0};
    bus_seen seen = {0, 0, 0, 0, 0, 0};
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
    orbit_bus_options_init(&bo);
    bo.capacity = BUS_CAPACITY;
    bo.max_payload = MAX_PAYLOAD;
    if ((s = orbit_ring_open(fleet, "events", &ro, &ring)) != ORBIT_STATUS_OK ||
        (s = orbit_cache_open(fleet, "state", &co, &cache)) != ORBIT_STATUS_OK ||
        (s = orbit_bus_open(fleet, "news", &bo, &bus)) != ORBIT_STATUS_OK ||
        (s = orbit_contest_open(fleet, NULL)) != ORBIT_STATUS_OK ||
        (s = orbit_cursor_open(ring, ORBIT_FROM_HEAD, &cursor)) != ORBIT_STATUS_OK ||
        (s = orbit_bus_subscribe(bus, NULL, ORBIT_FROM_HEAD, &sub)) != ORBIT_STATUS_OK) {
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
        if (s != ORBIT_STATUS_EMPTY || (s = read_events(sub, &seen, label)) != ORBIT_STATUS_OK) {
            fail(label, "read", s);
            goto done;
        }
        if (now >= next_tick) {
            char v[8];
            size_t vl;
            orbit_fleet_heartbeat(fleet);
            if ((s = election_step(fleet, bus, &e, label)) != ORBIT_STATUS_OK) {
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
           "\"torn\":%lu,\"lost\":%llu,\"terms_led\":%lu,\"events\":%lu,\"events_torn\":%lu,"
           "\"events_lost\":%llu,\"ticks\":%lu,\"stale_ticks\":%lu,\"max_token\":%llu,"
           "\"from_nodes\":{",
           label, (long)getpid(), seq, verified, torn, (unsigned long long)lost, e.terms,
           seen.events, seen.torn, (unsigned long long)seen.lost, seen.ticks, seen.stale_ticks,
           seen.max_token);
    for (i = 1, first = 1; i <= MAX_NODES; i++) {
        if (from_node[i]) {
            printf("%s\"%d\":%lu", first ? "" : ",", i, from_node[i]);
            first = 0;
        }
    }
    printf("}}\n");
done:
    orbit_lease_free(e.lease); /* releases the lease if still held */
    orbit_subscription_free(sub);
    orbit_bus_free(bus);
    orbit_cursor_free(cursor);
    orbit_cache_free(cache);
    orbit_ring_free(ring);
    orbit_fleet_free(fleet);
    return s != ORBIT_STATUS_OK && s != ORBIT_STATUS_EMPTY ? 2 : torn || seen.torn ? 1 : 0;
}
