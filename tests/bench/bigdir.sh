# SPDX-License-Identifier: BSD-3-Clause
# make bench, bigdir section (env: BUILD; DIR_STORE from tests/bench/run,
# else a temporary directory): one directory of 100,000 entries
# (BENCH_BIGDIR_FILES) on the directory store, put by s3vol (an htree),
# then each as its own s3vol run: ls, ls -l, and the edits of one entry
# (add, replace with --force, remove, cp in), against the issue's
# targets: ls under 2 s, an edit of one entry under 1 s.  Prints
# figures; exits 1 if a step fails, the listing is wrong, e2fsck -fn
# finds a fault, or a figure misses its target.
#
#   BUILD=build bash tests/bench/bigdir.sh          (alone)
set -u
export PATH=/usr/bin:/usr/sbin:$PATH
BUILD=${BUILD:-build}
S3VOL=$PWD/$BUILD/s3vol
N=${BENCH_BIGDIR_FILES:-100000}
work=$(mktemp -d /tmp/s3vol-bench-bigdir.XXXXXX)
trap 'rm -rf "$work"' EXIT
export TMPDIR=$work S3VOL_CHUNK_CACHE=$work/chunks
store=file://${DIR_STORE:-$work/store}/bigdir
sv=(--store "$store")
failed=0
row () { printf '  %-46s %s\n' "$1" "$2"; }
now () { date +%s.%N; }

# timed TARGET LABEL CMD...: run CMD (output to $work/out), print its
# wall time against TARGET seconds.
timed () {
  local target=$1 label=$2 t0 t1 s verdict; shift 2
  sync
  t0=$(now)
  "$@" > "$work/out" 2> "$work/err" || {
    row "$label" "FAILED: $(head -1 "$work/err")"; failed=1; return; }
  t1=$(now)
  s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  verdict=$(awk -v s="$s" -v t="$target" 'BEGIN { print (s < t) ? "ok" : "OVER" }')
  row "$label" "$(printf '%6.2f s (target < %s s: %s)' "$s" "$target" "$verdict")"
  [ "$verdict" = ok ] || failed=1
}

mkdir -p "${DIR_STORE:-$work/store}" "$work/wide"
python3 - "$work/wide" "$N" <<'PY'
import os, sys
for i in range(int(sys.argv[2])):
    open(os.path.join(sys.argv[1], "entry-%06d" % i), "wb").close()
PY
echo one > "$work/one"
"$S3VOL" "${sv[@]}" create bd --size 4G >/dev/null || { echo "create FAILED"; exit 1; }
t0=$(now)
"$S3VOL" "${sv[@]}" put bd "$work/wide" /wide >/dev/null || { echo "put FAILED"; exit 1; }
row "put of $N empty files into one directory" \
  "$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%6.2f s", b - a }')"

# The fixed cost of a run (open, commit), for scale: an edit of a
# directory of one entry.
timed 1 "baseline: add one entry to a small directory" \
  "$S3VOL" "${sv[@]}" put bd "$work/one" /small/one
timed 2 "ls of it" "$S3VOL" "${sv[@]}" ls bd /wide
[ "$(wc -l < "$work/out")" = "$N" ] || { row "ls of it" "MISMATCH"; failed=1; }
timed 4 "ls -l of it" "$S3VOL" "${sv[@]}" ls -l bd /wide
timed 1 "add one entry (put)" "$S3VOL" "${sv[@]}" put bd "$work/one" /wide/added
timed 1 "replace one entry (put --force)" \
  "$S3VOL" "${sv[@]}" put --force bd "$work/one" /wide/entry-000777
timed 1 "remove one entry (rm)" "$S3VOL" "${sv[@]}" rm bd /wide/entry-050000
timed 1 "copy one entry in (cp)" "$S3VOL" "${sv[@]}" cp bd /wide/added /wide/copied
timed 1 "remove the last entry added (rm)" "$S3VOL" "${sv[@]}" rm bd /wide/copied

"$S3VOL" "${sv[@]}" export bd "$work/img" >/dev/null &&
  e2fsck -fn "$work/img" >/dev/null 2>&1 || { row "e2fsck -fn" "FAILED"; failed=1; }
n=$("$S3VOL" "${sv[@]}" ls bd /wide | wc -l)
[ "$n" = "$N" ] || { row "entries at the end" "MISMATCH: $n, not $N"; failed=1; }
"$S3VOL" "${sv[@]}" delete bd --yes >/dev/null
[ $failed = 0 ] || { echo "bigdir: FAILED or OVER a target (above)"; exit 1; }
