#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The cache directory of an attachment against another local user (here:
# nobody) who plants it before s3vol creates it: a symlink to a
# directory of theirs, a directory they own, one anyone may write to,
# or a cache below a directory they own, at the default place
# ($XDG_CACHE_HOME/s3vol/NAME) or at --cache-dir.  Each is refused with
# one error line, and nothing is written into their directory; a
# directory of this user's own is used.  Also the run directory
# ($S3VOL_RUN_DIR) planted as a symlink.
# Each check prints "ok:" or "FAIL:"; the test fails if any failed.
# Needs root, FUSE and loop devices: without them it says SKIP.
set -u
. "$(dirname "$0")/../support/functions.sh"
requires_root
requires_fuse
requires_loop
requires runuser

private_home
chmod 711 "$T"
make_store

on_exit "for m in '$T'/m*; do '$S3VOL' detach \"\$m\" >/dev/null 2>&1; done"
s3vol create sec --size 64M >/dev/null || die "create failed"

# A directory of user nobody's, where the planted paths lead.
mkdir -m 777 "$T/theirs"
mkdir -m 755 "$T/nobodys" "$T/theirs2"
chown nobody "$T/theirs" "$T/nobodys" "$T/theirs2"
n=0
# refused WHAT ARGS...: attach with ARGS fails with one line on stderr
# and writes nothing into nobody's directories.
refused () {
  local what=$1 rc=0; shift
  n=$((n + 1))
  mkdir -m 755 "$T/m$n"
  "$S3VOL" --store "$STORE" attach sec "$T/m$n" "$@" > "$T/out" \
    2> "$T/err" || rc=$?
  if [ $rc -eq 0 ]; then
    fail "$what: attached"
    "$S3VOL" detach "$T/m$n" >/dev/null 2>&1
  elif [ "$(wc -l < "$T/err")" -ne 1 ]; then
    fail "$what: refused, but not with one line: $(cat "$T/err")"
  else
    ok "$what: refused: $(cat "$T/err")"
  fi
  local wrote
  wrote=$(find "$T/theirs" "$T/theirs2" "$T/nobodys" -mindepth 1)
  [ -z "$wrote" ] ||
    fail "$what: wrote into nobody's directory: $(echo $wrote)"
  find "$T/theirs" "$T/theirs2" "$T/nobodys" -mindepth 1 -delete
}

ln -s "$T/theirs" "$T/c1"
refused "--cache-dir a symlink to nobody's directory" --cache-dir "$T/c1"
ln -s "$T/nowhere" "$T/c2"
refused "--cache-dir a dangling symlink" --cache-dir "$T/c2"
[ ! -e "$T/nowhere" ] || fail "a dangling symlink was followed"
refused "--cache-dir a directory of nobody's" --cache-dir "$T/theirs2"
mkdir -m 777 "$T/c3"
refused "--cache-dir a directory anyone may write to" --cache-dir "$T/c3"
refused "--cache-dir below a directory of nobody's" \
  --cache-dir "$T/nobodys/cache"

# The default place: nobody made $XDG_CACHE_HOME/s3vol/sec a symlink.
mkdir -p "$XDG_CACHE_HOME/s3vol"
ln -s "$T/theirs" "$XDG_CACHE_HOME/s3vol/sec"
refused "the default cache directory a symlink"
rm "$XDG_CACHE_HOME/s3vol/sec"
# ... or made $XDG_CACHE_HOME/s3vol, the parent, a symlink to theirs.
mv "$XDG_CACHE_HOME/s3vol" "$XDG_CACHE_HOME/s3vol.mine"
ln -s "$T/theirs" "$XDG_CACHE_HOME/s3vol"
refused "the default cache directory's parent a symlink"
rm "$XDG_CACHE_HOME/s3vol"
mv "$XDG_CACHE_HOME/s3vol.mine" "$XDG_CACHE_HOME/s3vol"

# The run directory a symlink to nobody's directory.
S3VOL_RUN_DIR=$T/theirs refused "S3VOL_RUN_DIR a directory of nobody's"
ln -s "$T/theirs" "$T/run2"
S3VOL_RUN_DIR=$T/run2 refused "S3VOL_RUN_DIR a symlink"

# This user's own directories are used.
mkdir -m 700 "$T/mine"
mkdir -m 755 "$T/mok1" "$T/mok2"
if s3vol attach sec "$T/mok1" --cache-dir "$T/mine/cache" >/dev/null; then
  ok "--cache-dir of this user's own is used"
  s3vol detach "$T/mok1" >/dev/null || fail "detach failed"
else
  fail "--cache-dir of this user's own is refused"
fi
if s3vol attach sec "$T/mok2" >/dev/null; then
  ok "the default cache directory is used"
  s3vol detach "$T/mok2" >/dev/null || fail "detach failed"
else
  fail "the default cache directory is refused"
fi

echo "$fails check(s) failed"
[ $fails -eq 0 ]
