#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Two mounted writers of one volume: two read-write attachments, each
# with its own cache and mountpoint (as two hosts would have them), both
# on the same version, both writing (--commit-interval 0: they publish
# only when asked, so which one is first is the test's choice):
#  - the first to commit publishes; the second's commit exits 4 with a
#    message saying where its changes are kept, publishes nothing, and
#    its plugin says "conflict"; the changes still read back through its
#    device, and its reload refuses (exit 4) leaving it as it was;
#  - its detach exits 4 too; nbdkit restarted on that cache directory
#    still holds every change (mounted read-only: e2fsck clean, the same
#    bytes), and its background commits fail as conflicts, publishing
#    nothing;
#  - force=true on that cache: the commit wins, recording the version it
#    replaced, and a fresh reader sees its files, not the other writer's.
# On a directory store and on the S3 test server.
. "$(dirname "$0")/../support/functions.sh"
requires_root
requires_fuse
requires_loop
requires mkfs.ext4 e2fsck dd cmp
on_each_store
make_store
private_home
on_exit 'for m in "$T"/m?; do [ -d "$m" ] && "$S3VOL" detach "$m" >/dev/null 2>&1; done'

# att_status MOUNTPOINT FIELD: a field of that attachment's plugin status.
att_status () {
  s3vol status --json | python3 -c '
import json, sys
for line in sys.stdin:
    a = json.loads(line)
    if a["mountpoint"] == sys.argv[1]:
        v = a["status"][sys.argv[2]]
        print(str(v).lower() if isinstance(v, bool) else v)' "$1" "$2"
}

# run_rc CODE TAG CMD...: run CMD, want exit CODE; output in $T/TAG.out,
# $T/TAG.err.
run_rc () {
  local want=$1 tag=$2 rc=0; shift 2
  "$@" >"$T/$tag.out" 2>"$T/$tag.err" || rc=$?
  [ "$rc" = "$want" ] || die "$* exited $rc, not $want: $(cat "$T/$tag.err")"
  echo "   $tag: exit $rc: $(cat "$T/$tag.err" "$T/$tag.out" | head -n1)"
}

phase "two read-write attachments of one version"
s3vol create v --size 1G >/dev/null
base=$(head_version v)
mkdir -p "$T/m1" "$T/m2"
s3vol attach v "$T/m1" --cache-dir "$T/c1" --commit-interval 0 >/dev/null
s3vol attach v "$T/m2" --cache-dir "$T/c2" --commit-interval 0 >/dev/null
for m in m1 m2; do
  [ "$(att_status "$T/$m" base_version)" = "$base" ] ||
    die "$m is not on version $base"
done
head -c 1M /dev/urandom > "$T/one"
head -c 3M /dev/urandom > "$T/two"
cp "$T/one" "$T/m1/one"
cp "$T/two" "$T/m2/two"
mkdir "$T/m2/dir"
echo "small" > "$T/m2/dir/small"

phase "the first commit publishes, the second conflicts: exit 4"
run_rc 0 commit1 s3vol commit "$T/m1" -m "writer one"
grep -qx "committed v version $((base + 1))" "$T/commit1.out" ||
  die "the first commit did not publish $((base + 1))"
run_rc 4 commit2 s3vol commit "$T/m2" -m "writer two"
grep -qF "commit of v conflicts: another writer published a newer version; your changes are kept in $T/c2" \
  "$T/commit2.err" || die "the conflict does not say where the changes are"
[ -s "$T/commit2.out" ] && die "a conflicting commit printed a version"
[ "$(head_version v)" = $((base + 1)) ] || die "the conflicting commit published"
[ "$(att_status "$T/m2" last_commit_result)" = conflict ] ||
  die "the plugin does not say conflict"
[ "$(att_status "$T/m2" base_version)" = "$base" ] ||
  die "the conflicting cache moved off version $base"
[ "$(att_status "$T/m2" dirty_bytes)" -gt 0 ] || die "the changes are not dirty"
# Still readable through its device (O_DIRECT: not the page cache).
dd if="$T/m2/two" iflag=direct bs=1M status=none | cmp - "$T/two" ||
  die "the conflicting writer's file reads back different"
[ -e "$T/m2/one" ] && die "the other writer's file showed up"
run_rc 4 reload2 s3vol reload "$T/m2"
grep -q "not reloaded; $T/m2 is unchanged" "$T/reload2.err" ||
  die "reload does not say it left $T/m2 as it was"
cmp "$T/m2/two" "$T/two" || die "the refused reload changed the mount"

phase "detach: the first writer publishes, the second exits 4"
run_rc 0 detach1 s3vol detach "$T/m1"
head=$(head_version v)
run_rc 4 detach2 s3vol detach "$T/m2"
grep -qF "your changes are kept in $T/c2" "$T/detach2.err" ||
  die "detach does not say where the changes are"
mountpoint -q "$T/m2" && die "$T/m2 is still mounted"
[ "$(head_version v)" = "$head" ] || die "the conflicting detach published"

phase "nbdkit restarted on that cache: every change is still there"
start_plugin r volume=v cache-dir="$T/c2" commit-interval=1
[ "$(ctl_status r base_version)" = "$base" ] || die "not on version $base"
wait_until 30 eval '[ "$(ctl_status r last_commit_result)" = conflict ]' ||
  die "background commits did not fail as conflicts:" \
      "$(ctl_status r last_commit_result)"
[ "$(head_version v)" = "$head" ] || die "a background commit published"
fuse_attach r "$T/rfuse" -r
e2fsck -fn "$T/rfuse/nbd" >"$T/fsck.log" 2>&1 ||
  { cat "$T/fsck.log"; die "e2fsck of the kept changes"; }
loop_attach rdev "$T/rfuse/nbd" -r
mount_fs "$rdev" "$T/rmnt" ro
cmp "$T/rmnt/two" "$T/two" || die "two differs after the restart"
grep -qx small "$T/rmnt/dir/small" || die "dir/small lost after the restart"
[ -e "$T/rmnt/one" ] && die "the other writer's file showed up"
echo "   after $(ctl_status r commit_failures) failed background commits:" \
     "$(ctl_status r dirty_bytes) dirty bytes, all there"
umount_fs "$T/rmnt"
loop_detach "$rdev"
fuse_detach "$T/rfuse"
stop_plugin r
[ "$(head_version v)" = "$head" ] || die "stopping nbdkit published"

phase "force=true: that cache's commit wins and says what it replaced"
start_plugin f volume=v cache-dir="$T/c2" force=true
forced=$(commit f "forced")
[ "$forced" = $((head + 1)) ] || die "the forced commit gave '$forced'"
s3vol versions v --json | python3 -c '
import json, sys
v = json.load(sys.stdin)[-1]
assert v["seq"] == int(sys.argv[1]) and v["forced"], v
assert v["overwrote"] == int(sys.argv[2]), v' "$forced" "$head" ||
  die "version $forced does not record that it replaced $head"
stop_plugin f
s3vol get v /two - | cmp - "$T/two" || die "a fresh reader does not get two"
s3vol ls v / >"$T/ls"
grep -qx one "$T/ls" && die "the replaced writer's file is in the head"
grep -qx dir/ "$T/ls" || die "dir is not in the head"
phase "done"
