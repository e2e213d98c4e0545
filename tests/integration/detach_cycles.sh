#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# 20 cycles of attach, write, commit, detach, with background commits
# every second: detach never finds the volume "busy" because of s3vol's
# own processes (the plugin holds the mountpoint open while it freezes
# the filesystem for a commit's cut; nbdfuse).  Each cycle's file is in
# the newest version at the end, and nothing is left running, mounted
# or cached.  (Before, about one detach in three failed with "volume
# busy ... in use by NNNN (nbdkit)", and the final commit of a detach
# froze the filesystem under the mountpoint, the host's, instead.)
. "$(dirname "$0")/../support/functions.sh"
requires_root
requires_fuse
requires_loop
on_each_store

make_store
private_home
mkdir -p "$T/m"
on_exit "'$S3VOL' detach '$T/m' >/dev/null 2>&1"
s3vol create cyc --size 1G >/dev/null || die "create"
cycles=${S3VOL_TEST_CYCLES:-20}   # make stress: 50

phase "$cycles x attach, write, commit, detach"
t0=$SECONDS
for i in $(seq 1 "$cycles"); do
  s3vol attach cyc "$T/m" --commit-interval 1 >/dev/null ||
    die "cycle $i: attach failed"
  # Enough written that background commits (every second, each
  # freezing the filesystem) go on around the commit and the detach.
  head -c 4M /dev/urandom > "$T/m/f$i"
  wait_or_die 30 "a background commit" eval \
    's3vol status --json | grep -q "\"commits\":[1-9]"'
  head -c 4M /dev/urandom > "$T/m/g$i"
  s3vol commit "$T/m" >/dev/null || die "cycle $i: commit failed"
  s3vol detach "$T/m" >"$T/out" 2>"$T/err" ||
    die "cycle $i: detach failed: $(cat "$T/err")"
  grep -q busy "$T/err" && die "cycle $i: $(cat "$T/err")"
done
echo "   $cycles cycles in $((SECONDS - t0))s; head version $(head_version cyc)"

phase "every cycle's file is in the head; nothing left"
s3vol ls cyc / >"$T/ls"
for i in $(seq 1 "$cycles"); do
  grep -qx "f$i" "$T/ls" && grep -qx "g$i" "$T/ls" ||
    die "f$i or g$i is not in the newest version"
done
[ -z "$(ls "$S3VOL_RUN_DIR")" ] || die "left in the run directory: $(ls "$S3VOL_RUN_DIR")"
[ -z "$(ls -A "$XDG_CACHE_HOME/s3vol" 2>/dev/null)" ] ||
  die "caches left behind: $(ls -R "$XDG_CACHE_HOME/s3vol")"
pgrep -f "nbd(kit|fuse).*$T" >/dev/null && die "left running: $(pgrep -af "$T")"
mountpoint -q "$T/m" && die "$T/m left mounted"
phase "done"
