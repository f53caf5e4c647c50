/* Rings shared by real processes: this program re-executes itself as writer
 * and reader children (fork + exec), each joining the fleet on its own.
 *
 * Covered: a cursor in another process reads every frame a writer process
 * writes (ids, kinds, versions, payloads verified); two writer processes at
 * once; exact loss counts across processes; orbit_cursor_wait woken by a write
 * from another process, and timing out when none comes; a forked child must
 * join again; membership of other processes, alive and dead. */
#include "harness.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define ID_NODE(id) ((unsigned)(((id) >> 40) & 0xffffu))
#define ID_KIND(id) ((unsigned)((id) >> 56))
#define ID_COUNTER(id) ((uint64_t)(id) & 0xffffffffffULL)
#define RING_KIND 42
#define MAX_PAYLOAD 64
#define MAX_WRITERS 4

/* Frame i of writer w: kind i & 0xff, ver i, 8 + i % 57 bytes:
 * byte 0 = w, then a pattern of (w, i, j). */
static uint32_t frame_len(uint64_t i) { return (uint32_t)(8 + i % 57); }

static void fill(unsigned char *p, unsigned w, uint64_t i) {
    uint32_t j, len = frame_len(i);
    p[0] = (unsigned char)w;
    for (j = 1; j < len; j++)
        p[j] = (unsigned char)(i * 31u + j * 7u + w);
}

static uint64_t parse_u64(const char *s) { return strtoull(s, NULL, 10); }
static char *fmt_u64(char *buf, uint64_t v) {
    sprintf(buf, "%" PRIu64, v);
    return buf;
}

static orbit_fleet *join_labelled(const char *fleet, const char *label) {
    orbit_fleet *f = NULL;
    orbit_fleet_options o;
    orbit_fleet_options_init(&o);
    o.label = label;
    CHECK_OK(orbit_fleet_join(fleet, &o, &f));
    return f;
}

static orbit_ring *open_ring(orbit_fleet *f, const char *name, uint64_t capacity) {
    orbit_ring *r = NULL;
    orbit_ring_options o = t_ring_opts(capacity, MAX_PAYLOAD, RING_KIND);
    CHECK_OK(orbit_ring_open(f, name, &o, &r));
    return r;
}

/* Verifies a stream of frames from `writers` writers of `per_writer` frames
 * each, read by cursor `c`: no loss, consecutive positions, per-writer order,
 * contents. Waits (orbit_cursor_wait) whenever the cursor is at the head. */
static void verify_stream(orbit_cursor *c, unsigned writers, uint64_t per_writer) {
    unsigned nodes[MAX_WRITERS] = {0};
    uint64_t next_ver[MAX_WRITERS] = {0};
    uint64_t total = (uint64_t)writers * per_writer, got = 0, waits = 0;
    unsigned char buf[MAX_PAYLOAD], want[MAX_PAYLOAD];
    orbit_frame fr;
    unsigned w;

    while (got < total) {
        orbit_status s = orbit_cursor_next(c, &fr, buf, sizeof buf);
        if (s == ORBIT_STATUS_EMPTY) {
            waits++;
            CHECK_STATUS(orbit_cursor_wait(c, 10000000000u), ORBIT_STATUS_OK);
            continue;
        }
        CHECK_OK(s);
        CHECK_EQ(fr.lost, 0);
        CHECK_EQ(ID_COUNTER(fr.id), got); /* positions are consecutive */
        CHECK_EQ(ID_KIND(fr.id), RING_KIND);
        CHECK(fr.len >= 1);
        w = buf[0];
        CHECK_MSG(w < writers, "frame %" PRIu64 " names writer %u", got, w);
        if (nodes[w] == 0)
            nodes[w] = ID_NODE(fr.id);
        CHECK_EQ(ID_NODE(fr.id), nodes[w]);
        CHECK_EQ(fr.ver, next_ver[w]);
        CHECK_EQ(fr.kind, (uint8_t)fr.ver);
        CHECK_EQ(fr.len, frame_len(fr.ver));
        fill(want, w, fr.ver);
        CHECK_MSG(memcmp(buf, want, fr.len) == 0, "payload of frame %" PRIu64 " differs", got);
        next_ver[w]++;
        got++;
    }
    for (w = 0; w < writers; w++) {
        CHECK_EQ(next_ver[w], per_writer);
        CHECK(nodes[w] != 0);
    }
    for (w = 1; w < writers; w++)
        CHECK(nodes[w] != nodes[0]);
    CHECK_STATUS(orbit_cursor_next(c, &fr, buf, sizeof buf), ORBIT_STATUS_EMPTY);
    CHECK_EQ(orbit_cursor_lost(c), 0);
    printf("    %" PRIu64 " frames from %u writer(s), 0 lost, %" PRIu64 " waits\n", got, writers,
           waits);
}

