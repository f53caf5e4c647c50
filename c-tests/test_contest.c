/* Leases through the C ABI: claim, CONFLICT, holder, fencing tokens that grow
 * with every grant, renew, release (twice), free releasing, expiry and
 * LEASE_LOST, a full table, bad input, observers, the audit ring, mutual
 * exclusion across forked processes, and a SIGKILLed holder replaced at once. */
#include "harness.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static orbit_fleet *join(char *fleet, const char *tag) {
    orbit_fleet *f = NULL;
    t_fleet_name(fleet, 49, tag);
    CHECK_OK(orbit_fleet_join(fleet, NULL, &f));
    CHECK(f != NULL);
    return f;
}

static void finish(orbit_fleet *f, const char *fleet) {
    orbit_fleet_free(f);
    CHECK_OK(orbit_contest_unlink(fleet));
    CHECK_OK(orbit_fleet_unlink(fleet));
}

static orbit_lease *claim(orbit_fleet *f, const char *subject, uint64_t ttl_ms) {
    orbit_lease *l = NULL;
    CHECK_OK(orbit_contest_claim(f, subject, ttl_ms, &l));
    CHECK(l != NULL);
    return l;
}

static void test_options_defaults(void) {
    orbit_contest_options o;
    size_t i;
    memset(&o, 0xAB, sizeof o);
    orbit_contest_options_init(&o);
    CHECK_EQ(o.capacity, 256);
    CHECK_EQ(o.mode, 0);
    for (i = 0; i < sizeof o.reserved / sizeof o.reserved[0]; i++)
        CHECK_EQ(o.reserved[i], 0);
    orbit_contest_options_init(NULL);
}

static void test_claim_holder_release(void) {
    char fleet[49];
    orbit_fleet *f = join(fleet, "basic");
    orbit_lease *a, *b = (orbit_lease *)1;
    orbit_holder h;
    uint64_t last;
    unsigned i;

    CHECK_STATUS(orbit_contest_holder(f, "job", &h), ORBIT_STATUS_NOT_FOUND);
    CHECK_EQ(h.token, 0);
    a = claim(f, "job", 30000);
    CHECK_EQ(orbit_lease_token(a), 1);
    CHECK_STATUS(orbit_contest_claim(f, "job", 30000, &b), ORBIT_STATUS_CONFLICT);
    CHECK(b == NULL);
    CHECK_OK(orbit_contest_holder(f, "job", &h));
    CHECK_EQ(h.node_id, orbit_fleet_node_id(f));
    CHECK_EQ(h.pid, getpid());
    CHECK_EQ(h.token, 1);
    CHECK(h.expires_at_ms >= h.claimed_at_ms + 29000);
    CHECK_OK(orbit_lease_renew(a, 60000));
    CHECK_OK(orbit_contest_holder(f, "job", &h));
    CHECK(h.expires_at_ms >= h.claimed_at_ms + 59000);
    CHECK_OK(orbit_lease_release(a));
    CHECK_OK(orbit_lease_release(a)); /* harmless */
    CHECK_STATUS(orbit_lease_renew(a, 1000), ORBIT_STATUS_LEASE_LOST);
    CHECK_STATUS(orbit_contest_holder(f, "job", &h), ORBIT_STATUS_NOT_FOUND);
    orbit_lease_free(a);

    /* tokens grow with every grant; free releases a held lease */
    last = 1;
    for (i = 0; i < 5; i++) {
        orbit_lease *l = claim(f, "job", 30000);
        CHECK(orbit_lease_token(l) > last);
        last = orbit_lease_token(l);
        orbit_lease_free(l);
    }
    b = claim(f, "other", 30000);
    CHECK_EQ(orbit_lease_token(b), 1); /* per subject */
    orbit_lease_free(b);
    orbit_lease_free(NULL);
    CHECK_EQ(orbit_lease_token(NULL), 0);
    finish(f, fleet);
}

