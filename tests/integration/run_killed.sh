#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# An s3vol run killed with SIGKILL while its command writes and fsyncs
# files cleans up after itself, without anyone running s3vol recover:
# within 10 s its plugin has noticed, stopped the command, unmounted,
# committed and exited (no nbdkit, nbdfuse or command process of it
# left), the newest version holds every file the command fsynced and is
# a clean filesystem (e2fsck -fn).  A version published mid-write
# without a freeze (an unreplayed journal, crafted through the control
# socket's cut and finish) attached read-only shows every file fsynced
# before it: its journal is replayed into the attachment's cache, not
# skipped with noload.  detach thaws a filesystem left frozen (as by a
# plugin killed mid-commit) before unmounting it.  (Before: nbdkit,
# nbdfuse and the command ran on until s3vol recover, the read-only
# mount hid the fsynced files, and a frozen filesystem was unmounted
# frozen, its loop device held for ever.)
. "$(dirname "$0")/../support/functions.sh"
requires_root
requires_fuse
requires_loop
requires e2fsck dumpe2fs debugfs nbdsh nbdfuse python3 fsfreeze
on_each_store

make_store
export S3VOL_STORE=$STORE
private_home
mkdir -p "$T/mnt"
on_exit "umount '$T/mnt' 2>/dev/null; '$S3VOL' recover >/dev/null 2>&1"
"$S3VOL" create killed --size 256M >/dev/null || die "create"

# ctl REQUEST...: send requests on one connection to the only
# attachment's control socket; print the replies.
ctl_all () {
  local sock
  sock=$(echo "$S3VOL_RUN_DIR"/*/ctl.sock)
  [ -S "$sock" ] || die "no control socket in $S3VOL_RUN_DIR"
  python3 - "$sock" "$@" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
f = s.makefile("rw")
for req in sys.argv[2:]:
    f.write(req + "\n"); f.flush()
    print(f.readline().strip())
EOF
}

nsynced () { [ -e "$T/synced" ] && wc -l < "$T/synced" || echo 0; }

phase "s3vol run: the command writes and fsyncs files in a loop"
# No background commits: what is published, the test and the plugin's
# last commit publish.  After each fsync (file, then directory), the
# name goes to a log outside the volume.
"$S3VOL" run --commit-interval 0 -v killed:/data -- sh -c '
    echo $$ > "'"$T"'/cmd.pid"
    i=0
    while :; do
      i=$((i + 1))
      head -c 20000 /dev/urandom > /data/f$i
      sync /data/f$i /data
      echo f$i >> "'"$T"'/synced"
      sleep 0.02
    done' \
  >"$T/run.out" 2>&1 &
run_pid=$!
on_exit "kill -9 $run_pid 2>/dev/null"
wait_or_die 60 "the command to fsync 5 files" \
  eval '[ "$(nsynced)" -ge 5 ]'
rec=$(echo "$S3VOL_RUN_DIR"/*/info)
kit_pid=$(sed -n 's/^nbdkit_pid=//p' "$rec")
fuse_pid=$(sed -n 's/^nbdfuse_pid=//p' "$rec")
cmd_pid=$(cat "$T/cmd.pid")
[ -n "$kit_pid" ] && [ -n "$fuse_pid" ] && [ -n "$cmd_pid" ] ||
  die "no pids in $rec"
on_exit "kill -9 $cmd_pid $fuse_pid $kit_pid 2>/dev/null"

phase "publish mid-write without a freeze (cut, finish)"
cp "$T/synced" "$T/before-cut"
ctl_all cut "finish mid-write" >"$T/ctl.out"
grep -q "^ok [0-9]" "$T/ctl.out" || die "cut/finish: $(cat "$T/ctl.out")"
vj=$(awk '/^ok [0-9]/ { v = $2 } END { print v }' "$T/ctl.out")
n=$(nsynced)
wait_or_die 60 "3 more fsynced files" eval '[ "$(nsynced)" -ge $((n + 3)) ]'

phase "SIGKILL s3vol run"
kill -9 "$run_pid"
wait "$run_pid" 2>/dev/null || true
gone () {
  ! kill -0 "$cmd_pid" 2>/dev/null && ! kill -0 "$kit_pid" 2>/dev/null &&
    ! kill -0 "$fuse_pid" 2>/dev/null
}
wait_until 10 gone ||
  die "10 s after the kill, still running:$(kill -0 "$cmd_pid" 2>/dev/null &&
       echo " the command")$(kill -0 "$kit_pid" 2>/dev/null &&
       echo " nbdkit")$(kill -0 "$fuse_pid" 2>/dev/null && echo " nbdfuse")"
wait_until 10 eval '[ -z "$(ls "$S3VOL_RUN_DIR")" ]' ||
  die "left in the run directory: $(ls "$S3VOL_RUN_DIR")"

phase "the newest version holds every fsynced file, and is clean"
v=$(head_version killed)
[ "$v" -gt "$vj" ] || die "nothing published after the kill (head $v)"
"$S3VOL" ls killed / >"$T/ls" || die "ls"
while read -r f; do
  grep -qx "$f" "$T/ls" || die "$f was fsynced but is not in version $v"