/* --- child roles -------------------------------------------------------- */

/* writer <fleet> <ring> <capacity> <index> <count> <go_fd> <ready_fd>: joins,
 * reports its node id on ready_fd, waits for a byte on go_fd, then writes
 * `count` frames in bursts. */
static int child_writer(char **a) {
    orbit_fleet *f = join_labelled(a[0], "writer");
    orbit_ring *r = open_ring(f, a[1], parse_u64(a[2]));
    unsigned w = (unsigned)parse_u64(a[3]);
    uint64_t n = parse_u64(a[4]), i, id;
    int go = (int)parse_u64(a[5]);
    unsigned char p[MAX_PAYLOAD];
    char byte;
    t_send_u64((int)parse_u64(a[6]), orbit_fleet_node_id(f));
    CHECK(read(go, &byte, 1) == 1);
    for (i = 0; i < n; i++) {
        fill(p, w, i);
        CHECK_OK(orbit_ring_write(r, (uint8_t)i, i, p, frame_len(i), &id));
        CHECK_EQ(ID_NODE(id), orbit_fleet_node_id(f));
        if (i % 500 == 499)
            t_sleep_ms(1); /* let the reader catch up and sleep in wait */
    }
    orbit_ring_free(r);
    orbit_fleet_free(f);
    return 0;
}

/* reader <fleet> <ring> <capacity> <writers> <per_writer> <ready_fd>: opens a
 * cursor at the oldest frame, says so on ready_fd (0), verifies the stream. */
static int child_reader(char **a) {
    orbit_fleet *f = join_labelled(a[0], "reader");
    orbit_ring *r = open_ring(f, a[1], parse_u64(a[2]));
    orbit_cursor *c = NULL;
    CHECK_OK(orbit_cursor_open(r, ORBIT_FROM_OLDEST, &c));
    t_send_u64((int)parse_u64(a[5]), 0);
    verify_stream(c, (unsigned)parse_u64(a[3]), parse_u64(a[4]));
    orbit_cursor_free(c);
    orbit_ring_free(r);
    orbit_fleet_free(f);
    return 0;
}

/* late_writer <fleet> <ring> <capacity> <rounds> <delay_ms> <fd>: each round,
 * sleeps, then writes one frame and reports when (CLOCK_MONOTONIC ns). */
static int child_late_writer(char **a) {
    orbit_fleet *f = join_labelled(a[0], "late-writer");
    orbit_ring *r = open_ring(f, a[1], parse_u64(a[2]));
    uint64_t rounds = parse_u64(a[3]), i, t;
    unsigned delay = (unsigned)parse_u64(a[4]);
    int fd = (int)parse_u64(a[5]);
    for (i = 0; i < rounds; i++) {
        t_sleep_ms(delay);
        t = t_now_ns();
        CHECK_OK(orbit_ring_write(r, 0, i, &t, sizeof t, NULL));
        t_send_u64(fd, t);
    }
    orbit_ring_free(r);
    orbit_fleet_free(f);
    return 0;
}

/* member <fleet> <fd>: joins as "member-child", reports its node id, then
 * stays until killed (at most 60 s). */
static int child_member(char **a) {
    orbit_fleet *f = join_labelled(a[0], "member-child");
    t_send_u64((int)parse_u64(a[1]), orbit_fleet_node_id(f));
    t_sleep_ms(60000);
    orbit_fleet_free(f);
    return 1;
}

/* --- tests -------------------------------------------------------------- */

