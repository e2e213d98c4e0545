#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The file verbs against the kernel (tests/support/fileops_diff.py):
# about 300 random operations (FILEOPS_DIFF_OPS; seed FILEOPS_DIFF_SEED,
# else random and printed) on the directory store, CLI batches and
# batches the kernel applies to the attached volume, each compared with
# a model tree through get -r and a kernel mount, every version checked
# by e2fsck -fn; then a short run on the S3 test server (its objects
# deleted at the end).  tests/stress/fileops_diff.sh runs 10,000 through
# this script: FILEOPS_DIFF_ARGS replaces the driver's sizes (batch,
# grow, many, size), FILEOPS_DIFF_S3=0 leaves S3 out.
# Needs root, FUSE and loop devices (else SKIP).
. "$(dirname "$0")/../support/functions.sh"
requires_root
requires_fuse
requires_loop
requires mkfs.ext4 e2fsck nbdcopy
private_home
on_exit 'mountpoint -q "$T/w/mnt" && { "$S3VOL" detach "$T/w/mnt" || umount "$T/w/mnt"; } >/dev/null 2>&1'

ops=${FILEOPS_DIFF_OPS:-300}
seed=${FILEOPS_DIFF_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}

phase "$ops operations on the directory store (seed $seed)"
make_store
# shellcheck disable=SC2086  # FILEOPS_DIFF_ARGS: options, split
python3 "$SUPPORT/fileops_diff.py" --s3vol "$S3VOL" --store "$STORE" \
  --work "$T/w" --ops "$ops" --seed "$seed" --kernel-ops \
  ${FILEOPS_DIFF_ARGS:---batch 30 --many 10 --grow 600 --size 256M} \
  --log "$T/ops.log" ||
  die "a difference (seed $seed; operations in $T/ops.log); rerun:" \
      "FILEOPS_DIFF_SEED=$seed $0"

if [ "${FILEOPS_DIFF_S3:-1}" = 0 ]; then
  echo "NOTE: S3 left out (FILEOPS_DIFF_S3=0)"
elif have_s3; then
  phase "40 operations on the S3 test server (seed $seed)"
  STORE_KIND=s3 make_store
  rm -rf "$T/w"
  python3 "$SUPPORT/fileops_diff.py" --s3vol "$S3VOL" --store "$STORE" \
    --work "$T/w" --ops 40 --seed "$seed" --batch 20 --grow 400 \
    --size 128M ||
    die "a difference on S3 (seed $seed)"
else
  echo "NOTE: no S3 environment: the directory store only"
fi
echo "ok: fileops_diff, seed $seed"
