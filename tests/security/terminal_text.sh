#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Text from a store never reaches the terminal raw: file names in a
# volume's filesystem, commit messages and writer host names of version
# roots (anyone who can write the bucket writes them), and library
# messages that embed a path or key are printed with control characters
# (C0, DEL, C1) and bytes that are not UTF-8 escaped as \xNN, so that
# they can neither drive the terminal (ESC sequences) nor forge lines.
# Each check prints "ok:" or "FAIL:"; the test fails if any failed.
set -u
. "$(dirname "$0")/../support/functions.sh"

make_store

# clean FILE WHAT: FILE (a command's output) is UTF-8 with no control
# character but newline and tab, and no line starts with FAKE (a line
# forged by a newline inside a name or message).
clean () {
  if python3 - "$1" <<'PY'
import sys
b = open(sys.argv[1], "rb").read()
try:
    s = b.decode("utf-8")
except UnicodeDecodeError as e:
    print("  not UTF-8: %r" % b[max(e.start - 10, 0):e.end + 10])
    sys.exit(1)
bad = [c for c in s if (ord(c) < 0x20 and c not in "\n\t")
       or 0x7f <= ord(c) <= 0x9f]
if bad:
    print("  raw control characters %r in %r" % (sorted(set(bad)), s[:300]))
    sys.exit(1)
if any(l.startswith("FAKE") for l in s.split("\n")):
    print("  a forged line in %r" % s[:300])
    sys.exit(1)
PY
  then ok "$2"; else fail "$2"; fi
}

# A message and file names with ESC sequences, a newline, a C1 CSI
# (U+009B) and a byte that is not UTF-8.
msg=$'v1 \e]0;owned\a\e[2J\nFAKE message \xc2\x9b31m \x9b'
name1=$'esc\e[31mred\nFAKE-file'
name2=$'c1\xc2\x9b2J-bad\x9b\xff'
mkdir "$T/src"
echo one > "$T/src/$name1"
echo two > "$T/src/$name2"
echo three > "$T/src/plain"

s3vol create v --size 64M >/dev/null || die "create failed"
s3vol put v "$T/src/$name1" "$T/src/$name2" "$T/src/plain" / -m "$msg" \
  > "$T/put.out" 2>&1 || die "put failed: $(cat "$T/put.out")"

s3vol versions v > "$T/out" 2>&1 || fail "versions failed"
grep -q 'x1b' "$T/out" && ok "versions shows the message escaped" ||
  fail "versions does not show the escaped message: $(cat -v "$T/out")"
clean "$T/out" "versions: no raw control bytes"
s3vol versions v --json > "$T/out" 2>&1 || fail "versions --json failed"
clean "$T/out" "versions --json: no raw control bytes"

for opt in "" -l --json; do
  s3vol ls $opt v / > "$T/out" 2>&1 || fail "ls $opt failed"
  clean "$T/out" "ls $opt: no raw control bytes"
done
grep -q 'esc\\x1b\[31mred\\x0aFAKE-file' < <(s3vol ls v /) &&
  ok "ls shows the name escaped" || fail "ls: name not escaped as \\xNN"
s3vol ls -l v "/$name1" > "$T/out" 2>&1 || fail "ls -l of one file failed"
clean "$T/out" "ls -l FILE: no raw control bytes"

# Messages that embed a name from the volume: put over existing files
# (without --force) reports each, the library logs a missing path.
s3vol put v "$T/src/$name1" "$T/src/$name2" / > "$T/out" 2>&1 || true
grep -q exists "$T/out" || fail "put did not report existing files"
clean "$T/out" "put: the existing names are reported escaped"
s3vol cat v "/$name1/x" > "$T/out" 2>&1 && fail "cat of a missing file"
clean "$T/out" "cat: error messages escaped"
s3vol get v / "$T/dst" -r > "$T/out" 2>&1 || true
clean "$T/out" "get -r: no raw control bytes"
s3vol info v > "$T/out" 2>&1 || fail "info failed"
clean "$T/out" "info: no raw control bytes"

echo "$fails check(s) failed"
[ $fails -eq 0 ]
