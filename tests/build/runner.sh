#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The test runner cannot be fooled: skips (exit 77 or a cmocka
# "[  SKIPPED ]") count as skips, and as failures where skips are not
# allowed; an empty run fails; the closing line gives every count.
set -euo pipefail
cd "$(dirname "$0")/../.."
T=$(mktemp -d /tmp/s3vol-runner.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail () { echo "FAIL: $*"; exit 1; }

# run_with NO_SKIP CMD...: source the runner in a subshell, run each
# CMD as one test, report; prints the output, returns report's status
run_with () {
  local no_skip=$1; shift
  ( unset CI; export S3VOL_NO_SKIP=$no_skip LOGDIR="$T/logs"
    mkdir -p "$LOGDIR"
    . tests/support/runner.sh
    local c
    for c in "$@"; do run_test "t/$c" bash -c "$c"; done
    report )
}

out=$(run_with 0 'exit 0' 'echo "SKIP: no x"; exit 77' \
  'echo "[  SKIPPED ] test_a"; exit 0') || fail "skips failed the run: $out"
grep -qx 'tests: 1 passed, 0 failed, 2 skipped' <<<"$out" ||
  fail "counts wrong: $out"
grep -q '^SKIP  t/echo "\[  SKIPPED' <<<"$out" || fail "cmocka skip not shown as a skip: $out"

if out=$(run_with 1 'exit 0' 'echo "[  SKIPPED ] test_a"; exit 0'); then
  fail "a cmocka skip passed where skips are not allowed: $out"
fi
grep -qx 'tests: 1 passed, 1 failed, 0 skipped' <<<"$out" || fail "counts wrong: $out"

if out=$(run_with 1 'exit 77'); then fail "exit 77 passed where skips are not allowed"; fi
if out=$(run_with 0 'exit 3'); then fail "a failure passed"; fi

if out=$(run_with 0); then fail "an empty run passed: $out"; fi
grep -q 'no test ran' <<<"$out" || fail "an empty run did not say so: $out"

# CI=true alone forbids skips
if out=$( (export CI=true LOGDIR="$T/logs2"; mkdir -p "$LOGDIR"; unset S3VOL_NO_SKIP
           . tests/support/runner.sh; run_test t/skip bash -c 'exit 77'; report) ); then
  fail "CI=true allowed a skip"
fi
echo "runner: ok"