static uint64_t pow2_at_least(uint64_t n) {
    uint64_t c = 1;
    while (c < n)
        c <<= 1;
    return c;
}

/* Writer processes and a reader process, all members at once (so every
 * writer has its own node id), nothing lost. */
static void run_writers_and_reader(const char *tag, unsigned writers, uint64_t per_writer) {
    char fleet[49], cap_s[24], n_s[24], w_s[24], idx_s[24], go_s[24], ready_s[24];
    uint64_t cap = pow2_at_least((uint64_t)writers * per_writer);
    orbit_fleet *f;
    orbit_ring *r;
    orbit_ring_info info;
    int ready[2], go[2];
    pid_t reader, writer[MAX_WRITERS];
    uint64_t node[MAX_WRITERS + 1];
    unsigned w, i, readers = 0;

    t_fleet_name(fleet, sizeof fleet, tag);
    f = join_labelled(fleet, "parent");
    r = open_ring(f, "stream", cap);
    t_pipe(ready);
    t_pipe(go);
    fmt_u64(cap_s, cap);
    fmt_u64(n_s, per_writer);
    fmt_u64(w_s, writers);
    fmt_u64(go_s, (uint64_t)go[0]);
    fmt_u64(ready_s, (uint64_t)ready[1]);
    {
        const char *args[] = {fleet, "stream", cap_s, w_s, n_s, ready_s, NULL};
        reader = t_spawn("reader", args);
    }
    for (w = 0; w < writers; w++) {
        const char *args[] = {fleet, "stream", cap_s, idx_s, n_s, go_s, ready_s, NULL};
        fmt_u64(idx_s, w);
        writer[w] = t_spawn("writer", args);
    }
    /* the reader's cursor is open and every writer has joined */
    for (w = 0; w <= writers; w++) {
        node[w] = t_recv_u64(ready[0], 60000);
        readers += node[w] == 0;
        for (i = 0; i < w; i++)
            CHECK(node[w] == 0 || node[i] != node[w]);
    }
    CHECK_EQ(readers, 1);
    CHECK(write(go[1], "gogogogo", writers) == (ssize_t)writers);
    for (w = 0; w < writers; w++)
        CHECK_MSG(t_wait(writer[w]) == 0, "writer %u failed", w);
    CHECK_MSG(t_wait(reader) == 0, "reader failed");

    /* the parent sees the same stream */
    CHECK_OK(orbit_ring_stat(r, &info));
    CHECK_EQ(info.head, (uint64_t)writers * per_writer);
    {
        orbit_cursor *c = NULL;
        CHECK_OK(orbit_cursor_open(r, ORBIT_FROM_OLDEST, &c));
        verify_stream(c, writers, per_writer);
        orbit_cursor_free(c);
    }
    close(ready[0]);
    close(ready[1]);
    close(go[0]);
    close(go[1]);
    orbit_ring_free(r);
    CHECK_OK(orbit_ring_unlink(fleet, "stream"));
    orbit_fleet_free(f);
    CHECK_OK(orbit_fleet_unlink(fleet));
}

static void test_reader_process_gets_every_frame(void) {
    run_writers_and_reader("one-writer", 1, t_scale(50000, 10000));
}

static void test_two_writer_processes(void) {
    run_writers_and_reader("two-writers", 2, t_scale(25000, 5000));
}

/* Capacity 16, a writer process writes 1000 frames while our cursor sits at
 * position 0: the first frame we get says 984 lost, exactly. */
