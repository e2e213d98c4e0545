#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# An s3vol run killed with SIGKILL while its command runs leaves an
# orphaned attachment (nbdkit, nbdfuse, the command, its mount
# namespace), not processes forever: s3vol status lists it as ORPHANED
# with its id, and s3vol recover stops what is left of the command,
# commits what the volume holds (the command's fsynced file is in the
# newest version) and detaches it: no nbdkit or nbdfuse left running,
# nothing left in the run directory.  (Before, status showed nothing
# wrong, and nbdkit and nbdfuse ran on for ever.)  The plugin of a killed
# run recovers by itself (run_killed.sh); S3VOL_AUTO_RECOVER=0 leaves the
# orphan for s3vol recover, which is what is tested here.
. "$(dirname "$0")/../support/functions.sh"
requires_root
requires_fuse
requires_loop
on_each_store

make_store
export S3VOL_STORE=$STORE S3VOL_AUTO_RECOVER=0
private_home
on_exit "'$S3VOL' recover >/dev/null 2>&1"
"$S3VOL" create orphan --size 256M >/dev/null || die "create"

phase "s3vol run killed with SIGKILL mid-command"
# No background commits: what is published, recover publishes.
"$S3VOL" run --commit-interval 0 -v orphan:/data -- sh -c '
    echo "fsynced before the kill" > /data/f &&
    sync /data/f && echo $$ > "'"$T"'/cmd.pid" && touch "'"$T"'/ready" &&
    exec sleep 617' \
  >"$T/run.out" 2>&1 &
run_pid=$!
wait_or_die 60 "the command to write /data/f" test -e "$T/ready"
kill -9 "$run_pid"
wait "$run_pid" 2>/dev/null || true
v=$(head_version orphan)

phase "s3vol status lists it as orphaned"
"$S3VOL" status >"$T/status" || die "status failed"
cat "$T/status"
grep -q "ORPHANED.*s3vol recover [0-9a-f]\{16\}" "$T/status" ||
  die "status does not say it is orphaned"
"$S3VOL" status --json | grep -q '"orphaned":true' ||
  die "status --json does not say it is orphaned"
cmd_pid=$(cat "$T/cmd.pid")
on_exit "kill -9 $cmd_pid 2>/dev/null"
kill -0 "$cmd_pid" 2>/dev/null || die "the command is gone already"

phase "s3vol recover cleans up and publishes"
"$S3VOL" recover >"$T/recover.out" 2>&1 ||
  die "recover failed: $(cat "$T/recover.out")"
cat "$T/recover.out"
grep -q "^recovered orphan" "$T/recover.out" || die "recover says nothing"
got=$("$S3VOL" get orphan /f -) || die "/f is not in the newest version"
[ "$got" = "fsynced before the kill" ] || die "/f holds '$got'"
[ "$(head_version orphan)" -gt "$v" ] || die "recover published nothing"
wait_until 10 eval '! pgrep -f "nbd(kit|fuse).*$T" >/dev/null' ||
  die "left running: $(pgrep -af "nbd(kit|fuse).*$T")"
wait_until 10 eval "! kill -0 $cmd_pid 2>/dev/null" ||
  die "the command of the orphan still runs"
[ -z "$(ls "$S3VOL_RUN_DIR")" ] || die "left in the run directory: $(ls "$S3VOL_RUN_DIR")"
"$S3VOL" status | grep -q . && die "status still lists: $("$S3VOL" status)"
"$S3VOL" recover | grep -qx "no orphaned attachments" ||
  die "a second recover found something"
phase "attach of a volume with an orphan recovers it first"
# (Before, attach mounted the head without what the killed run fsynced,
# which stayed stranded under the orphan's id.)
"$S3VOL" run --commit-interval 0 -v orphan:/data -- sh -c '
    echo "second run" > /data/f2 && sync /data/f2 &&
    touch "'"$T"'/ready2" && exec sleep 617' >"$T/run2.out" 2>&1 &
run_pid=$!
wait_or_die 60 "the second command to write /data/f2" test -e "$T/ready2"
kill -9 "$run_pid"
wait "$run_pid" 2>/dev/null || true
mkdir -p "$T/m"
"$S3VOL" attach orphan "$T/m" >"$T/attach.out" 2>&1 ||
  die "attach failed: $(cat "$T/attach.out")"
on_exit "'$S3VOL' detach '$T/m' >/dev/null 2>&1"
cat "$T/attach.out"
grep -q "^recovering attachment [0-9a-f]\{16\} of orphan" "$T/attach.out" ||
  die "attach did not say it recovered the orphan"
[ "$(cat "$T/m/f2" 2>&1)" = "second run" ] ||
  die "the mount lacks what the killed run fsynced: $(cat "$T/m/f2" 2>&1)"
[ "$("$S3VOL" status --json | grep -c '"orphaned":true')" = 0 ] ||
  die "an orphan is left"
"$S3VOL" detach "$T/m" >/dev/null || die "detach"
phase "a killed --ephemeral run: recover deletes its volume"
# (Before, recover committed it and its objects stayed in the store.)
before=$(store_keys) || die "cannot list the store"
"$S3VOL" run --ephemeral -v scratch:/scratch -- sh -c '
    head -c 3M /dev/urandom > /scratch/x && sync /scratch/x &&
    touch "'"$T"'/ready3" && exec sleep 617' >"$T/run3.out" 2>&1 &
run_pid=$!
wait_or_die 60 "the ephemeral command to write" test -e "$T/ready3"
during=$(store_keys)
[ -n "$(comm -13 <(echo "$before") <(echo "$during"))" ] ||
  die "the listing does not show the ephemeral volume's objects"
kill -9 "$run_pid"
wait "$run_pid" 2>/dev/null || true
"$S3VOL" recover >"$T/recover3.out" 2>&1 ||
  die "recover failed: $(cat "$T/recover3.out")"
cat "$T/recover3.out"
grep -q "ephemeral volume .* deleted" "$T/recover3.out" ||
  die "recover does not say it deleted the ephemeral volume"
after=$(store_keys)
[ "$before" = "$after" ] ||
  die "the ephemeral volume left: $(comm -13 <(echo "$before") <(echo "$after") | head -3)"
phase "done"
