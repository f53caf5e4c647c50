/* The C baseline of `make bench-bindings`: the per-operation cost of the C
 * ABI itself for ring write (64 B payload), cursor next (64 B frames already
 * in the ring) and cache get (16 B key, 64 B value, hit), one call per
 * operation and through the batch functions. bench.cpp, go/main.go and
 * bench_py.py measure the same operations with the same geometry through
 * their bindings; run.py runs them all, interleaved, and compares.
 *
 * usage: bench_c <fleet> <reps>
 * Prints one JSON object per (operation, form): ns per operation of each
 * repetition, after one untimed warm-up repetition. */
#define _POSIX_C_SOURCE 199309L /* clock_gettime under -std=c99 */
#include <orbit.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CAPACITY 65536u /* ring slots and cache entries */
#define PAYLOAD 64
#define KEYS 64 /* distinct 16-byte keys, all present; gets cycle through them */
#define KEY_LEN 16
#define BATCH 64
#define N_OPS (1u << 20) /* operations per repetition (writes, gets) */
#define READ_ROUNDS 16   /* cursor reads per repetition: READ_ROUNDS x CAPACITY frames */

static void must(orbit_status st, const char *what) {
    if (st != ORBIT_STATUS_OK) {
        char msg[256];
        orbit_last_error_message(msg, sizeof msg);
        fprintf(stderr, "bench_c: %s: %s (%s)\n", what, orbit_status_str(st), msg);
        exit(1);
    }
}

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static orbit_ring *ring;
static orbit_cache *cache;
static unsigned char payload[PAYLOAD];
static unsigned char packed[BATCH * PAYLOAD];
static size_t lens[BATCH];
static char keys[KEYS * KEY_LEN];
static size_t klens[KEYS];

static double ring_write_single(void) {
    double t = now_ns();
    for (unsigned i = 0; i < N_OPS; i++) must(orbit_ring_write(ring, 0, 0, payload, PAYLOAD, NULL), "write");
    return (now_ns() - t) / N_OPS;
}

static double ring_write_batch(void) {
    size_t written;
    double t = now_ns();
    for (unsigned i = 0; i < N_OPS / BATCH; i++)
        must(orbit_ring_write_batch(ring, 0, 0, packed, lens, BATCH, NULL, &written), "write batch");
    return (now_ns() - t) / N_OPS;
}

/* Fills the ring (untimed) and times reading every frame with a new cursor. */
static double cursor_next(int batch) {
    static orbit_frame frames[BATCH];
    static unsigned char buf[BATCH * PAYLOAD];
    double total = 0;
    size_t written;
    for (int round = 0; round < READ_ROUNDS; round++) {
        for (unsigned i = 0; i < CAPACITY / BATCH; i++)
            must(orbit_ring_write_batch(ring, 0, 0, packed, lens, BATCH, NULL, &written), "fill");
        orbit_cursor *c;
        must(orbit_cursor_open(ring, ORBIT_FROM_OLDEST, &c), "cursor");
        size_t got = 0;
        double t = now_ns();
        if (batch) {
            while (got < CAPACITY) {
                size_t n = 0;
                must(orbit_cursor_next_batch(c, frames, BATCH, buf, sizeof buf, &n), "next batch");
                got += n;
            }
        } else {
            for (; got < CAPACITY; got++) must(orbit_cursor_next(c, &frames[0], buf, PAYLOAD), "next");
        }
        total += now_ns() - t;
        if (frames[0].len != PAYLOAD || frames[0].lost != 0) {
            fprintf(stderr, "bench_c: unexpected frame (len %u, lost %llu)\n", (unsigned)frames[0].len,
                    (unsigned long long)frames[0].lost);
            exit(1);
        }
        orbit_cursor_free(c);
    }
    return total / ((double)READ_ROUNDS * CAPACITY);
}

static double cache_get_single(void) {
    unsigned char buf[PAYLOAD];
    size_t len;
    double t = now_ns();
    for (unsigned i = 0; i < N_OPS; i++)
        must(orbit_cache_get(cache, keys + (i % KEYS) * KEY_LEN, KEY_LEN, buf, sizeof buf, &len, NULL), "get");
    return (now_ns() - t) / N_OPS;
}

static double cache_get_batch(void) {
    static unsigned char buf[KEYS * PAYLOAD];
    size_t vlens[KEYS], done;
    orbit_status found[KEYS];
    double t = now_ns();
    for (unsigned i = 0; i < N_OPS / KEYS; i++)
        must(orbit_cache_get_batch(cache, keys, klens, KEYS, buf, sizeof buf, vlens, found, &done), "get batch");
    double ns = (now_ns() - t) / N_OPS;
    if (found[KEYS - 1] != ORBIT_STATUS_OK || vlens[KEYS - 1] != PAYLOAD) {
        fprintf(stderr, "bench_c: a batch get missed\n");
        exit(1);
    }
    return ns;
}

static void report(const char *op, const char *form, int batch, double (*fn)(void), int reps) {
    fn(); /* warm-up */
    printf("{\"lang\": \"c\", \"op\": \"%s\", \"form\": \"%s\", \"batch\": %d, \"ns\": [", op, form, batch);
    for (int r = 0; r < reps; r++) printf("%s%.3f", r ? ", " : "", fn());
    printf("]}\n");
    fflush(stdout);
}

static double cursor_next_single(void) { return cursor_next(0); }
static double cursor_next_batch(void) { return cursor_next(1); }

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: bench_c <fleet> <reps>\n");
        return 2;
    }
    int reps = atoi(argv[2]);
    orbit_fleet *f;
    must(orbit_fleet_join(argv[1], NULL, &f), "join");
    orbit_ring_options ro;
    orbit_ring_options_init(&ro);
    ro.capacity = CAPACITY;
    ro.max_payload = PAYLOAD;
    must(orbit_ring_open(f, "bench-ring", &ro, &ring), "open ring");
    orbit_cache_options co;
    orbit_cache_options_init(&co);
    co.capacity = CAPACITY;
    co.max_key = KEY_LEN;
    co.max_value = PAYLOAD;
    must(orbit_cache_open(f, "bench-cache", &co, &cache), "open cache");
    memset(payload, 'x', sizeof payload);
    memset(packed, 'x', sizeof packed);
    for (int i = 0; i < BATCH; i++) lens[i] = PAYLOAD;
    for (int i = 0; i < KEYS; i++) {
        char k[KEY_LEN + 1];
        snprintf(k, sizeof k, "key-%012d", i);
        memcpy(keys + i * KEY_LEN, k, KEY_LEN);
        klens[i] = KEY_LEN;
        must(orbit_cache_set(cache, k, KEY_LEN, payload, PAYLOAD, 0), "set");
    }
    report("ring_write", "single", 1, ring_write_single, reps);
    report("ring_write", "batch", BATCH, ring_write_batch, reps);
    report("cursor_next", "single", 1, cursor_next_single, reps);
    report("cursor_next", "batch", BATCH, cursor_next_batch, reps);
    report("cache_get", "single", 1, cache_get_single, reps);
    report("cache_get", "batch", KEYS, cache_get_batch, reps);
    orbit_cache_free(cache);
    orbit_ring_free(ring);
    orbit_fleet_free(f);
    must(orbit_ring_unlink(argv[1], "bench-ring"), "unlink ring");
    must(orbit_cache_unlink(argv[1], "bench-cache"), "unlink cache");
    must(orbit_fleet_unlink(argv[1]), "unlink fleet");
    return 0;
}
