#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Two `s3vol run` of one volume at once, as two sandboxes on one host
# start them: neither may lose its work silently.  Each writes its own
# file and waits until the other has written too (or has ended), so the
# runs overlap.  A run that exits 0 must have its file in the newest
# version; a run that could not publish must exit non-zero.  (Before,
# both used one run directory, keyed by the volume name: the second
# wrote, exited 0, and its file was in no version.)
. "$(dirname "$0")/../support/functions.sh"
requires_root
requires_fuse
requires_loop

make_store
export S3VOL_STORE=$STORE
private_home
"$S3VOL" create shared --size 1G >/dev/null || die "create"

# start_run X OTHER: run a sandbox that writes /data/X, then waits (at
# most 30 s) for OTHER to have written too, and exits; its pid is in
# pid_X, its output in $T/X.out.
start_run () {
  local x=$1 o=$2
  "$S3VOL" run -v shared:/data -- sh -c '
      echo "'"$x"' was here" > /data/'"$x"' && sync &&
      touch "'"$T/$x"'.ready" &&
      i=0
      while [ ! -e "'"$T/$o"'.ready" ] && [ $i -lt 600 ]; do
        sleep 0.05; i=$((i + 1)); done' >"$T/$x.out" 2>&1 &
  eval "pid_$x=\$!"
}

phase "two runs of one volume at once"
start_run a b
start_run b a
rca=0 rcb=0
wait "$pid_a" || rca=$?
wait "$pid_b" || rcb=$?
echo "run a: exit $rca: $(tr '\n' ' ' <"$T/a.out")"
echo "run b: exit $rcb: $(tr '\n' ' ' <"$T/b.out")"
[ "$rca" = 0 ] || [ "$rcb" = 0 ] || die "neither run succeeded"

for x in a b; do
  eval "rc=\$rc$x"
  [ "$rc" = 0 ] || continue
  got=$("$S3VOL" get shared "/$x" - 2>&1) ||
    die "run $x exited 0 but /$x is in no version: $got"
  [ "$got" = "$x was here" ] || die "run $x: /$x holds '$got'"
done
[ -z "$(ls "$S3VOL_RUN_DIR" 2>/dev/null)" ] ||
  die "attachments left behind: $(ls "$S3VOL_RUN_DIR")"
mount | grep -q "$T" && die "left mounted: $(mount | grep "$T")"
echo ok
