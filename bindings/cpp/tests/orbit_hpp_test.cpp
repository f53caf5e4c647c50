#include <orbit.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <type_traits>
#include <unistd.h>
#include <vector>

namespace {

std::string unique_fleet(const char *tag) {
    return "cpp" + std::to_string(getpid()) + "-" + tag;
}

static_assert(!std::is_copy_constructible<orbit::Ring>::value, "handles are move-only");
static_assert(std::is_nothrow_move_constructible<orbit::Ring>::value, "handles move without throwing");
static_assert(!std::is_copy_assignable<orbit::Fleet>::value, "handles are move-only");
static_assert(!std::is_copy_constructible<orbit::Bus>::value, "handles are move-only");
static_assert(!std::is_copy_constructible<orbit::Subscription>::value, "handles are move-only");
static_assert(!std::is_copy_constructible<orbit::Lease>::value, "handles are move-only");
static_assert(std::is_nothrow_move_constructible<orbit::Lease>::value, "handles move without throwing");
static_assert(std::is_nothrow_move_assignable<orbit::Subscription>::value, "handles move without throwing");
static_assert(!std::is_copy_constructible<orbit::RingWriter>::value, "handles are move-only");
static_assert(!std::is_copy_assignable<orbit::RingWriter>::value, "handles are move-only");
static_assert(std::is_nothrow_move_constructible<orbit::RingWriter>::value, "handles move without throwing");
static_assert(std::is_nothrow_move_assignable<orbit::RingWriter>::value, "handles move without throwing");

TEST(Fleet, JoinMembersObserve) {
    auto name = unique_fleet("fleet");
    auto f = orbit::Fleet::join(name, {"cpp-test", 0, 0, 0});
    EXPECT_GT(f.node_id(), 0);
    EXPECT_EQ(f.heartbeat(), orbit::Status::Ok);
    auto ms = f.members();
    ASSERT_EQ(ms.size(), 1u);
    EXPECT_EQ(ms[0].label, "cpp-test");
    EXPECT_EQ(ms[0].pid, static_cast<uint32_t>(getpid()));
    auto o = orbit::Fleet::observe(name);
    EXPECT_EQ(o.node_id(), 0);
    EXPECT_EQ(o.heartbeat(), orbit::Status::ReadOnly);
    orbit::Fleet::unlink(name);
}

TEST(Fleet, SetupErrorsThrowWithStatusAndMessage) {
    try {
        orbit::Fleet::join("bad/name");
        FAIL() << "no exception";
    } catch (const orbit::Error &e) {
        EXPECT_EQ(e.status(), orbit::Status::InvalidArgument);
        EXPECT_NE(std::string(e.what()).find("bad/name"), std::string::npos) << e.what();
    }
    EXPECT_THROW(orbit::Fleet::observe(unique_fleet("absent")), orbit::Error);
}

TEST(Ring, WriteReadCursorAndLoss) {
    auto name = unique_fleet("ring");
    auto f = orbit::Fleet::join(name);
    auto r = orbit::Ring::open(f, "r", {16, 32, 9, 0});
    auto c = r.cursor(ORBIT_FROM_OLDEST);  // opened before the writes: it sees the loss
    uint64_t first = 0;
    for (int i = 0; i < 50; i++) {
        std::string p = std::to_string(i);
        ASSERT_EQ(r.write(p, 1, static_cast<uint64_t>(i), i == 0 ? &first : nullptr), orbit::Status::Ok);
    }
    EXPECT_EQ(first >> 56, 9u);
    char buf[32];
    orbit::Frame fr;
    EXPECT_EQ(r.read(first, fr, buf, sizeof buf), orbit::Status::NotFound);
    ASSERT_EQ(c.next(fr, buf, sizeof buf), orbit::Status::Ok);
    EXPECT_EQ(fr.lost, 34u);
    EXPECT_EQ(std::string(buf, fr.len), "34");
    int n = 1;
    while (c.next(fr, buf, sizeof buf) == orbit::Status::Ok) n++;
    EXPECT_EQ(n, 16);
    EXPECT_EQ(c.lost(), 34u);
    EXPECT_EQ(c.wait(1000000), orbit::Status::Timeout);
    EXPECT_EQ(r.write(std::string(33, 'x')), orbit::Status::TooLarge);
    EXPECT_THROW(orbit::Ring::open(f, "r", {32, 32, 9, 0}), orbit::Error);
    auto moved = std::move(r);
    EXPECT_EQ(moved.info().capacity, 16u);
    orbit::Ring::unlink(name, "r");
    orbit::Fleet::unlink(name);
}

TEST(Ring, BatchesAndMovedFromHandles) {
    using namespace std::literals;
    auto name = unique_fleet("batch");
    auto f = orbit::Fleet::join(name);
    auto r = orbit::Ring::open(f, "r", {64, 16, 2, 0});
    auto c = r.cursor(ORBIT_FROM_OLDEST);
    const std::string data = "aabbbc";
    const size_t lens[] = {2, 3, 0, 1};
    size_t written = 99;
    uint64_t ids[4] = {};
    ASSERT_EQ(r.write_batch(data.data(), lens, 4, &written, 7, 9, ids), orbit::Status::Ok);
    EXPECT_EQ(written, 4u);
    EXPECT_EQ(ids[0] >> 56, 2u);
    orbit_frame frames[8];
    char buf[8 * 16];
    size_t n = 0;
    ASSERT_EQ(c.next_batch(frames, 8, buf, sizeof buf, &n), orbit::Status::Ok);
    ASSERT_EQ(n, 4u);
    EXPECT_EQ(std::string(buf, 6), data);
    EXPECT_EQ(frames[1].len, 3u);
    EXPECT_EQ(frames[3].kind, 7u);
    EXPECT_EQ(frames[3].ver, 9u);
    EXPECT_EQ(frames[3].id, ids[3]);
    EXPECT_EQ(c.next_batch(frames, 8, buf, sizeof buf, &n), orbit::Status::Empty);
    const size_t big[] = {1, 17};
    EXPECT_EQ(r.write_batch(std::string(18, 'x').data(), big, 2, &written), orbit::Status::TooLarge);
    EXPECT_EQ(written, 0u);

    auto cache = orbit::Cache::open(f, "c", {64, 16, 16, 0});
    ASSERT_EQ(cache.set("k1"sv, "one"sv), orbit::Status::Ok);
    const size_t klens[] = {2, 6};
    size_t vlens[2], done = 0;
    orbit_status found[2];
    char vals[32];
    ASSERT_EQ(cache.get_batch("k1absent", klens, 2, vals, sizeof vals, vlens, found, &done), orbit::Status::Ok);
    EXPECT_EQ(done, 2u);
    EXPECT_EQ(found[0], ORBIT_STATUS_OK);
    EXPECT_EQ(found[1], ORBIT_STATUS_NOT_FOUND);
    EXPECT_EQ(std::string(vals, vlens[0]), "one");

    // Moved-from handles hold NULL: every hot path returns a status, nothing is touched.
    auto r2 = std::move(r);
    auto c2 = std::move(c);
    auto cache2 = std::move(cache);
    EXPECT_EQ(r.write("x"sv), orbit::Status::NullArgument);                               // NOLINT: moved-from on purpose
    EXPECT_EQ(r.write_batch(data.data(), lens, 4, &written), orbit::Status::NullArgument);  // NOLINT
    orbit::Frame fr;
    EXPECT_EQ(c.next(fr, buf, sizeof buf), orbit::Status::NullArgument);                  // NOLINT
    EXPECT_EQ(c.next_batch(frames, 8, buf, sizeof buf, &n), orbit::Status::NullArgument);  // NOLINT
    EXPECT_EQ(c.wait(0), orbit::Status::NullArgument);                                     // NOLINT
    size_t len = 0;
    EXPECT_EQ(cache.get("k1"sv, vals, sizeof vals, &len), orbit::Status::NullArgument);      // NOLINT
    EXPECT_EQ(cache.get_batch("k1", klens, 1, vals, sizeof vals, vlens, found, &done),    // NOLINT
              orbit::Status::NullArgument);
    EXPECT_EQ(cache.set("k"sv, "v"sv), orbit::Status::NullArgument);  // NOLINT
    EXPECT_THROW(r.info(), orbit::Error);                        // NOLINT: setup paths throw
    EXPECT_THROW(r.cursor(), orbit::Error);                      // NOLINT
    EXPECT_EQ(r2.write("still works"sv), orbit::Status::Ok);
    EXPECT_EQ(c2.next(fr, buf, sizeof buf), orbit::Status::Ok);
    EXPECT_EQ(std::string(buf, fr.len), "still works");
    orbit::Ring::unlink(name, "r");
    orbit::Cache::unlink(name, "c");
    orbit::Fleet::unlink(name);
}

TEST(Ring, SingleWriter) {
    using namespace std::literals;
    auto name = unique_fleet("sw");
    auto f = orbit::Fleet::join(name);
    auto r = orbit::Ring::open(f, "r", {16, 32, 3, 0, true});
    EXPECT_EQ(r.info().flags, ORBIT_RING_SINGLE_WRITER);
    EXPECT_EQ(orbit::Ring::open(f, "r").info().flags & ORBIT_RING_SINGLE_WRITER, ORBIT_RING_SINGLE_WRITER);
    EXPECT_EQ(r.write("refused"sv), orbit::Status::InvalidArgument);
    const size_t lens[] = {1};
    size_t written = 9;
    EXPECT_EQ(r.write_batch("a", lens, 1, &written), orbit::Status::InvalidArgument);
    auto c = r.cursor(ORBIT_FROM_OLDEST);
    uint64_t ids[3] = {};
    {
        auto w = r.writer();
        EXPECT_TRUE(w);
        ASSERT_EQ(w.write("first"sv, 0, 10, &ids[0]), orbit::Status::Ok);
        ASSERT_EQ(w.write(std::vector<uint8_t>{}, 1, 11, &ids[1]), orbit::Status::Ok);
        ASSERT_EQ(w.write(std::string(32, 'x'), 2, 12, &ids[2]), orbit::Status::Ok);
        EXPECT_EQ(w.write(std::string(33, 'x')), orbit::Status::TooLarge);
        EXPECT_EQ(ids[0] >> 56, 3u);
        try {
            r.writer();
            FAIL() << "second writer granted";
        } catch (const orbit::Error &e) {
            EXPECT_EQ(e.status(), orbit::Status::Conflict);
        }
        orbit::RingWriter other;
        EXPECT_FALSE(other);
        EXPECT_EQ(r.try_writer(other), orbit::Status::Conflict);
        EXPECT_FALSE(other);
        auto moved = std::move(w);
        EXPECT_FALSE(w);                                               // NOLINT: moved-from on purpose
        EXPECT_EQ(w.write("x"sv), orbit::Status::NullArgument);        // NOLINT
        EXPECT_EQ(r.try_writer(other), orbit::Status::Conflict);       // the role moved with it
    }  // the destructor gives the role up
    const char *want[] = {"first", "", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"};
    char buf[32];
    orbit::Frame fr;
    for (int i = 0; i < 3; i++) {
        ASSERT_EQ(c.next(fr, buf, sizeof buf), orbit::Status::Ok);
        EXPECT_EQ(fr.id, ids[i]);
        EXPECT_EQ(fr.kind, i);
        EXPECT_EQ(fr.ver, 10u + i);
        EXPECT_EQ(fr.lost, 0u);
        EXPECT_EQ(std::string(buf, fr.len), want[i]);
    }
    EXPECT_EQ(c.next(fr, buf, sizeof buf), orbit::Status::Empty);
    orbit::RingWriter w;
    ASSERT_EQ(r.try_writer(w), orbit::Status::Ok);  // free again
    {
        auto gone = std::move(r);
    }  // the ring handle is freed: the writer keeps the ring mapped
    ASSERT_EQ(w.write("again"sv), orbit::Status::Ok);
    ASSERT_EQ(c.next(fr, buf, sizeof buf), orbit::Status::Ok);
    EXPECT_EQ(std::string(buf, fr.len), "again");

    auto multi = orbit::Ring::open(f, "m", {8, 8, 0, 0});
    EXPECT_EQ(multi.info().flags, 0);
    try {
        multi.writer();
        FAIL() << "writer granted on a multi-writer ring";
    } catch (const orbit::Error &e) {
        EXPECT_EQ(e.status(), orbit::Status::InvalidArgument);
    }
    auto o = orbit::Fleet::observe(name);
    orbit::RingWriter ro;
    EXPECT_EQ(orbit::Ring::open(o, "r").try_writer(ro), orbit::Status::ReadOnly);
    orbit::Ring::unlink(name, "r");
    orbit::Ring::unlink(name, "m");
    orbit::Fleet::unlink(name);
}

TEST(Ring, ChildProcessWritesParentReads) {
    auto name = unique_fleet("proc");
    auto f = orbit::Fleet::join(name);
    auto r = orbit::Ring::open(f, "r", {1024, 16, 0, 0});
    auto c = r.cursor(ORBIT_FROM_HEAD);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        // A forked child joins on its own (handles do not cross fork).
        auto cf = orbit::Fleet::join(name);
        auto cr = orbit::Ring::open(cf, "r");
        for (uint64_t i = 0; i < 200; i++) {
            if (cr.write(std::string("c"), 0, i) != orbit::Status::Ok) _exit(1);
        }
        _exit(0);
    }
    uint64_t next = 0;
    char buf[16];
    orbit::Frame fr;
    for (int spins = 0; next < 200 && spins < 1000; spins++) {
        if (c.wait(100000000) != orbit::Status::Ok) continue;
        while (c.next(fr, buf, sizeof buf) == orbit::Status::Ok) {
            ASSERT_EQ(fr.ver, next);
            next++;
        }
    }
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT_EQ(next, 200u);
    orbit::Ring::unlink(name, "r");
    orbit::Fleet::unlink(name);
}

TEST(Cache, Operations) {
    auto name = unique_fleet("cache");
    auto f = orbit::Fleet::join(name);
    auto c = orbit::Cache::open(f, "c", {1024, 32, 64, 0});
    EXPECT_EQ(c.set(std::string_view("k"), std::string_view("v1")), orbit::Status::Ok);
    std::string v;
    orbit_cache_meta meta;
    ASSERT_TRUE(c.get(std::string_view("k"), v, &meta));
    EXPECT_EQ(v, "v1");
    EXPECT_EQ(c.add(std::string_view("k"), std::string_view("v2")), orbit::Status::Conflict);
    EXPECT_EQ(c.cas(std::string_view("k"), meta.version, std::string_view("v3")), orbit::Status::Ok);
    EXPECT_EQ(c.cas(std::string_view("k"), meta.version, std::string_view("v4")), orbit::Status::Conflict);
    int64_t n = 0;
    EXPECT_EQ(c.incr(std::string_view("n"), 5, &n), orbit::Status::Ok);
    EXPECT_EQ(c.incr(std::string_view("n"), -2, &n), orbit::Status::Ok);
    EXPECT_EQ(n, 3);
    char small[1];
    size_t len = 0;
    EXPECT_EQ(c.get(std::string_view("k"), small, sizeof small, &len), orbit::Status::BufferTooSmall);
    EXPECT_EQ(len, 2u);
    EXPECT_EQ(c.set(std::string(33, 'k'), std::string_view("v")), orbit::Status::TooLarge);
    EXPECT_EQ(c.erase(std::string_view("k")), orbit::Status::Ok);
    EXPECT_EQ(c.erase(std::string_view("k")), orbit::Status::NotFound);
    EXPECT_FALSE(c.exists(std::string_view("k")));
    EXPECT_GE(c.stats().sets, 3u);
    orbit::Cache::unlink(name, "c");
    orbit::Fleet::unlink(name);
}

TEST(Bus, PublishSubscribeFilterReplay) {
    auto name = unique_fleet("bus");
    auto f = orbit::Fleet::join(name);
    auto b = orbit::Bus::open(f, "b", {64, 128, 0});
    auto all = b.subscribe();
    auto orders = b.subscribe("orders.", ORBIT_FROM_HEAD);
    uint64_t id = 0;
    ASSERT_EQ(b.publish("orders.paid", std::string_view("42"), &id), orbit::Status::Ok);
    EXPECT_EQ(id >> 56, 220u);
    ASSERT_EQ(b.publish("users.new", std::string_view("ann")), orbit::Status::Ok);
    ASSERT_EQ(b.publish("orders.shipped", std::vector<uint8_t>{4, 3}), orbit::Status::Ok);
    char topic[256];
    char buf[128];
    orbit::Event ev;
    ASSERT_EQ(orders.next(ev, topic, sizeof topic, buf, sizeof buf), orbit::Status::Ok);
    EXPECT_EQ(ev.id, id);
    EXPECT_EQ(std::string(topic), "orders.paid");
    EXPECT_EQ(std::string(buf, ev.len), "42");
    EXPECT_GT(ev.timestamp_ms, 0u);
    ASSERT_EQ(orders.next(ev, topic, sizeof topic, buf, sizeof buf), orbit::Status::Ok);
    EXPECT_EQ(std::string(topic, ev.topic_len), "orders.shipped");
    EXPECT_EQ(ev.len, 2u);
    EXPECT_EQ(orders.next(ev, topic, sizeof topic, buf, sizeof buf), orbit::Status::Empty);
    std::vector<std::string> topics;
    std::string t, p;
    while (all.next(ev, t, p) == orbit::Status::Ok) topics.push_back(t);
    EXPECT_EQ(topics, (std::vector<std::string>{"orders.paid", "users.new", "orders.shipped"}));
    EXPECT_EQ(all.wait(1000000), orbit::Status::Timeout);
    auto late = b.subscribe("users.", ORBIT_FROM_OLDEST);
    ASSERT_EQ(late.next(ev, t, p), orbit::Status::Ok);
    EXPECT_EQ(p, "ann");
    auto moved = std::move(late);
    EXPECT_EQ(moved.next(ev, t, p), orbit::Status::Empty);
    orbit::Bus::unlink(name, "b");
    orbit::Fleet::unlink(name);
}

TEST(Bus, LossSmallBuffersAndBadInput) {
    auto name = unique_fleet("busloss");
    auto f = orbit::Fleet::join(name);
    auto b = orbit::Bus::open(f, "b", {16, 4096, 0});
    auto s = b.subscribe("", ORBIT_FROM_OLDEST);
    for (int i = 0; i < 40; i++) ASSERT_EQ(b.publish("t", std::to_string(i)), orbit::Status::Ok);
    std::string big(3000, 'z');
    ASSERT_EQ(b.publish("t.big", big), orbit::Status::Ok);
    orbit::Event ev;
    std::string t, p;
    ASSERT_EQ(s.next(ev, t, p), orbit::Status::Ok);
    EXPECT_EQ(ev.lost, 25u);
    EXPECT_EQ(p, "25");
    EXPECT_EQ(s.lost(), 25u);
    char topic[4];
    char buf[8];
    for (int i = 26; i < 40; i++) ASSERT_EQ(s.next(ev, t, p), orbit::Status::Ok);
    // Too small: the sizes needed, and the event stays for the next call.
    ASSERT_EQ(s.next(ev, topic, sizeof topic, buf, sizeof buf), orbit::Status::BufferTooSmall);
    EXPECT_EQ(ev.topic_len, 5u);
    EXPECT_EQ(ev.len, 3000u);
    ASSERT_EQ(s.next(ev, t, p), orbit::Status::Ok);  // grows the strings
    EXPECT_EQ(t, "t.big");
    EXPECT_EQ(p, big);
    EXPECT_EQ(b.publish("t", std::string(4097, 'x')), orbit::Status::TooLarge);
    EXPECT_EQ(b.publish("", std::string_view("x")), orbit::Status::InvalidArgument);
    EXPECT_EQ(b.publish(std::string(256, 't'), std::string_view("x")), orbit::Status::InvalidArgument);
    EXPECT_EQ(b.publish(std::string(255, 't'), std::string_view("x")), orbit::Status::Ok);
    EXPECT_EQ(b.publish(std::string_view("a\0b", 3), std::string_view("x")), orbit::Status::InvalidArgument);
    EXPECT_EQ(b.publish("\xff\xfe", std::string_view("x")), orbit::Status::InvalidArgument);
    EXPECT_THROW(b.subscribe(std::string_view("a\0", 2)), orbit::Error);
    EXPECT_THROW(orbit::Bus::open(f, "b", {32, 4096, 0}), orbit::Error);
    try {
        orbit::Bus::open(f, "bad/name");
        FAIL() << "no exception";
    } catch (const orbit::Error &e) {
        EXPECT_EQ(e.status(), orbit::Status::InvalidArgument);
    }
    orbit::Bus::unlink(name, "b");
    orbit::Fleet::unlink(name);
}

TEST(Bus, ChildProcessPublishesParentWaits) {
    auto name = unique_fleet("busproc");
    auto f = orbit::Fleet::join(name);
    auto b = orbit::Bus::open(f, "b", {1024, 32, 0});
    auto s = b.subscribe("cpp.", ORBIT_FROM_HEAD);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        auto cf = orbit::Fleet::join(name);
        auto cb = orbit::Bus::open(cf, "b");
        for (int i = 0; i < 200; i++) {
            if (i % 3 == 0 && cb.publish("other", std::string_view("-")) != orbit::Status::Ok) _exit(1);
            if (cb.publish("cpp.child", std::to_string(i)) != orbit::Status::Ok) _exit(1);
        }
        _exit(0);
    }
    int next = 0;
    orbit::Event ev;
    std::string t, p;
    for (int spins = 0; next < 200 && spins < 1000; spins++) {
        if (s.wait(100000000) != orbit::Status::Ok) continue;
        while (s.next(ev, t, p) == orbit::Status::Ok) {
            ASSERT_EQ(t, "cpp.child");
            ASSERT_EQ(p, std::to_string(next));
            next++;
        }
    }
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT_EQ(next, 200);
    EXPECT_EQ(s.lost(), 0u);
    orbit::Bus::unlink(name, "b");
    orbit::Fleet::unlink(name);
}

