#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Faults, as root (the directory store's outage is a tmpfs remounted
# read-only).  On the directory store and on S3:
#  - the store goes away during a commit: the commit fails with a clear
#    error, writes and reads of what the cache holds go on, the background
#    committer (commit-interval=1) retries with backoff, and once the
#    store is back everything is committed; a fresh cache reads it all.
#    S3: scripts/s3-server pause / resume stop and restart radosgw.
#  - a corrupt chunk in the store: reading that chunk gives EIO (and
#    only that chunk), and the nbdkit log names its key (once the host
#    chunk cache, which holds the good bytes, is emptied).
# On the directory store only (they do not depend on the store):
#  - a cache on a full disk (an 8 MiB tmpfs, a 64 MiB volume): writes
#    beyond it fail with ENOSPC, what was written before is intact, and
#    after a commit writes go on;
#  - a second nbdkit on the same cache directory fails, naming the pid
#    of the one that has it.
. "$(dirname "$0")/../support/functions.sh"
requires_root
requires mount umount
on_each_store
make_store
seed=${S3VOL_TEST_SEED:-$RANDOM}
echo "store $STORE_KIND, seed $seed"
s3server=$SRCDIR/scripts/s3-server

store_down=0
store_down () {
  store_down=1
  if [ "$STORE_KIND" = dir ]; then
    mount -o remount,ro "$STORE_DIR"
  else
    "$s3server" pause
  fi
}
store_up () {
  [ $store_down = 1 ] || return 0
  if [ "$STORE_KIND" = dir ]; then
    mount -o remount,rw "$STORE_DIR"
  else
    "$s3server" resume
  fi
  store_down=0
}

# status_ge NAME FIELD N, status_is NAME FIELD VALUE: test a status field.
status_ge () { [ "$(ctl_status "$1" "$2")" -ge "$3" ]; }
status_is () { [ "$(ctl_status "$1" "$2")" = "$3" ]; }

io () { local name=$1; shift; nbdsh_script "$name" "$SUPPORT/iohelp.py" "$@"; }

if [ "$STORE_KIND" = dir ]; then
  # A store that can be made read-only: a tmpfs of its own.
  mount -t tmpfs -o size=512M s3vol-it-store "$STORE_DIR"
  on_exit "umount_fs '$STORE_DIR'"
fi
on_exit store_up

# ---------------------------------------------------------------------
phase "store down during a commit"
create_volume down 64M 64K
start_plugin w volume=down commit-interval=1
io w write "$T/down.model" 0 $((3 << 20)) $((seed + 1))
commit w "before the outage" >/dev/null
failures0=$(ctl_status w commit_failures)
timed t store_down
echo "store down (${t}s)"
# Writes to what the cache holds need no store.
io w write "$T/down.model" $((1 << 20)) $((1 << 20)) $((seed + 2))
t0=$SECONDS
out=$(ctl w "commit during the outage") &&
  die "a commit with the store down succeeded: $out"
echo "commit with the store down: '$out' after $((SECONDS - t0))s"
case $out in
  "error store "*) ;;
  *) die "unexpected answer: $out" ;;
esac
# The cache goes on: writes, reads.
io w write "$T/down.model" $((2 << 20)) $((1 << 20)) $((seed + 3))
io w check "$T/down.model" 0 $((3 << 20))
if [ "$STORE_KIND" = s3 ]; then
  # What no cache holds needs the store: an I/O error (not "invalid
  # argument", which is what nbdkit sends for ECONNREFUSED).  The first
  # MiB is committed and clean: once the host chunk cache is emptied,
  # only the store has it.  (A hole, such as 40 MiB, is known from the
  # map page the commit kept and reads as zeros without the store.)
  "$S3VOL" cache prune >/dev/null || die "cache prune"
  e=$(io w error "$T/down.model" 0 4096)
  echo "a read of data not in the cache: $e"
  [ "$e" = EIO ] || die "reading with the store down gave $e, not EIO"
fi
# Each background commit with the store down fails only after the
# store's own tries (on S3 up to 8, with up to 12.7 s of backoff), and
# the committer waits 2 s, then 4 s between them: 2 failures take up to
# ~35 s on an idle machine.
wait_or_die 180 "the background committer to fail twice more (it did not retry)" \
  status_ge w commit_failures $((failures0 + 2))
echo "failed commits so far: $(( $(ctl_status w commit_failures) - failures0 ))," \
     "dirty bytes: $(ctl_status w dirty_bytes)"
timed t store_up
echo "store up (${t}s)"
# The committer's delay has doubled with each failure, up to 300 s
# (MAX_BACKOFF in plugin/committer.c): how long the next try takes
# depends on how long the outage lasted, and so on the machine's load.
timed t wait_until 420 status_is w dirty_bytes 0 ||
  die "nothing was committed in 420 s after the store came back"
