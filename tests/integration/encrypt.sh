#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Encrypted volumes through the CLI and the block path, as a user runs
# them: keygen; create --encrypt; put, get and cat with the key; a
# mounted writer (s3vol run) and a second host-style reader; every
# object the store holds searched for the plaintext; no key and a wrong
# key give one line and exit 10; a key file others can read is refused;
# a plain volume is refused while a key is given; fork and gc; verify
# with and without the key.  On the directory store and on RGW.
set -u
. "$(dirname "$0")/../support/functions.sh"
on_each_store
requires_root
requires_fuse
requires_loop

private_home
export S3VOL_PLUGIN=$PLUGIN
make_store
on_exit "for m in '$T'/m*; do '$S3VOL' detach \"\$m\" >/dev/null 2>&1; done"

# expect_fail CODE WHAT CMD...: CMD exits CODE with one line on stderr.
expect_fail () {
  local code=$1 what=$2 rc=0; shift 2
  "$@" >"$T/out" 2>"$T/err" || rc=$?
  [ $rc -eq "$code" ] || { cat "$T/err"; die "$what: exit $rc, not $code"; }
  [ "$(wc -l <"$T/err")" -ge 1 ] || die "$what: no message"
  echo "ok: $what: exit $code: $(head -1 "$T/err")"
}

# The plaintext: recognizable text, and random bytes.
python3 - "$T/words" <<'EOF'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(60000):
        f.write("CONFIDENTIAL-PAYROLL-%06d\n" % i)
EOF
head -c 3M /dev/urandom >"$T/rand"

phase "keygen"
"$S3VOL" keygen "$T/key" || die "keygen failed"
[ "$(stat -c %a "$T/key")" = 600 ] || die "key file is not mode 600"
expect_fail 8 "keygen over an existing file" "$S3VOL" keygen "$T/key"
"$S3VOL" keygen "$T/other" >/dev/null
cp "$T/key" "$T/loose" && chmod 644 "$T/loose"

phase "create, put, get"
expect_fail 2 "create --encrypt without a key" s3vol create nokey --encrypt
s3vol create sec --encrypt --key-file "$T/key" --size 256M | grep -q "created encrypted volume sec" ||
  die "create --encrypt did not say encrypted"
s3vol --key-file "$T/key" put sec "$T/words" /words >/dev/null || die "put failed"
s3vol put sec "$T/rand" /rand --key-file "$T/key" >/dev/null || die "put failed"
s3vol --key-file "$T/key" get sec /words "$T/words.back" || die "get failed"
cmp "$T/words" "$T/words.back" || die "get returned other bytes"

phase "no key, wrong key, loose key, plain volume"
expect_fail 10 "ls without a key" s3vol ls sec
expect_fail 10 "cat with another key" s3vol --key-file "$T/other" cat sec /words
expect_fail 10 "a key file others can read" s3vol --key-file "$T/loose" ls sec
grep -q "other users" "$T/err" || die "loose key: message does not say why"
s3vol create plain --size 64M >/dev/null
expect_fail 10 "a plain volume while a key is given" \
  s3vol --key-file "$T/key" ls plain
s3vol ls plain >/dev/null || die "a plain volume without a key fails"

phase "mounted writer, then a reader"
s3vol --key-file "$T/key" run -v sec:/data -- sh -c \
  'cmp /data/rand '"$T"'/rand && cp '"$T"'/words /data/copy' ||
  die "run with the key failed"
expect_fail 10 "run without a key" s3vol run -v sec:/data -- true
grep -q "encrypted" "$T/err" || die "run without a key: message does not say why"
mkdir -m 755 "$T/m1"
expect_fail 10 "attach without a key" s3vol attach sec "$T/m1"
grep -q "encrypted" "$T/err" || die "attach without a key: message does not say why"
mountpoint -q "$T/m1" && die "attach without a key mounted something"
s3vol --key-file "$T/key" attach sec "$T/m1" --read-only >/dev/null ||
  die "attach --read-only with the key failed"
cmp "$T/words" "$T/m1/copy" || die "the reader sees other bytes"
s3vol detach "$T/m1" || die "detach failed"

phase "the store holds no plaintext"
mkdir "$T/objs"
if [ "$STORE_KIND" = dir ]; then
  cp -r "$STORE_DIR/." "$T/objs/"
else
  python3 "$SUPPORT/s3obj.py" list "$STORE" | while read -r _ key; do
    python3 "$SUPPORT/s3obj.py" get "$STORE" "$key" "$T/objs/$(echo "$key" | tr / _)"
  done
fi
n=$(find "$T/objs" -type f | wc -l)
[ "$n" -gt 10 ] || die "only $n objects to search"
! grep -rqa "CONFIDENTIAL-PAYROLL" "$T/objs" || die "plaintext in the store"
needle=$(head -c 48 "$T/rand" | tail -c 32 | od -An -tx1 | tr -d ' \n')
for f in $(find "$T/objs" -type f); do
  od -An -tx1 -v "$f" | tr -d ' \n' | grep -q "$needle" && die "random plaintext in $f"
done
sha=$(sha256sum "$T/words" | cut -c1-64)
! find "$T/objs" | grep -q "$sha" || die "a plaintext hash names an object"
echo "ok: $n objects hold no plaintext"

phase "fork, gc, verify"
s3vol --key-file "$T/key" cp sec fork >/dev/null || die "fork failed"
s3vol --key-file "$T/key" cat fork /copy | cmp - "$T/words" || die "fork reads other bytes"
expect_fail 10 "fork without a key" s3vol cp sec fork2
s3vol gc >/dev/null || die "gc without a key failed"
s3vol --key-file "$T/key" cat sec /rand | cmp - "$T/rand" || die "gc without a key lost data"
s3vol verify sec >"$T/v0" || die "verify without a key failed"
grep -q "without the key" "$T/v0" || { cat "$T/v0"; die "verify without a key does not say what it could not check"; }
s3vol --key-file "$T/key" verify sec >"$T/v1" || die "verify with the key failed"
! grep -q "without the key" "$T/v1" || die "verify with the key checked structure only"
s3vol --key-file "$T/key" info sec | grep -q "^encrypted: *yes" || die "info does not say encrypted"
echo "PASS: $TEST_NAME ($STORE_KIND)"
