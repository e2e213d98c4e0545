#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Run the libFuzzer targets of tests/fuzz/.
#
#   tests/fuzz/run.sh                 make check's pass: each target over
#                                     its seed corpus (tests/fuzz/corpus/,
#                                     reproducers of fixed bugs included)
#                                     plus a few seconds of fuzzing
#   tests/fuzz/run.sh --long SECONDS  make fuzz: each target for SECONDS,
#                                     its corpus kept in build-fuzz/corpus/
#
# Prints per target the inputs run, the corpus size and the crashes found,
# and fails if any target crashed (a sanitizer report, a leak, a timeout
# or an abort of the harness).  Crash inputs go to build-fuzz/crashes/.
# Without clang or libFuzzer it skips (exit 77), except as root or with
# CI=true: there every tool can be installed (scripts/install-deps), so a
# missing one fails.
#
# FUZZ_BUILD (build-fuzz), FUZZ_TARGETS (all), FUZZ_JOBS (targets at once,
# 1), FUZZ_VERBOSE=1 (show s3vol's messages) change what it does.
set -u
cd "$(dirname "$0")/../.."
case ":$PATH:" in *:/sbin:*) ;; *) PATH=$PATH:/sbin:/usr/sbin ;; esac

B=${FUZZ_BUILD:-build-fuzz}
long=0 seconds=0
if [ "${1:-}" = --long ]; then
  long=1 seconds=${2:-120}
fi

can_skip () {
  [ "$(id -u)" -ne 0 ] && [ "${CI:-}" != true ] &&
    [ "${S3VOL_NO_SKIP:-0}" != 1 ]
}

# ---- the tools and the build ----

if ! command -v clang >/dev/null 2>&1 ||
   ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n){return 0;}' |
     clang -x c -fsanitize=fuzzer -o /dev/null - >/dev/null 2>&1; then
  if can_skip; then
    echo "SKIP: needs clang and libFuzzer (libclang-rt-dev)"
    exit 77
  fi
  echo "FAIL: clang with libFuzzer is missing (scripts/install-deps test)"
  exit 1
fi
# A private TMPDIR, on tmpfs when there is one: every ext4 exec makes and
# removes a store and a cache there.
shm=/dev/shm; [ -w "$shm" ] || shm=${TMPDIR:-/tmp}
T=$(mktemp -d "$shm/s3vol-fuzzrun.XXXXXX")
trap 'rm -rf "$T"' EXIT

if ! make -s --no-print-directory -j"$(nproc)" FUZZ_BUILD="$B" fuzz-build \
     >"$T/build.log" 2>&1; then
  cat "$T/build.log"
  echo "FAIL: the fuzz targets do not build"
  exit 1
fi

targets=${FUZZ_TARGETS:-$(cd tests/fuzz && ls fuzz_*.c | sed 's/\.c$//')}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# How long each target fuzzes in the short pass: the ext4 targets run
# an input in tens of milliseconds, the others in microseconds.
check_seconds () {
  case $1 in fuzz_ext4_*) echo 10 ;; *) echo 5 ;; esac
}

# The options of target $1.
options () {
  local o="-timeout=30 -rss_limit_mb=3072 -print_final_stats=1"
  case $1 in
    fuzz_ext4_*) o="$o -max_len=4194304" ;;
    fuzz_xml) o="$o -dict=tests/fuzz/xml.dict -max_len=65536" ;;
    *) o="$o -max_len=65536" ;;
  esac
  echo "$o"
}

# run_target NAME: fuzz it, leave a one-line summary in $T/NAME.sum.
run_target () {
  local t=$1 secs work crashes log execs corp c n rc=0 left end
  local art=$B/crashes/$t/
  mkdir -p "$art"
  if [ $long = 1 ]; then
    secs=$seconds work=$B/corpus/$t
  else
    secs=$(check_seconds "$t") work=$T/corpus-$t
  fi
  mkdir -p "$work" "$T/tmp-$t"
  log=$B/logs/$t.log
  mkdir -p "$(dirname "$log")"
  : > "$log"
  end=$((SECONDS + secs))
  execs=0 crashes=0 corp=?
  # A long run goes on after a crash (up to 5 times) to find more.
  while :; do
    left=$((end - SECONDS))
    [ $left -lt 1 ] && left=1
    rc=0
    TMPDIR=$T/tmp-$t nice -n 10 "$B/fuzz/$t" $(options "$t") \
      -max_total_time=$left -artifact_prefix="$art" \
      "$work" "tests/fuzz/corpus/$t" >"$log.part" 2>&1 || rc=$?
    cat "$log.part" >> "$log"
    n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log.part")
    execs=$((execs + ${n:-0}))
    # libFuzzer's last word on its corpus: "corp: INPUTS/SIZE".
    c=$(grep -a -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$log.part" | tail -1)
    [ -n "$c" ] && corp=${c#corp: }
    rm -f "$log.part"
    [ $rc -eq 0 ] && break
    if [ $rc -eq 126 ] || [ $rc -eq 127 ]; then
      echo "  $t: cannot run $B/fuzz/$t (exit $rc)" >> "$T/$t.err"
      crashes=$((crashes + 1))
      break
    fi
    crashes=$((crashes + 1))
    [ $long = 1 ] && [ $crashes -lt 5 ] && [ $SECONDS -lt $end ] || break
  done
  printf '%-16s %9s execs %5ss  corpus %-14s crashes %s\n' \
    "$t" "$execs" "$secs" "$corp" "$crashes" > "$T/$t.sum"
  [ -e "$T/$t.err" ] && cat "$T/$t.err" >> "$T/$t.sum"
  if [ $crashes -gt 0 ]; then
    echo "  $t: see $log; inputs in $art" >> "$T/$t.sum"
    grep -a -m3 -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|fuzz harness)' \
      "$log" | sed 's/^/    /' >> "$T/$t.sum"
  fi
}

jobs=${FUZZ_JOBS:-1}
for t in $targets; do
  run_target "$t" &
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
done
wait

failed=0
for t in $targets; do
  cat "$T/$t.sum"
  grep -q 'crashes 0$' "$T/$t.sum" || failed=1
done
if [ $failed = 1 ]; then
  echo "FAIL: a fuzz target crashed (inputs under $B/crashes/)"
  exit 1
fi
echo "fuzz: no crash"
