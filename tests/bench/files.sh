# SPDX-License-Identifier: BSD-3-Clause
# make bench, files section (sourced env: BUILD, S3_STORE, DIR_STORE).
#
# File operations without mounting, on the directory store and on S3:
#   - put and get of one 1 GiB file (random bytes), against plain object
#     puts and gets of the same bytes as 1 MiB objects on 8 threads
#     (build/bench/files_raw: no filesystem, cache or chunk encoding);
#   - put of 10,000 4 KiB files: files/s, objects and bytes written;
#   - put of 100,000 empty files into one directory, then ls and ls -l of
#     it.
# Prints figures.  What it reads back must be what it wrote: a get that
# differs (MISMATCH) or a step that fails makes it exit 1, after the
# other figures.  BENCH_FILE_MIB (default 1024) and BENCH_LS_FILES
# (default 100000) scale it down.
set -u
export PATH=/usr/bin:$PATH
S3VOL=$PWD/$BUILD/s3vol
RAW=$PWD/$BUILD/bench/files_raw
MIB=${BENCH_FILE_MIB:-1024}
NLS=${BENCH_LS_FILES:-100000}
work=$(mktemp -d /tmp/s3vol-bench-files.XXXXXX)
trap 'rm -rf "$work"' EXIT
export TMPDIR=$work

secs () { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
# Each timed step starts with the page cache's dirty data written out,
# so one step's writeback does not slow the next.
now () { date +%s.%N; }
settle () { sync; }
row () { printf '  %-46s %s\n' "$1" "$2"; }
failed=0
fail () { row "$1" "$2"; failed=1; }

# The local data, made once.
head -c $((MIB << 20)) /dev/urandom > "$work/big"
mkdir -p "$work/small" "$work/empty"
python3 - "$work/small" "$work/empty" "$NLS" <<'PY'
import os, sys
for i in range(10000):
    with open(os.path.join(sys.argv[1], "f%05d" % i), "wb") as f:
        f.write(os.urandom(4096))
for i in range(int(sys.argv[3])):
    open(os.path.join(sys.argv[2], "entry-%06d" % i), "wb").close()
PY

count () {  # store -> "objects bytes"
  "$RAW" "$1" count 2>/dev/null || echo "0 0"
}

bench_store () {
  local kind=$1 store=$2 t0 t1 s before after
  local sv=(--store "$store")
  echo "--- $kind store ($store)"
  "$S3VOL" "${sv[@]}" create fb --size 1T >/dev/null ||
    { fail "create of a 1 TiB volume" "FAILED"; return; }

  settle
  t0=$(now); "$S3VOL" "${sv[@]}" put fb "$work/big" /big >/dev/null ||
    fail "put of one $MIB MiB file" "FAILED"; t1=$(now)
  s=$(secs "$t0" "$t1")
  row "put of one $MIB MiB file" "$(awk -v m="$MIB" -v s="$s" 'BEGIN { printf "%7.2f s %8.1f MiB/s", s, m / s }')"
  rm -f "$work/got"
  settle
  t0=$(now); "$S3VOL" "${sv[@]}" get fb /big "$work/got" >/dev/null ||
    fail "get of it" "FAILED"; t1=$(now)
  s=$(secs "$t0" "$t1")
  row "get of it (fresh cache)" "$(awk -v m="$MIB" -v s="$s" 'BEGIN { printf "%7.2f s %8.1f MiB/s", s, m / s }')"
  cmp -s "$work/got" "$work/big" || fail "get of it" "MISMATCH"
  rm -f "$work/got"
  settle
  t0=$(now); "$S3VOL" "${sv[@]}" get fb /big - | cmp -s - "$work/big" ||
    fail "get of it to stdout" "MISMATCH or FAILED"; t1=$(now)
  s=$(secs "$t0" "$t1")
  row "get of it to stdout" "$(awk -v m="$MIB" -v s="$s" 'BEGIN { printf "%7.2f s %8.1f MiB/s", s, m / s }')"
  settle
  "$RAW" "$store" raw "$MIB" 8 2>/dev/null | while read -r op rate; do
    row "plain $op of $MIB x 1 MiB objects, 8 threads" "$(printf '%18.1f MiB/s' "$rate")"
  done

  before=$(count "$store")
  settle
  t0=$(now); "$S3VOL" "${sv[@]}" put fb "$work/small" /small >/dev/null ||
    fail "put of 10,000 x 4 KiB files" "FAILED"; t1=$(now)
  after=$(count "$store")
  s=$(secs "$t0" "$t1")
  row "put of 10,000 x 4 KiB files (one commit)" "$(awk -v s="$s" 'BEGIN { printf "%7.2f s %8.0f files/s", s, 10000 / s }')"
  row "  objects written, bytes written" "$(echo "$before $after" | awk '{ printf "%d objects, %.1f MiB (files: 39.1 MiB)", $3 - $1, ($4 - $2) / 1048576 }')"

  settle
  t0=$(now); "$S3VOL" "${sv[@]}" put fb "$work/empty" /wide >/dev/null ||
    fail "put of $NLS empty files" "FAILED"; t1=$(now)
  s=$(secs "$t0" "$t1")
  row "put of $NLS empty files in one directory" "$(awk -v s="$s" -v n="$NLS" 'BEGIN { printf "%7.2f s %8.0f files/s", s, n / s }')"
  t0=$(now); n=$("$S3VOL" "${sv[@]}" ls fb /wide | wc -l); t1=$(now)
  row "ls of it ($n entries, fresh cache)" "$(secs "$t0" "$t1") s"
  [ "$n" -eq "$NLS" ] || fail "ls of it" "MISMATCH: $n entries, not $NLS"
  t0=$(now); n=$("$S3VOL" "${sv[@]}" ls -l fb /wide | wc -l); t1=$(now)
  row "ls -l of it ($n entries, fresh cache)" "$(secs "$t0" "$t1") s"
  "$S3VOL" "${sv[@]}" delete fb --yes >/dev/null
}

bench_store dir "file://$DIR_STORE"
bench_store s3 "$S3_STORE/files"
[ $failed = 0 ] || { echo "files: FAILED (see MISMATCH or FAILED above)"; exit 1; }
