#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# make bench, section "freeze": how long background commits freeze the
# filesystem under a random-write load (fio: direct I/O, 4-64 KiB, 8 in
# flight, for BENCH_FREEZE_SECS seconds, commits every 5 s), shown as
# the plugin's longest_freeze_ms (FIFREEZE call to FITHAW's return) and
# as fio's maximum write latency; beside the same load on the nbdkit
# file plugin path with an fsfreeze -f / -u every 5 s.  Objects written
# are deleted at the end.  Figures only; it fails only if a step does.
#
#   BENCH_FREEZE_SECS=20 tests/bench/freeze.sh
export S3VOL_TEST_S3=1
. "$(dirname "$0")/../support/functions.sh"
. "$(dirname "$0")/benchlib.sh"
bench_start
requires fio
secs=${BENCH_FREEZE_SECS:-20}


phase "s3vol: fio random writes for $secs s, background commits"
s3vol create fz --size 2G --chunk-size 1M >/dev/null || die "create"
mkdir -p "$T/m"
s3vol attach fz "$T/m" >/dev/null || die "attach"
fallocate -l 256M "$T/m/fio.dat" || die "fallocate"
s3vol commit "$T/m" >/dev/null || die "commit"
c0=$(status_field "$T/m" commits)
fio_randwrite "$T/m" "$secs" "$T/s3vol.json" || die "fio on s3vol"
freeze_ms=$(status_field "$T/m" longest_freeze_ms)
commits=$(( $(status_field "$T/m" commits) - c0 ))
s3vol detach "$T/m" >/dev/null || die "detach"

phase "file plugin path: the same load, fsfreeze -f / -u every 5 s"
file_path ref 2G "$T/ref"
fallocate -l 256M "$T/ref/fio.dat" || die "fallocate"
sync
fio_randwrite "$T/ref" "$secs" "$T/file.json" &
fio_pid=$!
ref_ms=0 nfreeze=0
sleep 5
while _alive "$fio_pid"; do
  t0=$(date +%s%N)
  fsfreeze -f "$T/ref" && fsfreeze -u "$T/ref" || die "fsfreeze"
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  [ "$ms" -gt "$ref_ms" ] && ref_ms=$ms
  nfreeze=$((nfreeze + 1))
  sleep 5
done
wait "$fio_pid" || die "fio on the file path"

row () { printf '  %-34s %12s %12s %8s %8s\n' "$@"; }
row "" "longest" "fio max" "write" "write"
row "" "freeze ms" "latency ms" "IOPS" "MB/s"
row "s3vol ($commits background commits)" "$freeze_ms" \
  "$(fio_field "$T/s3vol.json" max_lat_ms)" \
  "$(fio_field "$T/s3vol.json" iops)" "$(fio_field "$T/s3vol.json" mbps)"
row "file plugin path ($nfreeze fsfreeze)" "$ref_ms" \
  "$(fio_field "$T/file.json" max_lat_ms)" \
  "$(fio_field "$T/file.json" iops)" "$(fio_field "$T/file.json" mbps)"
echo "  target: s3vol's longest freeze < 50 ms"