static void test_expiry_and_lease_lost(void) {
    char fleet[49];
    orbit_fleet *f = join(fleet, "expiry");
    orbit_fleet *g = NULL;
    orbit_lease *a, *b;
    orbit_holder h;

    CHECK_OK(orbit_fleet_join(fleet, NULL, &g)); /* a second member (another node) */
    a = claim(f, "s", 50);
    t_sleep_ms(80);
    /* expired, nobody took it: renewing keeps the token */
    CHECK_OK(orbit_lease_renew(a, 30000));
    CHECK_OK(orbit_contest_holder(g, "s", &h));
    CHECK_EQ(h.token, orbit_lease_token(a));
    CHECK_OK(orbit_lease_renew(a, 1));
    t_sleep_ms(20);
    CHECK_STATUS(orbit_contest_holder(g, "s", &h), ORBIT_STATUS_NOT_FOUND);
    b = claim(g, "s", 30000);
    CHECK(orbit_lease_token(b) > orbit_lease_token(a));
    CHECK_STATUS(orbit_lease_renew(a, 1000), ORBIT_STATUS_LEASE_LOST);
    CHECK_STATUS(orbit_lease_release(a), ORBIT_STATUS_LEASE_LOST);
    orbit_lease_free(a); /* releases nothing */
    CHECK_OK(orbit_contest_holder(f, "s", &h));
    CHECK_EQ(h.node_id, orbit_fleet_node_id(g));
    orbit_lease_free(b);
    orbit_fleet_free(g);
    finish(f, fleet);
}

static void test_full_table_and_options(void) {
    char fleet[49];
    orbit_fleet *f = join(fleet, "full");
    orbit_contest_options o;
    orbit_lease *a, *b, *c = (orbit_lease *)1;

    orbit_contest_options_init(&o);
    o.capacity = 2;
    CHECK_OK(orbit_contest_open(f, &o));
    CHECK_OK(orbit_contest_open(f, NULL));
    o.capacity = 3;
    CHECK_STATUS(orbit_contest_open(f, &o), ORBIT_STATUS_INCOMPATIBLE);
    a = claim(f, "a", 30000);
    b = claim(f, "b", 30000);
    CHECK_STATUS(orbit_contest_claim(f, "c", 30000, &c), ORBIT_STATUS_FULL);
    CHECK(c == NULL);
    orbit_lease_free(a); /* "a" is free now: "c" evicts it */
    c = claim(f, "c", 30000);
    CHECK(orbit_lease_token(c) > 1);
    orbit_lease_free(b);
    orbit_lease_free(c);
    /* another handle on the same fleet attaches to the 2-subject table */
    {
        orbit_fleet *g = NULL;
        CHECK_OK(orbit_fleet_join(fleet, NULL, &g));
        o.capacity = 256;
        CHECK_STATUS(orbit_contest_open(g, &o), ORBIT_STATUS_INCOMPATIBLE);
        orbit_fleet_free(g);
    }
    finish(f, fleet);
}

