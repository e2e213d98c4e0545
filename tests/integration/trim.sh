#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Space is freed: ext4 mounted with discard on the real block path
# (nbdkit -> nbdfuse -> losetup), a 64 MiB file written, synced and
# committed, then removed, synced, fstrim'd and committed again: the new
# version must reference less than 10 MiB more than the version before
# the file was written (its chunks are holes again, not zeros).  An
# fstrim of free space that already reads as zeros (a fresh filesystem,
# or free space trimmed before) dirties no chunk.
# On a directory store and on the S3 test server.
. "$(dirname "$0")/../support/functions.sh"
requires_root
requires_fuse
requires_loop
requires mountpoint fstrim
on_each_store
make_store
mb=${S3VOL_TEST_TRIM_MB:-64}      # the file's size in MiB (make stress: 200)

# referenced NAME: bytes the head version of NAME references.
referenced () {
  s3vol info "$1" --json |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["bytes_referenced"])'
}

phase "a 1 GiB ext4 volume, mounted with discard,noatime"
s3vol create v --size 1G >/dev/null
start_plugin w volume=v
fuse_attach w "$T/fuse"
loop_attach dev "$T/fuse/nbd"
mount_fs "$dev" "$T/mnt" discard,noatime,noinit_itable
sync
v0=$(commit w "mounted")
r0=$(referenced v)
echo "version $v0 references $r0 bytes"

phase "fstrim of free space that reads as zeros: nothing gets dirty"
d0=$(ctl_status w dirty_bytes)
fstrim "$T/mnt"
d1=$(ctl_status w dirty_bytes)
echo "dirty before fstrim: $d0 bytes, after: $d1"
[ "$d1" = "$d0" ] || die "fstrim of zeros dirtied $((d1 - d0)) bytes"

phase "write a $mb MiB file, sync, commit"
dd if=/dev/urandom of="$T/mnt/big" bs=1M count="$mb" conv=fsync status=none
sync
v1=$(commit w "big file")
r1=$(referenced v)
echo "version $v1 references $r1 bytes"
[ "$r1" -ge $((r0 + (mb << 20))) ] ||
  die "version $v1 references $r1 bytes: the file is not in it"

phase "rm the file, sync, fstrim, commit"
rm "$T/mnt/big"
sync
fstrim "$T/mnt"
v2=$(commit w "removed")
r2=$(referenced v)
echo "version $v2 references $r2 bytes ($(( (r2 - r0) >> 10 )) KiB more" \
     "than version $v0)"
[ "$v2" -gt "$v1" ] || die "removing the file published nothing"
[ "$r2" -lt $((r0 + (10 << 20))) ] ||
  die "version $v2 references $r2 bytes: the removed file's chunks were" \
      "not freed (version $v0: $r0)"

phase "fstrim again (free space already trimmed): the volume does not grow"
fstrim "$T/mnt"
sync
v3=$(commit w "idle trim")
r3=$(referenced v)
[ "$r3" -le "$r2" ] || die "an fstrim of free space grew the volume: $r3 > $r2"
echo "version $v3 references $r3 bytes"
phase "done"
