#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# make stress: tests/integration/detach_cycles.sh with the attachments issue's
# sizes (S3VOL_TEST_CYCLES=50, make check: the script's default):
# 50 cycles of attach, write, commit, detach: no detach finds the volume
# busy, every file is in the head, nothing left.
# On each store (directory, then S3 with the environment of
# scripts/s3-server env); S3VOL_TEST_S3=0 or 1 picks one.
set -eu
cd "$(dirname "$0")/../.."
export BUILD=${BUILD:-build}
export S3VOL_TEST_CYCLES=${S3VOL_TEST_CYCLES:-50}
exec bash tests/integration/detach_cycles.sh
