// Cross-language agent, C++ edition (the protocol is in tests/crosslang/README.md).
//
//   agent_cpp PHASE FLEET LANG N LANGS
//
// C++17 over orbit.hpp, built against the staged install.
#include <orbit.hpp>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kWait = std::chrono::seconds(30);

std::string phase, lang;
std::vector<std::string> langs;
int idx = -1;
long n = 0;

[[noreturn]] void fail(const std::string &msg) {
    std::printf("FAIL %s %s\n", phase.c_str(), msg.c_str());
    std::exit(1);
}

void must(orbit::Status s, const std::string &what) {
    if (s != orbit::Status::Ok) fail(lang + ": " + what + ": " + orbit::to_string(s) + " (" + orbit::last_error_message() + ")");
}

std::string payload(const std::string &w, long i) {
    std::string p = w + "|" + std::to_string(i) + "|" + std::string(static_cast<size_t>(i % 23), static_cast<char>('a' + i % 26));
    uint32_t h = 0x811c9dc5u;
    for (unsigned char c : p) h = (h ^ c) * 0x01000193u;
    char hex[16];
    std::snprintf(hex, sizeof hex, "|%08" PRIx32, h);
    return p + hex;
}

int writer_of(std::string_view p) {
    std::string_view w = p.substr(0, p.find('|'));
    for (size_t i = 0; i < langs.size(); i++)
        if (langs[i] == w && w.size() < p.size()) return static_cast<int>(i);
    fail("reader=" + lang + ": payload '" + std::string(p) + "' from no known writer");
}

int64_t get_i64(const orbit::Cache &c, std::string_view key) {
    std::string v;
    if (!c.get(key, v)) return 0;
    int64_t x = 0;
    std::memcpy(&x, v.data(), sizeof x);  // little-endian host, as the cache stores it
    return x;
}

