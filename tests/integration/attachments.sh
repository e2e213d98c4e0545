#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Many attachments of one volume on one host, all mounted at once: four
# read-only and two read-write, each with its own id, run directory,
# nbdkit and cache directory.  Every one reads the volume's file; each
# writer writes a file of its own and commits: the first publishes, the
# second conflicts (exit 4) and is not stuck: detach --discard says
# what it drops (bytes, and the version they were based on) and
# detaches.  A cache directory kept by a conflicting detach, attached
# again, says that its changes are based on an old version instead of
# silently mounting it.  (Before, the second attach of a volume failed:
# "cache directory ~/.cache/s3vol/NAME is in use".)
. "$(dirname "$0")/../support/functions.sh"
requires_root
requires_fuse
requires_loop
on_each_store

make_store
private_home
on_exit "for m in '$T'/m*; do '$S3VOL' detach \"\$m\" >/dev/null 2>&1; done"
s3vol create multi --size 256M >/dev/null || die "create"
echo "hello from version 2" > "$T/hello"
s3vol put multi "$T/hello" /hello >/dev/null || die "put"
base=$(head_version multi)

phase "4 read-only + 2 read-write attachments of one volume at once"
for m in r1 r2 r3 r4; do
  mkdir -p "$T/m$m"
  s3vol attach multi "$T/m$m" --read-only >/dev/null ||
    die "read-only attach $m failed"
done
for m in w1 w2; do
  mkdir -p "$T/m$m"
  s3vol attach multi "$T/m$m" --commit-interval 0 >/dev/null ||
    die "read-write attach $m failed"
done
s3vol status --json >"$T/status"
[ "$(grep -c '"alive":true' "$T/status")" = 6 ] ||
  die "not six attachments running: $(cat "$T/status")"
[ "$(python3 -c '
import json, sys
print(len({json.loads(l)["id"] for l in open(sys.argv[1])}))' "$T/status")" = 6 ] ||
  die "the attachments do not have six ids"
[ "$(find "$XDG_CACHE_HOME/s3vol/multi" -mindepth 1 -maxdepth 1 | wc -l)" = 6 ] ||
  die "not one cache directory each: $(ls "$XDG_CACHE_HOME/s3vol/multi")"
for m in r1 r2 r3 r4 w1 w2; do
  cmp "$T/m$m/hello" "$T/hello" || die "$m reads a different /hello"
done
grep -q "$T/mr1 .*noatime" /proc/self/mountinfo || die "not mounted noatime"
grep "$T/mw1 " /proc/self/mountinfo | grep -q "nosuid,nodev" ||
  die "not mounted nosuid,nodev"

phase "both writers commit: one publishes, the other conflicts (exit 4)"
echo "w1 was here" > "$T/mw1/w1"
head -c 2M /dev/urandom > "$T/mw2/w2"
rc1=0 rc2=0
s3vol commit "$T/mw1" >"$T/c1.out" 2>&1 || rc1=$?
s3vol commit "$T/mw2" >"$T/c2.out" 2>&1 || rc2=$?
echo "   commit w1: exit $rc1; commit w2: exit $rc2: $(cat "$T/c2.out")"
[ $rc1 = 0 ] || die "the first commit failed: $(cat "$T/c1.out")"
[ $rc2 = 4 ] || die "the second commit did not conflict (exit $rc2)"
grep -q conflicts "$T/c2.out" || die "the conflict is not reported"

phase "detach --discard of the conflicting writer"
s3vol detach --discard "$T/mw2" >"$T/d2.out" 2>&1 ||
  die "detach --discard failed: $(cat "$T/d2.out")"
cat "$T/d2.out"
grep -Eq "discarded .*[0-9]+ bytes.* based on version $base" "$T/d2.out" ||
  die "detach --discard does not say what it dropped"
mountpoint -q "$T/mw2" && die "$T/mw2 is still mounted"
s3vol detach "$T/mw1" >/dev/null || die "detach of w1"
for m in r1 r2 r3 r4; do
  s3vol detach "$T/m$m" >/dev/null || die "detach of $m"
done
s3vol get multi /w1 - | grep -qx "w1 was here" || die "w1's file is not in the head"
s3vol ls multi / | grep -qx w2 && die "the discarded file was published"

phase "a kept cache directory based on an old version says so"
head=$(head_version multi)
mkdir -p "$T/mk" "$T/mo"
s3vol attach multi "$T/mk" --cache-dir "$T/kept" --commit-interval 0 \
  >/dev/null || die "attach with --cache-dir"
s3vol attach multi "$T/mo" --commit-interval 0 >/dev/null || die "attach mo"
echo new > "$T/mo/other"
s3vol commit "$T/mo" >/dev/null || die "commit of mo"
s3vol detach "$T/mo" >/dev/null || die "detach of mo"
echo mine > "$T/mk/mine"
rc=0
s3vol detach "$T/mk" >/dev/null 2>"$T/dk.err" || rc=$?
[ $rc = 4 ] || die "the conflicting detach exited $rc: $(cat "$T/dk.err")"
grep -qF "kept in $T/kept" "$T/dk.err" || die "detach does not say where: $(cat "$T/dk.err")"
newest=$(head_version multi)
s3vol attach multi "$T/mk" --cache-dir "$T/kept" --commit-interval 0 \
  >/dev/null 2>"$T/ak.err" || die "attach of the kept cache failed"
cat "$T/ak.err"
[ "$(wc -l <"$T/ak.err")" = 1 ] || die "not one line: $(cat "$T/ak.err")"
grep -q "based on version $((head)), but multi is at version $newest" \
  "$T/ak.err" || die "the warning does not name both versions"
grep -q "detach --discard $T/mk" "$T/ak.err" || die "the warning does not say what to do"
grep -qx mine "$T/mk/mine" || die "the kept changes are not there"
s3vol detach --discard "$T/mk" >/dev/null || die "detach --discard of mk"
[ -e "$T/kept" ] && die "--discard left the cache directory"

phase "nothing left"
[ -z "$(ls "$S3VOL_RUN_DIR")" ] || die "left in the run directory: $(ls "$S3VOL_RUN_DIR")"
[ -z "$(ls -A "$XDG_CACHE_HOME/s3vol")" ] ||
  die "caches left: $(ls -R "$XDG_CACHE_HOME/s3vol")"
pgrep -f "nbd(kit|fuse).*$T" >/dev/null && die "left running: $(pgrep -af "$T")"
phase "done"
