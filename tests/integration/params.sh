#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Parameters, the control socket protocol and the man page:
#  - nbdkit PLUGIN --help lists every parameter, and the man page
#    (docs/nbdkit-s3vol-plugin.pod) documents every one it lists;
#  - wrong parameters fail with one clear line each;
#  - readonly=true refuses writes; version=N and snapshot=S serve that
#    version, read-only unless readonly=false;
#  - the control socket: status (JSON), commit with a message, snapshot,
#    cut/finish (and their misuse), unknown requests.
. "$(dirname "$0")/../support/functions.sh"
make_store
pod=$SRCDIR/docs/nbdkit-s3vol-plugin.pod

phase "--help and the man page"
nbdkit "$PLUGIN" --help >"$T/help"
params=$(sed -n 's/^\([a-z-]*\)=[A-Z].*/\1/p' "$T/help")
echo "parameters:" $params
for p in store volume version snapshot readonly cache-dir cache-size \
         chunk-cache chunk-cache-size commit-interval ctl threads force; do
  grep -qx "$p" <<<"$params" || die "--help does not list $p"
done
for p in $params; do
  grep -q "^=item B<$p=" "$pod" || die "$pod does not document $p"
done
[ -s "$SRCDIR/docs/nbdkit-s3vol-plugin.1" ] || die "the man page is not rendered"
grep -q "^\.TH NBDKIT-S3VOL-PLUGIN 1" "$SRCDIR/docs/nbdkit-s3vol-plugin.1" ||
  die "docs/nbdkit-s3vol-plugin.1 is not a section 1 man page"
podchecker "$pod" 2>&1 | tail -n1
podchecker "$pod" >/dev/null 2>&1 || die "podchecker: $pod has errors"

phase "wrong parameters"
create_volume pv 16M 64K
# bad_start EXPECTED KEY=VALUE...: nbdkit must fail, saying EXPECTED.
bad_start () {
  local want=$1; shift
  rm -f "$T/bad.log"
  if nbdkit -U "$T/bad.sock" -P "$T/bad.pid" "$PLUGIN" store="$STORE" "$@" \
       2>"$T/bad.log"; then
    on_exit "stop_plugin bad"
    die "nbdkit started with $*"
  fi
  grep -q -- "$want" "$T/bad.log" || {
    cat "$T/bad.log"; die "for '$*' the error does not say '$want'"; }
  echo "  $*: $(grep -m1 error "$T/bad.log")"
}
bad_start "volume=NAME is required" cache-dir="$T/x"
bad_start "unknown parameter 'colour'" volume=pv colour=blue
bad_start "give version= or snapshot=, not both" volume=pv version=1 snapshot=s
bad_start "threads must be 1 to 64" volume=pv threads=0
bad_start "could not decipher boolean (maybe)" volume=pv readonly=maybe
bad_start "could not parse size string (lots)" volume=pv cache-size=lots
bad_start "commit-interval: negative" volume=pv commit-interval=-1
bad_start 'no volume named "nope"' volume=nope cache-dir="$T/nope.cache"
bad_start "store directory $T/missing" volume=pv store=file://"$T"/missing
bad_start "no such version\|version 7" volume=pv version=7 cache-dir="$T/v7"

phase "readonly, version, snapshot"
start_plugin w volume=pv
nbdsh -u "$(uri w)" -c 'h.pwrite(b"A" * 65536, 0)'
[ "$(commit w "first A")" = 2 ] || die "the first commit is not version 2"
ctl w "snapshot snapA" | grep -qx "ok 2" || die "snapshot failed"
nbdsh -u "$(uri w)" -c 'h.pwrite(b"B" * 65536, 0)'
v3=$(ctl w "commit second B" | sed -n 's/^ok //p')
[ "$v3" = 3 ] || die "commit with a message gave '$v3'"
s3vol versions pv | grep -q "second B" || die "the commit message is not kept"
s3vol snapshot list pv | grep -q snapA || die "snapshot snapA not listed"
# readonly=true: writes refused.
start_plugin ro volume=pv readonly=true
nbdsh -u "$(uri ro)" -c '
import nbd
assert h.is_read_only()
try:
    h.pwrite(b"x" * 512, 0)
    raise SystemExit("a write to a read-only export succeeded")
except nbd.Error as e:
    print("write refused:", e.string)' || die "readonly=true allowed a write"
[ "$(ctl_status ro readonly)" = true ] || die "status does not say readonly"
out=$(ctl ro "commit" || true)
[ "${out#error readonly }" != "$out" ] || die "commit on a read-only export: $out"
# version=2 and snapshot=snapA: A, read-only; the head: B.
first () { nbdsh -u "$(uri "$1")" -c 'print(h.pread(512, 0)[:1].decode())'; }
start_plugin v2 volume=pv version=2
[ "$(first v2)" = A ] || die "version=2 does not hold A"
nbdsh -u "$(uri v2)" -c 'assert h.is_read_only()' || die "version=2 is writable"
start_plugin sa volume=pv snapshot=snapA
[ "$(first sa)" = A ] || die "snapshot=snapA does not hold A"
start_plugin hd volume=pv readonly=true
[ "$(first hd)" = B ] || die "the head does not hold B"
# version=N with readonly=false: writable (a fork of the history).
start_plugin v2w volume=pv version=2 readonly=false
nbdsh -u "$(uri v2w)" -c 'assert not h.is_read_only(); h.pwrite(b"C" * 512, 0)'
out=$(ctl v2w "commit on an old version" || true)
echo "commit on version 2 while the head is 3: $out"
[ "${out#error conflict}" != "$out" ] || die "no conflict reported: $out"
stop_plugin v2w
stop_plugin v2
stop_plugin sa
stop_plugin hd
stop_plugin ro

phase "control socket"
ctl w status | python3 -c '
import json, sys
line = sys.stdin.read()
assert line.startswith("ok {"), line
s = json.loads(line[3:])
for k in ("volume", "base_version", "readonly", "dirty_bytes", "cached_bytes",
          "hits", "misses", "bytes_fetched", "bytes_uploaded",
          "uploads_in_flight", "commits", "commit_failures",
          "last_commit_version", "last_commit_result", "longest_freeze_ms"):
    assert k in s, "status lacks " + k
assert s["volume"] == "pv" and s["base_version"] == 3, s
print("status:", line.strip()[:100], "...")'
out=$(ctl w "bogus" || true)
[ "${out#error invalid unknown request}" != "$out" ] || die "unknown request: $out"
out=$(ctl w "finish" || true)
[ "${out#error invalid}" != "$out" ] || die "finish without a cut: $out"
out=$(ctl w cut cut "finish nothing changed") || true
echo "$out"
[ "$(echo "$out" | sed -n 2p | cut -d' ' -f1-2)" = "error invalid" ] ||
  die "a second cut on one connection was not refused"
[ "$(echo "$out" | sed -n 3p)" = "ok 3" ] || die "an empty finish: $out"
# A connection that takes a cut and goes away: the commit is finished.
nbdsh -u "$(uri w)" -c 'h.pwrite(b"D" * 512, 0)'
ctl w cut >/dev/null
# The plugin finishes it when it sees the connection close: wait for that.
wait_or_die 120 "the commit of an abandoned cut to finish (base version 4)" \
  eval '[ "$(ctl_status w base_version)" = 4 ]'
[ "$(head_version pv)" = 4 ] || die "head is not 4"
stop_plugin w
phase "done"
