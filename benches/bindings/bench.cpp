// The C++ side of `make bench-bindings`: the operations of bench.c (same
// geometry, same loops) through orbit.hpp, to show what its inline wrappers
// cost over the C ABI.
//
// usage: bench_cpp <fleet> <reps>
#include <orbit.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

constexpr uint64_t kCapacity = 65536;
constexpr size_t kPayload = 64, kKeys = 64, kKeyLen = 16, kBatch = 64;
constexpr unsigned kOps = 1u << 20;
constexpr int kReadRounds = 16;

void must(orbit::Status s, const char *what) {
    if (s != orbit::Status::Ok) {
        std::fprintf(stderr, "bench_cpp: %s: %s (%s)\n", what, orbit::to_string(s), orbit::last_error_message().c_str());
        std::exit(1);
    }
}

double now_ns() {
    return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Bench {
    orbit::Fleet fleet;
    orbit::Ring ring;
    orbit::Cache cache;
    std::string payload = std::string(kPayload, 'x');
    std::string packed = std::string(kBatch * kPayload, 'x');
    std::vector<size_t> lens = std::vector<size_t>(kBatch, kPayload);
    std::string keys;
    std::vector<size_t> klens = std::vector<size_t>(kKeys, kKeyLen);

    explicit Bench(const char *name)
        : fleet(orbit::Fleet::join(name)),
          ring(orbit::Ring::open(fleet, "bench-ring", {kCapacity, kPayload, 0, 0})),
          cache(orbit::Cache::open(fleet, "bench-cache", {kCapacity, kKeyLen, kPayload, 0})) {
        for (size_t i = 0; i < kKeys; i++) {
            char k[kKeyLen + 1];
            std::snprintf(k, sizeof k, "key-%012zu", i);
            keys.append(k, kKeyLen);
            must(cache.set(orbit::Bytes(k, kKeyLen), payload), "set");
        }
    }

    double ring_write_single() {
        orbit::Bytes p(payload);
        double t = now_ns();
        for (unsigned i = 0; i < kOps; i++) must(ring.write(p), "write");
        return (now_ns() - t) / kOps;
    }

    double ring_write_batch() {
        size_t written;
        double t = now_ns();
        for (unsigned i = 0; i < kOps / kBatch; i++)
            must(ring.write_batch(packed.data(), lens.data(), kBatch, &written), "write batch");
        return (now_ns() - t) / kOps;
    }

    double cursor_next(bool batch) {
        static orbit_frame frames[kBatch];
        static char buf[kBatch * kPayload];
        orbit::Frame fr;
        double total = 0;
        size_t written;
        for (int round = 0; round < kReadRounds; round++) {
            for (unsigned i = 0; i < kCapacity / kBatch; i++)
                must(ring.write_batch(packed.data(), lens.data(), kBatch, &written), "fill");
            auto c = ring.cursor(ORBIT_FROM_OLDEST);
            uint64_t got = 0;
            double t = now_ns();
            if (batch) {
                while (got < kCapacity) {
                    size_t n = 0;
                    must(c.next_batch(frames, kBatch, buf, sizeof buf, &n), "next batch");
                    got += n;
                }
            } else {
                for (; got < kCapacity; got++) must(c.next(fr, buf, kPayload), "next");
            }
            total += now_ns() - t;
        }
        return total / (double(kReadRounds) * kCapacity);
    }

    double cache_get_single() {
        char buf[kPayload];
        size_t len;
        double t = now_ns();
        for (unsigned i = 0; i < kOps; i++)
            must(cache.get(orbit::Bytes(keys.data() + (i % kKeys) * kKeyLen, kKeyLen), buf, sizeof buf, &len), "get");
        return (now_ns() - t) / kOps;
    }

    double cache_get_batch() {
        static char buf[kKeys * kPayload];
        size_t vlens[kKeys], done;
        orbit_status found[kKeys];
        double t = now_ns();
        for (unsigned i = 0; i < kOps / kKeys; i++)
            must(cache.get_batch(keys.data(), klens.data(), kKeys, buf, sizeof buf, vlens, found, &done), "get batch");
        return (now_ns() - t) / kOps;
    }
};

template <typename F> void report(const char *op, const char *form, size_t batch, int reps, F fn) {
    fn();  // warm-up
    std::printf("{\"lang\": \"cpp\", \"op\": \"%s\", \"form\": \"%s\", \"batch\": %zu, \"ns\": [", op, form, batch);
    for (int r = 0; r < reps; r++) std::printf("%s%.3f", r ? ", " : "", fn());
    std::printf("]}\n");
    std::fflush(stdout);
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: bench_cpp <fleet> <reps>\n");
        return 2;
    }
    int reps = std::atoi(argv[2]);
    {
        Bench b(argv[1]);
        report("ring_write", "single", 1, reps, [&] { return b.ring_write_single(); });
        report("ring_write", "batch", kBatch, reps, [&] { return b.ring_write_batch(); });
        report("cursor_next", "single", 1, reps, [&] { return b.cursor_next(false); });
        report("cursor_next", "batch", kBatch, reps, [&] { return b.cursor_next(true); });
        report("cache_get", "single", 1, reps, [&] { return b.cache_get_single(); });
        report("cache_get", "batch", kKeys, reps, [&] { return b.cache_get_batch(); });
    }
    orbit::Ring::unlink(argv[1], "bench-ring");
    orbit::Cache::unlink(argv[1], "bench-cache");
    orbit::Fleet::unlink(argv[1]);
    return 0;
}