TEST(Lease, ClaimConflictRenewReleaseDestructor) {
    auto name = unique_fleet("lease");
    auto f = orbit::Fleet::join(name);
    EXPECT_FALSE(f.holder("leader").has_value());
    uint64_t first = 0;
    {
        auto l = f.claim("leader", 10000);
        first = l.token();
        EXPECT_GT(first, 0u);
        auto h = f.holder("leader");
        ASSERT_TRUE(h.has_value());
        EXPECT_EQ(h->token, first);
        EXPECT_EQ(h->node_id, f.node_id());
        EXPECT_EQ(h->pid, static_cast<uint32_t>(getpid()));
        try {
            f.claim("leader", 1000);
            FAIL() << "second claim granted";
        } catch (const orbit::Error &e) {
            EXPECT_EQ(e.status(), orbit::Status::Conflict);
        }
        orbit::Lease other;
        EXPECT_FALSE(other);
        EXPECT_EQ(f.try_claim("leader", 1000, other), orbit::Status::Conflict);
        EXPECT_FALSE(other);
        EXPECT_EQ(l.renew(20000), orbit::Status::Ok);
        EXPECT_GT(f.holder("leader")->expires_at_ms, h->expires_at_ms);
    }  // the destructor releases
    EXPECT_FALSE(f.holder("leader").has_value());
    orbit::Lease l;
    ASSERT_EQ(f.try_claim("leader", 10000, l), orbit::Status::Ok);
    EXPECT_GT(l.token(), first);
    EXPECT_EQ(l.release(), orbit::Status::Ok);
    EXPECT_EQ(l.release(), orbit::Status::Ok);
    EXPECT_EQ(l.renew(1000), orbit::Status::LeaseLost);
    auto moved = std::move(l);
    EXPECT_TRUE(moved);
    EXPECT_EQ(l.token(), 0u);  // NOLINT: a moved-from Lease is empty
    EXPECT_EQ(f.try_claim("", 1000, l), orbit::Status::InvalidArgument);
    EXPECT_EQ(f.try_claim(std::string(129, 's'), 1000, l), orbit::Status::InvalidArgument);
    EXPECT_EQ(f.try_claim(std::string_view("a\0b", 3), 1000, l), orbit::Status::InvalidArgument);
    EXPECT_EQ(f.try_claim("s", 0, l), orbit::Status::InvalidArgument);
    EXPECT_THROW(f.claim("s", 0), orbit::Error);
    EXPECT_THROW(f.holder(std::string_view("a\0b", 3)), orbit::Error);
    EXPECT_THROW(f.open_contest(0), orbit::Error);
    auto o = orbit::Fleet::observe(name);
    EXPECT_EQ(o.try_claim("s", 1000, l), orbit::Status::ReadOnly);
    orbit::Fleet::unlink_contest(name);
    orbit::Fleet::unlink(name);
}