void barrier(orbit::Cache &c, const std::string &name) {
    std::string key = "xl.barrier." + name;
    int64_t v = 0;
    must(c.incr(key, 1, &v), "barrier incr");
    auto deadline = Clock::now() + kWait;
    while ((v = get_i64(c, key)) < static_cast<int64_t>(langs.size())) {
        if (Clock::now() > deadline)
            fail(lang + ": barrier " + name + " timed out with " + std::to_string(v) + " of " +
                 std::to_string(langs.size()) + " arrived");
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

bool all_done(const std::vector<long> &got) {
    for (long g : got)
        if (g < n) return false;
    return true;
}

void report(const std::vector<long> &got, const std::string &extra = "") {
    std::string line = "OK " + phase + " " + lang;
    for (size_t i = 0; i < langs.size(); i++) line += " " + langs[i] + "=" + std::to_string(got[i]);
    std::printf("%s%s\n", line.c_str(), extra.c_str());
}

void ring_phase(orbit::Fleet &f, orbit::Cache &c) {
    auto ring = orbit::Ring::open(f, "xl.ring", {32768, 128, 0, 0});
    auto cur = ring.cursor(ORBIT_FROM_OLDEST);
    barrier(c, "ring");
    for (long i = 0; i < n; i++) must(ring.write(payload(lang, i), static_cast<uint8_t>(idx + 1), static_cast<uint64_t>(i)), "write");
    std::vector<long> got(langs.size());
    char buf[128];
    orbit::Frame fr;
    auto deadline = Clock::now() + kWait;
    while (!all_done(got) && Clock::now() < deadline) {
        cur.wait(100000000);
        orbit::Status s;
        while ((s = cur.next(fr, buf, sizeof buf)) == orbit::Status::Ok) {
            std::string_view p(buf, fr.len);
            int w = writer_of(p);
            std::string want = payload(langs[w], got[w]);
            if (fr.ver != static_cast<uint64_t>(got[w]) || fr.kind != w + 1 || p != want)
                fail("writer=" + langs[w] + " reader=" + lang + ": frame #" + std::to_string(got[w]) + ": got ver=" +
                     std::to_string(fr.ver) + " kind=" + std::to_string(fr.kind) + " payload='" + std::string(p) +
                     "', want ver=" + std::to_string(got[w]) + " kind=" + std::to_string(w + 1) + " payload='" + want + "'");
            got[w]++;
        }
        if (s != orbit::Status::Empty) must(s, "next");
    }
    if (cur.lost()) fail("reader=" + lang + ": lost " + std::to_string(cur.lost()) + " frames");
    report(got);
}

void cache_phase(orbit::Cache &c) {
    for (long j = 0; j < n; j++) must(c.set(std::string("xl.") + lang + "." + std::to_string(j), payload(lang, j)), "set");
    barrier(c, "cache.set");
    std::vector<long> got(langs.size());
    std::string v;
    for (size_t w = 0; w < langs.size(); w++) {
        for (long j = 0; j < n; j++) {
            std::string key = "xl." + langs[w] + "." + std::to_string(j), want = payload(langs[w], j);
            if (!c.get(key, v)) fail("writer=" + langs[w] + " reader=" + lang + ": key " + key + " missing");
            if (v != want)
                fail("writer=" + langs[w] + " reader=" + lang + ": key " + key + ": got '" + v + "', want '" + want + "'");
            got[w]++;
        }
    }
    barrier(c, "cache.incr");
    int64_t prev = 0, v2 = 0;
    for (long j = 0; j < n; j++) {
        must(c.incr(std::string_view("xl.counter"), idx + 1, &v2), "incr");
        if (v2 <= prev) fail(lang + ": incr returned " + std::to_string(v2) + " after " + std::to_string(prev));
        prev = v2;
    }
    barrier(c, "cache.done");
    int64_t total = get_i64(c, "xl.counter"), want = 0;
    for (size_t w = 1; w <= langs.size(); w++) want += n * static_cast<int64_t>(w);
    if (total != want)
        fail(lang + ": counter reads " + std::to_string(total) + " after every incr, want " + std::to_string(want));
    report(got, " counter=" + std::to_string(total));
}

void bus_phase(orbit::Fleet &f, orbit::Cache &c) {
    auto bus = orbit::Bus::open(f, "xl.bus", {16384, 128, 0});
    auto sub = bus.subscribe("xl.", ORBIT_FROM_OLDEST);
    barrier(c, "bus");
    const std::string mine = "xl." + lang, noise = "noise." + lang;
    for (long i = 0; i < n; i++) {
        must(bus.publish(mine, payload(lang, i)), "publish");
        if (i % 10 == 0) must(bus.publish(noise, std::string_view("-")), "publish noise");
    }
    std::vector<long> got(langs.size());
    orbit::Event ev;
    std::string topic, p;
    auto deadline = Clock::now() + kWait;
    while (!all_done(got) && Clock::now() < deadline) {
        sub.wait(100000000);
        orbit::Status s;
        while ((s = sub.next(ev, topic, p)) == orbit::Status::Ok) {
            if (topic.compare(0, 3, "xl.") != 0) fail("subscriber=" + lang + ": prefix xl. let through topic '" + topic + "'");
            int w = writer_of(p);
            std::string want = payload(langs[w], got[w]);
            if (topic != "xl." + langs[w] || p != want)
                fail("publisher=" + langs[w] + " subscriber=" + lang + ": event #" + std::to_string(got[w]) +
                     ": got topic='" + topic + "' payload='" + p + "', want topic='xl." + langs[w] + "' payload='" + want + "'");
            got[w]++;
        }
        if (s != orbit::Status::Empty) must(s, "next");
    }
    if (sub.lost()) fail("subscriber=" + lang + ": lost " + std::to_string(sub.lost()) + " events");
    report(got);
}

void lease_phase(orbit::Fleet &f, orbit::Cache &c) {
    barrier(c, "lease");
    std::vector<uint64_t> tokens;
    auto deadline = Clock::now() + std::chrono::milliseconds(n);
    while (Clock::now() < deadline) {
        orbit::Lease l;
        orbit::Status s = f.try_claim("xl.lease", 5000, l);
        if (s == orbit::Status::Conflict) {
            std::this_thread::sleep_for(std::chrono::microseconds(100));
            continue;
        }
        must(s, "claim");
        uint64_t t = l.token();
        std::string who = lang + " (token " + std::to_string(t) + ")";
        if (!tokens.empty() && t <= tokens.back()) fail(lang + ": token " + std::to_string(t) + " after " + std::to_string(tokens.back()));
        int64_t inside = 0;
        must(c.incr(std::string_view("xl.cs"), 1, &inside), "incr cs");
        if (inside != 1) fail(who + " entered with " + std::to_string(inside - 1) + " other holder(s) inside");
        std::string me = lang + ":" + std::to_string(t), h;
        must(c.set(std::string_view("xl.cs.holder"), me), "set holder");
        std::this_thread::sleep_for(std::chrono::microseconds(500));
        if (!c.get(std::string_view("xl.cs.holder"), h) || h != me) fail(who + " found '" + h + "' in its critical section");
        must(c.incr(std::string_view("xl.cs"), -1, &inside), "incr cs");
        if (inside != 0) fail(who + " left with " + std::to_string(inside) + " other holder(s) inside");
        s = l.release();
        if (s != orbit::Status::Ok) fail(lang + ": release of token " + std::to_string(t) + ": " + orbit::to_string(s));
        tokens.push_back(t);
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    std::string list;
    for (size_t i = 0; i < tokens.size(); i++) list += (i ? "," : "") + std::to_string(tokens[i]);
    std::printf("OK lease %s grants=%zu tokens=%s\n", lang.c_str(), tokens.size(), list.c_str());
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 6) {
        std::fprintf(stderr, "usage: %s PHASE FLEET LANG N LANGS\n", argv[0]);
        return 2;
    }
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    phase = argv[1];
    lang = argv[3];
    n = std::strtol(argv[4], nullptr, 10);
    std::stringstream list(argv[5]);
    for (std::string l; std::getline(list, l, ',');) {
        if (l == lang) idx = static_cast<int>(langs.size());
        langs.push_back(l);
    }
    if (idx < 0) fail(lang + " is not among the participants");
    try {
        auto fleet = orbit::Fleet::join(argv[2], {lang, 0, 0, 0});
        auto cache = orbit::Cache::open(fleet, "xl.cache", {65536, 64, 128, 0});
        if (phase == "ring") ring_phase(fleet, cache);
        else if (phase == "cache") cache_phase(cache);
        else if (phase == "bus") bus_phase(fleet, cache);
        else if (phase == "lease") lease_phase(fleet, cache);
        else fail("unknown phase " + phase);
    } catch (const orbit::Error &e) {
        fail(lang + ": " + e.what());
    }
    return 0;
}