done <"$T/synced"
echo "$(nsynced) fsynced files in version $v"
"$S3VOL" export killed "$T/last.img" >/dev/null || die "export"
e2fsck -fn "$T/last.img" >"$T/fsck" 2>&1 ||
  die "e2fsck of version $v: $(cat "$T/fsck")"
rm -f "$T/last.img"

phase "read-only attach of the version with an unreplayed journal"
# Its superblock as stored (a writable plugin replays nothing): the
# needs_recovery flag (incompat 0x4) is set.
start_plugin raw volume=killed version="$vj" readonly=false ||
  die "serve version $vj"
nbdsh -u "$(uri raw)" -c '
sb = h.pread(1024, 1024)
print("needs_recovery" if int.from_bytes(sb[0x60:0x64], "little") & 4
      else "clean")' >"$T/sb" || die "read the superblock of $vj"
stop_plugin raw
grep -qx needs_recovery "$T/sb" ||
  die "version $vj has no journal to replay: the test crafted nothing"
"$S3VOL" attach killed "$T/mnt" --version "$vj" >"$T/attach.out" 2>&1 ||
  die "attach --version $vj: $(cat "$T/attach.out")"
cat "$T/attach.out"
while read -r f; do
  [ -e "$T/mnt/$f" ] ||
    die "$f was fsynced before version $vj but the read-only mount hides it"
done <"$T/before-cut"
grep -q unreplayed "$T/attach.out" &&
  die "mounted without replaying the journal (noload)"
echo "$(wc -l < "$T/before-cut") fsynced files in version $vj, read-only"
"$S3VOL" detach "$T/mnt" >/dev/null || die "detach"

phase "a plugin that cannot recover replays the journal, commits, exits"
# The plugin alone, its owner a sleep, recover=/bin/false (which fails):
# the plugin shuts down with the filesystem still mounted, so its last
# commit is of a filesystem whose journal it replayed itself.
sleep 617 &
owner=$!
on_exit "kill -9 $owner 2>/dev/null"
start=$(awk '{ print $22 }' "/proc/$owner/stat")
v0=$(head_version killed)
start_plugin alone volume=killed owner="$owner:$start" recover=/bin/false ||
  die "start the plugin with owner="
alone_pid=$(plugin_pid alone)
fuse_attach alone "$T/alone.fuse"
loop_attach dev "$T/alone.fuse/nbd"
mount_fs "$dev" "$T/alone.mnt"
for i in 1 2 3 4 5; do
  echo "$i" > "$T/alone.mnt/alone$i" && sync "$T/alone.mnt/alone$i" \
    "$T/alone.mnt" || die "write alone$i"
done
kill -9 "$owner"
wait "$owner" 2>/dev/null || true
wait_until 10 eval '! _alive $alone_pid' ||
  die "the plugin still runs 10 s after its owner's death"
# Its block device is dead: take it down (nbdfuse has gone with nbdkit,
# leaving its FUSE mount behind).
umount_fs "$T/alone.mnt" 2>/dev/null
loop_detach "$dev"
fusermount3 -uz "$T/alone.fuse" 2>/dev/null
v=$(head_version killed)
[ "$v" -gt "$v0" ] || die "the plugin published nothing on its way out"
"$S3VOL" export killed "$T/alone.img" >/dev/null || die "export"
dumpe2fs -h "$T/alone.img" 2>/dev/null | grep -q needs_recovery &&
  die "version $v has a journal to replay"
e2fsck -fn "$T/alone.img" >"$T/fsck" 2>&1 ||
  die "e2fsck of version $v: $(cat "$T/fsck")"
for i in 1 2 3 4 5; do
  [ "$(debugfs -R "cat /alone$i" "$T/alone.img" 2>/dev/null)" = "$i" ] ||
    die "/alone$i was fsynced but is not in version $v"
done
rm -f "$T/alone.img"

phase "detach thaws a filesystem left frozen"
# As a plugin killed between its freeze and its thaw leaves it.  Before,
# the unmount left the frozen filesystem alive in the kernel, holding
# its loop device.
"$S3VOL" attach killed "$T/mnt" >/dev/null || die "attach"
echo after > "$T/mnt/thawed" && sync "$T/mnt/thawed" || die "write"
dev=$(sed -n 's/^device=//p' "$S3VOL_RUN_DIR"/*/info)
case $dev in /dev/loop*) ;; *) die "no loop device ($dev)" ;; esac
fsfreeze -f "$T/mnt" || die "fsfreeze"
timeout 60 "$S3VOL" detach "$T/mnt" >"$T/detach.out" 2>&1 ||
  die "detach of a frozen filesystem: $(cat "$T/detach.out")"
grep -q "thawed" "$T/detach.out" || die "detach did not thaw"
wait_until 10 eval '[ ! -e "/sys/block/${dev#/dev/}/loop/backing_file" ]' ||
  die "$dev is still in use after detach"
[ "$("$S3VOL" get killed /thawed -)" = after ] ||
  die "/thawed is not in the newest version"
phase "done"
