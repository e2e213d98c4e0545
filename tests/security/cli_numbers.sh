#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Numbers on the command line that do not fit are refused: --version
# 99999999999999999999999 is one clear error line and exit 2, not a
# silently saturated version; so are signs, blanks and other bases, and
# a --commit-interval that does not fit.
# Each check prints "ok:" or "FAIL:"; the test fails if any failed.
set -u
. "$(dirname "$0")/../support/functions.sh"


STORE_KIND=dir
make_store
s3vol create v --size 64M >/dev/null || die "create failed"

rc=0
s3vol ls v / --version 99999999999999999999999 > "$T/out" 2> "$T/err" ||
  rc=$?
lines=$(wc -l < "$T/err")
if [ $rc -eq 2 ] && [ "$lines" -eq 1 ] && [ ! -s "$T/out" ]; then
  ok "--version 99999999999999999999999: $(cat "$T/err")"
else
  fail "--version 99999999999999999999999: exit $rc, stderr: $(cat "$T/err")"
fi
for v in -1 18446744073709551616 " 3" +3 0x3; do
  rc=0
  s3vol ls v / --version "$v" > /dev/null 2>&1 || rc=$?
  [ $rc -eq 2 ] && ok "--version '$v' refused" ||
    fail "--version '$v': exit $rc, not 2"
done

# --commit-interval is parsed before anything else happens: the
# mountpoint need not exist.
for v in 99999999999999999999999 4294967296 -1; do
  rc=0
  s3vol attach v "$T/nowhere" --commit-interval "$v" > /dev/null \
    2> "$T/err" || rc=$?
  [ $rc -eq 2 ] && grep -q -- --commit-interval "$T/err" &&
    ok "--commit-interval '$v' refused" ||
    fail "--commit-interval '$v': exit $rc: $(cat "$T/err")"
done

echo "$fails check(s) failed"
[ $fails -eq 0 ]
