// tour: a ring, a cache, a bus and a lease from C++17, in one short program.
//
//   cmake -S . -B build -DCMAKE_PREFIX_PATH=<orbit prefix> && cmake --build build && build/tour [fleet]
//
// Setup throws orbit::Error (with the status and the library's reason); the
// calls of the hot paths return an orbit::Status. It removes its objects at the end.
#include <orbit.hpp>

#include <cstdio>
#include <string>

int main(int argc, char **argv) {
    const std::string name = argc > 1 ? argv[1] : "tour";
    try {
        auto fleet = orbit::Fleet::join(name, {"cpp-tour", 0, 0, 0});

        // Ring: append frames; a cursor reads them in order.
        auto ring = orbit::Ring::open(fleet, "events");
        auto cur = ring.cursor(ORBIT_FROM_HEAD);
        if (ring.write(std::string_view("order 42 paid"), 1) != orbit::Status::Ok) return 1;
        char buf[1024];
        orbit::Frame f;
        while (cur.next(f, buf, sizeof buf) == orbit::Status::Ok)
            std::printf("ring:  frame %u:%u:%llu: %.*s\n", unsigned(f.id >> 56), unsigned(f.id >> 40) & 0xffffu,
                        static_cast<unsigned long long>(f.id & 0xffffffffffull), int(f.len), buf);

        // Cache: set and get a key.
        auto cache = orbit::Cache::open(fleet, "sessions");
        cache.set(std::string_view("user:42"), std::string_view(R"({"cart":3})"));
        std::string v;
        if (cache.get(std::string_view("user:42"), v)) std::printf("cache: user:42 = %s\n", v.c_str());

        // Bus: subscribe to a topic prefix, publish, receive.
        auto bus = orbit::Bus::open(fleet, "news");
        auto sub = bus.subscribe("orders.", ORBIT_FROM_HEAD);
        bus.publish("orders.paid", std::string_view("42"));
        orbit::Event ev;
        std::string topic, payload;
        if (sub.next(ev, topic, payload) == orbit::Status::Ok)
            std::printf("bus:   %s -> %s\n", topic.c_str(), payload.c_str());

        // Lease: one holder at a time in the whole fleet, with a fencing token.
        {
            orbit::Lease lease = fleet.claim("leader", 5000);  // Error with Status::Conflict if held
            std::printf("lease: leader, token %llu\n", static_cast<unsigned long long>(lease.token()));
        }  // released here
    } catch (const orbit::Error &e) {
        std::fprintf(stderr, "tour: %s\n", e.what());
        return 1;
    }
    orbit::Ring::unlink(name, "events");
    orbit::Cache::unlink(name, "sessions");
    orbit::Bus::unlink(name, "news");
    orbit::Fleet::unlink_contest(name);
    orbit::Fleet::unlink(name);
    return 0;
}
