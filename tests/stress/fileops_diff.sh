#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# make stress: the file verbs against the kernel at full size
# (tests/support/fileops_diff.py): 10,000 operations or more
# (FILEOPS_DIFF_OPS), in batches of 200, a quarter of them applied by the
# kernel to the attached volume, with CLI runs of up to 20 operations;
# every version e2fsck'd, each batch compared through get -r and a kernel
# mount.  Then one directory grown past two index levels (three with
# largedir) through the CLI and edited (test_extfs with
# S3VOL_TEST_LARGEDIR=1).  Prints the seed (FILEOPS_DIFF_SEED reruns it).
. "$(dirname "$0")/../support/functions.sh"
requires_root
requires_fuse
requires_loop
requires mkfs.ext4 e2fsck nbdcopy
private_home
on_exit 'mountpoint -q "$T/w/mnt" && { "$S3VOL" detach "$T/w/mnt" || umount "$T/w/mnt"; } >/dev/null 2>&1'

ops=${FILEOPS_DIFF_OPS:-10000}
seed=${FILEOPS_DIFF_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}

phase "$ops operations on the directory store (seed $seed)"
make_store
python3 "$SUPPORT/fileops_diff.py" --s3vol "$S3VOL" --store "$STORE" \
  --work "$T/w" --ops "$ops" --seed "$seed" --kernel-ops --batch 200 \
  --many 20 --grow 3000 --size 1G --log "$T/ops.log" ||
  die "a difference (seed $seed); rerun: FILEOPS_DIFF_SEED=$seed $0"

phase "a directory of three index levels (largedir)"
S3VOL_TEST_LARGEDIR=1 "$BUILD/tests/test_extfs" ||
  die "test_extfs with S3VOL_TEST_LARGEDIR=1 failed"
echo "ok: fileops_diff stress, seed $seed"
