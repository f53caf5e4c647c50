/* Cross-language agent, C edition (the protocol is in tests/crosslang/README.md).
 *
 *   agent_c PHASE FLEET LANG N LANGS
 *
 * Plain C99 over orbit.h, built against the staged install with pkg-config. */
#define _POSIX_C_SOURCE 200809L
#include <orbit.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_LANGS 8
#define WAIT_S 30.0
#define MAX_PAYLOAD 128

static const char *phase, *lang;
static const char *langs[MAX_LANGS];
static int nlangs, idx;
static long n;
static orbit_fleet *fleet;
static orbit_cache *cache;

static void fail(const char *fmt, ...) {
    va_list ap;
    printf("FAIL %s ", phase);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    exit(1);
}

/* An error status from a call that must succeed: fail with the library's reason. */
static void must(orbit_status s, const char *what) {
    char msg[256] = "";
    if (s == ORBIT_STATUS_OK) return;
    orbit_last_error_message(msg, sizeof msg);
    fail("%s: %s: %s (%s)", lang, what, orbit_status_str(s), msg);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_us(long us) {
    struct timespec ts;
    ts.tv_sec = us / 1000000;
    ts.tv_nsec = (us % 1000000) * 1000;
    nanosleep(&ts, NULL);
}

/* payload(lang, i) into out (at least MAX_PAYLOAD bytes); returns its length. */
static size_t payload(const char *w, long i, char *out) {
    uint32_t h = 0x811c9dc5u;
    int len = sprintf(out, "%s|%ld|", w, i), k;
    for (k = 0; k < i % 23; k++) out[len++] = (char)('a' + i % 26);
    for (k = 0; k < len; k++) h = (h ^ (unsigned char)out[k]) * 0x01000193u;
    len += sprintf(out + len, "|%08x", (unsigned)h);
    return (size_t)len;
}

static int lang_index(const char *p, size_t len) {
    int i;
    for (i = 0; i < nlangs; i++) {
        size_t l = strlen(langs[i]);
        if (l < len && memcmp(p, langs[i], l) == 0 && p[l] == '|') return i;
    }
    return -1;
}

static int64_t get_i64(const char *key) {
    unsigned char buf[8];
    size_t len = 0;
    int64_t v = 0;
    orbit_status s = orbit_cache_get(cache, key, strlen(key), buf, sizeof buf, &len, NULL);
    if (s == ORBIT_STATUS_NOT_FOUND) return 0;
    must(s, key);
    memcpy(&v, buf, sizeof v); /* little-endian host, as the cache stores it */
    return v;
}

static void barrier(const char *name) {
    char key[64];
    int64_t v;
    double deadline = now_s() + WAIT_S;
    sprintf(key, "xl.barrier.%s", name);
    must(orbit_cache_incr(cache, key, strlen(key), 1, 0, &v), "barrier incr");
    while ((v = get_i64(key)) < nlangs) {
        if (now_s() > deadline) fail("%s: barrier %s timed out with %lld of %d arrived", lang, name, (long long)v, nlangs);
        sleep_us(1000);
    }
}

static void report(const long *got, const char *extra) {
    int i;
    printf("OK %s %s", phase, lang);
    for (i = 0; i < nlangs; i++) printf(" %s=%ld", langs[i], got[i]);
    printf("%s\n", extra);
}

static int all_done(const long *got) {
    int i;
    for (i = 0; i < nlangs; i++)
        if (got[i] < n) return 0;
    return 1;
}

static void ring_phase(void) {
    orbit_ring_options o;
    orbit_ring *ring = NULL;
    orbit_cursor *cur = NULL;
    orbit_frame f;
    char buf[MAX_PAYLOAD], want[MAX_PAYLOAD];
    long got[MAX_LANGS] = {0}, i;
    double deadline;
    orbit_status s;

    orbit_ring_options_init(&o);
    o.capacity = 32768;
    o.max_payload = MAX_PAYLOAD;
    must(orbit_ring_open(fleet, "xl.ring", &o, &ring), "open ring");
    must(orbit_cursor_open(ring, ORBIT_FROM_OLDEST, &cur), "cursor");
    barrier("ring");
    for (i = 0; i < n; i++) {
        size_t len = payload(lang, i, buf);
        must(orbit_ring_write(ring, (uint8_t)(idx + 1), (uint64_t)i, buf, len, NULL), "write");
    }
    deadline = now_s() + WAIT_S;
    while (!all_done(got) && now_s() < deadline) {
        orbit_cursor_wait(cur, 100 * 1000 * 1000);
        while ((s = orbit_cursor_next(cur, &f, buf, sizeof buf)) == ORBIT_STATUS_OK) {
            int w = lang_index(buf, f.len);
            size_t wl;
            if (w < 0) fail("reader=%s: payload '%.*s' from no known writer", lang, (int)f.len, buf);
            wl = payload(langs[w], got[w], want);
            if (f.ver != (uint64_t)got[w] || f.kind != w + 1 || f.len != wl || memcmp(buf, want, wl) != 0)
                fail("writer=%s reader=%s: frame #%ld: got ver=%llu kind=%u payload='%.*s', want ver=%ld kind=%d payload='%s'",
                     langs[w], lang, got[w], (unsigned long long)f.ver, (unsigned)f.kind, (int)f.len, buf, got[w], w + 1,
                     want);
            got[w]++;
        }
        if (s != ORBIT_STATUS_EMPTY) must(s, "next");
    }
    if (orbit_cursor_lost(cur)) fail("reader=%s: lost %llu frames", lang, (unsigned long long)orbit_cursor_lost(cur));
    report(got, "");
    orbit_cursor_free(cur);
    orbit_ring_free(ring);
}

static void cache_phase(void) {
    char key[64], val[MAX_PAYLOAD], want[MAX_PAYLOAD], extra[64];
    long got[MAX_LANGS] = {0}, j;
    int w;
    int64_t v, prev = 0, total, expect = 0;

    for (j = 0; j < n; j++) {
        size_t len = payload(lang, j, val);
        sprintf(key, "xl.%s.%ld", lang, j);
        must(orbit_cache_set(cache, key, strlen(key), val, len, 0), "set");
    }
    barrier("cache.set");
    for (w = 0; w < nlangs; w++) {
        for (j = 0; j < n; j++) {
            size_t len = 0, wl = payload(langs[w], j, want);
            orbit_status s;
            sprintf(key, "xl.%s.%ld", langs[w], j);
            s = orbit_cache_get(cache, key, strlen(key), val, sizeof val, &len, NULL);
            if (s == ORBIT_STATUS_NOT_FOUND) fail("writer=%s reader=%s: key %s missing", langs[w], lang, key);
            must(s, "get");
            if (len != wl || memcmp(val, want, wl) != 0)
                fail("writer=%s reader=%s: key %s: got '%.*s', want '%s'", langs[w], lang, key, (int)len, val, want);
            got[w]++;
        }
    }
    barrier("cache.incr");
    for (j = 0; j < n; j++) {
        must(orbit_cache_incr(cache, "xl.counter", 10, idx + 1, 0, &v), "incr");
        if (v <= prev) fail("%s: incr returned %lld after %lld", lang, (long long)v, (long long)prev);
        prev = v;
    }
    barrier("cache.done");
    total = get_i64("xl.counter");
    for (w = 1; w <= nlangs; w++) expect += n * w;
    if (total != expect)
        fail("%s: counter reads %lld after every incr, want %lld", lang, (long long)total, (long long)expect);
    sprintf(extra, " counter=%lld", (long long)total);
    report(got, extra);
}

static void bus_phase(void) {
    orbit_bus_options o;
    orbit_bus *bus = NULL;
    orbit_subscription *sub = NULL;
    orbit_event e;
    char topic[256], buf[MAX_PAYLOAD], want[MAX_PAYLOAD], wtopic[64];
    long got[MAX_LANGS] = {0}, i;
    double deadline;
    orbit_status s;

    orbit_bus_options_init(&o);
    o.capacity = 16384;
    o.max_payload = MAX_PAYLOAD;
    must(orbit_bus_open(fleet, "xl.bus", &o, &bus), "open bus");
    must(orbit_bus_subscribe(bus, "xl.", ORBIT_FROM_OLDEST, &sub), "subscribe");
    barrier("bus");
    for (i = 0; i < n; i++) {
        size_t len = payload(lang, i, buf);
        sprintf(wtopic, "xl.%s", lang);
        must(orbit_bus_publish(bus, wtopic, buf, len, NULL), "publish");
        if (i % 10 == 0) {
            sprintf(wtopic, "noise.%s", lang);
            must(orbit_bus_publish(bus, wtopic, "-", 1, NULL), "publish noise");
        }
    }
    deadline = now_s() + WAIT_S;
    while (!all_done(got) && now_s() < deadline) {
        orbit_subscription_wait(sub, 100 * 1000 * 1000);
        while ((s = orbit_subscription_next(sub, &e, topic, sizeof topic, buf, sizeof buf)) == ORBIT_STATUS_OK) {
            int w;
            size_t wl;
            if (strncmp(topic, "xl.", 3) != 0) fail("subscriber=%s: prefix xl. let through topic '%s'", lang, topic);
            w = lang_index(buf, e.len);
            if (w < 0) fail("subscriber=%s: payload '%.*s' from no known publisher", lang, (int)e.len, buf);
            wl = payload(langs[w], got[w], want);
            sprintf(wtopic, "xl.%s", langs[w]);
            if (strcmp(topic, wtopic) != 0 || e.len != wl || memcmp(buf, want, wl) != 0)
                fail("publisher=%s subscriber=%s: event #%ld: got topic='%s' payload='%.*s', want topic='%s' payload='%s'",
                     langs[w], lang, got[w], topic, (int)e.len, buf, wtopic, want);
            got[w]++;
        }
        if (s != ORBIT_STATUS_EMPTY) must(s, "next");
    }
    if (orbit_subscription_lost(sub))
        fail("subscriber=%s: lost %llu events", lang, (unsigned long long)orbit_subscription_lost(sub));
    report(got, "");
    orbit_subscription_free(sub);
    orbit_bus_free(bus);
}

static void lease_phase(void) {
    double deadline;
    uint64_t last = 0;
    long grants = 0;
    size_t cap = 1024, used = 0;
    char *tokens = malloc(cap);

    if (!tokens) fail("%s: out of memory", lang);
    tokens[0] = '\0';
    barrier("lease");
    deadline = now_s() + (double)n / 1000.0;
    while (now_s() < deadline) {
        orbit_lease *l = NULL;
        uint64_t t;
        int64_t inside;
        char me[64], h[64];
        size_t hl = 0;
        orbit_status s = orbit_contest_claim(fleet, "xl.lease", 5000, &l);
        if (s == ORBIT_STATUS_CONFLICT) {
            sleep_us(100);
            continue;
        }
        must(s, "claim");
        t = orbit_lease_token(l);
        if (t <= last) fail("%s: token %llu after %llu", lang, (unsigned long long)t, (unsigned long long)last);
        must(orbit_cache_incr(cache, "xl.cs", 5, 1, 0, &inside), "incr cs");
        if (inside != 1)
            fail("%s (token %llu) entered with %lld other holder(s) inside", lang, (unsigned long long)t,
                 (long long)(inside - 1));
        sprintf(me, "%s:%llu", lang, (unsigned long long)t);
        must(orbit_cache_set(cache, "xl.cs.holder", 12, me, strlen(me), 0), "set holder");
        sleep_us(500);
        s = orbit_cache_get(cache, "xl.cs.holder", 12, h, sizeof h - 1, &hl, NULL);
        if (s != ORBIT_STATUS_OK || hl != strlen(me) || memcmp(h, me, hl) != 0)
            fail("%s (token %llu) found '%.*s' in its critical section", lang, (unsigned long long)t,
                 (int)(s == ORBIT_STATUS_OK ? hl : 0), h);
        must(orbit_cache_incr(cache, "xl.cs", 5, -1, 0, &inside), "incr cs");
        if (inside != 0)
            fail("%s (token %llu) left with %lld other holder(s) inside", lang, (unsigned long long)t, (long long)inside);
        s = orbit_lease_release(l);
        if (s != ORBIT_STATUS_OK) fail("%s: release of token %llu: %s", lang, (unsigned long long)t, orbit_status_str(s));
        orbit_lease_free(l);
        last = t;
        grants++;
        if (used + 24 > cap) {
            char *more = realloc(tokens, cap *= 2);
            if (!more) fail("%s: out of memory", lang);
            tokens = more;
        }
        used += (size_t)sprintf(tokens + used, "%s%llu", grants > 1 ? "," : "", (unsigned long long)t);
        sleep_us(200);
    }
    printf("OK lease %s grants=%ld tokens=%s\n", lang, grants, tokens);
    free(tokens);
}

int main(int argc, char **argv) {
    orbit_fleet_options fo;
    orbit_cache_options co;
    char *list, *tok;

    if (argc != 6) {
        fprintf(stderr, "usage: %s PHASE FLEET LANG N LANGS\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    phase = argv[1];
    lang = argv[3];
    n = strtol(argv[4], NULL, 10);
    list = argv[5];
    idx = -1;
    for (tok = strtok(list, ","); tok && nlangs < MAX_LANGS; tok = strtok(NULL, ",")) {
        if (strcmp(tok, lang) == 0) idx = nlangs;
        langs[nlangs++] = tok;
    }
    if (idx < 0) fail("%s is not among the participants", lang);

    orbit_fleet_options_init(&fo);
    fo.label = lang;
    must(orbit_fleet_join(argv[2], &fo, &fleet), "join");
    orbit_cache_options_init(&co);
    co.capacity = 65536;
    co.max_key = 64;
    co.max_value = 128;
    must(orbit_cache_open(fleet, "xl.cache", &co, &cache), "open cache");

    if (strcmp(phase, "ring") == 0) ring_phase();
    else if (strcmp(phase, "cache") == 0) cache_phase();
    else if (strcmp(phase, "bus") == 0) bus_phase();
    else if (strcmp(phase, "lease") == 0) lease_phase();
    else fail("unknown phase %s", phase);

    orbit_cache_free(cache);
    orbit_fleet_free(fleet);
    return 0;
}