static void test_exact_loss_across_processes(void) {
    char fleet[49], go_s[24], ready_s[24];
    orbit_fleet *f;
    orbit_ring *r;
    orbit_cursor *c = NULL;
    unsigned char buf[MAX_PAYLOAD], want[MAX_PAYLOAD];
    orbit_frame fr, first;
    uint64_t n = 1;
    int go[2], ready[2];
    pid_t pid;

    t_fleet_name(fleet, sizeof fleet, "loss");
    f = join_labelled(fleet, "parent");
    r = open_ring(f, "lossy", 16);
    CHECK_OK(orbit_cursor_open(r, ORBIT_FROM_OLDEST, &c));
    t_pipe(go);
    t_pipe(ready);
    fmt_u64(go_s, (uint64_t)go[0]);
    fmt_u64(ready_s, (uint64_t)ready[1]);
    {
        const char *args[] = {fleet, "lossy", "16", "0", "1000", go_s, ready_s, NULL};
        pid = t_spawn("writer", args);
    }
    CHECK(t_recv_u64(ready[0], 60000) != orbit_fleet_node_id(f));
    CHECK(write(go[1], "g", 1) == 1);
    CHECK_EQ(t_wait(pid), 0);

    CHECK_OK(orbit_cursor_next(c, &first, buf, sizeof buf));
    CHECK_EQ(first.lost, 984);
    CHECK_EQ(first.ver, 984);
    CHECK_EQ(ID_COUNTER(first.id), 984);
    CHECK(ID_NODE(first.id) != orbit_fleet_node_id(f));
    fill(want, 0, 984);
    CHECK(memcmp(buf, want, first.len) == 0);
    while (orbit_cursor_next(c, &fr, buf, sizeof buf) == ORBIT_STATUS_OK) {
        CHECK_EQ(fr.lost, 0);
        CHECK_EQ(fr.ver, 984 + n);
        n++;
    }
    CHECK_EQ(n, 16);
    CHECK_EQ(orbit_cursor_lost(c), 984);

    /* by id: the writer's first frame is gone, its last 16 are there */
    CHECK_STATUS(orbit_ring_read(r, first.id - 984, &fr, buf, sizeof buf), ORBIT_STATUS_NOT_FOUND);
    CHECK_STATUS(orbit_ring_read(r, first.id - 1, &fr, buf, sizeof buf), ORBIT_STATUS_NOT_FOUND);
    CHECK_OK(orbit_ring_read(r, first.id, &fr, buf, sizeof buf));
    CHECK_OK(orbit_ring_read(r, first.id + 15, &fr, buf, sizeof buf));
    CHECK_EQ(fr.ver, 999);

    close(go[0]);
    close(go[1]);
    close(ready[0]);
    close(ready[1]);
    orbit_cursor_free(c);
    orbit_ring_free(r);
    CHECK_OK(orbit_ring_unlink(fleet, "lossy"));
    orbit_fleet_free(f);
    CHECK_OK(orbit_fleet_unlink(fleet));
}

static void test_wait_wakes_on_write_from_other_process(void) {
    const uint64_t timeout_ns = 10000000000u; /* 10 s */
    const uint64_t max_latency_ns = t_scale(1000000000u, 3000000000u);
    const unsigned rounds = 3;
    char fleet[49], fd_s[24];
    orbit_fleet *f;
    orbit_ring *r;
    orbit_cursor *c = NULL;
    unsigned char buf[MAX_PAYLOAD];
    orbit_frame fr;
    int p[2];
    pid_t pid;
    unsigned i;

    t_fleet_name(fleet, sizeof fleet, "wake");
    f = join_labelled(fleet, "parent");
    r = open_ring(f, "w", 8);
    CHECK_OK(orbit_cursor_open(r, ORBIT_FROM_HEAD, &c));
    t_pipe(p);
    fmt_u64(fd_s, (uint64_t)p[1]);
    {
        const char *args[] = {fleet, "w", "8", "3", "300", fd_s, NULL};
        pid = t_spawn("late_writer", args);
    }
    for (i = 0; i < rounds; i++) {
        uint64_t t0 = t_now_ns(), t1, written;
        CHECK_STATUS(orbit_cursor_next(c, &fr, buf, sizeof buf), ORBIT_STATUS_EMPTY);
        CHECK_OK(orbit_cursor_wait(c, timeout_ns));
        t1 = t_now_ns();
        CHECK_OK(orbit_cursor_next(c, &fr, buf, sizeof buf));
        CHECK_EQ(fr.ver, i);
        CHECK_EQ(fr.len, 8);
        memcpy(&written, buf, 8);
        CHECK_EQ(t_recv_u64(p[0], 30000), written);
        printf("    round %u: woke %.3f ms after the other process wrote (waited %.1f ms)\n", i,
               (double)(t1 - written) / 1e6, (double)(t1 - t0) / 1e6);
        CHECK_MSG(t1 >= written, "woke before the write");
        CHECK_MSG(t1 - written < max_latency_ns, "woke %" PRIu64 " ns after the write",
                  t1 - written);
        CHECK_MSG(t1 - t0 < timeout_ns / 2, "wait took %" PRIu64 " ns", t1 - t0);
    }
    CHECK_EQ(t_wait(pid), 0);
    close(p[0]);
    close(p[1]);
    orbit_cursor_free(c);
    orbit_ring_free(r);
    CHECK_OK(orbit_ring_unlink(fleet, "w"));
    orbit_fleet_free(f);
    CHECK_OK(orbit_fleet_unlink(fleet));
}

