#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A file:// store holds volume data: every object it creates is mode 0600
# and every directory 0700 (never readable by other local users),
# whatever the umask.
# Each check prints "ok:" or "FAIL:"; the test fails if any failed.
set -u
. "$(dirname "$0")/../support/functions.sh"


STORE_KIND=dir
make_store
umask 022
s3vol create v --size 64M >/dev/null || die "create failed"
echo hello > "$T/f"
s3vol put v "$T/f" / -m one >/dev/null || die "put failed"
s3vol snapshot create v snap >/dev/null || die "snapshot failed"
n=$(find "$STORE_DIR" -mindepth 1 | wc -l)
[ "$n" -gt 5 ] || die "the store holds only $n entries"
bad=$(find "$STORE_DIR" -mindepth 1 \( \( -type f ! -perm 0600 \) -o \
        \( -type d ! -perm 0700 \) -o \( ! -type f ! -type d \) \) \
        -printf '%m %p\n')
[ -z "$bad" ] && ok "store: $n files 0600, directories 0700" ||
  fail "store: wrong modes:"$'\n'"$bad"

echo "$fails check(s) failed"
[ $fails -eq 0 ]
