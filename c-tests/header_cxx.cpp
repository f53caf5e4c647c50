// orbit.h as C++17: -std=c++17 -pedantic -Wall -Wextra -Werror. The same
// layout checks as header_c99.c, the enum types' underlying types, and calls
// through the extern "C" declarations.
#include <orbit.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <type_traits>

static_assert(std::is_same<std::underlying_type<orbit_status>::type, std::int32_t>::value,
              "orbit_status is an int32_t");
static_assert(std::is_same<std::underlying_type<orbit_member_state>::type, std::uint32_t>::value,
              "orbit_member_state is a uint32_t");
static_assert(sizeof(orbit_status) == 4 && sizeof(orbit_from) == 4, "");
static_assert(std::is_standard_layout<orbit_frame>::value, "");
static_assert(offsetof(orbit_fleet_options, label) == 0, "");
static_assert(offsetof(orbit_fleet_options, max_nodes) == 8, "");
static_assert(offsetof(orbit_fleet_options, mode) == 12, "");
static_assert(offsetof(orbit_fleet_options, stale_after_ms) == 16, "");
static_assert(offsetof(orbit_fleet_options, reserved) == 24, "");
static_assert(sizeof(orbit_fleet_options) == 72, "");
static_assert(offsetof(orbit_member, node_id) == 0, "");
static_assert(offsetof(orbit_member, pid) == 4, "");
static_assert(offsetof(orbit_member, state) == 8, "");
static_assert(offsetof(orbit_member, label) == 12, "");
static_assert(offsetof(orbit_member, joined_at_ms) == 48, "");
static_assert(offsetof(orbit_member, last_heartbeat_ms) == 56, "");
static_assert(sizeof(orbit_member) == 64, "");
static_assert(offsetof(orbit_ring_options, capacity) == 0, "");
static_assert(offsetof(orbit_ring_options, max_payload) == 8, "");
static_assert(offsetof(orbit_ring_options, mode) == 12, "");
static_assert(offsetof(orbit_ring_options, kind) == 16, "");
static_assert(offsetof(orbit_ring_options, flags) == 17, "");
static_assert(offsetof(orbit_ring_options, reserved0) == 18, "");
static_assert(offsetof(orbit_ring_options, reserved) == 24, "");
static_assert(sizeof(orbit_ring_options) == 72, "");
static_assert(offsetof(orbit_frame, id) == 0, "");
static_assert(offsetof(orbit_frame, ver) == 8, "");
static_assert(offsetof(orbit_frame, lost) == 16, "");
static_assert(offsetof(orbit_frame, len) == 24, "");
static_assert(offsetof(orbit_frame, kind) == 28, "");
static_assert(sizeof(orbit_frame) == 32, "");
static_assert(offsetof(orbit_ring_info, capacity) == 0, "");
static_assert(offsetof(orbit_ring_info, head) == 8, "");
static_assert(offsetof(orbit_ring_info, takeovers) == 16, "");
static_assert(offsetof(orbit_ring_info, max_payload) == 24, "");
static_assert(offsetof(orbit_ring_info, slot_stride) == 28, "");
static_assert(offsetof(orbit_ring_info, kind) == 32, "");
static_assert(offsetof(orbit_ring_info, flags) == 33, "");
static_assert(sizeof(orbit_ring_info) == 40, "");
static_assert(ORBIT_STATUS_OK == 0 && ORBIT_STATUS_PANIC == 28, "");

int main() {
    orbit_ring_options o;
    orbit_ring_options_init(&o);
    orbit_fleet *f = nullptr;
    const orbit_status s = orbit_fleet_join(nullptr, nullptr, &f);
    if (s != ORBIT_STATUS_NULL_ARGUMENT || f != nullptr || o.capacity != 4096) {
        std::fprintf(stderr, "unexpected: %s\n", orbit_status_str(s));
        return 1;
    }
    if (std::strcmp(orbit_version(), ORBIT_VERSION_STRING) != 0) {
        std::fprintf(stderr, "library %s, header %s\n", orbit_version(), ORBIT_VERSION_STRING);
        return 1;
    }
    std::printf("orbit.h compiles as C++17; %s\n", orbit_status_str(s));
    return 0;
}
