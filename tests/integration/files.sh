#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# File operations without mounting (s3vol ls/get/put/cat/rm/mkdir/cp),
# as a user without root runs them: a round trip of an awkward tree
# (spaces, unicode, 255-byte names, empty files, a 1 GiB sparse file,
# symlinks, hard links, deep paths), 10,000 files in one commit, two
# puts that both start from one version (held at the open of a local
# file until both are there): of different files, both are kept; of the
# same file, the last to publish wins and is told (its output and
# message checked), a full volume, a volume that is not ext4, bad input
# with its exit code, and e2fsck -fn on what put left.  On a directory
# store and on the S3 test server.  The mounted side (attach/reload, a
# crash-consistent journal) is files_mount.sh.
. "$(dirname "$0")/../support/functions.sh"
requires mkfs.ext4 e2fsck nbdcopy
on_each_store
make_store

phase "round trip of an awkward tree"
src=$T/src
mkdir -p "$src/with space" "$src/üñíçødé ☃" \
  "$src/deep/$(printf 'd%.0s' $(seq 1 200))/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o"
echo "x" > "$src/with space/file name.txt"
echo "u" > "$src/üñíçødé ☃/ファイル"
echo long > "$src/$(printf 'n%.0s' $(seq 1 255))"
echo deep > "$src/deep/$(printf 'd%.0s' $(seq 1 200))/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/file"
: > "$src/empty"
truncate -s 1G "$src/sparse"
echo middle | dd of="$src/sparse" bs=1 seek=536870912 conv=notrunc 2>/dev/null
echo end | dd of="$src/sparse" bs=1 seek=1073741000 conv=notrunc 2>/dev/null
head -c 3000000 /dev/urandom > "$src/random"
echo hard > "$src/hard1"
ln "$src/hard1" "$src/hard2"
ln "$src/hard1" "$src/deep/hard3"
ln -s "with space/file name.txt" "$src/relative-link"
ln -s /no/such/target "$src/dangling-link"
ln -s "$(printf 'l%.0s' $(seq 1 300))" "$src/long-link"
chmod 640 "$src/hard1"
chmod 4755 "$src/empty"
chmod 700 "$src/with space"
touch -h -d '2001-02-03 04:05:06.123456789' "$src/empty" "$src/relative-link"
s3vol create v --size 8G >/dev/null
v0=$(head_version v)
timed t s3vol put v "$src" /tree/ >/dev/null
echo "   put: ${t}s"
[ "$(head_version v)" = $((v0 + 1)) ] || die "put did not publish one version"
timed t s3vol get v /tree/src "$T/out" -r
echo "   get -r: ${t}s"
same_tree "$src" "$T/out" || die "the tree came back different"
[ "$(du -k "$T/out/sparse" | cut -f1)" -lt 1024 ] || die "sparse file not sparse"
[ "$(stat -c %i "$T/out/hard1")" = "$(stat -c %i "$T/out/deep/hard3")" ] ||
  die "hard links not kept"
s3vol get v /tree/src/random - | cmp - "$src/random" || die "get - differs"
s3vol cat v "/tree/src/üñíçødé ☃/ファイル" | grep -qx u || die "cat"
s3vol ls v /tree/src | grep -qx 'with space/' || die "ls"
s3vol ls -l v /tree/src | grep -q 'relative-link -> with space/file name.txt' ||
  die "ls -l symlink"
s3vol ls --json v /tree/src | python3 -c '
import json, sys
e = {x["name"]: x for x in json.load(sys.stdin)}
assert e["sparse"]["size"] == 1 << 30 and e["sparse"]["type"] == "file"
assert e["empty"]["mode"] == 0o4755, e["empty"]
assert e["dangling-link"]["target"] == "/no/such/target"
assert e["hard1"]["nlink"] == 3' || die "ls --json"
s3vol get v /tree/src/hard1 "$T/out" 2>/dev/null && die "get over a file"
s3vol get v /tree/src/random "$T/one" --version "$((v0 + 1))" >/dev/null
cmp "$T/one" "$src/random" || die "get --version"
rm -rf "$T/out" "$T/one"

