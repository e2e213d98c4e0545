#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# make bench, section "latency": on a 1 TiB volume (1 MiB chunks) on the
# S3 test server, the time to attach it (s3vol attach: nbdkit, nbdfuse,
# loop device, mount) and to commit a 4 KiB change (a 4 KiB file
# written and fsynced, then s3vol commit; five times), in absolute
# figures beside the same steps on the nbdkit file plugin path (a 1 TiB
# sparse file: nbdkit, nbdfuse, loop, mount; sync, then fsfreeze -f and
# -u as its "commit").  Objects written are deleted at the end.  Figures
# only; it fails only if a step does.
export S3VOL_TEST_S3=1
. "$(dirname "$0")/../support/functions.sh"
. "$(dirname "$0")/benchlib.sh"
bench_start

ms_since () { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
# stats LIST: "median max" of numbers
stats () { tr ' ' '\n' <<<"$*" | sort -n | awk '{ a[NR] = $1 }
  END { printf "%d %d", a[int((NR + 1) / 2)], a[NR] }'; }

phase "s3vol: create a 1 TiB volume, attach, five commits of 4 KiB"
s3vol create big --size 1T --chunk-size 1M >/dev/null || die "create"
mkdir -p "$T/m"
t0=$(date +%s%N)
s3vol attach big "$T/m" >/dev/null || die "attach"
attach_ms=$(ms_since "$t0")
commits=()
for i in 1 2 3 4 5; do
  head -c 4096 /dev/urandom >"$T/four"
  dd if="$T/four" of="$T/m/f$i" bs=4k conv=fsync status=none || die "write"
  t0=$(date +%s%N)
  s3vol commit "$T/m" >/dev/null || die "commit"
  commits+=("$(ms_since "$t0")")
done
t0=$(date +%s%N)
s3vol detach "$T/m" >/dev/null || die "detach"
detach_ms=$(ms_since "$t0")

phase "file plugin path: the same steps on a 1 TiB sparse file"
file_image ref 1T
t0=$(date +%s%N)
file_path ref 1T "$T/ref"
ref_attach_ms=$(ms_since "$t0")
refs=()
for i in 1 2 3 4 5; do
  dd if="$T/four" of="$T/ref/f$i" bs=4k conv=fsync status=none || die "write"
  t0=$(date +%s%N)
  sync -f "$T/ref/f$i" && fsfreeze -f "$T/ref" && fsfreeze -u "$T/ref" ||
    die "fsfreeze"
  refs+=("$(ms_since "$t0")")
done

read -r cmed cmax <<<"$(stats "${commits[*]}")"
read -r rmed rmax <<<"$(stats "${refs[*]}")"
row () { printf '  %-40s %12s %18s\n' "$@"; }
row "1 TiB volume, ms" "s3vol" "file plugin path"
row "attach (to a mounted filesystem)" "$attach_ms" "$ref_attach_ms"
row "commit of a 4 KiB change: median" "$cmed" "$rmed"
row "                            max of 5" "$cmax" "$rmax"
row "detach (s3vol)" "$detach_ms" ""
echo "  targets: attach < 500 ms, commit of 4 KiB < 200 ms on RGW"