TEST(Lease, ExpiryTakeover) {
    auto name = unique_fleet("leasettl");
    auto f = orbit::Fleet::join(name);
    f.open_contest(16);
    auto old = f.claim("job", 30);
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    auto nu = f.claim("job", 10000);
    EXPECT_GT(nu.token(), old.token());
    EXPECT_EQ(old.renew(1000), orbit::Status::LeaseLost);
    EXPECT_EQ(old.release(), orbit::Status::LeaseLost);
    EXPECT_EQ(f.holder("job")->token, nu.token());
    orbit::Fleet::unlink_contest(name);
    orbit::Fleet::unlink(name);
}

TEST(Lease, ForkedHolderKilledIsReplacedAtOnce) {
    auto name = unique_fleet("leaseproc");
    auto f = orbit::Fleet::join(name);
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        auto cf = orbit::Fleet::join(name);
        orbit::Lease l;
        if (cf.try_claim("leader", 60000, l) != orbit::Status::Ok) _exit(1);
        if (write(fds[1], "h", 1) != 1) _exit(1);
        pause();  // killed by the parent
        _exit(0);
    }
    close(fds[1]);
    char c = 0;
    ASSERT_EQ(read(fds[0], &c, 1), 1);
    close(fds[0]);
    orbit::Lease l;
    EXPECT_EQ(f.try_claim("leader", 60000, l), orbit::Status::Conflict);
    auto h = f.holder("leader");
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(h->pid, static_cast<uint32_t>(pid));
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    ASSERT_EQ(f.try_claim("leader", 60000, l), orbit::Status::Ok);  // TTL a minute away: liveness decides
    EXPECT_GT(l.token(), h->token);
    l = orbit::Lease();
    orbit::Fleet::unlink_contest(name);
    orbit::Fleet::unlink(name);
}

TEST(Fleet, Heartbeats) {
    auto name = unique_fleet("hb");
    auto f = orbit::Fleet::join(name);
    for (int i = 0; i < 3; i++) ASSERT_EQ(f.heartbeat(), orbit::Status::Ok);
    bool found = false;
    for (const auto &h : f.heartbeats()) {
        if (h.node_id != f.node_id()) continue;
        found = true;
        EXPECT_EQ(h.member, 1);
        EXPECT_EQ(h.pid, static_cast<uint32_t>(getpid()));
        EXPECT_EQ(h.state, ORBIT_HEARTBEAT_STATE_FRESH);
        EXPECT_GE(h.beats_in_history, 3u);
    }
    EXPECT_TRUE(found);
    orbit::Fleet::unlink(name);
}

}  // namespace
