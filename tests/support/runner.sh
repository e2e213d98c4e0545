# SPDX-License-Identifier: BSD-3-Clause
# s3vol test runners: counting and reporting, sourced by run-unit/run-all.
#
# run_test NAME CMD...   runs CMD, logs its output to $LOGDIR/NAME.log,
# and prints one line.  Exit 0 counts as passed, unless the output shows
# a cmocka test skipped ("[  SKIPPED ]"): then the program counts as
# skipped, like exit 77.  Anything else is failed.  A skip is a failure
# when skips are not allowed: S3VOL_NO_SKIP=1, CI=true, or (in run-all)
# a machine that has everything the suite needs (root, FUSE, loop
# devices), where nothing has a reason to skip.
#
# report   prints what ran, the closing "N passed, N failed, N skipped"
# line, and fails when anything failed or nothing ran.

# Tools in /sbin and /usr/sbin (mkfs.ext4, e2fsck, losetup) are found
# also when the caller's PATH lacks them.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin ;; esac
case ":$PATH:" in *:/sbin:*) ;; *) PATH=$PATH:/sbin ;; esac
export PATH

passed=0 failed=0 skipped=0
failed_names=()
LOGDIR=${LOGDIR:-$(mktemp -d /tmp/s3vol-tests.XXXXXX)}
export LOGDIR                   # tests keep screenshots there (web_browser)
[ "${CI:-}" = true ] && S3VOL_NO_SKIP=1

# Does this machine have what every test needs?  (run-all calls it.)
machine_can_run_everything () {
  [ "$(id -u)" -eq 0 ] && [ -c /dev/fuse ] && [ -e /dev/loop-control ]
}

run_test () {
  local name=$1; shift
  local log="$LOGDIR/$(echo "$name" | tr '/ ' '__').log"
  local start=$SECONDS rc=0 why
  "$@" >"$log" 2>&1 </dev/null || rc=$?
  local t=$((SECONDS - start))
  if [ $rc -eq 0 ] && grep -qa '^\[  SKIPPED \]' "$log"; then
    rc=77
  fi
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1)); printf 'PASS  %-44s %4ss\n' "$name" "$t"
    return 0
  fi
  if [ $rc -eq 77 ]; then
    why=$(grep -m1 -a -E 'SKIP|SKIPPED' "$log" | cut -c1-100)
    if [ "${S3VOL_NO_SKIP:-0}" != 1 ]; then
      skipped=$((skipped + 1)); printf 'SKIP  %-44s %s\n' "$name" "$why"
      return 0
    fi
    echo "SKIP not allowed here (root, FUSE and loop devices, or CI): $name: $why"
  fi
  failed=$((failed + 1)); failed_names+=("$name")
  printf 'FAIL  %-44s %4ss (exit %s)\n' "$name" "$t" "$rc"
  echo "----- last 40 lines of $log"
  tail -n 40 "$log" | sed 's/^/    /'
  echo "-----"
}

report () {
  local ran=$((passed + failed + skipped))
  echo
  [ ${#failed_names[@]} -gt 0 ] && echo "failed: ${failed_names[*]}"
  echo "logs in $LOGDIR"
  echo "ran $ran test programs"
  echo "tests: $passed passed, $failed failed, $skipped skipped"
  if [ $ran -eq 0 ]; then
    echo "FAIL: no test ran"
    return 1
  fi
  [ $failed -eq 0 ]
}