phase "in-volume cp, rm, mkdir"
s3vol cp v /tree/src /copy -r >/dev/null
s3vol get v /copy/random - | cmp - "$src/random" || die "cp -r"
s3vol rm v /copy -r >/dev/null
s3vol ls v / | grep -q '^copy/' && die "rm -r"
s3vol mkdir v /made/a/b -p >/dev/null
s3vol ls v /made/a | grep -qx 'b/' || die "mkdir -p"
s3vol cp v /tree/src/hard1 /made/ >/dev/null
s3vol cat v /made/hard1 | grep -qx hard || die "cp into a directory"

phase "10,000 small files in one commit"
mkdir -p "$T/many"
python3 -c '
import os, sys
d = sys.argv[1]
for i in range(10000):
    with open(os.path.join(d, "f%05d" % i), "wb") as f:
        f.write(os.urandom(4096))' "$T/many"
before=$(head_version v)
timed t s3vol put v "$T/many" /many >/dev/null
[ "$(head_version v)" = $((before + 1)) ] || die "10,000 files: not one version"
n=$(s3vol ls v /many | wc -l)
[ "$n" = 10000 ] || die "10,000 files: ls shows $n"
s3vol get v /many/f04321 - | cmp - "$T/many/f04321" || die "a small file"
echo "   put of 10,000 files: ${t}s, one version"

# Two writers that really overlap: each put is held at the open of one
# of its local files (a lease, tests/support/leasegate.py) until both are
# there, so both have opened the same head; then the test lets them go.
declare -A gate_pid put_pid       # of those not yet waited for
on_exit 'for p in "${gate_pid[@]}" "${put_pid[@]}"; do kill "$p" 2>/dev/null; done'
gate_is () { [ "$(cat "$1.gate" 2>/dev/null)" = "$2" ]; }
# start_put TAG GATED ARGS...: s3vol put ARGS in the background, held
# when it opens GATED; output in $T/TAG.out and $T/TAG.err.
start_put () {
  local tag=$1 gated=$2; shift 2
  rm -f "$gated.gate"
  python3 "$SUPPORT/leasegate.py" "$gated" "$gated.gate" &
  gate_pid[$tag]=$!
  wait_until 30 gate_is "$gated" ready || die "no lease on $gated"
  s3vol put "$@" >"$T/$tag.out" 2>"$T/$tag.err" &
  put_pid[$tag]=$!
}
held () {  # GATED...: wait until every put is in open(GATED) (for less
  # than the 45 s after which the kernel breaks a lease by itself)
  local f
  for f in "$@"; do
    wait_until 30 gate_is "$f" opened || die "nothing opened $f"
  done
}
release () {  # TAG...: let those puts go on
  local t
  for t in "$@"; do kill -USR1 "${gate_pid[$t]}"; done
  for t in "$@"; do
    wait "${gate_pid[$t]}" || die "leasegate of $t failed"
    unset "gate_pid[$t]"
  done
}
finish_put () {  # TAG: wait for that put; it must succeed
  local rc=0
  wait "${put_pid[$1]}" || rc=$?
  unset "put_pid[$1]"
  [ $rc = 0 ] || die "put $1 exited $rc: $(cat "$T/$1.err")"
  sed "s/^/   $1: /" "$T/$1.out" "$T/$1.err"
}
REDONE="redone on another writer's newer version"

phase "two writers at once, different files, from one version"
mkdir -p "$T/w1" "$T/w2"
for i in $(seq 1 200); do echo "a$i" > "$T/w1/a$i"; echo "b$i" > "$T/w2/b$i"; done
echo a0 > "$T/w1.gated"; echo b0 > "$T/w2.gated"
before=$(head_version v)
start_put w1 "$T/w1.gated" v "$T/w1.gated" "$T/w1" /both/
start_put w2 "$T/w2.gated" v "$T/w2.gated" "$T/w2" /both/
held "$T/w1.gated" "$T/w2.gated"
[ "$(head_version v)" = "$before" ] || die "a put published before both started"
release w1 w2
finish_put w1
finish_put w2
[ "$(s3vol ls v /both/w1 | wc -l)" = 200 ] || die "writer 1's files lost"
[ "$(s3vol ls v /both/w2 | wc -l)" = 200 ] || die "writer 2's files lost"
s3vol ls v /both | grep -qx w1.gated || die "writer 1's w1.gated lost"
s3vol ls v /both | grep -qx w2.gated || die "writer 2's w2.gated lost"
[ "$(head_version v)" = $((before + 2)) ] || die "not two versions"
[ "$(cat "$T/w1.out" "$T/w2.out" | grep -c "$REDONE")" = 1 ] ||
  die "not exactly one put was redone on the other's version"
