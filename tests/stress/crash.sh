#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Many more crash iterations than make check runs (see
# tests/integration/crash.sh): kill -9 nbdkit at random moments during
# writes, flushes and commits, restart, check the durability contract,
# and every 25 crashes check what a commit after the crash published; an
# error that is not the kill fails, and so do counts below crash.sh's
# bounds (which grow with ITERATIONS).
#
#   tests/stress/crash.sh [ITERATIONS]      (default 2000; make stress)
#
# On the directory store unless S3VOL_TEST_S3=1 (then the S3 environment
# of scripts/s3-server env is needed).  S3VOL_TEST_SEED repeats a run.
set -eu
cd "$(dirname "$0")/../.."
export BUILD=${BUILD:-build}
export S3VOL_TEST_S3=${S3VOL_TEST_S3:-0}
exec bash tests/integration/crash.sh "${1:-2000}"
