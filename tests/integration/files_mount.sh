#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# File operations without mounting, next to real mounts (root):
#  - what put writes shows in an attached volume after s3vol reload, and
#    what a mounted volume commits shows to ls and get;
#  - a crash-consistent version (committed with no freeze while files
#    were being written, then nbdkit killed) holds an unreplayed journal:
#    what get reads of it (extfs replays the journal itself) must be what
#    the kernel shows after mounting it (the kernel replays it): the same
#    names, types, modes, sizes, mtimes and bytes.
# On a directory store and on the S3 test server.  Without root, FUSE or
# loop devices: SKIP (exit 77).
. "$(dirname "$0")/../support/functions.sh"
requires_root
requires_fuse
requires_loop
requires mkfs.ext4 dumpe2fs nbdcopy
on_each_store
make_store
private_home
on_exit 'for m in "$T"/mnt*; do [ -d "$m" ] && "$S3VOL" detach "$m" >/dev/null 2>&1; done'

listing () {  # DIR OUT: names, types, modes, sizes (not of dirs), mtimes
  (cd "$1" && find . -path ./lost+found -prune -o \
     -printf '%p %y %m %T@ %n %l %s\n' |
     awk '$2 == "d" { $NF = "-" } { print }' | sort) > "$2.meta"
  (cd "$1" && find . -path ./lost+found -prune -o -type f -print0 |
     sort -z | xargs -0r sha256sum) > "$2.sums"
}

phase "a mounted volume's commit shows to ls and get"
s3vol create v --size 4G >/dev/null
mkdir -p "$T/mnt1" "$T/mnt2"
s3vol attach v "$T/mnt1" >/dev/null
mkdir -p "$T/mnt1/dir"
head -c 5000000 /dev/urandom > "$T/mnt1/dir/blob"
s3vol commit "$T/mnt1" >/dev/null
s3vol ls v /dir | grep -qx blob || die "ls does not see the commit"
s3vol get v /dir/blob - | cmp - "$T/mnt1/dir/blob" || die "get differs"
cp "$T/mnt1/dir/blob" "$T/blob"
s3vol detach "$T/mnt1" >/dev/null
s3vol get v /dir/blob - | cmp - "$T/blob" || die "get after detach differs"

phase "put shows in an attached volume after reload"
# A read-only attachment: any number of readers follow the head.  (A
# read-write one has its own changes, if only the mount's; its reload
# commits them first and so conflicts with the put, as designed.)
s3vol attach v "$T/mnt2" --read-only >/dev/null
echo "from put" > "$T/file"
s3vol put v "$T/file" /put-file >/dev/null
[ -e "$T/mnt2/put-file" ] && die "seen before reload"
s3vol reload "$T/mnt2" >/dev/null
grep -qx "from put" "$T/mnt2/put-file" || die "put not seen after reload"
cmp "$T/mnt2/dir/blob" "$T/blob" || die "the mounted commit changed"
s3vol rm v /dir -r >/dev/null
s3vol reload "$T/mnt2" >/dev/null
[ -e "$T/mnt2/dir" ] && die "rm not seen after reload"
s3vol detach "$T/mnt2" >/dev/null
# And read-write again on top of what put left.
s3vol attach v "$T/mnt1" >/dev/null
grep -qx "from put" "$T/mnt1/put-file" || die "put not seen read-write"
echo more >> "$T/mnt1/put-file"
s3vol detach "$T/mnt1" >/dev/null
s3vol cat v /put-file | tail -1 | grep -qx more || die "the mounted write"