static void test_wait_times_out_without_writes(void) {
    const uint64_t timeout_ns = 300000000u; /* 300 ms */
    char fleet[49];
    orbit_fleet *f;
    orbit_ring *r;
    orbit_cursor *c = NULL;
    uint64_t t0, elapsed;

    t_fleet_name(fleet, sizeof fleet, "timeout");
    f = join_labelled(fleet, "parent");
    r = open_ring(f, "t", 8);
    CHECK_OK(orbit_cursor_open(r, ORBIT_FROM_HEAD, &c));
    t0 = t_now_ns();
    CHECK_STATUS(orbit_cursor_wait(c, timeout_ns), ORBIT_STATUS_TIMEOUT);
    elapsed = t_now_ns() - t0;
    printf("    timed out after %.1f ms (asked 300 ms)\n", (double)elapsed / 1e6);
    CHECK_MSG(elapsed >= timeout_ns - 1000000u, "returned after only %" PRIu64 " ns", elapsed);
    CHECK_MSG(elapsed < timeout_ns + t_scale(1000000000u, 3000000000u),
              "returned after %" PRIu64 " ns", elapsed);
    /* 0 = check without blocking */
    t0 = t_now_ns();
    CHECK_STATUS(orbit_cursor_wait(c, 0), ORBIT_STATUS_TIMEOUT);
    CHECK(t_now_ns() - t0 < 100000000u);
    orbit_cursor_free(c);
    orbit_ring_free(r);
    CHECK_OK(orbit_ring_unlink(fleet, "t"));
    orbit_fleet_free(f);
    CHECK_OK(orbit_fleet_unlink(fleet));
}

/* A single-writer ring: the writer handle inherited through fork() may not
 * write, and freeing that copy does not give the parent's role up; a child
 * that joins again still finds the role held (CONFLICT) while the parent
 * lives, then takes it once the parent frees its writer. */
