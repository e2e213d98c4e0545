#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Background commits of a busy mounted filesystem: s3vol attach with the
# default commit interval, three writers creating, overwriting, renaming,
# deleting, changing, appending to files and making symlinks and
# directories for 20 s (and on until four versions were published since
# they started), each keeping a model of every change it made
# (tests/support/fswriters.py).  Then every version published meanwhile
# and the final one, on a fresh cache (s3vol export), must be a clean
# filesystem as the freeze around each cut makes it: no journal to
# replay (needs_recovery clear), e2fsck -fn clean, and, mounted, each
# writer's directory exactly as it was after some number of its changes,
# never going back from one version to the next; the final one exactly
# as each writer left it.  At least three background versions must have
# been taken mid-write, or the test proves nothing.
# On a directory store and on the S3 test server (where uploads take
# longer, so writes go on longer against the copy-on-write of the cut).
. "$(dirname "$0")/../support/functions.sh"
requires_root
requires_fuse
requires_loop
requires mkfs.ext4 e2fsck dumpe2fs mountpoint
on_each_store
make_store
private_home
on_exit 'for m in "$T"/mnt; do [ -d "$m" ] && "$S3VOL" detach "$m" >/dev/null 2>&1; done'
seed=${S3VOL_TEST_SEED:-$RANDOM}
secs=${S3VOL_TEST_WRITE_SECONDS:-20}
echo "seed $seed, writing for ${secs}s"
writers="w0 w1 w2"
fsw=$SUPPORT/fswriters.py

phase "attach with the default commit interval; three writers"
s3vol create v --size 1G >/dev/null
mkdir -p "$T/mnt"
s3vol attach v "$T/mnt" >/dev/null
v_start=$(head_version v)
touch "$T/go"
declare -A wpid
on_exit 'rm -f "$T/go"; for p in "${wpid[@]}"; do kill "$p" 2>/dev/null; done'
i=0
for w in $writers; do
  python3 "$fsw" write "$T/mnt" "$w" $((seed * 10 + i)) "$T/go" "$T/$w.model" \
    2>"$T/$w.err" &
  wpid[$w]=$!
  i=$((i + 1))
done
for w in $writers; do
  wait_until 60 test -e "$T/$w.model.ready" ||
    die "writer $w did not start: $(cat "$T/$w.err")"
done
t0=$SECONDS
# The writers write for $secs seconds, and on until four versions have
# been published since they started (at most 90 s): background commits
# happen every 5 s after the last one ended.
until [ $((SECONDS - t0)) -ge "$secs" ] &&
      [ "$(head_version v)" -ge $((v_start + 4)) ]; do
  [ $((SECONDS - t0)) -lt 90 ] ||
    die "in 90 s, only $(($(head_version v) - v_start)) background commits"
  for w in $writers; do
    kill -0 "${wpid[$w]}" 2>/dev/null ||
      die "writer $w ended early: $(cat "$T/$w.err")"
  done
  sleep 0.5
done
rm -f "$T/go"
for w in $writers; do
  wait "${wpid[$w]}" || die "writer $w failed: $(cat "$T/$w.err")"
  unset "wpid[$w]"
done
v_stop=$(head_version v)
out=$(s3vol commit "$T/mnt" -m final) || die "final commit: $out"
v_final=${out##* }
echo "versions $((v_start + 1)) to $v_stop published while writing," \
     "final $v_final; longest freeze" \
     "$(s3vol status --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["status"]["longest_freeze_ms"])') ms"
s3vol detach "$T/mnt" >/dev/null || die "detach"
python3 -c '
import json, sys
n = [len(json.load(open(p))["changes"]) for p in sys.argv[1:]]
print("changes made by the writers:", " ".join(map(str, n)))' "$T"/w?.model

phase "every version since $v_start: clean, and a state the writers went through"
s3vol versions v --json >"$T/versions.json"
seqs=$(python3 -c '
import json, sys
for v in json.load(open(sys.argv[1])):
    if int(sys.argv[2]) < v["seq"] <= int(sys.argv[3]):
        print(v["seq"], "background" if v["message"] == "" else "asked")' \
  "$T/versions.json" "$v_start" "$v_final")
mid=0
mkdir -p "$T/vmnt"
on_exit "umount_fs '$T/vmnt'"
while read -r seq how; do
  s3vol export v "$T/img" --version "$seq" >/dev/null ||
    die "export of version $seq"
  dumpe2fs -h "$T/img" 2>/dev/null >"$T/dumpe2fs"
  grep -q '^Filesystem state: *clean$' "$T/dumpe2fs" ||
    die "version $seq: $(grep '^Filesystem state' "$T/dumpe2fs")"
  grep -q '^Filesystem features:.*needs_recovery' "$T/dumpe2fs" &&
    die "version $seq has a journal to replay: it was taken unfrozen"
  e2fsck -fn "$T/img" >"$T/fsck.log" 2>&1 ||
    { cat "$T/fsck.log"; die "e2fsck found errors in version $seq"; }
  mount -o ro,loop,noload "$T/img" "$T/vmnt" || die "mount version $seq"
  flags=(--state "$T/ks")
  [ "$seq" = "$v_final" ] && flags+=(--final)
  rc=0
  python3 "$fsw" check "$T/vmnt" "${flags[@]}" "$T"/w?.model >"$T/check.out" ||
    rc=$?
  umount_fs "$T/vmnt"
  rm -f "$T/img"
  sed "s/^/   /" "$T/check.out"
  [ $rc = 0 ] || die "version $seq is not a state the writers went through"
  # Taken mid-write: each writer had made some changes and was to make more.
  if [ "$how" = background ] &&
     awk -v n="$(wc -w <<<"$writers")" \
       '$2 <= 0 || $2 >= $3 { bad = 1 } END { exit bad || NR != n }' \
       "$T/check.out"; then
    mid=$((mid + 1))
    how="$how, mid-write"
  fi
  echo "version $seq ($how): clean, e2fsck clean, matches the writers"
done <<<"$seqs"
echo "$mid background versions taken mid-write"
[ "$mid" -ge 3 ] || die "only $mid background versions were taken mid-write"
phase "done"