static void test_bad_input(void) {
    char fleet[49], big[200];
    orbit_fleet *f = join(fleet, "bad");
    orbit_lease *l = (orbit_lease *)1;
    orbit_holder h;
    orbit_contest_options o;

    memset(big, 'x', 129);
    big[129] = '\0';
    CHECK_STATUS(orbit_contest_claim(f, "", 1000, &l), ORBIT_STATUS_INVALID_ARGUMENT);
    CHECK(l == NULL);
    CHECK_STATUS(orbit_contest_claim(f, big, 1000, &l), ORBIT_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(orbit_contest_claim(f, "\xc3\x28", 1000, &l), ORBIT_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(orbit_contest_claim(f, "s", 0, &l), ORBIT_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(orbit_contest_claim(f, NULL, 1000, &l), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_contest_claim(NULL, "s", 1000, &l), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_contest_claim(f, "s", 1000, NULL), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_contest_holder(f, big, &h), ORBIT_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(orbit_contest_holder(f, "s", NULL), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_lease_renew(NULL, 1000), ORBIT_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(orbit_lease_release(NULL), ORBIT_STATUS_NULL_ARGUMENT);
    orbit_contest_options_init(&o);
    o.reserved[0] = 1;
    CHECK_STATUS(orbit_contest_open(f, &o), ORBIT_STATUS_INVALID_ARGUMENT);
    orbit_contest_options_init(&o);
    o.capacity = 0;
    CHECK_STATUS(orbit_contest_open(f, &o), ORBIT_STATUS_INVALID_ARGUMENT);
    big[128] = '\0';
    l = claim(f, big, 1000); /* 128 bytes is the longest */
    CHECK_STATUS(orbit_lease_renew(l, 0), ORBIT_STATUS_INVALID_ARGUMENT);
    /* observers see holders and never claim */
    {
        orbit_fleet *obs = NULL;
        orbit_lease *ol = (orbit_lease *)1;
        CHECK_OK(orbit_fleet_observe(fleet, &obs));
        CHECK_OK(orbit_contest_holder(obs, big, &h));
        CHECK_EQ(h.token, orbit_lease_token(l));
        CHECK_STATUS(orbit_contest_claim(obs, "s", 1000, &ol), ORBIT_STATUS_READ_ONLY);
        CHECK(ol == NULL);
        orbit_fleet_free(obs);
    }
    orbit_lease_free(l);
    finish(f, fleet);
    CHECK_STATUS(orbit_contest_unlink(fleet), ORBIT_STATUS_NOT_EXIST);
}

/* Decodes one audit record: [token:8][expires:8][pid:4][prev:1][len:1][0:2][subject]. */
static void read_audit(orbit_cursor *c, uint8_t *kind, uint64_t *token, uint32_t *pid,
                       uint8_t *prev, char *subject) {
    unsigned char buf[256];
    orbit_frame fr;
    CHECK_OK(orbit_cursor_next(c, &fr, buf, sizeof buf));
    CHECK(fr.len >= 24);
    CHECK_EQ(fr.id >> 56, 222);
    *kind = fr.kind;
    memcpy(token, buf, 8);
    memcpy(pid, buf + 16, 4);
    *prev = buf[20];
    memcpy(subject, buf + 24, buf[21]);
    subject[buf[21]] = '\0';
}

static void test_audit_ring(void) {
    char fleet[49], subject[200];
    orbit_fleet *f = join(fleet, "audit");
    orbit_lease *l;
    orbit_ring *r = NULL;
    orbit_cursor *c = NULL;
    orbit_ring_info info;
    uint8_t kind, prev;
    uint64_t token;
    uint32_t pid;

    l = claim(f, "audited", 30000);
    CHECK_OK(orbit_lease_release(l));
    orbit_lease_free(l);
    CHECK_OK(orbit_ring_open(f, "contest.leases", NULL, &r));
    CHECK_OK(orbit_ring_stat(r, &info));
    CHECK_EQ(info.kind, 222);
    CHECK_OK(orbit_cursor_open(r, ORBIT_FROM_OLDEST, &c));
    read_audit(c, &kind, &token, &pid, &prev, subject);
    CHECK_EQ(kind, 1); /* claim */
    CHECK_EQ(token, 1);
    CHECK_EQ(pid, getpid());
    CHECK_EQ(prev, 0);
    CHECK(strcmp(subject, "audited") == 0);
    read_audit(c, &kind, &token, &pid, &prev, subject);
    CHECK_EQ(kind, 2); /* release */
    CHECK_EQ(token, 1);
    orbit_cursor_free(c);
    orbit_ring_free(r);
    finish(f, fleet);
}

/* --- other processes ---------------------------------------------------- */

struct shared {
    int in_cs;
    int violations;
    volatile uint64_t entries;
    volatile uint64_t last_token;
    volatile uint64_t bad_tokens;
};

static void contend(const char *fleet, struct shared *sh, unsigned ms) {
    orbit_fleet *f = NULL;
    uint64_t end = t_now_ns() + (uint64_t)ms * 1000000u;
    CHECK_OK(orbit_fleet_join(fleet, NULL, &f));
    while (t_now_ns() < end) {
        orbit_lease *l = NULL;
        orbit_status s = orbit_contest_claim(f, "hot", 30000, &l);
        if (s == ORBIT_STATUS_CONFLICT)
            continue;
        CHECK_OK(s);
        {
            if (__atomic_add_fetch(&sh->in_cs, 1, __ATOMIC_SEQ_CST) != 1)
                __atomic_add_fetch(&sh->violations, 1, __ATOMIC_SEQ_CST);
            if (orbit_lease_token(l) <= sh->last_token) sh->bad_tokens++;
            sh->last_token = orbit_lease_token(l);
            sh->entries++;
            __atomic_sub_fetch(&sh->in_cs, 1, __ATOMIC_SEQ_CST);
        }
        CHECK_OK(orbit_lease_release(l));
        orbit_lease_free(l);
    }
    orbit_fleet_free(f);
}

static void test_mutual_exclusion_across_processes(void) {
    char fleet[49];
    orbit_fleet *f = join(fleet, "mutex");
    struct shared *sh;
    unsigned ms = (unsigned)t_scale(1000, 3000);
    pid_t kids[3];
    unsigned i;
    char shm_name[80];
    int fd;

    /* Counters in a shared mapping the forked children inherit (POSIX has
     * no MAP_ANONYMOUS: a named segment, unlinked at once). */
    snprintf(shm_name, sizeof shm_name, "/%s-counters", fleet);
    fd = shm_open(shm_name, O_RDWR | O_CREAT | O_EXCL, 0600);
    CHECK(fd >= 0);
    CHECK(shm_unlink(shm_name) == 0);
    CHECK(ftruncate(fd, (off_t)sizeof *sh) == 0);
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    CHECK(sh != MAP_FAILED);
    memset((void *)sh, 0, sizeof *sh);
    for (i = 0; i < 3; i++) {
        kids[i] = t_fork();
        if (kids[i] == 0) {
            contend(fleet, sh, ms);
            t_child_exit(0);
        }
    }
    for (i = 0; i < 3; i++)
        CHECK_EQ(t_wait(kids[i]), 0);
    CHECK_EQ(sh->violations, 0);
    CHECK_EQ(sh->bad_tokens, 0);
    CHECK(sh->entries > 10);
    CHECK_EQ(sh->last_token, sh->entries); /* one grant per entry, no gaps */
    munmap((void *)sh, sizeof *sh);
    finish(f, fleet);
}

/* Claims "victim" for a minute, tells the parent, and sleeps until killed. */
static int child_hold(char **a) {
    orbit_fleet *f = NULL;
    orbit_lease *l = NULL;
    int fd = atoi(a[1]);
    if (orbit_fleet_join(a[0], NULL, &f) != ORBIT_STATUS_OK) return 100;
    if (orbit_contest_claim(f, "victim", 60000, &l) != ORBIT_STATUS_OK) return 101;
    t_send_u64(fd, orbit_lease_token(l));
    t_sleep_ms(60000);
    return 102;
}

static void test_killed_holder_is_replaced_at_once(void) {
    char fleet[49], fd_s[16];
    orbit_fleet *f = join(fleet, "kill");
    orbit_lease *l = NULL;
    orbit_holder h;
    int fds[2], st;
    uint64_t token, t0;
    pid_t kid;

    t_pipe(fds);
    snprintf(fd_s, sizeof fd_s, "%d", fds[1]);
    {
        const char *args[] = {fleet, fd_s, NULL};
        kid = t_spawn("hold", args);
    }
    token = t_recv_u64(fds[0], 20000);
    CHECK_OK(orbit_contest_holder(f, "victim", &h));
    CHECK_EQ(h.pid, kid);
    CHECK_EQ(h.token, token);
    CHECK_STATUS(orbit_contest_claim(f, "victim", 1000, &l), ORBIT_STATUS_CONFLICT);
    CHECK(kill(kid, SIGKILL) == 0);
    CHECK(waitpid(kid, &st, 0) == kid && WIFSIGNALED(st));
    t0 = t_now_ns();
    l = claim(f, "victim", 1000);
    CHECK_MSG(t_now_ns() - t0 < t_scale(500, 5000) * 1000000u, "took %" PRIu64 " ns",
              t_now_ns() - t0);
    CHECK(orbit_lease_token(l) > token);
    orbit_lease_free(l);
    close(fds[0]);
    close(fds[1]);
    finish(f, fleet);
}

int main(int argc, char **argv) {
    const char *role;
    t_init(argc, argv, "contest");
    role = t_child_role();
    if (role != NULL) {
        if (strcmp(role, "hold") == 0 && t_child_argc() == 2)
            return child_hold(t_child_argv());
        fprintf(stderr, "unknown child role %s\n", role);
        return 2;
    }
    RUN(test_options_defaults);
    RUN(test_claim_holder_release);
    RUN(test_expiry_and_lease_lost);
    RUN(test_full_table_and_options);
    RUN(test_bad_input);
    RUN(test_audit_ring);
    RUN(test_mutual_exclusion_across_processes);
    RUN(test_killed_holder_is_replaced_at_once);
    return t_done();
}