phase "a crash-consistent version: get reads what the kernel replays"
s3vol create c --size 4G >/dev/null
s3vol attach c "$T/mnt2" --commit-interval 0 >/dev/null
ctlsock=$(ls "$S3VOL_RUN_DIR"/*/ctl.sock)
python3 "$SUPPORT/ctl.py" "$ctlsock" freeze >/dev/null   # no more freezing
touch "$T/go"
python3 - "$T/mnt2" "$T/go" "$T/progress" <<'PY' &
import os, random, sys
root, go, progress = sys.argv[1], sys.argv[2], sys.argv[3]
r = random.Random(7)
i = 0
while os.path.exists(go):
    if i % 20 == 0:
        with open(progress + ".tmp", "w") as f:
            f.write("%d\n" % i)
        os.rename(progress + ".tmp", progress)
    i += 1
    d = os.path.join(root, "d%d" % (i % 17))
    try:
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "f%d" % i), "wb") as f:
            f.write(os.urandom(r.randrange(0, 200000)))
        if i % 5 == 0:
            os.rename(os.path.join(d, "f%d" % (i - 2)),
                      os.path.join(d, "moved%d" % i))
        if i % 7 == 0:
            os.unlink(os.path.join(root, "d%d" % ((i + 3) % 17),
                                   "f%d" % (i - 9)))
        if i % 11 == 0:
            os.symlink("f%d" % i, os.path.join(d, "link%d" % i))
        if i % 13 == 0:
            with open(os.path.join(d, "log"), "ab") as f:
                f.write(b"line %d\n" % i)
    except OSError:
        pass
PY
writer=$!
t_writer=$SECONDS
# Commit while the writer is busy and ext4 has committed transactions to
# its journal: the writer has made some progress, and ext4's commit
# interval (5 s, the thing waited out here) has passed since it started.
writer_busy () {
  [ "$(cat "$T/progress" 2>/dev/null || echo 0)" -ge 200 ] &&
    [ $((SECONDS - t_writer)) -ge 6 ]
}
wait_or_die 600 "the writer to make 200 changes in the mounted volume" \
  writer_busy
out=$(python3 "$SUPPORT/ctl.py" "$ctlsock" commit) || die "commit: $out"
seq=${out#ok }
kill -KILL "$(cat "$S3VOL_RUN_DIR"/*/nbdkit.pid)"
rm -f "$T/go"
# The writer ignores the I/O errors that follow the kill; anything else
# makes it fail.
wait $writer || die "the writer failed"
# detach cleans up after a crashed nbdkit.
s3vol detach "$T/mnt2" >/dev/null || die "detach after the kill failed"
mountpoint -q "$T/mnt2" && die "$T/mnt2 is still mounted after detach"
echo "   version $seq committed under load, then nbdkit killed"
s3vol export c "$T/crash.img" --version "$seq" >/dev/null
dumpe2fs -h "$T/crash.img" 2>/dev/null > "$T/dumpe2fs"
grep -q needs_recovery "$T/dumpe2fs" || die "the version needs no recovery"
start=$(awk -F: '/^Journal start:/ { print $2 + 0 }' "$T/dumpe2fs")
[ "${start:-0}" -gt 0 ] || die "its journal is empty: nothing to replay"
echo "   journal start block $start: needs replay"
timed t s3vol get c / "$T/got" -r --version "$seq"
echo "   get -r: ${t}s"
mkdir -p "$T/kmnt"
mount -o loop "$T/crash.img" "$T/kmnt"       # the kernel replays
on_exit "umount_fs '$T/kmnt'"
listing "$T/kmnt" "$T/kernel"
listing "$T/got" "$T/get"
umount_fs "$T/kmnt"
n=$(wc -l < "$T/kernel.meta")
cmp -s "$T/kernel.meta" "$T/get.meta" ||
  { diff "$T/kernel.meta" "$T/get.meta" | head; die "metadata differs"; }
cmp -s "$T/kernel.sums" "$T/get.sums" ||
  { diff "$T/kernel.sums" "$T/get.sums" | head; die "contents differ"; }
echo "   $n entries: the same as the kernel's after its replay"
# A writer on top of that version: the replay is part of what it publishes.
s3vol put c "$T/file" /after-crash >/dev/null
s3vol export c "$T/after.img" >/dev/null
e2fsck -fn "$T/after.img" >"$T/fsck.log" 2>&1 ||
  { cat "$T/fsck.log"; die "e2fsck after a put on a replayed version"; }
dumpe2fs -h "$T/after.img" 2>/dev/null | grep -q needs_recovery &&
  die "still needs recovery after the put"
rm -f "$T/crash.img" "$T/after.img"
