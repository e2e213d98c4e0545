#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# make stress: the file verbs against the kernel at full size: 10,000
# operations or more (FILEOPS_DIFF_OPS; FILEOPS_DIFF_SEED reruns a seed)
# through tests/integration/fileops_diff.sh on the directory store, in
# batches of 200 (every other one applied by the kernel to the attached
# volume), CLI runs of up to 30 operations, directories grown to 3,000
# entries; then a directory index of three levels (largedir), made and
# edited through extfs (test_extfs with S3VOL_TEST_LARGEDIR=1).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$here/../../$BUILD ;; esac
FILEOPS_DIFF_OPS=${FILEOPS_DIFF_OPS:-10000} FILEOPS_DIFF_S3=0 \
  FILEOPS_DIFF_ARGS="--batch 200 --many 30 --grow 3000 --size 4G --kernel-every 2" \
  BUILD=$BUILD bash "$here/../integration/fileops_diff.sh"
echo "== a directory of three index levels (largedir)"
S3VOL_TEST_LARGEDIR=1 "$BUILD/tests/test_extfs"
