#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The real block path, as attach uses it where there is no kernel NBD:
# nbdkit -> nbdfuse -> losetup -> ext4.  On the directory store and S3:
#  - mkfs.ext4, mount, copy in a tree of files, sync; commit with the
#    plugin freezing the filesystem itself (ctl "freeze"); then a commit
#    by hand: fsfreeze -f, ctl "cut", fsfreeze -u, change a file, ctl
#    "finish": the version must hold the tree as at the cut;
#  - a second plugin on a fresh cache at that version, read-only: e2fsck
#    -fn is clean, and the mounted tree equals the original (diff -r and
#    a manifest of types, modes, sizes, link counts, symlinks, mtimes);
#  - the change made after the cut is in the version nbdkit commits when
#    it stops.
. "$(dirname "$0")/../support/functions.sh"
requires_root
requires_fuse
requires_loop
requires mkfs.ext4 e2fsck fsfreeze mountpoint diff
on_each_store

seed=${S3VOL_TEST_SEED:-$RANDOM}
echo "store $STORE_KIND, seed $seed"
make_store

manifest () {
  (cd "$1" && find . -mindepth 1 -path ./lost+found -prune -o \
     -printf '%P|%y|%m|%s|%n|%l|%T@\n' | sort)
}

phase "the tree to copy"
python3 "$SUPPORT/mktree.py" "$T/ref" "$seed" 24
manifest "$T/ref" >"$T/ref.manifest"
echo "$(wc -l <"$T/ref.manifest") entries, $(du -sh --apparent-size "$T/ref" | cut -f1)"

phase "nbdkit, nbdfuse, losetup, mkfs.ext4, mount"
create_volume fs 4G 1M
start_plugin w volume=fs
fuse_attach w "$T/fuse"
loop_attach dev "$T/fuse/nbd"
timed t mkfs.ext4 -q -F "$dev"
echo "mkfs.ext4 of 4 GiB: ${t}s"
mount_fs "$dev" "$T/mnt"
on_exit "fsfreeze -u '$T/mnt' 2>/dev/null"

phase "copy the tree in; commit with freeze=MOUNTPOINT"
cp -a "$T/ref/." "$T/mnt/"
sync
ctl w "freeze $T/mnt" >/dev/null
v1=$(commit w "tree, frozen by the plugin")
ctl w "freeze" >/dev/null
echo "version $v1, longest freeze $(ctl_status w longest_freeze_ms) ms"
awk -v ms="$(ctl_status w longest_freeze_ms)" 'BEGIN { exit !(ms > 0) }' ||
  die "the plugin did not freeze $T/mnt"

phase "commit by hand: freeze, cut, thaw, change a file, finish"
echo "more" >"$T/mnt/new-file"
cp -a "$T/mnt/new-file" "$T/ref/new-file"
sync
out=$(ctl w "!fsfreeze -f '$T/mnt'" cut "!fsfreeze -u '$T/mnt'" \
        "!echo after the cut >'$T/mnt/after-cut' && sync" "finish by hand") ||
  die "cut/finish: $out"
v2=$(echo "$out" | tail -n1 | sed -n 's/^ok //p')
[ -n "$v2" ] && [ "$v2" -gt "$v1" ] || die "finish gave no new version: $out"
echo "version $v2"
manifest "$T/ref" >"$T/ref.manifest"

phase "detach: umount, losetup -d, fusermount3 -u, stop nbdkit (commits)"
umount_fs "$T/mnt"
loop_detach "$dev"
fuse_detach "$T/fuse"
stop_plugin w
v3=$(head_version fs)
[ "$v3" -gt "$v2" ] || die "stopping nbdkit committed nothing (head $v3)"

phase "version $v2 on a fresh cache, read-only: e2fsck, diff"
start_plugin r volume=fs version="$v2"
fuse_attach r "$T/rfuse" -r
loop_attach rdev "$T/rfuse/nbd" -r
e2fsck -fn "$rdev" || die "e2fsck found errors in version $v2"
mount_fs "$rdev" "$T/rmnt" ro,noload
diff -r --no-dereference -x lost+found -x fifo "$T/ref" "$T/rmnt" ||
  die "version $v2 differs from the tree"
manifest "$T/rmnt" | diff "$T/ref.manifest" - ||
  die "version $v2: types, modes, sizes, links or times differ"
[ ! -e "$T/rmnt/after-cut" ] || die "a change made after the cut is in it"
echo "version $v2: $(wc -l <"$T/ref.manifest") entries match; fetched" \
     "$(ctl_status r bytes_fetched) bytes"
umount_fs "$T/rmnt"
loop_detach "$rdev"
fuse_detach "$T/rfuse"
stop_plugin r

phase "version $v3 (committed at stop) has the change made after the cut"
start_plugin h volume=fs version="$v3"
fuse_attach h "$T/hfuse" -r
e2fsck -fn "$T/hfuse/nbd" >/dev/null || die "e2fsck found errors in version $v3"
loop_attach hdev "$T/hfuse/nbd" -r
mount_fs "$hdev" "$T/hmnt" ro,noload
grep -q "after the cut" "$T/hmnt/after-cut" || die "after-cut is not in $v3"
umount_fs "$T/hmnt"
loop_detach "$hdev"
fuse_detach "$T/hfuse"
stop_plugin h
phase "done"
