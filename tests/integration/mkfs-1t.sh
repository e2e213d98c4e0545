#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
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
# The reference, in this run and so under the same load: mkfs.ext4 of a
# sparse 1 TiB file in $T, with no plugin, FUSE or loop device.
truncate -s 1T "$T/ref.img"
timed t_ref mkfs.ext4 -q -F "$T/ref.img"
rm -f "$T/ref.img"
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
# "Quickly": within 300 s or 40 times the reference, whichever is more
# (on an idle machine it takes a few seconds; writing the zeros of even
# a small part of 1 TiB would take far longer).
limit=$(awk -v r="$t_ref" 'BEGIN { l = 40 * r; print (l > 300 ? l : 300) }')
echo "mkfs.ext4 of a local sparse file: ${t_ref}s; the bound: ${limit}s"
awk -v t="$t_mkfs" -v l="$limit" 'BEGIN { exit !(t < l) }' ||
  die "mkfs.ext4 took ${t_mkfs}s (bound ${limit}s, reference ${t_ref}s)"
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
