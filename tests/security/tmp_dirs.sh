#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The file verbs (ls, get, put, ...) keep their cache in a private
# TMPDIR/s3vol-files-PID-XXXXXX directory.  A process killed with -9
# cannot remove it; the next file verb removes such stale directories,
# and only those: a directory of another user (here: nobody), one whose
# process still runs, one whose cache lock is held, or a symlink of the
# same pattern are left alone, and a symlink is never followed.
# Each check prints "ok:" or "FAIL:"; the test fails if any failed.
# Needs root (to make a directory owned by another user): else SKIP.
set -u
. "$(dirname "$0")/../support/functions.sh"
requires_root
requires runuser flock

export TMPDIR=$T/tmp
mkdir -m 1777 "$TMPDIR"
chmod 711 "$T"
make_store
stale () { ls -d "$TMPDIR"/s3vol-files-* 2>/dev/null || true; }
has_stale () { [ -n "$(stale)" ]; }
has_lock () { ls "$TMPDIR"/s3vol-files-*/lock >/dev/null 2>&1; }

s3vol create v --size 64M >/dev/null || die "create failed"
head -c 4M /dev/urandom > "$T/big"
s3vol put v "$T/big" / >/dev/null || die "put failed"
[ -z "$(stale)" ] || fail "put left $(stale)"

# ---- a get killed with -9 ----------------------------------------------------

# get writes into a FIFO that nobody reads (this shell holds it open for
# reading, so the open does not block): it stops after 64 KiB.
mkfifo "$T/fifo"
exec 3<>"$T/fifo"
"$S3VOL" --store "$STORE" get v /big - > "$T/fifo" 2>/dev/null &
pid=$!
wait_until 60 has_stale || fail "get made no temporary directory"
wait_until 60 has_lock || fail "get has no cache lock"
sleep 0.5
kill -9 $pid
wait $pid 2>/dev/null || true
exec 3<&-
left=$(stale)
[ -n "$left" ] && ok "a killed get left $left" ||
  fail "a killed get left no directory (the test is wrong)"

# ---- planted look-alikes ----------------------------------------------------

# A pid that is surely gone: a process that has exited.
sh -c 'exit 0' & dead=$!
wait $dead
other=$TMPDIR/s3vol-files-$dead-nobody
runuser -u nobody -- sh -c "mkdir -m 700 '$other' && echo x > '$other/data'"
mkdir "$T/target"
echo precious > "$T/target/data"
link=$TMPDIR/s3vol-files-$dead-symlnk
ln -s "$T/target" "$link"
alive=$TMPDIR/s3vol-files-$$-alive1
mkdir -m 700 "$alive"
echo x > "$alive/data"
locked=$TMPDIR/s3vol-files-$dead-locked
mkdir -m 700 "$locked"
echo x > "$locked/lock"
exec 4<"$locked/lock"
flock -n 4 || die "cannot lock $locked/lock"
mine=$TMPDIR/s3vol-files-$dead-mine00
mkdir -m 700 "$mine"
echo x > "$mine/data"
: > "$mine/lock"
ln -s "$T/target/data" "$mine/state"

# ---- the next file verb --------------------------------------------------------

s3vol ls v / >/dev/null || fail "ls failed"
[ ! -e "$(echo "$left" | head -n1)" ] &&
  ok "ls removed the directory of the killed get" ||
  fail "ls left the directory of the killed get"
[ ! -e "$mine" ] && ok "ls removed a stale directory of this user" ||
  fail "ls left the stale $mine"
[ -f "$other/data" ] && ok "the directory of user nobody is untouched" ||
  fail "ls removed or emptied the directory of user nobody"
[ -L "$link" ] && [ "$(cat "$T/target/data")" = precious ] &&
  ok "a symlink of the pattern is neither removed nor followed" ||
  fail "a symlink of the pattern was removed or followed"
[ -f "$T/target/data" ] && ok "a symlink inside was removed, not followed" ||
  fail "removing a stale directory followed a symlink in it"
[ -f "$alive/data" ] && ok "the directory of a live pid is untouched" ||
  fail "ls removed the directory of a running process"
[ -f "$locked/lock" ] && ok "a directory whose lock is held is untouched" ||
  fail "ls removed a directory whose cache lock is held"
left=$(stale | grep -v -e "$other" -e "$link" -e "$alive" -e "$locked" || true)
[ -z "$left" ] && ok "ls left nothing of its own" || fail "left: $left"

echo "$fails check(s) failed"
[ $fails -eq 0 ]
