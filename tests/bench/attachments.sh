#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# make bench, section "attachments": a cold read of one 1 GiB volume (a
# 900 MiB file in it) by one read-only attachment, then by 8 at once
# (each its own nbdkit, sharing the host chunk store), on the S3 test
# server through a proxy that counts the GETs of chunk objects: seconds,
# chunk GETs and chunk store misses side by side.  Then what the cache's
# index costs in RAM per TiB: measured (the RSS of the one reader's
# nbdkit before and after its read) and computed from the data
# structures.  Figures only, no thresholds; it fails only if a step does.
#
#   BENCH_ATTACH_MB=900 BENCH_ATTACH_N=8 tests/bench/attachments.sh
export S3VOL_TEST_S3=1
. "$(dirname "$0")/../support/functions.sh"
requires_root
requires_fuse
requires_loop
mb=${BENCH_ATTACH_MB:-900}
many=${BENCH_ATTACH_N:-8}

counting_proxy 3600

make_store
private_home
on_exit "for m in '$T'/m*; do '$S3VOL' detach \"\$m\" >/dev/null 2>&1; done"
# rss_kib MOUNTPOINT: the resident set of the nbdkit of that attachment.
rss_kib () {
  local pid
  pid=$(grep -lsr "^mountpoint=$1\$" "$S3VOL_RUN_DIR" |
        xargs grep -h '^nbdkit_pid=' | head -n 1 | cut -d= -f2)
  awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"
}

s3vol create big --size 1G --chunk-size 1M >/dev/null || die "create"
head -c "${mb}M" /dev/urandom > "$T/big"
s3vol put big "$T/big" /big >/dev/null || die "put"
rm -f "$T/big"

# cold N: empty the chunk store, drop the page cache, attach N read-only
# and read /big through all N at once; sets secs (attaches and reads),
# gets, misses.
cold () {
  local n=$1 i pids=() p t0 g0 m0
  "$S3VOL" cache prune >/dev/null || die "prune"
  [ "$(cache_field bytes)" = 0 ] || die "the chunk store is not empty after prune"
  # From before the attaches: a plugin starts prefetching at once.
  proxy_clear
  echo 3 > /proc/sys/vm/drop_caches
  g0=$(chunk_gets) m0=$(cache_field misses)
  t0=$(date +%s.%N)
  for i in $(seq 1 "$n"); do
    mkdir -p "$T/m$i"
    s3vol attach big "$T/m$i" --read-only >/dev/null || die "attach $i"
  done
  rss0=$(rss_kib "$T/m1")
  for i in $(seq 1 "$n"); do
    cat "$T/m$i/big" >/dev/null & pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || die "a read failed"; done
  secs=$(_elapsed "$t0")
  gets=$(( $(chunk_gets) - g0 )) misses=$(( $(cache_field misses) - m0 ))
  rss1=$(rss_kib "$T/m1")
  for i in $(seq 1 "$n"); do
    s3vol detach "$T/m$i" >/dev/null || die "detach $i"
  done
}

cold 1
s1=$secs g1=$gets x1=$misses r0=$rss0 r1=$rss1
cold "$many"
printf '  cold read of a %d MiB file (1 MiB chunks) on RGW:\n' "$mb"
printf '  %-28s %12s %14s\n' "" "1 attachment" "$many at once"
printf '  %-28s %12s %14s\n' "seconds (attach + read)" "$s1" "$secs"
printf '  %-28s %12s %14s\n' "chunk GETs" "$g1" "$gets"
printf '  %-28s %12s %14s\n' "chunk store misses" "$x1" "$misses"
printf '  %-28s %12s %14s\n' "MiB/s delivered (all)" \
  "$(awk -v m="$mb" -v s="$s1" 'BEGIN { printf "%.0f", m / s }')" \
  "$(awk -v m="$mb" -v n="$many" -v s="$secs" 'BEGIN { printf "%.0f", m * n / s }')"

# Measured per TiB of volume: nbdkit on a 1 GiB and on a 1 TiB volume
# (no filesystem), after reading its first and last 4 KiB.
plugin_rss () {
  create_volume "$1" "$2" 1M || die "create $1"
  start_plugin "$1" volume="$1" || die "nbdkit on $1"
  nbdsh -u "$(uri "$1")" -c 'h.pread(4096, 0); h.pread(4096, h.get_size() - 4096)' ||
    die "read $1"
  awk '/^VmRSS:/ { print $2 }' "/proc/$(plugin_pid "$1")/status"
  stop_plugin "$1"
}
rg=$(plugin_rss small 1G) rt=$(plugin_rss huge 1T)

# Computed: the chunk store keeps no index in memory (a file per chunk,
# counters in one shared page).  The overlay keeps per chunk of the
# volume a state byte, 2 bits of the on-disk map as last written and a
# bit per map page; the base version caches the pages it has read, 40
# bytes a chunk (struct page_entry: slot, stored_len, 32-byte id), never
# evicted while the version is open, plus 56 bytes a page of 4096
# chunks in the root.
echo "  RAM of the cache index, 1 MiB chunks:"
echo "    measured: nbdkit RSS ${r0} KiB before reading $mb MiB, ${r1} KiB" \
     "after: $(( (r1 - r0) )) KiB, or" \
     "$(awk -v d=$((r1 - r0)) -v m="$mb" 'BEGIN { printf "%.0f", d / 1024 * 1048576 / m }') MiB per TiB read"
echo "    measured: nbdkit RSS on a 1 GiB volume ${rg} KiB, on a 1 TiB volume" \
     "${rt} KiB: $(( (rt - rg) )) KiB per TiB of volume"
echo "    computed: host chunk store 0 per TiB cached (on disk, one file a chunk);"
echo "      overlay chunk map 1 B + 2 bits + 1/32768 B a chunk = $(( (1 << 20) * 5 / 4 >> 20 )).25 MiB per TiB of volume;"
echo "      version pages 40 B a referenced chunk + 56 B per 4096 = $(( ((1 << 20) * 40 + 256 * 56) >> 20 )) MiB per TiB referenced"