echo "committed ${t}s after the store came back:" \
     "$(ctl_status w last_commit_result), version $(ctl_status w last_commit_version)"
grep -q "commits of down succeed again" "$T/w.log" ||
  die "the log does not say that commits succeed again"
stop_plugin w
start_plugin r volume=down readonly=true
io r check "$T/down.model"
stop_plugin r

# ---------------------------------------------------------------------
phase "a corrupt chunk in the store"
make_store corrupt                      # its chunks are all this volume's
create_volume bad 8M 64K
start_plugin wb volume=bad
io wb write "$T/bad.model" 0 $((1 << 20)) $((seed + 4))
v=$(commit wb "16 chunks")
stop_plugin wb
if [ "$STORE_KIND" = dir ]; then
  f=$(cd "$STORE_DIR" && find chunks -type f -name '*@' | sort | head -n1)
  key=${f%@}
  python3 - "$STORE_DIR/$f" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 0x40
open(p, "wb").write(b)
PY
else
  key=$(python3 "$SUPPORT/s3obj.py" list "$STORE" | awk '$2 ~ "/chunks/" { print $2; exit }')
  python3 "$SUPPORT/s3obj.py" get "$STORE" "$key" "$T/obj"
  python3 - "$T/obj" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 0x40
open(p, "wb").write(b)
PY
  python3 "$SUPPORT/s3obj.py" put "$STORE" "$key" "$T/obj"
  key=chunks/${key#*/chunks/}
fi
echo "flipped a byte of $key"
# The writer's commit left its chunks in the host chunk cache (checked
# then): empty it, so that the reader fetches the corrupt object.
"$S3VOL" cache prune >/dev/null || die "cache prune"
start_plugin rb volume=bad version="$v"
io rb chunks "$T/bad.model" 65536 >"$T/bad.out"
cat "$T/bad.out"
[ "$(grep -c '^bad ' "$T/bad.out")" = 1 ] || die "expected one bad chunk"
grep -q '^bad [0-9]* EIO$' "$T/bad.out" || die "the bad chunk did not give EIO"
grep -F "$key" "$T/rb.log" || die "the log does not name $key"
stop_plugin rb

if [ "$STORE_KIND" = dir ]; then
# ---------------------------------------------------------------------
phase "a cache on a full disk"
mkdir -p "$T/small"
mount -t tmpfs -o size=8M s3vol-it-cache "$T/small"
on_exit "umount_fs '$T/small'"
create_volume full 64M 64K
start_plugin f volume=full cache-dir="$T/small/cache"
out=$(io f fill "$T/full.model" 0 $((1 << 20)) $((seed + 5)))
echo "$out"
wrote=$(echo "$out" | awk '{ print $2 }')
[ "$(echo "$out" | awk '{ print $4 }')" = ENOSPC ] || die "no ENOSPC: $out"
[ "$wrote" -gt 0 ] && [ "$wrote" -lt $((8 << 20)) ] || die "wrote $wrote bytes"
grep -q "full of data not yet committed" "$T/f.log" ||
  die "the log does not explain the ENOSPC"
# What was written before the failed write is intact; the failed write's
# own range is undefined (written again below, and everything checked).
# (Not read here: what lies beyond, which the full cache would have to
# make room for.)
io f check "$T/full.model" 0 "$wrote" ||
  die "what was written before the ENOSPC differs"
v=$(commit f "what fitted")
# Committed data is clean, and clean data makes room: writes go on.
out=$(io f fill "$T/full.model" "$wrote" $((1 << 20)) $((seed + 6)) \
        $((wrote + (6 << 20))))
echo "after the commit: $out"
[ "$out" = "wrote $((6 << 20)) errno none" ] ||
  die "writes after the commit failed: $out"
io f check "$T/full.model"
v=$(commit f "more")
stop_plugin f
start_plugin r2 volume=full version="$v"
io r2 check "$T/full.model"
stop_plugin r2

# ---------------------------------------------------------------------
phase "a second nbdkit on the same cache directory"
# As attach runs it: nbdkit forks into the background once the cache is
# open; the lock must name the process that has it after the fork.
nbdkit -U "$T/one.sock" -P "$T/one.pid" "$PLUGIN" store="$STORE" \
  volume=full cache-dir="$T/shared.cache" commit-interval=0
on_exit "stop_plugin one"
start_plugin two volume=full cache-dir="$T/shared.cache" &&
  die "a second nbdkit opened a cache directory in use"
cat "$T/two.log"
grep -q "in use by another s3vol process (pid $(plugin_pid one))" "$T/two.log" ||
  die "the error does not name the pid of the owner ($(plugin_pid one))"
stop_plugin one
fi
phase "done"
