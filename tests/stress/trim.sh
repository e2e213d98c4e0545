#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# make stress: tests/integration/trim.sh with the attachments issue's
# sizes (S3VOL_TEST_TRIM_MB=200, make check: the script's default):
# a 200 MiB file written, committed, removed, fstrim'd and committed:
# the new version references < 10 MiB more than before the file.
# On each store (directory, then S3 with the environment of
# scripts/s3-server env); S3VOL_TEST_S3=0 or 1 picks one.
set -eu
cd "$(dirname "$0")/../.."
export BUILD=${BUILD:-build}
export S3VOL_TEST_TRIM_MB=${S3VOL_TEST_TRIM_MB:-200}
exec bash tests/integration/trim.sh
