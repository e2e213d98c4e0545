#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The heavy version of tests/integration/shared_cache.sh and
# attachments.sh (make stress): 20 read-only and 2 read-write
# attachments of one 1 GiB volume on one host, all mounted at once, all
# reading a 900 MiB file at the same time.  Every chunk is fetched from
# the object store once: the host chunk store's misses are no more than
# the chunks the version references, and on S3 (a proxy in front of the
# server counts the GETs) no chunk object is read twice and there are no
# more chunk GETs than misses.  The read-write ones only read, so
# detaching them publishes nothing.  Prints what it measured.
#
#   S3VOL_STRESS_RO=20 S3VOL_STRESS_RW=2 S3VOL_STRESS_FILE_MB=900 \
#     tests/stress/attachments.sh
# On each store (directory, then S3 with the environment of
# scripts/s3-server env; GETs are counted on S3 only); S3VOL_TEST_S3=0
# or 1 picks one.
. "$(dirname "$0")/../support/functions.sh"
requires_root
requires_fuse
requires_loop
on_each_store
nro=${S3VOL_STRESS_RO:-20}
nrw=${S3VOL_STRESS_RW:-2}
mb=${S3VOL_STRESS_FILE_MB:-900}

# chunk_gets [uniq]: GETs of chunk objects so far (S3: through the proxy;
# else 0); with "uniq", of distinct chunk objects.
if [ "$STORE_KIND" = s3 ]; then
  counting_proxy 3600
else
  chunk_gets () { echo 0; }
fi

make_store
private_home
on_exit "for m in '$T'/m*; do '$S3VOL' detach \"\$m\" >/dev/null 2>&1; done"

phase "a 1 GiB volume holding a $mb MiB file"
s3vol create big --size 1G --chunk-size 1M >/dev/null || die "create"
head -c "${mb}M" /dev/urandom > "$T/big"
s3vol put big "$T/big" /big >/dev/null || die "put"
chunks=$(( $(s3vol info big --json | python3 -c '
import json, sys; print(json.load(sys.stdin)["bytes_referenced"])') >> 20 ))
echo "   the head references $chunks chunks of 1 MiB"
h0=$(head_version big)
"$S3VOL" cache prune >/dev/null || die "prune"
[ "$(cache_field bytes)" = 0 ] || die "the chunk store is not empty after prune"

phase "$nro read-only + $nrw read-write attachments"
names=()
for i in $(seq 1 "$nro"); do names+=("r$i"); done
for i in $(seq 1 "$nrw"); do names+=("w$i"); done
for m in "${names[@]}"; do
  mkdir -p "$T/m$m"
  case $m in
    r*) s3vol attach big "$T/m$m" --read-only >/dev/null || die "attach $m" ;;
    w*) s3vol attach big "$T/m$m" --commit-interval 0 >/dev/null ||
          die "attach $m" ;;
  esac
done
[ "$(s3vol status --json | grep -c '"alive":true')" = $((nro + nrw)) ] ||
  die "not $((nro + nrw)) attachments running"
[ "$STORE_KIND" = s3 ] && proxy_clear
g0=$(chunk_gets) m0=$(cache_field misses)

phase "all $((nro + nrw)) read /big at once"
echo 3 > /proc/sys/vm/drop_caches
pids=()
t0=$(date +%s.%N)
for m in "${names[@]}"; do
  cmp "$T/m$m/big" "$T/big" & pids+=($!)
done
bad=0
for p in "${pids[@]}"; do wait "$p" || bad=$((bad + 1)); done
secs=$(_elapsed "$t0")
m1=$(cache_field misses)
g1=$(chunk_gets) gu=$(chunk_gets uniq)
misses=$((m1 - m0)) gets=$((g1 - g0))
echo "   $((nro + nrw)) readers of $mb MiB in ${secs}s: $misses chunk store" \
     "misses, $gets chunk GETs ($gu distinct objects), $chunks chunks" \
     "referenced"
[ $bad = 0 ] || die "$bad readers read a different /big"
[ $misses -ge "$mb" ] || die "only $misses misses for a $mb MiB file"
[ $misses -le "$chunks" ] ||
  die "$misses misses for $chunks chunks: some were fetched twice"
if [ "$STORE_KIND" = s3 ]; then
  [ "$gets" = "$gu" ] ||
    die "$gets chunk GETs of $gu objects: some chunk was read twice"
  [ "$gets" -le "$misses" ] || die "$gets GETs for $misses misses"
fi

phase "detach all: the writers only read, so nothing is published"
for m in "${names[@]}"; do
  s3vol detach "$T/m$m" >/dev/null 2>"$T/detach.err" ||
    die "detach $m: $(cat "$T/detach.err")"
  h=$(head_version big)
  [ "$h" = "$h0" ] ||
    die "$m only read, yet its detach published version $h (head was $h0)"
done
echo "   head still version $h0"
pgrep -f "nbd(kit|fuse).*$T" >/dev/null && die "left running: $(pgrep -af "$T")"
phase "done"
