#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# s3vol merge (internal verb): a local version L of a volume, made from
# base B, merged onto another writer's head H (a fork of B): disjoint
# changes both survive, a path both changed takes L's and is printed,
# e2fsck -fn passes on the merged version, nothing to merge publishes
# nothing, bad input gets one line and its exit code.  s3vol put/rm make
# the versions (no root needed).  On a directory store and on S3.
. "$(dirname "$0")/../support/functions.sh"
requires mkfs.ext4 e2fsck nbdcopy
on_each_store
make_store

phase "base, local and head versions"
mkdir -p "$T/src/d1" "$T/src/d2"
echo a > "$T/src/d1/a"; echo b > "$T/src/d2/b"; echo c > "$T/src/c"
s3vol create v --size 64M >/dev/null
s3vol put v "$T/src/d1" "$T/src/d2" "$T/src/c" / >/dev/null
base=$(head_version v)
s3vol cp v h --version "$base" >/dev/null
echo local > "$T/local"; echo head > "$T/head"
s3vol put v "$T/local" /d1/a --force >/dev/null
s3vol put v "$T/local" /d1/lnew >/dev/null
s3vol rm v /c >/dev/null
localv=$(head_version v)
s3vol put h "$T/head" /d1/a --force >/dev/null
s3vol put h "$T/head" /d2/hnew >/dev/null
hbefore=$(head_version h)

phase "merge"
s3vol merge h --base "v:$base" --local "v:$localv" > "$T/merge.out" ||
  die "merge failed: $(cat "$T/merge.out")"
cat "$T/merge.out"
grep -q '^overwrote /d1/a ' "$T/merge.out" || die "the conflict on /d1/a was not printed"
[ "$(grep -c '^overwrote' "$T/merge.out")" = 1 ] || die "other conflicts printed"
[ "$(head_version h)" = $((hbefore + 1)) ] || die "not one new version"
[ "$(s3vol cat h /d1/a)" = local ] || die "/d1/a is not L's"
[ "$(s3vol cat h /d1/lnew)" = local ] || die "L's new file missing"
[ "$(s3vol cat h /d2/hnew)" = head ] || die "H's new file missing"
s3vol ls h /c >/dev/null 2>&1 && die "/c, removed by L, is there"
s3vol export h "$T/m.img" >/dev/null
e2fsck -fn "$T/m.img" >"$T/fsck" 2>&1 || die "e2fsck: $(cat "$T/fsck")"
ok "disjoint changes kept, the conflict printed, e2fsck clean"

phase "nothing to merge"
s3vol merge h --base "v:$base" --local "v:$base" > "$T/out" || die "merge failed"
grep -q 'nothing to merge' "$T/out" || die "not said: $(cat "$T/out")"
[ "$(head_version h)" = $((hbefore + 1)) ] || die "a version was published"

phase "bad input"
expect_exit 2 s3vol merge h --base 0 --local 2
expect_exit 2 s3vol merge h --local 2
expect_exit 3 s3vol merge nosuch --base 1 --local 2
expect_exit 3 s3vol merge h --base "v:$base" --local "v:999"
[ $fails -eq 0 ]
