# s3vol test runners: counting and reporting, sourced by run-unit/run-all.
#
# run_test NAME CMD...   runs CMD, logs its output to $LOGDIR/NAME.log,
# counts exit 0 as passed, 77 as skipped (a failure when S3VOL_NO_SKIP=1,
# as on CI), anything else as failed, and prints one line.

passed=0 failed=0 skipped=0
failed_names=()
LOGDIR=${LOGDIR:-$(mktemp -d /tmp/s3vol-tests.XXXXXX)}

run_test () {
  local name=$1; shift
  local log="$LOGDIR/$(echo "$name" | tr '/ ' '__').log"
  local start=$SECONDS rc=0
  "$@" >"$log" 2>&1 || rc=$?
  local t=$((SECONDS - start))
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1)); printf 'PASS  %-44s %4ss\n' "$name" "$t"
  elif [ $rc -eq 77 ] && [ "${S3VOL_NO_SKIP:-0}" != 1 ]; then
    skipped=$((skipped + 1)); printf 'SKIP  %-44s %s\n' "$name" \
      "$(grep -m1 -a SKIP "$log" | cut -c1-100)"
  else
    failed=$((failed + 1)); failed_names+=("$name")
    [ $rc -eq 77 ] && echo "SKIP not allowed here (S3VOL_NO_SKIP=1): $name"
    printf 'FAIL  %-44s %4ss (exit %s)\n' "$name" "$t" "$rc"
    echo "----- last 40 lines of $log"
    tail -n 40 "$log" | sed 's/^/    /'
    echo "-----"
  fi
}

report () {
  echo
  [ ${#failed_names[@]} -gt 0 ] && echo "failed: ${failed_names[*]}"
  echo "logs in $LOGDIR"
  echo "$passed passed, $failed failed, $skipped skipped"
  [ $failed -eq 0 ]
}
