#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The s3vol CLI end to end, as a user runs it: create, attach, write,
# commit, detach, re-attach on a fresh cache; a writer and a reader at
# once with reload and "volume busy"; run with two volumes and with
# --ephemeral; serve to qemu-img; bad input with one clear line and the
# documented exit code, leaving nothing mounted or running.
#
# Runs on a directory store, and on the S3 test server when its
# environment is set (S3VOL_TEST_BUCKET).  Needs root, FUSE and loop
# devices: without them it says SKIP and exits 77.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
S3VOL=$BUILD/s3vol
export SUPPORT=$PWD/tests/support   # for store_keys in s3vol run
export PATH=/usr/bin:/usr/sbin:/sbin:$PATH

if [ "$(id -u)" -ne 0 ] || [ ! -e /dev/fuse ] || [ ! -e /dev/loop-control ]
then
  echo "SKIP: needs root, /dev/fuse and loop devices"
  exit 77
fi

work=$(mktemp -d /tmp/s3vol-cli-test.XXXXXX)
export HOME=$work/home S3VOL_RUN_DIR=$work/run XDG_CACHE_HOME=$work/cache
mkdir -p "$HOME"
fails=0

cleanup () {
  for m in "$work"/m*; do
    [ -d "$m" ] && "$S3VOL" detach "$m" >/dev/null 2>&1
  done
  kill "${serve_pid:-}" 2>/dev/null
  mount | grep -q "$work" && { echo "LEFT MOUNTED:"; mount | grep "$work"; }
  rm -rf "$work"
}
trap cleanup EXIT

fail () { echo "FAIL: $*"; fails=$((fails + 1)); }
ok () { echo "ok: $*"; }

# expect CODE PATTERN CMD...: CMD exits with CODE and prints exactly one
# stderr line matching PATTERN.
expect () {
  local code=$1 pat=$2; shift 2
  local rc=0
  "$@" >"$work/out" 2>"$work/err" || rc=$?
  if [ "$rc" -ne "$code" ]; then
    fail "$* exited $rc, not $code: $(cat "$work/err")"
  elif [ "$(wc -l < "$work/err")" -ne 1 ] || ! grep -q -- "$pat" "$work/err"
  then
    fail "$*: wanted one line matching '$pat', got: $(cat "$work/err")"
  else
    ok "$* -> exit $code: $(cat "$work/err")"
  fi
}

nothing_running () {
  if pgrep -f "nbdkit.*$work" >/dev/null || pgrep -f "nbdfuse.*$work" >/dev/null
  then
    fail "processes left running: $(pgrep -af "$work")"
  fi
  if mount | grep -q "$work/m"; then
    fail "left mounted: $(mount | grep "$work/m")"
  fi
}

tree_sum () {  # DIR -> sorted checksums of every file, and symlinks
  (cd "$1" && find . \( -type f -o -type l \) ! -path './lost+found*' \
     -printf '%p %l %m\n' | sort
   cd "$1" && find . -type f ! -path './lost+found*' -exec sha256sum {} + |
     sort -k2)
}

round_trip () {
  local m=$work/m1 name=vol-rt
  mkdir -p "$m"
  "$S3VOL" create $name --size 2G >/dev/null || { fail "create"; return; }
  "$S3VOL" attach $name "$m" --cache-dir "$work/c1" >/dev/null ||
    { fail "attach"; return; }
  mkdir -p "$m/a/b/c" "$m/empty"
  head -c 5M /dev/urandom > "$m/a/big.bin"
  for i in $(seq 1 200); do echo "file $i" > "$m/a/b/c/f$i"; done
  echo "odd" > "$m/a/name with spaces é"
  ln -s a/big.bin "$m/link"
  tree_sum "$m" > "$work/before"
  "$S3VOL" commit "$m" -m "round trip" > "$work/out" ||
    fail "commit: $(cat "$work/out")"
  grep -q "committed $name version" "$work/out" || fail "commit output"
  "$S3VOL" detach "$m" >/dev/null || fail "detach"
  "$S3VOL" attach $name "$m" --read-only --cache-dir "$work/c2" \
    >/dev/null || { fail "re-attach"; return; }
  tree_sum "$m" > "$work/after"
  if cmp -s "$work/before" "$work/after"; then
    ok "tree read back identical on a fresh cache"
  else
    fail "tree differs after re-attach"; diff "$work/before" "$work/after"
  fi
  "$S3VOL" detach "$m" >/dev/null || fail "detach 2"
  "$S3VOL" export $name "$work/img.raw" >/dev/null || fail "export"
  if e2fsck -fn "$work/img.raw" >"$work/fsck" 2>&1; then
    ok "e2fsck -fn clean"
  else
    fail "e2fsck: $(tail -5 "$work/fsck")"
  fi
  rm -f "$work/img.raw"
}

