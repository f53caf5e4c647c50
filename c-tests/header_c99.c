/* orbit.h as strict C99: -std=c99 -pedantic -Wall -Wextra -Werror
 * -Wstrict-prototypes -Wmissing-prototypes, with nothing included before it
 * and no feature macros. The layout checks are repeated in header_cxx.cpp,
 * so C and C++ callers agree on every struct. */
#include <orbit.h>

#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* C99 has no static_assert: a negative array size fails the build. */
#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#define ASSERT_LAYOUT(cond) typedef char CAT(layout_check_, __LINE__)[(cond) ? 1 : -1]

ASSERT_LAYOUT(sizeof(orbit_status) == 4);
ASSERT_LAYOUT(sizeof(orbit_member_state) == 4);
ASSERT_LAYOUT(sizeof(orbit_from) == 4);
ASSERT_LAYOUT(offsetof(orbit_fleet_options, label) == 0);
ASSERT_LAYOUT(offsetof(orbit_fleet_options, max_nodes) == 8);
ASSERT_LAYOUT(offsetof(orbit_fleet_options, mode) == 12);
ASSERT_LAYOUT(offsetof(orbit_fleet_options, stale_after_ms) == 16);
ASSERT_LAYOUT(offsetof(orbit_fleet_options, reserved) == 24);
ASSERT_LAYOUT(sizeof(orbit_fleet_options) == 72);
ASSERT_LAYOUT(offsetof(orbit_member, node_id) == 0);
ASSERT_LAYOUT(offsetof(orbit_member, pid) == 4);
ASSERT_LAYOUT(offsetof(orbit_member, state) == 8);
ASSERT_LAYOUT(offsetof(orbit_member, label) == 12);
ASSERT_LAYOUT(offsetof(orbit_member, joined_at_ms) == 48);
ASSERT_LAYOUT(offsetof(orbit_member, last_heartbeat_ms) == 56);
ASSERT_LAYOUT(sizeof(orbit_member) == 64);
ASSERT_LAYOUT(offsetof(orbit_ring_options, capacity) == 0);
ASSERT_LAYOUT(offsetof(orbit_ring_options, max_payload) == 8);
ASSERT_LAYOUT(offsetof(orbit_ring_options, mode) == 12);
ASSERT_LAYOUT(offsetof(orbit_ring_options, kind) == 16);
ASSERT_LAYOUT(offsetof(orbit_ring_options, flags) == 17);
ASSERT_LAYOUT(offsetof(orbit_ring_options, reserved0) == 18);
ASSERT_LAYOUT(offsetof(orbit_ring_options, reserved) == 24);
ASSERT_LAYOUT(sizeof(orbit_ring_options) == 72);
ASSERT_LAYOUT(offsetof(orbit_frame, id) == 0);
ASSERT_LAYOUT(offsetof(orbit_frame, ver) == 8);
ASSERT_LAYOUT(offsetof(orbit_frame, lost) == 16);
ASSERT_LAYOUT(offsetof(orbit_frame, len) == 24);
ASSERT_LAYOUT(offsetof(orbit_frame, kind) == 28);
ASSERT_LAYOUT(sizeof(orbit_frame) == 32);
ASSERT_LAYOUT(offsetof(orbit_ring_info, capacity) == 0);
ASSERT_LAYOUT(offsetof(orbit_ring_info, head) == 8);
ASSERT_LAYOUT(offsetof(orbit_ring_info, takeovers) == 16);
ASSERT_LAYOUT(offsetof(orbit_ring_info, max_payload) == 24);
ASSERT_LAYOUT(offsetof(orbit_ring_info, slot_stride) == 28);
ASSERT_LAYOUT(offsetof(orbit_ring_info, kind) == 32);
ASSERT_LAYOUT(offsetof(orbit_ring_info, flags) == 33);
ASSERT_LAYOUT(sizeof(orbit_ring_info) == 40);
ASSERT_LAYOUT(ORBIT_FROM_OLDEST == 0 && ORBIT_FROM_HEAD == 1);
ASSERT_LAYOUT(ORBIT_VERSION_MAJOR == 0 && ORBIT_ABI_VERSION >= 1);

int main(void) {
    char version[32];
    sprintf(version, "%d.%d.%d", ORBIT_VERSION_MAJOR, ORBIT_VERSION_MINOR, ORBIT_VERSION_PATCH);
    if (strcmp(version, ORBIT_VERSION_STRING) != 0 || strcmp(orbit_version(), version) != 0) {
        fprintf(stderr, "version macros %s / %s, library %s\n", version, ORBIT_VERSION_STRING,
                orbit_version());
        return 1;
    }
    if (orbit_abi_version() != ORBIT_ABI_VERSION) {
        fprintf(stderr, "ABI %u, header %u\n", (unsigned)orbit_abi_version(), ORBIT_ABI_VERSION);
        return 1;
    }
    printf("orbit.h compiles as C99; library %s, ABI %u\n", orbit_version(),
           (unsigned)orbit_abi_version());
    return 0;
}
