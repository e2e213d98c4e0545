#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# One host chunk store for every attachment: four read-only attachments
# of a volume and one of a fork of it read the same 64 MiB file, three of
# them at once, and every chunk is fetched from the object store once
# (the store's host-wide "misses", which count calls of the fetch; on S3
# also the GETs of chunk objects, counted by a proxy in front of the
# server: no more than misses, none for the later readers).  Then s3vol status shows the host cache and s3vol cache
# prune empties it, under attachments that still read right.
. "$(dirname "$0")/../support/functions.sh"
requires_root
requires_fuse
requires_loop
on_each_store

# chunk_gets: GETs of chunk objects so far (S3: through the proxy; else 0).
if [ "$STORE_KIND" = s3 ]; then
  counting_proxy 600 "$T/proxy.log"
else
  chunk_gets () { echo 0; }
fi

make_store
export S3VOL_RUN_DIR=$T/run XDG_CACHE_HOME=$T/xdg HOME=$T/home
mkdir -p "$HOME"
on_exit "for m in '$T'/m*; do '$S3VOL' detach \"\$m\" >/dev/null 2>&1; done"

s3vol create shared --size 512M --chunk-size 1M >/dev/null || die "create"
head -c 64M /dev/urandom > "$T/big"
s3vol put shared "$T/big" /big >/dev/null || die "put"
s3vol cp shared fork >/dev/null || die "fork"
"$S3VOL" cache prune >/dev/null || die "prune"
[ "$(cache_field bytes)" = 0 ] || die "the chunk store is not empty after prune"
g0=$(chunk_gets) m0=$(cache_field misses)

phase "the first attachment fetches the file's chunks"
mkdir -p "$T/mr1"
s3vol attach shared "$T/mr1" --read-only >/dev/null || die "attach r1"
cmp "$T/mr1/big" "$T/big" || die "r1 reads a different /big"
m1=$(cache_field misses)
g1=$(chunk_gets)
echo "   misses after one reader: $((m1 - m0)); chunk GETs: $((g1 - g0))"
[ $((m1 - m0)) -ge 64 ] ||
  die "only $((m1 - m0)) fetches for a 64 MiB file of 1 MiB chunks"

phase "three more at once and a fork: nothing fetched again"
for m in r2 r3 r4; do
  mkdir -p "$T/m$m"
  s3vol attach shared "$T/m$m" --read-only >/dev/null || die "attach $m"
done
mkdir -p "$T/mf1"
s3vol attach fork "$T/mf1" --read-only >/dev/null || die "attach the fork"
pids=()
for m in r2 r3 r4; do
  cmp "$T/m$m/big" "$T/big" & pids+=($!)
done
for p in "${pids[@]}"; do
  wait "$p" || die "a concurrent reader reads a different /big"
done
cmp "$T/mf1/big" "$T/big" || die "the fork reads a different /big"
m2=$(cache_field misses)
g2=$(chunk_gets)
echo "   misses after five readers: $((m2 - m0)); chunk GETs: $((g2 - g0))"
[ "$m2" = "$m1" ] || die "chunks were fetched again: $m1 then $m2 misses"
[ "$g2" = "$g1" ] || die "chunk objects were read again: $g1 then $g2 GETs"
[ $((g1 - g0)) -le $((m1 - m0)) ] ||
  die "$((g1 - g0)) GETs for $((m1 - m0)) misses"

phase "s3vol status shows the host cache"
"$S3VOL" status > "$T/status" || die "status"
grep -q "^host chunk cache .*hit rate" "$T/status" ||
  die "status does not show the host cache: $(cat "$T/status")"
s3vol status --json | grep -q '"chunk_cache":{"bytes":[1-9]' ||
  die "status --json has no chunk_cache figures"

phase "prune empties it under the readers"
"$S3VOL" cache prune --size 1M >/dev/null || die "prune --size"
[ "$(cache_field bytes)" -le $((1 << 20)) ] || die "prune --size left more"
echo 3 > /proc/sys/vm/drop_caches
cmp "$T/mr2/big" "$T/big" || die "r2 reads a different /big after prune"
[ "$(cache_field misses)" -gt "$m2" ] || die "nothing fetched after prune"
for m in r1 r2 r3 r4 f1; do
  s3vol detach "$T/m$m" >/dev/null || die "detach $m"
done
echo "OK"
