# SPDX-License-Identifier: BSD-3-Clause
"""s3vol integration tests: random I/O against a model (run in nbdsh).

    nbdsh_script NAME model.py SEED OPS MODEL_OUT [COMMITS_OUT]

Opens two more connections besides nbdsh's h and runs OPS random
operations spread over the three: writes of random sizes at random,
unaligned as well as aligned, offsets (some with FUA), zeroes and trims
(which the plugin turns into zeroes), reads checked against a bytearray
model, and flushes.  Several requests are in flight at once on different
connections, never overlapping each other (their order would be
undefined).  Every so often, with nothing in flight, it commits through
the control socket ($CTL) and saves the model as it was, so the caller
can check each version later; the versions go to COMMITS_OUT as
"VERSION FILE" lines.  At the end it flushes, reads everything back,
commits, and writes the model to MODEL_OUT.
"""
import os
import random
import resource
import sys

import nbd

import ctl

seed, nops, model_out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
commits_out = sys.argv[4] if len(sys.argv) > 4 else None
rnd = random.Random(seed)
uri = os.environ["URI"]
ctl_path = os.environ["CTL"]


def relax(handle):
    # The plugin advertises a 512-byte minimum block size, which libnbd
    # enforces by default; the plugin itself takes any offset, and the
    # cache's partial-chunk paths are what this test is after.
    handle.set_strict_mode(handle.get_strict_mode() & ~nbd.STRICT_ALIGN)


relax(h)
handles = [h]
for _ in range(2):
    extra = nbd.NBD()
    relax(extra)
    extra.connect_uri(uri)
    handles.append(extra)
assert all(x.can_multi_conn() for x in handles), "no multi-conn"

size = h.get_size()
model = bytearray(size)
# The starting content (zeros for a new volume).
for off in range(0, size, 4 << 20):
    n = min(4 << 20, size - off)
    model[off:off + n] = h.pread(n, off)

stats = dict(write=0, fua=0, zero=0, trim=0, read=0, flush=0, commit=0)


def random_range():
    kind = rnd.random()
    if kind < 0.3:                  # small, anywhere, unaligned
        n = rnd.randint(1, 9000)
        off = rnd.randrange(0, size - n + 1)
    elif kind < 0.6:                # 4K-aligned, up to 512K
        n = rnd.randint(1, 128) * 4096
        off = rnd.randrange(0, (size - n) // 4096 + 1) * 4096
    elif kind < 0.9:                # sector-aligned, across chunk ends
        n = rnd.randint(1, 512) * 512
        off = rnd.randrange(0, (size - n) // 512 + 1) * 512
    else:                           # big, unaligned, up to 1M
        n = rnd.randint(1, 1 << 20)
        off = rnd.randrange(0, size - n + 1)
    return off, n


# Write data: slices of a random pool at random places, so that any two
# writes differ (stale data shows) without generating megabytes a write.
pool = rnd.randbytes(8 << 20)


def random_bytes(n):
    at = rnd.randrange(0, len(pool) - n + 1)
    return pool[at:at + n]


def overlaps(a, b):
    return a[0] < b[0] + b[1] and b[0] < a[0] + a[1]


def check_read(off, n, got):
    if got != model[off:off + n]:
        bad = next(i for i in range(n) if got[i] != model[off + i])
        raise AssertionError("read of %d bytes at %d differs from the "
                             "model at byte %d (offset %d): got %d, "
                             "want %d" % (n, off, bad, off + bad,
                                          got[bad], model[off + bad]))


# Request buffers, reused: libnbd 1.14's python aio calls keep a
# reference to every nbd.Buffer they are given, so each request wraps a
# slice of one of these (the leak is then a small object, not the data).
POOL = [bytearray(1 << 20) for _ in range(6)]


def pool_buffer(slot, n, data=None):
    view = memoryview(POOL[slot])[:n]
    if data is not None:
        view[:] = data
    return nbd.Buffer.from_buffer(view)


def run_batch():
    """Issue up to 6 non-overlapping requests across the handles and
    wait for all of them."""
    inflight = []                       # (range, handle, cookie, check)
    for slot in range(rnd.randint(1, 6)):
        r = random_range()
        if any(overlaps(r, x[0]) for x in inflight):
            continue
        off, n = r
        hd = rnd.choice(handles)
        op = rnd.random()
        check = keep = None
        if op < 0.45:
            data = random_bytes(n)
            fua = rnd.random() < 0.1
            keep = pool_buffer(slot, n, data)
            c = hd.aio_pwrite(keep, off,
                              flags=nbd.CMD_FLAG_FUA if fua else 0)
            model[off:off + n] = data
            stats["fua" if fua else "write"] += 1
        elif op < 0.55:
            c = hd.aio_zero(n, off)
            model[off:off + n] = bytes(n)
            stats["zero"] += 1
        elif op < 0.6:
            c = hd.aio_trim(n, off)
            model[off:off + n] = bytes(n)
            stats["trim"] += 1
        else:
            keep = pool_buffer(slot, n)
            c = hd.aio_pread(keep, off)
            check = (off, n, slot)
            stats["read"] += 1
        inflight.append((r, hd, c, check, keep))
    for r, hd, c, check, keep in inflight:
        while not hd.aio_command_completed(c):
            hd.poll(-1)
        if check:
            off, n, slot = check
            check_read(off, n, bytes(POOL[slot][:n]))


def read_all(where):
    for i, off in enumerate(range(0, size, 4 << 20)):
        n = min(4 << 20, size - off)
        try:
            check_read(off, n, handles[i % len(handles)].pread(n, off))
        except AssertionError as e:
            raise AssertionError("%s: %s" % (where, e))


def commit(tag):
    answer = ctl.request(ctl_path, "commit model test " + tag)
    assert answer.startswith("ok "), "commit: " + answer
    stats["commit"] += 1
    return int(answer.split()[1])


committed = []
for i in range(nops):
    run_batch()
    if rnd.random() < 0.05:
        rnd.choice(handles).flush()
        stats["flush"] += 1
    if commits_out and i % 400 == 399:
        v = commit("at op %d" % i)
        f = "%s.v%d" % (model_out, v)
        with open(f, "wb") as fp:
            fp.write(model)
        committed.append((v, f))
        read_all("after the commit of version %d" % v)

for x in handles:
    x.flush()
read_all("after the last flush")
v = commit("final")
read_all("after the final commit")
with open(model_out, "wb") as fp:
    fp.write(model)
committed.append((v, model_out))
if commits_out:
    with open(commits_out, "w") as fp:
        for v, f in committed:
            fp.write("%d %s\n" % (v, f))
for x in handles[1:]:
    x.shutdown()
print("ops: " + ", ".join("%s %d" % kv for kv in sorted(stats.items())))
print("peak memory %d MiB" % (
    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10))
print("version %d" % v)
