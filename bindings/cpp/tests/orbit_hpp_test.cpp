#include <orbit.hpp>

#include <gtest/gtest.h>

#include <string>
#include <sys/wait.h>
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

}  // namespace
