#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The CLI on a volume whose directory entries have hostile names (a
# volume's contents are untrusted): an entry "../pwned" (patched into
# an image made by mkfs.ext4 and debugfs) and one with an escape byte.
# ls shows them escaped; get -r skips the bad one with one line, makes
# nothing outside LOCAL, and exits non-zero; rm -r removes them.
. "$(dirname "$0")/../support/functions.sh"
requires mkfs.ext4 debugfs python3
make_store

img=$T/img
truncate -s 32M "$img"
mkfs.ext4 -q -F -O ^metadata_csum,^has_journal "$img"
echo content > "$T/content"
debugfs -w -f - "$img" >/dev/null 2>&1 <<EOS
mkdir d
write $T/content d/..Zpwned
write $T/content d/evilQesc
write $T/content d/fine
EOS
python3 - "$img" <<'EOS'
import sys
p = sys.argv[1]
b = open(p, 'rb').read()
for old, new in ((b'..Zpwned', b'../pwned'), (b'evilQesc', b'evil\x1besc')):
    assert b.count(old) == 1, old
    b = b.replace(old, new)
open(p, 'wb').write(b)
EOS
s3vol import v "$img" --create-if-missing >/dev/null

phase "ls shows hostile names escaped"
s3vol ls v /d > "$T/ls"
cat "$T/ls"
grep -qF '..\x2fpwned' "$T/ls" || die "ls: ../pwned not escaped"
grep -qF 'evil\x1besc' "$T/ls" || die "ls: the escape byte not escaped"
! grep -q $'\x1b' "$T/ls" || die "ls printed a raw escape byte"
s3vol ls -l v /d > "$T/ls"
! grep -q $'\x1b\|\.\./pwned' "$T/ls" || die "ls -l printed a raw name"

phase "get -r skips the bad name, writes nothing outside LOCAL"
mkdir -p "$T/out/local"
rc=0
s3vol get v /d "$T/out/local" -r 2>"$T/err" || rc=$?
cat "$T/err"
[ $rc != 0 ] || die "get -r of a hostile name exited 0"
[ "$(grep -c 'skipped /d/..\\x2fpwned' "$T/err")" = 1 ] ||
  die "get -r: not one line for the bad name"
[ "$(ls -A "$T/out")" = local ] || die "get -r wrote beside LOCAL: $(ls -A "$T/out")"
[ -f "$T/out/local/d/fine" ] || die "get -r: the good file is missing"

phase "rm -r removes them"
s3vol rm v /d -r >/dev/null
! s3vol ls v /d >/dev/null 2>&1 || die "rm -r left /d"
echo OK
