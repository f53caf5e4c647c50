// The installed C++ wrapper through the CMake package's orbit::orbit_cpp
// target (include path, C++17, liborbit): -std=c++17 -pedantic -Wall -Wextra -Werror.
#include <orbit.hpp>

#include <cstdio>

int main() {
    if (orbit_abi_version() != ORBIT_ABI_VERSION) {
        std::fprintf(stderr, "ABI %u, header %u\n", orbit_abi_version(), ORBIT_ABI_VERSION);
        return 1;
    }
    std::printf("orbit.hpp compiles as C++17 against liborbit %s\n", orbit_version());
    return 0;
}
