#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# What a user expects of the file and volume verbs (issue 14): put of
# stdin (-), ls -r and ls -h, get of a directory without -r, a taken
# name exits 8 for create/rename/cp/snapshot create, rename, delete,
# snapshot create/delete and get say what they did, an error is printed
# once, a file:// store directory is made on first use (its parent must
# exist), and status is a table (JSON lines with --json; root only).
# On a directory store.
. "$(dirname "$0")/../support/functions.sh"
requires mkfs.ext4
private_home

# one_error CODE CMD...: CMD exits CODE with exactly one line on stderr
# (and says it); the line is in $T/err.
one_error () {
  local want=$1 rc=0; shift
  "$@" >"$T/out" 2>"$T/err" || rc=$?
  [ "$rc" = "$want" ] || die "$* exited $rc, not $want: $(cat "$T/err")"
  [ "$(wc -l < "$T/err")" = 1 ] ||
    die "$*: not one error line: $(cat "$T/err")"
  echo "   exit $rc: $(cat "$T/err")"
}

phase "a file:// store is made on first use, under an existing parent"
STORE=file://$T/newstore
s3vol list >/dev/null || die "list on a new store directory failed"
[ -d "$T/newstore" ] || die "the store directory was not made"
[ "$(stat -c %a "$T/newstore")" = 700 ] || die "store directory not 0700"
STORE=file://$T/no/such/store one_error 6 s3vol list
grep -q "$T/no" "$T/err" || die "the error does not name the missing parent"
ok "store directory"

phase "create, rename, cp, snapshot create of a taken name: exit 8"
s3vol create v --size 256M | grep -qx 'created volume v (256 MiB, 1.0 MiB chunks)' ||
  die "create said something else"
s3vol create w --size 256M >/dev/null
one_error 8 s3vol create v --size 256M
one_error 8 s3vol rename w v
one_error 8 s3vol cp v w
s3vol snapshot create v s1 > "$T/out"
grep -qx 'created snapshot s1 of volume v at version 2' "$T/out" ||
  die "snapshot create said: $(cat "$T/out")"
one_error 8 s3vol snapshot create v s1
ok "exit 8 for taken names"

phase "rename, delete, snapshot delete say what they did"
[ "$(s3vol rename w x)" = "renamed volume w to x" ] || die "rename"
[ "$(s3vol snapshot delete v s1)" = "deleted snapshot s1 of volume v" ] ||
  die "snapshot delete"
s3vol delete x --yes | grep -q '^deleted volume x' || die "delete"
ok "messages"

phase "put - reads stdin"
printf 'from stdin\n' | s3vol put v - /dir/in.txt >/dev/null
[ "$(s3vol cat v /dir/in.txt)" = "from stdin" ] || die "put - stored wrong"
s3vol ls -l v /dir/in.txt | grep -q '^-rw-' || die "put - mode"
head -c 3000000 /dev/urandom > "$T/big"
s3vol put v - /dir/big < "$T/big" >/dev/null
s3vol cat v /dir/big | cmp - "$T/big" || die "put - of 3 MB differs"
echo again | one_error 8 s3vol put v - /dir/in.txt
echo again | s3vol put --force v - /dir/in.txt >/dev/null
[ "$(s3vol cat v /dir/in.txt)" = again ] || die "put --force - "
echo x | one_error 2 s3vol put v - /dir
ls /tmp/s3vol-put-* 2>/dev/null && die "put - left its temporary file"
ok "put -"

phase "ls -r and ls -h"
mkdir -p "$T/tree/a/b"
echo 1 > "$T/tree/a/one"
echo 2 > "$T/tree/a/b/two"
head -c 1572864 /dev/zero > "$T/tree/mid"
s3vol put v "$T/tree" /t >/dev/null
s3vol ls -r v /t > "$T/out"
printf '%s\n' a/ mid a/b/ a/one a/b/two | sort > "$T/want"
sort "$T/out" | cmp -s - "$T/want" || die "ls -r: $(cat "$T/out")"
s3vol ls -lh v /t/mid | grep -q ' 1.5 MiB ' || die "ls -lh: $(s3vol ls -lh v /t/mid)"
s3vol ls -r --json v /t | python3 -c '
import json, sys
names = sorted(e["name"] for e in json.load(sys.stdin))
assert names == ["a", "a/b", "a/b/two", "a/one", "mid"], names' ||
  die "ls -r --json"
s3vol ls -h >/dev/null 2>&1 && die "ls -h without a volume should fail"
s3vol ls --help | grep -q -- '-r: the whole tree' || die "ls --help"
ok "ls -r, ls -h"

phase "get: of a directory without -r; says what it did; errors once"
one_error 2 s3vol get v /t "$T/got"
grep -q 'use -r' "$T/err" || die "get of a directory does not say -r"
s3vol get v /t "$T/got" -r > "$T/out"
grep -qx "v: copied /t (version [0-9]*) to $T/got" "$T/out" ||
  die "get said: $(cat "$T/out")"
one_error 8 s3vol get v /t/mid "$T/got"
one_error 8 s3vol put v "$T/tree/mid" /t/mid
grep -q '/t/mid' "$T/err" || die "the error does not name the file"
one_error 2 s3vol cp v /t /t2
grep -q '^s3vol: error: /t is a directory' "$T/err" ||
  die "cp names the wrong directory"
one_error 3 s3vol rm v /nope
ok "get, single errors"

if [ "$(id -u)" = 0 ] && [ -c /dev/fuse ] && [ -e /dev/loop-control ]; then
  phase "status: a table, --json"
  mkdir -p "$T/mnt"
  on_exit "\"$S3VOL\" --store \"$STORE\" detach \"$T/mnt\" >/dev/null 2>&1"
  s3vol attach v "$T/mnt" >/dev/null
  echo hi > "$T/mnt/new"
  s3vol status > "$T/out"
  head -1 "$T/out" | grep -q '^VOLUME  *VERSION  *MODE  *DIRTY' ||
    die "status has no header: $(cat "$T/out")"
  grep -q "^v  *[0-9][0-9]*  *rw .* $T/mnt\$" "$T/out" ||
    die "status row: $(cat "$T/out")"
  s3vol status --json | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
assert rows[0]["volume"] == "v" and rows[0]["status"]["base_version"] > 0' ||
    die "status --json"
  s3vol detach "$T/mnt" >/dev/null
  ok "status"
else
  echo "SKIP: status table (needs root, FUSE and loop devices)"
fi
