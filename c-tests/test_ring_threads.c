/* Several writer threads and several reader threads on one ring in one
 * process: every frame a reader gets is whole (checksummed), each writer's
 * frames arrive in order, and frames read + frames lost account for every
 * position. Run as a normal test, and under DRD (make c-test-drd) to look
 * for data races in the library's use of threads and in this program's own
 * synchronisation; drd.supp says which library reports are expected and why.
 */
#include "harness.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define WRITERS 3
#define READERS 2
#define MAX_PAYLOAD 256

static orbit_fleet *fleet;
static orbit_ring *ring;
static uint64_t frames_per_writer;

/* Shared between the threads of this program: under a mutex. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int writers_done;
static uint64_t total_read;

static uint64_t mix64(uint64_t z) {
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Payload: [writer u32][index u32][len - 16 bytes of pattern][checksum u64]. */
static size_t make_payload(unsigned char *p, uint32_t writer, uint32_t index) {
    size_t len = 16 + (size_t)(mix64(((uint64_t)writer << 32) | index) % (MAX_PAYLOAD - 16));
    uint64_t sum = 0;
    size_t i;
    memcpy(p, &writer, 4);
    memcpy(p + 4, &index, 4);
    for (i = 8; i < len - 8; i++) p[i] = (unsigned char)(writer * 31 + index + i);
    for (i = 0; i < len - 8; i++) sum = mix64(sum ^ p[i]);
    memcpy(p + len - 8, &sum, 8);
    return len;
}

static int payload_ok(const unsigned char *p, size_t len, uint32_t *writer, uint32_t *index) {
    uint64_t sum = 0, want;
    size_t i;
    if (len < 16) return 0;
    for (i = 0; i < len - 8; i++) sum = mix64(sum ^ p[i]);
    memcpy(&want, p + len - 8, 8);
    memcpy(writer, p, 4);
    memcpy(index, p + 4, 4);
    return sum == want;
}

static void *writer_main(void *arg) {
    uint32_t w = (uint32_t)(uintptr_t)arg, i;
    unsigned char p[MAX_PAYLOAD];
    for (i = 0; i < frames_per_writer; i++) {
        size_t len = make_payload(p, w, i);
        CHECK_OK(orbit_ring_write(ring, (uint8_t)w, i, p, len, NULL));
    }
    pthread_mutex_lock(&lock);
    writers_done++;
    pthread_mutex_unlock(&lock);
    return NULL;
}

static void *reader_main(void *arg) {
    orbit_cursor *c = arg;
    unsigned char buf[MAX_PAYLOAD];
    int64_t last[WRITERS];
    uint64_t frames = 0;
    int w, done;
    for (w = 0; w < WRITERS; w++) last[w] = -1;
    for (;;) {
        orbit_frame fr;
        orbit_status st = orbit_cursor_next(c, &fr, buf, sizeof buf);
        if (st == ORBIT_STATUS_OK) {
            uint32_t writer, index;
            CHECK_MSG(payload_ok(buf, fr.len, &writer, &index), "torn frame %" PRIu64, fr.id);
            CHECK(writer < WRITERS && fr.ver == index && fr.kind == writer);
            CHECK_MSG((int64_t)index > last[writer], "writer %u: %u after %" PRId64, writer, index,
                      last[writer]);
            last[writer] = index;
            frames++;
            continue;
        }
        CHECK_STATUS(st, ORBIT_STATUS_EMPTY);
        pthread_mutex_lock(&lock);
        done = writers_done == WRITERS;
        pthread_mutex_unlock(&lock);
        if (done) {
            /* Writers finished before this look: one more pass drains all. */
            if (orbit_cursor_next(c, &fr, buf, sizeof buf) == ORBIT_STATUS_EMPTY) break;
            orbit_cursor_free(c);
            CHECK(0 && "a frame appeared after the writers were done and the cursor was empty");
        }
        st = orbit_cursor_wait(c, 2000000ULL);
        CHECK(st == ORBIT_STATUS_OK || st == ORBIT_STATUS_TIMEOUT);
    }
    /* Every position is a frame read or a frame lost. */
    CHECK_EQ(frames + orbit_cursor_lost(c), (uint64_t)WRITERS * frames_per_writer);
    orbit_cursor_free(c);
    pthread_mutex_lock(&lock);
    total_read += frames;
    pthread_mutex_unlock(&lock);
    return NULL;
}

static void test_writers_and_readers_share_one_ring(void) {
    char name[49];
    pthread_t wt[WRITERS], rt[READERS];
    orbit_cursor *cursors[READERS];
    orbit_ring_options o = t_ring_opts(64, MAX_PAYLOAD, 5);
    int i;
    frames_per_writer = t_scale(20000, 2000);
    t_fleet_name(name, sizeof name, "thr");
    CHECK_OK(orbit_fleet_join(name, NULL, &fleet));
    CHECK_OK(orbit_ring_open(fleet, "r", &o, &ring));
    /* Cursors opened before any write: every reader starts at position 0. */
    for (i = 0; i < READERS; i++) {
        CHECK_OK(orbit_cursor_open(ring, ORBIT_FROM_OLDEST, &cursors[i]));
        CHECK(pthread_create(&rt[i], NULL, reader_main, cursors[i]) == 0);
    }
    for (i = 0; i < WRITERS; i++)
        CHECK(pthread_create(&wt[i], NULL, writer_main, (void *)(uintptr_t)i) == 0);
    for (i = 0; i < WRITERS; i++) CHECK(pthread_join(wt[i], NULL) == 0);
    for (i = 0; i < READERS; i++) CHECK(pthread_join(rt[i], NULL) == 0);
    printf("  %d writers x %" PRIu64 " frames, %d readers read %" PRIu64 " frames in all\n",
           WRITERS, frames_per_writer, READERS, total_read);
    CHECK(total_read > 0);
    orbit_ring_free(ring);
    CHECK_OK(orbit_ring_unlink(name, "r"));
    orbit_fleet_free(fleet);
    CHECK_OK(orbit_fleet_unlink(name));
}

int main(int argc, char **argv) {
    t_init(argc, argv, "ring_threads");
    RUN(test_writers_and_readers_share_one_ring);
    return t_done();
}
