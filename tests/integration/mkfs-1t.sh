#!/usr/bin/env bash
# A thin 1 TiB volume: mkfs.ext4 through nbdkit -> nbdfuse -> losetup
# finishes quickly, and after a commit the store holds less than 10 MiB
# more than the empty volume did (zeros are never stored).  The new
# filesystem mounts, and e2fsck -fn finds it clean, read back through a
# fresh cache.  Prints the figures.  On the directory store and on S3.
. "$(dirname "$0")/../support/functions.sh"
requires_root
requires_fuse
requires_loop
requires mkfs.ext4 e2fsck
on_each_store
make_store

create_volume big 1T 1M
before=$(store_bytes)
start_plugin w volume=big
fuse_attach w "$T/fuse"
loop_attach dev "$T/fuse/nbd"

phase "mkfs.ext4 of 1 TiB"
timed t_mkfs mkfs.ext4 -q -F "$dev"
mount_fs "$dev" "$T/mnt"
echo "hello" >"$T/mnt/hello"
umount_fs "$T/mnt"
timed t_commit commit w "mkfs" >/dev/null
after=$(store_bytes)
added=$((after - before))
echo "RESULT mkfs.ext4 1 TiB ($STORE_KIND store): ${t_mkfs}s; commit" \
     "${t_commit}s; store grew by $added bytes ($((added >> 10)) KiB)"
[ $added -lt $((10 << 20)) ] || die "the store grew by $added bytes (>= 10 MiB)"
awk -v t="$t_mkfs" 'BEGIN { exit !(t < 120) }' ||
  die "mkfs.ext4 took ${t_mkfs}s"
loop_detach "$dev"
fuse_detach "$T/fuse"
stop_plugin w

phase "e2fsck -fn through a fresh cache"
v=$(head_version big)
start_plugin r volume=big version="$v"
fuse_attach r "$T/rfuse" -r
timed t_fsck e2fsck -fn "$T/rfuse/nbd" || die "e2fsck found errors"
echo "e2fsck of version $v: ${t_fsck}s, fetched $(ctl_status r bytes_fetched) bytes"
loop_attach rdev "$T/rfuse/nbd" -r
mount_fs "$rdev" "$T/rmnt" ro,noload
grep -qx hello "$T/rmnt/hello" || die "the file written after mkfs is missing"
df -h "$T/rmnt" | tail -n1
phase "done"
