#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# S3 failures on the wire, as a user of the CLI meets them.  A
# fault-injecting proxy (tests/support/s3proxy.py) sits between s3vol
# and the test S3 server, and s3vol reaches it through AWS_ENDPOINT_URL:
#  - 5xx, SlowDown, resets, lost and cut replies on every kind of request
#    during create, put and cat: each command succeeds, the file reads
#    back intact, and the proxy's log shows each fault followed by the
#    retry that passed;
#  - the create-only put that publishes a version lands but its reply is
#    lost (twice: once seen by s3vol's retry, once hidden by curl's own
#    re-send): put makes exactly one version, reports no other writer;
#  - a SlowDown that lasts: one error line saying so, after 8 tries, in
#    bounded time; 403 and NoSuchBucket: one line at once, one request;
#  - a store that ignores If-None-Match: store-check says so, commands
#    warn and work, publishing checks before it puts.
# The unit test test_s3_faults covers the same faults per request, with
# stalls and timeouts.  Needs the S3 test server (skips without it).
if [ -z "${S3VOL_TEST_BUCKET:-}" ] || [ -z "${AWS_ENDPOINT_URL:-}" ]; then
  echo "SKIP: s3faults: no S3 server (S3VOL_TEST_BUCKET, AWS_ENDPOINT_URL)"
  exit 77
fi
export S3VOL_TEST_S3=1
. "$(dirname "$0")/../support/functions.sh"
private_home

# ---- the proxy ------------------------------------------------------------

# It prints its port once it listens; it stops when this test does.
mkfifo "$T/proxy.port"
python3 "$SUPPORT/s3proxy.py" serve --upstream "$AWS_ENDPOINT_URL" \
  --lifetime 600 --log "$T/proxy.log" >"$T/proxy.port" &
proxy_pid=$!
on_exit "kill $proxy_pid 2>/dev/null; wait $proxy_pid 2>/dev/null"
read -r -t 30 port <"$T/proxy.port" || die "the proxy did not start"
export AWS_ENDPOINT_URL=http://127.0.0.1:$port

proxy () { python3 "$SUPPORT/s3proxy.py" ctl "$port" "$@" >/dev/null; }
fault () { proxy fault "$@"; }
proxy_log () { python3 "$SUPPORT/s3proxy.py" ctl "$port" log; }

# Every rule used up, and every request a fault hit tried again until
# one passed.  Prints how many faults were ridden out.
all_ridden_out () {
  python3 "$SUPPORT/s3proxy.py" ctl "$port" stats | python3 -c '
import json, sys
st = json.load(sys.stdin)
left = [r for r in st["rules"] if r["left"] != 0]
assert not left, "faults not met: %s" % left
pending = {}
faults = 0
for e in st["requests"]:
    k = (e["op"], e["key"])
    if e["action"] == "forward":
        pending.pop(k, None)
    else:
        faults += 1
        pending[k] = e["line"]
assert not pending, "not retried to success: %s" % list(pending.values())
print(faults)'
}

# run_cmd NAME CMD...: CMD's stdout, stderr and exit code in $T/NAME.*
run_cmd () {
  local name=$1 rc=0; shift
  "$@" >"$T/$name.out" 2>"$T/$name.err" || rc=$?
  echo $rc >"$T/$name.rc"
  echo "$* -> exit $rc"
  sed 's/^/  stderr: /' "$T/$name.err"
}
rc_of () { cat "$T/$1.rc"; }

# one_error NAME PATTERN: exactly one stderr line, an error matching it.
one_error () {
  [ "$(grep -c . "$T/$1.err")" -eq 1 ] &&
    grep -q "^s3vol: error: .*$2" "$T/$1.err" ||
    die "$1: wanted one error line matching '$2', got: $(cat "$T/$1.err")"
}

nversions () { s3vol versions "$1" | grep -cE '^ *[0-9]+ '; }

make_store
head -c 300000 /dev/urandom >"$T/f1"
head -c 300000 /dev/urandom >"$T/f2"
head -c 300000 /dev/urandom >"$T/f3"

# ---------------------------------------------------------------------
phase "transient faults on every kind of request"
fault action=error status=503 code=SlowDown op=PUT count=3
fault action=error status=500 op=GET count=2
fault action=lost-reply op=HEAD count=2
fault action=reset op=LIST count=2
fault action=cut op=GET key=/versions/ count=1
fault action=error status=502 op=DELETE count=1
timed t s3vol create vol --size 64M || die "create failed"
echo "create: ${t}s"
fault action=error status=503 op=PUT key=/chunks/ count=2
fault action=reset op=PUT key=/pages/ count=1
fault action=lost-reply op=PUT key=/versions/ conditional=true count=1
fault action=error status=504 op=LIST count=1
timed t s3vol put vol "$T/f1" /f1 || die "put failed"
echo "put: ${t}s"
# The put left its chunks in the host chunk cache: empty it, so that
# the cat GETs them.
"$S3VOL" cache prune >/dev/null || die "cache prune"
fault action=cut op=GET key=/chunks/ count=2
fault action=reset op=GET key=/pages/ count=1
timed t s3vol cat vol /f1 >"$T/f1.back" || die "cat failed"
echo "cat: ${t}s"
cmp "$T/f1" "$T/f1.back" || die "cat read back other bytes"
n=$(all_ridden_out) || die "faults not ridden out: $(proxy_log | tail -20)"
echo "$n faults ridden out; in the proxy's log:"
proxy_log | grep -E -- '-> (injected|reset|forwarded|.* cut)' | sed 's/^/  /'
[ "$(nversions vol)" -eq 3 ] || die "wanted 3 versions: $(s3vol versions vol)"