writer_reader () {
  local w=$work/m2 r=$work/m3 name=vol-wr
  mkdir -p "$w" "$r"
  "$S3VOL" create $name --size 1G >/dev/null
  "$S3VOL" attach $name "$w" --cache-dir "$work/cw" >/dev/null ||
    { fail "attach writer"; return; }
  "$S3VOL" attach $name "$r" --read-only --cache-dir "$work/cr" \
    >/dev/null || { fail "attach reader"; return; }
  echo "v1" > "$w/shared.txt"
  "$S3VOL" commit "$w" >/dev/null || fail "writer commit"
  [ ! -e "$r/shared.txt" ] || fail "reader saw the change before reload"
  "$S3VOL" reload "$r" >/dev/null || fail "reload"
  [ "$(cat "$r/shared.txt" 2>/dev/null)" = v1 ] &&
    ok "reader sees the writer's commit after reload" ||
    fail "reader does not see v1 after reload"
  # A reader holding a file open: busy, and nothing changes.
  echo "v2" > "$w/shared.txt"; "$S3VOL" commit "$w" >/dev/null
  exec 9<"$r/shared.txt"
  local rc=0
  "$S3VOL" reload "$r" >"$work/out" 2>"$work/err" || rc=$?
  if [ $rc -eq 5 ] && grep -q "volume busy" "$work/err"; then
    ok "reload with an open file: volume busy (exit 5)"
  else
    fail "reload with an open file: exit $rc: $(cat "$work/err")"
  fi
  [ "$(cat <&9)" = v1 ] && ok "reader keeps working" ||
    fail "reader broken after refused reload"
  exec 9<&-
  "$S3VOL" reload "$r" >/dev/null || fail "reload after close"
  [ "$(cat "$r/shared.txt")" = v2 ] || fail "reader lacks v2"
  "$S3VOL" detach "$r" >/dev/null; "$S3VOL" detach "$w" >/dev/null
}

run_verb () {
  "$S3VOL" create vol-run --size 1G >/dev/null
  "$S3VOL" create vol-ro --size 1G >/dev/null
  local rc=0
  "$S3VOL" run -v vol-run:/mnt/s3vol-data -v vol-ro:/mnt/s3vol-ro:ro -- \
    sh -c 'echo hello > /mnt/s3vol-data/out.txt &&
           ! touch /mnt/s3vol-ro/x 2>/dev/null && exit 3' || rc=$?
  [ $rc -eq 3 ] && ok "run: exit status of the command kept (3)" ||
    fail "run exit status $rc"
  local got
  got=$("$S3VOL" run -v vol-run:/mnt/s3vol-data -- cat /mnt/s3vol-data/out.txt)
  [ "$got" = hello ] && ok "run: writes committed on exit; ro volume refused writes" ||
    fail "run: got '$got'"
  # Ephemeral, with the command killed: nothing left in the store.  The
  # command lists the store too: the listing must see the ephemeral
  # volume's objects, or "nothing left" would prove nothing.
  "$S3VOL" store-check >/dev/null
  local before during after
  rm -f "$work/during"
  before=$(store_keys) || { fail "cannot list the store"; return; }
  [ -n "$before" ] || fail "the store lists empty, with four volumes in it"
  rc=0
  "$S3VOL" run --ephemeral -v scratch:/mnt/s3vol-scratch -- \
    bash -c 'head -c 8M /dev/urandom > /mnt/s3vol-scratch/x &&
             store_keys > "$0" && kill -9 $$' "$work/during" || rc=$?
  after=$(store_keys) || { fail "cannot list the store"; return; }
  [ $rc -eq 137 ] || fail "ephemeral run exit $rc, not 137"
  during=$(cat "$work/during" 2>/dev/null)
  if [ -z "$(comm -13 <(echo "$before") <(echo "$during"))" ]; then
    fail "the listing did not show the ephemeral volume's objects"
  elif [ "$before" = "$after" ]; then
    ok "run --ephemeral (killed) left nothing in the store" \
       "($(comm -13 <(echo "$before") <(echo "$during") | wc -l) objects while it ran)"
  else
    fail "ephemeral left objects: $(diff <(echo "$before") <(echo "$after") | head)"
  fi
}

