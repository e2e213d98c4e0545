#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# make stress: tests/integration/idle.sh with the attachments issue's
# sizes (S3VOL_TEST_IDLE_SECONDS=30, make check: the script's default):
# an idle read-write ext4 mount with background commits every second
# publishes no version for 30 s (then 15 s after a write).
# On each store (directory, then S3 with the environment of
# scripts/s3-server env); S3VOL_TEST_S3=0 or 1 picks one.
set -eu
cd "$(dirname "$0")/../.."
export BUILD=${BUILD:-build}
export S3VOL_TEST_IDLE_SECONDS=${S3VOL_TEST_IDLE_SECONDS:-30}
exec bash tests/integration/idle.sh