# ---------------------------------------------------------------------
phase "a lost reply to the put that publishes a version"
# Seen by s3vol: its retry meets 412, and the object is its own.
proxy clear
fault action=lost-reply op=PUT key=/versions/ conditional=true count=1
run_cmd put2 s3vol put vol "$T/f2" /f2
[ "$(rc_of put2)" = 0 ] || die "put after a lost reply failed"
# Hidden by curl: a server that does not answer "Expect: 100-continue"
# leaves nothing received on a reused connection that dies, and curl
# sends the put again by itself; s3vol sees only the 412.  (Before the
# fix, put said another writer had changed /f3, and made two versions.)
proxy clear
fault action=no-continue op=PUT key=/versions/ conditional=true count=1
fault action=lost-reply op=PUT key=/versions/ conditional=true count=1
run_cmd put3 s3vol put vol "$T/f3" /f3
[ "$(rc_of put3)" = 0 ] || die "put after a hidden lost reply failed"
proxy_log | grep '/versions/' | sed 's/^/  /'
grep -i "another writer\|conflict" "$T"/put[23].err "$T"/put[23].out &&
  die "a lost reply was taken for another writer"
[ "$(nversions vol)" -eq 5 ] ||
  die "wanted one version per put: $(s3vol versions vol)"
for f in f2 f3; do
  s3vol cat vol "/$f" | cmp - "$T/$f" || die "/$f reads back wrong"
done

# ---------------------------------------------------------------------
phase "a SlowDown that lasts"
proxy clear
fault action=error status=503 code=SlowDown op=GET key=/names/vol count=-1
timed t run_cmd info s3vol info vol
[ "$(rc_of info)" = 6 ] || die "info exited $(rc_of info), not 6 (store)"
one_error info "GET names/vol: store error 503 SlowDown after 8 tries"
[ "$(proxy_log | grep -c 'GET .*/names/vol -> injected')" -eq 8 ] ||
  die "wanted 8 tries: $(proxy_log)"
awk -v t="$t" 'BEGIN { exit !(t < 20) }' || die "info took ${t}s"
echo "failed after ${t}s"

# ---------------------------------------------------------------------
phase "errors that are not retried"
for f in "403 AccessDenied access denied" \
         "404 NoSuchBucket bucket $S3VOL_TEST_BUCKET does not exist"; do
  set -- $f
  proxy clear
  fault action=error status="$1" code="$2" count=-1
  timed t run_cmd list s3vol list
  [ "$(rc_of list)" = 6 ] || die "list exited $(rc_of list), not 6"
  one_error list "${*:3}"
  [ "$(proxy_log | grep -c -- '-> injected')" -eq 1 ] ||
    die "$2 was retried: $(proxy_log)"
  awk -v t="$t" 'BEGIN { exit !(t < 5) }' || die "list took ${t}s"
done

# ---------------------------------------------------------------------
phase "a store that ignores If-None-Match"
proxy clear
fault action=strip-inm count=-1
run_cmd check s3vol store-check
[ "$(rc_of check)" = 0 ] || die "store-check failed"
cat "$T/check.out"
grep -q "^conditional create: no (concurrent commits fall back to" \
  "$T/check.out" || die "store-check did not say so"
grep -q "does not honour conditional creates" "$T/check.err" ||
  die "store-check gave no warning"
make_store lww
run_cmd create s3vol create lww --size 64M
[ "$(rc_of create)" = 0 ] || die "create failed"
grep -q "^s3vol: warning: .*last-write-wins" "$T/create.err" ||
  die "create gave no warning"
grep -q "^s3vol: error" "$T/create.err" && die "create gave an error"
proxy clear
fault action=strip-inm count=-1
run_cmd put s3vol put lww "$T/f1" /f1
[ "$(rc_of put)" = 0 ] || die "put failed"
s3vol cat lww /f1 | cmp - "$T/f1" || die "/f1 reads back wrong"
# Publishing checks, then puts without the condition it cannot trust.
proxy_log | grep '/versions/' | sed 's/^/  /'
proxy_log | grep -A1 'HEAD .*/versions/0*3 -> 404' |
  grep -q 'PUT .*/versions/0*3 -> 200' ||
  die "version 3 was not published by check-then-put"
run_cmd again s3vol create lww --size 64M
[ "$(rc_of again)" = 8 ] || [ "$(rc_of again)" = 4 ] ||
  die "a second create of lww exited $(rc_of again)"
grep -q 'already exists' "$T/again.err" || die "no 'already exists'"
echo ok