. "$SUPPORT/store_keys.sh"

serve_qemu () {
  command -v qemu-img >/dev/null || { fail "qemu-img missing"; return; }
  "$S3VOL" create vol-vm --size 64M --no-format >/dev/null
  head -c 1M /dev/urandom > "$work/vm.raw"
  "$S3VOL" import vol-vm "$work/vm.raw" >/dev/null || fail "import"
  "$S3VOL" serve vol-vm --socket "$work/vm.sock" > "$work/uri" 2>"$work/serve.err" &
  serve_pid=$!
  for _ in $(seq 100); do [ -S "$work/vm.sock" ] && break; sleep 0.1; done
  local uri; uri=$(head -1 "$work/uri")
  if qemu-img info "$uri" 2>&1 | grep -q "virtual size: 64 MiB"; then
    ok "qemu-img info reads the served export ($uri)"
  else
    fail "qemu-img info: $(qemu-img info "$uri" 2>&1 | tail -2)"
  fi
  qemu-img dd if="$uri" of="$work/vm.back" bs=1M count=1 -f raw -O raw \
    2>/dev/null
  cmp -s "$work/vm.raw" "$work/vm.back" && ok "qemu-img reads the imported bytes" ||
    fail "qemu-img read different bytes"
  kill $serve_pid; wait $serve_pid 2>/dev/null; serve_pid=
}

bad_input () {
  mkdir -p "$work/m4" "$work/notempty"; touch "$work/notempty/x" "$work/afile"
  expect 3 "no volume named" "$S3VOL" attach no-such-volume "$work/m4"
  expect 2 "invalid volume name" "$S3VOL" create "bad name"
  expect 2 "1 to 64 characters" "$S3VOL" info ".hidden"
  expect 2 "not empty" "$S3VOL" attach vol-rt "$work/notempty"
  expect 2 "not a directory" "$S3VOL" attach vol-rt "$work/afile"
  expect 2 "create the directory" "$S3VOL" attach vol-rt "$work/nope"
  expect 3 "nothing is attached" "$S3VOL" detach "$work/m4"
  expect 3 "nothing is attached" "$S3VOL" commit "$work/m4"
  expect 2 "unknown scheme" "$S3VOL" --store gs://x list
  expect 2 "unknown verb" "$S3VOL" frobnicate
  expect 7 "needs root" setpriv --reuid=65534 --regid=65534 --clear-groups \
    env HOME=/tmp "$S3VOL" --store "file://$work/unused" attach vol-rt "$work/m4"
  mkdir -p "$work/nonbdkit"
  ln -sf "$(command -v mkfs.ext4)" "$work/nonbdkit/mkfs.ext4"
  expect 1 "nbdkit is not installed" env PATH="$work/nonbdkit" \
    "$S3VOL" attach vol-rt "$work/m4"
  nothing_running
}

STORE=file://$work/store
mkdir -p "$work/store"
run_on () {
  export S3VOL_STORE=$1 STORE=$1
  # Cache directories belong to one volume of one store: fresh ones here.
  rm -rf "$work"/c1 "$work"/c2 "$work"/cw "$work"/cr
  echo "=== store $1"
  round_trip; nothing_running
  writer_reader; nothing_running
  run_verb; nothing_running
}
run_on "file://$work/store"
serve_qemu
bad_input
if [ -n "${S3VOL_TEST_BUCKET:-}" ]; then
  run_on "s3://$S3VOL_TEST_BUCKET/cli-$$-$RANDOM"
fi
nothing_running
echo
[ $fails -eq 0 ] && echo "cli: all passed" || echo "cli: $fails failed"
[ $fails -eq 0 ]
