#!/bin/sh
# Instructions per message (send + receive, one process, nothing waits) of each
# copying transport, counted by callgrind: the CPU work behind the latency
# tables, free of scheduling noise. perf would give cycles too, but this VM
# exposes no hardware counters (`perf stat -e instructions true` says
# "not supported").
#
#   benches/peers/profile.sh [N]      (N messages per run, default 20000)
#
# Prints a table (instructions per message, of which in memcpy, and the native
# time per message of the same loop) and keeps the callgrind files in benches/peers/target/callgrind/
# (callgrind_annotate --inclusive=yes FILE shows where the instructions go).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=$here/target/release/orbit-peers
out=$here/target/callgrind
n=${1:-20000}
mkdir -p "$out"
command -v valgrind >/dev/null || { echo "valgrind not installed (apt-get install valgrind)" >&2; exit 1; }
printf '%-10s %8s %12s %14s %14s\n' transport size "Ir/message" "of it memcpy" "ns/message"
for kind in ${KINDS:-copy orbit iceoryx2 kekbit}; do
  for size in 64 1024 8192; do
    f=$out/callgrind.$kind.$size
    valgrind --tool=callgrind --callgrind-out-file="$f" --collect-atstart=no \
      --toggle-collect='*profile_loop*' "$bin" --profile "$kind" "$size" "$n" >/dev/null 2>&1
    ann=$(callgrind_annotate "$f" 2>/dev/null)
    total=$(echo "$ann" | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
    memcpy=$(echo "$ann" | awk '/__mem(cpy|move)/ {gsub(",", "", $1); s += $1} END {print s + 0}')
    # The same loop natively (no valgrind), 20x longer: CPU time per message
    # in one process, caches warm. callgrind counts each iteration of a
    # `rep movsb` (orbit's bulk copy) as an instruction, so for copies the
    # time column is the fairer one.
    ns=$("$bin" --profile "$kind" "$size" "$((n * 20))" | sed -n 's/.*, \([0-9.]*\) ns per send + receive/\1/p')
    printf '%-10s %8s %12s %14s %14s\n' "$kind" "$size" "$((total / n))" "$((memcpy / n))" "$ns"
  done
done
