#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# make bench, section "write": 1 GiB of random data written into a file
# of a mounted volume (dd, fsynced) and made durable in S3 (detach
# returns: the last commit is published), against the raw server in the
# same run: rclone putting the same bytes as 1 MiB objects, 16 at once.
# Prints MB/s of each and their ratio, how many chunks write-behind had
# uploaded before the detach, the plugin's CPU seconds per GiB and its
# peak RSS.  BENCH_PERF=1 adds a profile of the plugin during the write
# (perf record -g, the top of perf report).  Every object written is
# deleted at the end.  Figures only; it fails only if a step does.
#
#   BENCH_WRITE_MB=1024 BENCH_PERF=0 tests/bench/write.sh
export S3VOL_TEST_S3=1
. "$(dirname "$0")/../support/functions.sh"
. "$(dirname "$0")/benchlib.sh"
requires_root
requires_fuse
requires_loop
mb=${BENCH_WRITE_MB:-1024}
bytes=$((mb << 20))

make_store
private_home
raw=raw-$TEST_NAME-$(date +%s)-$$
on_exit "rgw_purge '$STORE'; rgw_purge 's3://$S3VOL_TEST_BUCKET/$raw'"
on_exit "'$S3VOL' detach '$T/m' >/dev/null 2>&1"

src=$(mktemp -d /dev/shm/s3vol-bench-write.XXXXXX)
on_exit "rm -rf '$src'"
head -c "$bytes" /dev/urandom >"$src/all"
mkdir "$src/parts"
split -b 1M -a 4 "$src/all" "$src/parts/p"

phase "raw: rclone, $mb x 1 MiB objects, 16 at once"
t0=$(date +%s.%N)
raw_put "$src/parts" "$raw" 16 || die "rclone copy"
raw_s=$(_elapsed "$t0")
rm -rf "$src/parts"

phase "s3vol: dd $mb MiB into a mounted volume, then detach"
s3vol create w --size $((mb * 4))M --chunk-size 1M >/dev/null || die "create"
mkdir -p "$T/m"
s3vol attach w "$T/m" >/dev/null || die "attach"
pid=$(nbdkit_pid "$T/m")
[ -n "$pid" ] || die "no nbdkit for $T/m"
proc_watch "$pid" "$T/proc" &
watch=$!
if [ "${BENCH_PERF:-0}" = 1 ]; then
  perf record -q -g -F 499 -p "$pid" -o "$T/perf.data" 2>/dev/null &
  perf_pid=$!
fi
read -r cpu0 _ < <(sleep 0.3; cat "$T/proc")
t0=$(date +%s.%N)
dd if="$src/all" of="$T/m/f" bs=1M conv=fsync status=none || die "dd"
dd_s=$(_elapsed "$t0")
early=$(status_field "$T/m" early_uploads)
if [ -n "${perf_pid:-}" ]; then
  kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true
fi
s3vol detach "$T/m" >/dev/null || die "detach"
total_s=$(_elapsed "$t0")
wait "$watch" 2>/dev/null || true
read -r cpu1 rss <"$T/proc"

raw_mbps=$(mbps "$bytes" "$raw_s")
dd_mbps=$(mbps "$bytes" "$dd_s")
s3vol_mbps=$(mbps "$bytes" "$total_s")
printf '  %-48s %8s %8s\n' "" "seconds" "MB/s"
printf '  %-48s %8s %8s\n' "raw PUT (rclone, 1 MiB objects, 16 at once)" "$raw_s" "$raw_mbps"
printf '  %-48s %8s %8s\n' "s3vol dd (fsynced, to the local cache)" "$dd_s" "$dd_mbps"
printf '  %-48s %8s %8s\n' "s3vol dd + detach (durable in S3)" "$total_s" "$s3vol_mbps"
echo "  s3vol durable / raw PUT: $(ratio "$s3vol_mbps" "$raw_mbps")x (target >= 0.9)"
echo "  chunks uploaded by write-behind before the detach: $early of $mb"
echo "  plugin CPU: $(awk -v a="$cpu0" -v b="$cpu1" -v m="$mb" \
  'BEGIN { printf "%.2f", (b - a) * 1024 / m }') s per GiB written; peak RSS $((rss / 1024)) MiB"
if [ -s "$T/perf.data" ]; then
  echo "  profile of the plugin during dd (perf, self time, top 25):"
  perf report -i "$T/perf.data" --no-children --stdio --sort dso,symbol \
    2>/dev/null | grep -v '^#' | grep '%' | head -25 | sed 's/^/    /'
fi