static void test_single_writer_across_fork(void) {
    char fleet[49];
    orbit_fleet *f;
    orbit_ring *r = NULL;
    orbit_ring_writer *w = NULL;
    orbit_ring_options o;
    orbit_cursor *c = NULL;
    orbit_frame fr;
    unsigned char buf[MAX_PAYLOAD];
    pid_t pid;

    t_fleet_name(fleet, sizeof fleet, "swfork");
    f = join_labelled(fleet, "parent");
    o = t_ring_opts(8, MAX_PAYLOAD, RING_KIND);
    o.flags = ORBIT_RING_SINGLE_WRITER;
    CHECK_OK(orbit_ring_open(f, "s", &o, &r));
    CHECK_OK(orbit_cursor_open(r, ORBIT_FROM_OLDEST, &c));
    CHECK_OK(orbit_ring_writer_open(r, &w));
    CHECK_OK(orbit_ring_writer_write(w, 0, 1, "parent", 6, NULL));
    pid = t_fork();
    if (pid == 0) {
        orbit_fleet *mine;
        orbit_ring *mine_r = NULL;
        orbit_ring_writer *mine_w = NULL;
        CHECK_STATUS(orbit_ring_writer_write(w, 0, 2, "x", 1, NULL),
                     ORBIT_STATUS_INVALID_ARGUMENT);
        /* freeing the inherited copy must not give the parent's role up */
        orbit_ring_writer_free(w);
        mine = join_labelled(fleet, "forked");
        CHECK_OK(orbit_ring_open(mine, "s", NULL, &mine_r));
        CHECK_STATUS(orbit_ring_writer_open(mine_r, &mine_w), ORBIT_STATUS_CONFLICT);
        CHECK(mine_w == NULL);
        CHECK_STATUS(orbit_ring_write(mine_r, 0, 3, "x", 1, NULL),
                     ORBIT_STATUS_INVALID_ARGUMENT);
        orbit_ring_free(mine_r);
        orbit_fleet_free(mine);
        orbit_cursor_free(c);
        orbit_ring_free(r);
        orbit_fleet_free(f);
        t_child_exit(0);
    }
    CHECK_EQ(t_wait(pid), 0);
    CHECK_OK(orbit_ring_writer_write(w, 0, 4, "still", 5, NULL));
    orbit_ring_writer_free(w);
    pid = t_fork();
    if (pid == 0) {
        orbit_fleet *mine = join_labelled(fleet, "next");
        orbit_ring *mine_r = NULL;
        orbit_ring_writer *mine_w = NULL;
        CHECK_OK(orbit_ring_open(mine, "s", NULL, &mine_r));
        CHECK_OK(orbit_ring_writer_open(mine_r, &mine_w));
        CHECK_OK(orbit_ring_writer_write(mine_w, 0, 5, "child", 5, NULL));
        orbit_ring_writer_free(mine_w);
        orbit_ring_free(mine_r);
        orbit_fleet_free(mine);
        t_child_exit(0);
    }
    CHECK_EQ(t_wait(pid), 0);
    CHECK_OK(orbit_cursor_next(c, &fr, buf, sizeof buf));
    CHECK_EQ(fr.ver, 1);
    CHECK_OK(orbit_cursor_next(c, &fr, buf, sizeof buf));
    CHECK_EQ(fr.ver, 4);
    CHECK_OK(orbit_cursor_next(c, &fr, buf, sizeof buf));
    CHECK_EQ(fr.ver, 5);
    CHECK(memcmp(buf, "child", 5) == 0);
    CHECK_STATUS(orbit_cursor_next(c, &fr, buf, sizeof buf), ORBIT_STATUS_EMPTY);
    orbit_cursor_free(c);
    orbit_ring_free(r);
    CHECK_OK(orbit_ring_unlink(fleet, "s"));
    orbit_fleet_free(f);
    CHECK_OK(orbit_fleet_unlink(fleet));
}

/* A handle inherited through fork() may not write: the child joins again. */
static void test_forked_child_must_join_again(void) {
    char fleet[49];
    orbit_fleet *f;
    orbit_ring *r;
    orbit_member m[4];
    size_t count = 0;
    unsigned char buf[MAX_PAYLOAD];
    orbit_frame fr;
    orbit_cursor *c = NULL;
    uint16_t parent_node;
    pid_t pid;

    t_fleet_name(fleet, sizeof fleet, "fork");
    f = join_labelled(fleet, "parent");
    parent_node = orbit_fleet_node_id(f);
    r = open_ring(f, "r", 8);
    CHECK_OK(orbit_cursor_open(r, ORBIT_FROM_OLDEST, &c));
    pid = t_fork();
    if (pid == 0) {
        orbit_fleet *mine;
        orbit_ring *mine_r;
        CHECK_STATUS(orbit_ring_write(r, 0, 1, "x", 1, NULL), ORBIT_STATUS_INVALID_ARGUMENT);
        CHECK_STATUS(orbit_fleet_heartbeat(f), ORBIT_STATUS_INVALID_ARGUMENT);
        mine = join_labelled(fleet, "forked");
        CHECK(orbit_fleet_node_id(mine) != parent_node);
        mine_r = open_ring(mine, "r", 8);
        CHECK_OK(orbit_ring_write(mine_r, 0, 42, "child", 5, NULL));
        orbit_ring_free(mine_r);
        orbit_fleet_free(mine);
        /* freeing the inherited copies must not make the parent leave */
        orbit_cursor_free(c);
        orbit_ring_free(r);
        orbit_fleet_free(f);
        t_child_exit(0);
    }
    CHECK_EQ(t_wait(pid), 0);
    CHECK_OK(orbit_cursor_next(c, &fr, buf, sizeof buf));
    CHECK_EQ(fr.ver, 42);
    CHECK(ID_NODE(fr.id) != parent_node);
    CHECK(memcmp(buf, "child", 5) == 0);
    CHECK_STATUS(orbit_cursor_next(c, &fr, buf, sizeof buf), ORBIT_STATUS_EMPTY);
    /* the parent is still a member and still writes */
    CHECK_OK(orbit_fleet_heartbeat(f));
    CHECK_OK(orbit_ring_write(r, 0, 43, "parent", 6, NULL));
    CHECK_OK(orbit_fleet_members(f, m, 4, &count));
    CHECK_EQ(count, 1);
    CHECK_EQ(m[0].node_id, parent_node);
    CHECK_EQ(m[0].pid, (uint32_t)getpid());
    orbit_cursor_free(c);
    orbit_ring_free(r);
    CHECK_OK(orbit_ring_unlink(fleet, "r"));
    orbit_fleet_free(f);
    CHECK_OK(orbit_fleet_unlink(fleet));
}

