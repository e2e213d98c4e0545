#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# scripts/check-layers can fail: on a copy of the build, plant each kind
# of violation it promises to catch and check that it names it, then
# check that the real build passes.
#
#   BUILD=build bash tests/build/layers.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${BUILD:-build}
[ -f "$B/libs3vol.so" ] || { echo "FAIL: $B not built (make)"; exit 1; }
T=$(mktemp -d /tmp/s3vol-layers.XXXXXX)
trap 'rm -rf "$T"' EXIT

CC=${CC:-cc}
fresh () {
  rm -rf "$T/b"; mkdir -p "$T/b"
  cp -r "$B/lib" "$B/plugin" "$B/nbd-client-tools" "$B/libs3vol.so" \
        "$B/nbdkit-s3vol-plugin.so" "$T/b/"
}
# expect_fail WHAT PATTERN: check-layers on $T/b must fail naming PATTERN
expect_fail () {
  local out
  if out=$(scripts/check-layers "$T/b" 2>&1); then
    echo "FAIL: check-layers passed with $1"; exit 1
  fi
  grep -q -- "$2" <<<"$out" || {
    echo "FAIL: check-layers did not name $1; it said:"; echo "$out"; exit 1; }
  echo "ok: caught $1"
}
obj () {  # obj DEST.o C-SOURCE
  printf '%s\n' "$2" >"$T/x.c"
  $CC -c -fPIC -Iinclude "$T/x.c" -o "$1"
}

scripts/check-layers "$B" || { echo "FAIL: the real build breaks its layers"; exit 1; }

fresh
obj "$T/b/lib/volume/zz_up.o" \
  '#include "s3vol/cache.h"
   int zz_up (struct cache *c) { return cache_flush (c); }'
expect_fail "a volume file calling the cache layer" "zz_up.c uses cache_flush of lib/cache"

fresh
obj "$T/b/lib/util/zz_up.o" \
  'int objstore_del (void *s, const char *k);
   int zz_up (void) { return objstore_del (0, "k"); }'
expect_fail "util calling the store layer" "uses objstore_del of lib/store"

fresh
obj "$T/b/lib/volume/zz_private.o" 'int zz_private (void) { return 1; }'
obj "$T/b/nbd-client-tools/zz_cli.o" \
  'int zz_private (void); int zz_cli (void) { return zz_private (); }'
expect_fail "the CLI using a function libs3vol does not export" \
  "uses zz_private of lib/volume, which libs3vol does not export"

fresh
obj "$T/x.o" 'int plugin_init (void) { return 0; } int extra_export (void) { return 1; }'
$CC -shared -o "$T/b/nbdkit-s3vol-plugin.so" "$T/x.o"
expect_fail "a plugin exporting more than plugin_init" "exports more than plugin_init"

echo "check-layers catches what it promises"
