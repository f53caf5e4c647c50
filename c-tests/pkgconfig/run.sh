#!/usr/bin/env bash
# Builds consumer.c with nothing but pkg-config and runs it: once against
# liborbit.so (`pkg-config --cflags --libs orbit`), once against liborbit.a
# plus Libs.private (`pkg-config --static --libs-only-l orbit`), which proves
# the private list is complete. $VALGRIND, if set, prefixes the runs.
#
# usage: run.sh <dir of orbit.pc> <source dir> <work dir> <cc> <expected version> <soname>
set -euo pipefail
pcdir=$1 src=$2 work=$3 cc=$4 version=$5 soname=$6
export PKG_CONFIG_PATH=$pcdir
read -r -a valgrind <<<"${VALGRIND:-}"
mkdir -p "$work"
cflags=(-std=c99 -Wall -Wextra -Werror -pedantic)

pkg-config --exists --print-errors "orbit = $version"
libdir=$(pkg-config --variable=libdir orbit)
echo "orbit $(pkg-config --modversion orbit): $(pkg-config --cflags --libs orbit)"
echo "static: $(pkg-config --static --libs orbit)"

# Shared: the documented one-liner.
# shellcheck disable=SC2046
"$cc" "${cflags[@]}" -o "$work/consumer_shared" "$src/consumer.c" $(pkg-config --cflags --libs orbit)
needed=$(objdump -p "$work/consumer_shared" | awk '$1 == "NEEDED" {print $2}')
grep -qx "$soname" <<<"$needed" || { echo "FAILED: consumer_shared needs: $needed"; exit 1; }
LD_LIBRARY_PATH=$libdir "${valgrind[@]}" "$work/consumer_shared"

# Static: liborbit.a and the private libraries, nothing else.
read -r -a private <<<"$(pkg-config --static --libs-only-l orbit)"
libs=()
for l in "${private[@]}"; do [[ $l == -lorbit ]] || libs+=("$l"); done
# shellcheck disable=SC2046
"$cc" "${cflags[@]}" -o "$work/consumer_static" "$src/consumer.c" $(pkg-config --cflags orbit) \
    "$libdir/liborbit.a" "${libs[@]}"
if objdump -p "$work/consumer_static" | grep -q 'NEEDED.*liborbit'; then
    echo "FAILED: consumer_static links liborbit.so"; exit 1
fi
"${valgrind[@]}" "$work/consumer_static"