cat "$T/w1.err" "$T/w2.err" | grep "another writer" &&
  die "a writer of other files was told it replaced something"

phase "the same file from two writers: the last to publish wins and is told"
# same_file A B HOW: puts of $T/A and $T/B to /same, held until both have
# opened the head, then let go in turn (HOW=in-turn: A first, done before
# B goes on) or at once.  The one that publishes second conflicts, redoes
# its put on the other's version, wins, and says which path it replaced;
# the first is told nothing; the head is the winner's version.
same_file () {
  local a=$1 b=$2 how=$3 base won lost
  echo "$a" > "$T/$a"; echo "$b" > "$T/$b"
  base=$(head_version v)
  start_put "$a" "$T/$a" v "$T/$a" /same --force
  start_put "$b" "$T/$b" v "$T/$b" /same --force
  held "$T/$a" "$T/$b"
  [ "$(head_version v)" = "$base" ] || die "a put published before both started"
  if [ "$how" = in-turn ]; then
    release "$a"; finish_put "$a"; release "$b"; finish_put "$b"
  else
    release "$a" "$b"; finish_put "$a"; finish_put "$b"
  fi
  if grep -q "$REDONE" "$T/$a.out"; then won=$a lost=$b; else won=$b lost=$a; fi
  [ "$how" = at-once ] || [ "$won" = "$b" ] ||
    die "$a, done before $b went on, was redone"
  grep -qx "v: version $((base + 1)) (.* uploaded)" "$T/$lost.out" ||
    die "$lost, not redone, did not publish version $((base + 1))"
  [ -s "$T/$lost.err" ] && die "$lost, the first to publish, was told something"
  grep -qx "v: version $((base + 2)) (.* uploaded, $REDONE)" "$T/$won.out" ||
    die "$won was not redone as version $((base + 2))"
  grep -qxF "s3vol put: /same was changed by another writer (version \
$((base + 1))); yours replaces it (last write wins)" "$T/$won.err" ||
    die "$won, published last, was not told that it replaced /same"
  [ "$(s3vol cat v /same)" = "$won" ] || die "/same is not $won, the last write"
  s3vol versions v --json | python3 -c '
import json, sys
v = json.load(sys.stdin)[-1]
assert v["seq"] == int(sys.argv[1]) and v["message"].startswith(
    "put " + sys.argv[2] + " "), v' $((base + 2)) "$T/$won" ||
    die "the head is not the version $won published"
}
same_file first second in-turn
same_file third fourth at-once

phase "e2fsck -fn on the result"
s3vol export v "$T/img.raw" >/dev/null
e2fsck -fn "$T/img.raw" >"$T/fsck.log" 2>&1 || { cat "$T/fsck.log"; die "e2fsck"; }
tail -1 "$T/fsck.log" | sed 's/^/   /'
rm -f "$T/img.raw"

phase "a full volume: nothing published, room left said"
s3vol create small --size 64M >/dev/null
head -c 100M /dev/zero > "$T/big"
before=$(head_version small)
expect_exit 9 s3vol put small "$T/big" /big
grep -q 'free of' "$T/err" || die "no room said"
[ "$(head_version small)" = "$before" ] || die "a full volume published"

phase "bad input"
create_volume raw 64M
expect_exit 1 s3vol ls raw
grep -q 'never formatted' "$T/err" || die "unformatted volume not said"
expect_exit 3 s3vol ls v /no/such/dir
expect_exit 3 s3vol get v /no/such/file "$T/x"
expect_exit 3 s3vol ls nosuchvolume
expect_exit 8 s3vol put v "$T/first" /same
expect_exit 2 s3vol rm v /tree
expect_exit 3 s3vol mkdir v /a/b/c
expect_exit 2 s3vol put v
expect_exit 2 s3vol get v /tree "$T/t2"
