#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# s3vol run commits while its command runs: inside the command,
# "s3vol commit /data" finds the volume by the path the command sees (in
# its private mount namespace) and publishes a version; background
# commits (--commit-interval) publish what the command wrote before it
# exits, through the same freeze as attach; "s3vol reload /ro" moves a
# read-only volume of the run to a version published meanwhile.  Mounts
# are noatime,discard,nosuid,nodev.  (Before, s3vol commit /data said
# "nothing is attached at /data", and nothing was published before the
# command ended.)
. "$(dirname "$0")/../support/functions.sh"
requires_root
requires_fuse
requires_loop
on_each_store

make_store
export S3VOL_STORE=$STORE
private_home
"$S3VOL" create work --size 256M >/dev/null || die "create work"
"$S3VOL" create other --size 64M >/dev/null || die "create other"
v0=$(head_version work)

phase "s3vol run: commit inside, background commits, reload inside"
# The command: write and commit /data/a; write /data/b and wait for the
# test to have seen it published (a background commit) and to have put
# /new into "other"; reload /ro and read /new.
"$S3VOL" run --commit-interval 1 -v work:/data -v other:/ro:ro -- sh -c '
    set -e
    cd /
    grep " /data " /proc/self/mountinfo > "'"$T"'/mountinfo"
    echo first > /data/a
    "'"$S3VOL"'" commit /data -m inside > "'"$T"'/commit.out"
    echo second > /data/b
    touch "'"$T"'/ready"
    i=0
    while [ ! -e "'"$T"'/go" ] && [ $i -lt 1200 ]; do
      sleep 0.05; i=$((i + 1)); done
    "'"$S3VOL"'" reload /ro > "'"$T"'/reload.out"
    cat /ro/new > "'"$T"'/new.read"
    exit 7' >"$T/run.out" 2>&1 &
run_pid=$!
on_exit "kill $run_pid 2>/dev/null"
wait_or_die 60 "the command to commit and write /data/b" test -e "$T/ready"
cat "$T/commit.out"
grep -Eq "^committed work version [0-9]+$" "$T/commit.out" ||
  die "s3vol commit /data inside the run: $(cat "$T/commit.out" "$T/run.out")"
got=$("$S3VOL" get work /a -) || die "/a is not in the version committed inside"
[ "$got" = first ] || die "/a holds '$got'"
wait_or_die 60 "a background commit of /data/b" \
  eval '[ "$("$S3VOL" get work /b - 2>/dev/null)" = second ]'
echo "   /b published in the background while the command runs"
echo "from outside" > "$T/new"
"$S3VOL" put other "$T/new" /new >/dev/null || die "put into other"
touch "$T/go"
rc=0
wait "$run_pid" || rc=$?
cat "$T/run.out"
[ $rc = 7 ] || die "run exited $rc, not the command's 7"
grep -q "^reloaded other at /ro" "$T/reload.out" ||
  die "s3vol reload /ro inside the run: $(cat "$T/reload.out")"
grep -qx "from outside" "$T/new.read" || die "/ro/new after the reload"
for o in noatime discard nosuid nodev; do
  grep -q "$o" "$T/mountinfo" || die "/data not mounted $o: $(cat "$T/mountinfo")"
done
[ "$(head_version work)" -ge $((v0 + 2)) ] || die "fewer than two versions"

phase "nothing left"
[ -z "$(ls "$S3VOL_RUN_DIR")" ] || die "left in the run directory: $(ls "$S3VOL_RUN_DIR")"
[ -z "$(ls -A "$XDG_CACHE_HOME/s3vol")" ] ||
  die "caches left: $(ls -R "$XDG_CACHE_HOME/s3vol")"
pgrep -f "nbd(kit|fuse).*$T" >/dev/null && die "left running: $(pgrep -af "$T")"
phase "done"
