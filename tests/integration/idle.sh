#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Idle publishes nothing: a fresh ext4 volume mounted read-write on the
# real block path (nbdkit -> nbdfuse -> losetup -> ext4, mounted
# noatime), with background commits every second, each freezing the
# filesystem around its cut.  Mounting, and every freeze and thaw, make
# the kernel rewrite the ext4 superblock (times, mount count, kbytes
# written, checksum): housekeeping, which must publish nothing.
#  - idle for 20 s: the head stays at the version holding the mkfs,
#    though the commits ran (and the superblock's chunk stays dirty);
#  - a file written and fsynced: exactly one new version, holding it;
#  - idle again (half as long): no more versions;
#  - unmounted, mounted again and the file read (the first open of a
#    file makes the kernel log the superblock with where it is mounted,
#    which the next freeze checkpoints): no more versions.
# On a directory store and on the S3 test server.
. "$(dirname "$0")/../support/functions.sh"
requires_root
requires_fuse
requires_loop
requires mountpoint
on_each_store
make_store
idle=${S3VOL_TEST_IDLE_SECONDS:-20}

# commits_done NAME N: the plugin has finished at least N commits.
commits_done () { [ "$(ctl_status "$1" commits)" -ge "$2" ]; }

# stays VOLUME SEQ SECONDS: the head of VOLUME is SEQ all that time.
stays () {
  local end=$((SECONDS + $3)) h
  while [ $SECONDS -lt "$end" ]; do
    h=$(head_version "$1")
    [ "$h" = "$2" ] || die "idle, yet version $h was published (head was $2)"
    sleep 1
  done
}

phase "a fresh ext4 volume, mounted noatime; background commits every 1 s"
s3vol create v --size 1G >/dev/null
v0=$(head_version v)
echo "version $v0 holds the mkfs"
start_plugin w volume=v commit-interval=1 freeze="$T/mnt"
fuse_attach w "$T/fuse"
loop_attach dev "$T/fuse/nbd"
mount_fs "$dev" "$T/mnt" noatime,noinit_itable
on_exit "fsfreeze -u '$T/mnt' 2>/dev/null"

phase "idle for ${idle}s: nothing is published"
c0=$(ctl_status w commits)
stays v "$v0" "$idle"
c1=$(ctl_status w commits)
echo "$((c1 - c0)) background commits while idle; head still $v0;" \
     "dirty $(ctl_status w dirty_bytes) bytes"
[ $((c1 - c0)) -ge $((idle / 4)) ] ||
  die "only $((c1 - c0)) commits in ${idle}s: the test proves nothing"

phase "write and fsync a file: exactly one new version"
head -c 300000 /dev/urandom >"$T/data"
cp "$T/data" "$T/mnt/file"
sync -f "$T/mnt/file"
wait_or_die 30 "a version with the file" \
  eval '[ "$(head_version v)" -gt "$v0" ]'
v1=$(head_version v)
[ "$v1" = $((v0 + 1)) ] || die "versions $((v0 + 1)) to $v1 for one file"
c2=$(ctl_status w commits)
wait_or_die 30 "three more commits" commits_done w $((c2 + 3))
[ "$(head_version v)" = "$v1" ] ||
  die "one write published versions $((v0 + 1)) to $(head_version v)"
echo "version $v1 holds the file"

phase "idle again for $((idle / 2))s: nothing more"
stays v "$v1" $((idle / 2))

phase "remount, read the file (the kernel logs where it is mounted): nothing"
ctl w "freeze" >/dev/null               # not while it is unmounted
umount_fs "$T/mnt"
mount -t ext4 -o noatime,noinit_itable "$dev" "$T/mnt"
ctl w "freeze $T/mnt" >/dev/null
cmp "$T/data" "$T/mnt/file" || die "the file reads back wrong"
c3=$(ctl_status w commits)
wait_or_die 30 "three more commits" commits_done w $((c3 + 3))
[ "$(head_version v)" = "$v1" ] ||
  die "a remount and a read published version $(head_version v)"

phase "a new volume filled by s3vol put, mounted and only read: nothing"
# mke2fs and libext2fs leave the journal superblock without the checksum
# features the kernel sets at the first mount, which also moves the
# journal's sequence (regression: that published a version, and a second
# writer of the volume conflicted).
s3vol create p --size 1G >/dev/null
s3vol put p "$T/data" /put-file >/dev/null || die "put"
vp=$(head_version p)
start_plugin p volume=p commit-interval=1 freeze="$T/mntp"
fuse_attach p "$T/fusep"
loop_attach devp "$T/fusep/nbd"
mount_fs "$devp" "$T/mntp" noatime,noinit_itable
cmp "$T/data" "$T/mntp/put-file" || die "the put file reads back wrong"
c4=$(ctl_status p commits)
wait_or_die 30 "three more commits" commits_done p $((c4 + 3))
[ "$(head_version p)" = "$vp" ] ||
  die "mounting version $vp (from put) and reading published $(head_version p)"

phase "the file is in version $v1, on a fresh cache"
s3vol export v "$T/img" --version "$v1" >/dev/null
debugfs -R "dump /file $T/back" "$T/img" >/dev/null 2>&1 ||
  die "no /file in version $v1"
cmp "$T/data" "$T/back" || die "version $v1 holds other bytes"
phase "done"