static void test_members_of_other_processes(void) {
    char fleet[49], fd_s[24];
    orbit_fleet *f;
    orbit_member m[4];
    size_t count = 0, i, found;
    uint64_t child_node;
    int p[2], st;
    pid_t pid;

    t_fleet_name(fleet, sizeof fleet, "members");
    f = join_labelled(fleet, "parent");
    t_pipe(p);
    fmt_u64(fd_s, (uint64_t)p[1]);
    {
        const char *args[] = {fleet, fd_s, NULL};
        pid = t_spawn("member", args);
    }
    child_node = t_recv_u64(p[0], 60000);
    CHECK(child_node != 0 && child_node != orbit_fleet_node_id(f));
    CHECK_OK(orbit_fleet_members(f, m, 4, &count));
    CHECK_EQ(count, 2);
    for (i = 0, found = 0; i < count; i++) {
        if (m[i].node_id != child_node)
            continue;
        found++;
        CHECK_EQ(m[i].pid, (uint32_t)pid);
        CHECK_EQ(m[i].state, ORBIT_MEMBER_STATE_ALIVE);
        CHECK(strcmp(m[i].label, "member-child") == 0);
    }
    CHECK_EQ(found, 1);

    /* killed without leaving: reported dead once the process is gone */
    CHECK(kill(pid, SIGKILL) == 0);
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFSIGNALED(st));
    CHECK_OK(orbit_fleet_members(f, m, 4, &count));
    CHECK_EQ(count, 2);
    for (i = 0, found = 0; i < count; i++) {
        if (m[i].node_id == child_node) {
            found++;
            CHECK_EQ(m[i].state, ORBIT_MEMBER_STATE_DEAD);
        } else {
            CHECK_EQ(m[i].state, ORBIT_MEMBER_STATE_ALIVE);
        }
    }
    CHECK_EQ(found, 1);
    close(p[0]);
    close(p[1]);
    orbit_fleet_free(f);
    CHECK_OK(orbit_fleet_unlink(fleet));
}

int main(int argc, char **argv) {
    const char *role;
    t_init(argc, argv, "multiprocess");
    role = t_child_role();
    if (role != NULL) {
        char **a = t_child_argv();
        if (strcmp(role, "writer") == 0 && t_child_argc() == 7)
            return child_writer(a);
        if (strcmp(role, "reader") == 0 && t_child_argc() == 6)
            return child_reader(a);
        if (strcmp(role, "late_writer") == 0 && t_child_argc() == 6)
            return child_late_writer(a);
        if (strcmp(role, "member") == 0 && t_child_argc() == 2)
            return child_member(a);
        fprintf(stderr, "unknown child role %s\n", role);
        return 2;
    }
    RUN(test_reader_process_gets_every_frame);
    RUN(test_two_writer_processes);
    RUN(test_exact_loss_across_processes);
    RUN(test_wait_wakes_on_write_from_other_process);
    RUN(test_wait_times_out_without_writes);
    RUN(test_forked_child_must_join_again);
    RUN(test_single_writer_across_fork);
    RUN(test_members_of_other_processes);
    return t_done();
}
