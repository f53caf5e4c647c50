#!/usr/bin/env bash
# The installed liborbit.so exports exactly the functions orbit.h declares,
# all named orbit_*, and carries the SONAME the symlinks point at.
#
# usage: check_exports.sh <liborbit.so.X.Y.Z> <orbit.h> <expected soname> <cc>
set -euo pipefail
lib=$1 header=$2 soname=$3 cc=$4
fail=0

exports=$(nm -D --defined-only "$lib" | awk '{print $NF}' | sort -u)
echo "exported: $(wc -l <<<"$exports") symbols"

stray=$(grep -v '^orbit_' <<<"$exports" || true)
if [[ -n $stray ]]; then
    echo "FAILED: symbols outside orbit_*:"; sed 's/^/    /' <<<"$stray"; fail=1
fi

# Function declarations of the header, comments stripped by the preprocessor.
declared=$("$cc" -E -P -x c "$header" | grep -oE '\borbit_[a-z0-9_]+[[:space:]]*\(' \
    | sed 's/[[:space:](]//g' | sort -u)
missing=$(comm -23 <(echo "$declared") <(echo "$exports"))
extra=$(comm -13 <(echo "$declared") <(echo "$exports"))
if [[ -n $missing ]]; then
    echo "FAILED: declared in orbit.h but not exported:"; sed 's/^/    /' <<<"$missing"; fail=1
fi
if [[ -n $extra ]]; then
    echo "FAILED: exported but not declared in orbit.h:"; sed 's/^/    /' <<<"$extra"; fail=1
fi
echo "declared in orbit.h: $(wc -l <<<"$declared") functions"

actual=$(objdump -p "$lib" | awk '$1 == "SONAME" {print $2}')
if [[ $actual != "$soname" ]]; then
    echo "FAILED: SONAME is '$actual', expected '$soname'"; fail=1
else
    echo "SONAME: $actual"
fi
dir=$(dirname "$lib")
for link in "$soname" liborbit.so; do
    if [[ ! -L $dir/$link ]] || ! cmp -s "$dir/$link" "$lib"; then
        echo "FAILED: $dir/$link is not a symlink to $(basename "$lib")"; fail=1
    fi
done
exit $fail
