"""s3vol crash tests: writer and checker, driven by crash.sh.

    nbdsh -c 'exec(open("crashio.py").read())' DIR SEED  (see crash.sh)

One process for the whole run (a coprocess of crash.sh), so that each
iteration costs no interpreter start-up.  It reads one command a line
on stdin and answers on stdout:

  write ITER URI CTL  connect to URI, check the device against DIR/base
                      and DIR/log (see below), save what it read as the
                      new DIR/base, answer "go", then write, zero, flush
                      and commit (through the control socket CTL) at
                      random on two connections, logging every request,
                      until the connection dies (crash.sh kills nbdkit);
                      answer "crashed ..." with what was in flight.
  commit ITER URI CTL check as above, then commit; answer "version V".
  compare ITER URI    check that the device holds exactly DIR/base (a
                      fresh cache on the committed version); answer "ok".
  quit                answer "bye ..." and end.
A failed check answers "FAIL ..." and exits 1.

Every written sector carries its own identity: a 16-byte header (magic,
write id, sector number) repeated 32 times, so a sector read back is
either all zeros, or exactly one write's data for exactly that sector,
or garbage.  Write ids are ITER << 20 | n, unique over a whole run.

The log has one line per event, in the order the client saw them (one
write(2) a line, so it survives even the writer's death):

  W ID OFF LEN FUA   a write was sent      Z ID OFF LEN FUA  a zero
  D ID               it was acknowledged   E ID              it failed
  F ID / FD ID       a flush sent / acknowledged
  C ID / CD ID       a commit sent / answered ok

The rule checked after a crash (the cache's contract): a write is
durable if it is a FUA write that was acknowledged, or if it was
acknowledged before a flush (or commit) was sent that was acknowledged.
For each sector, the newest durable write to it (or, if none, its value
in DIR/base) is its floor; the sector must hold the floor's value or the
value of a write to it sent after the floor.  Writes in flight at once
never overlap, so the writes to one sector are ordered.
"""
import os
import random
import resource
import struct
import sys
import threading

import nbd

import ctl

SECTOR = 512
# Write buffers, reused: libnbd 1.14's python aio_pwrite keeps a reference
# to every nbd.Buffer it is given, so each write wraps a slice of one of
# these (the leak is then a small object, not the data).
POOL = [bytearray(1 << 20) for _ in range(8)]
MAGIC = 0x53335643                       # "CV3S"
sdir, seed = sys.argv[1], int(sys.argv[2])
base_path, log_path = os.path.join(sdir, "base"), os.path.join(sdir, "log")
it = 0
size = nsect = 0


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def fail(msg):
    say("FAIL: iteration %d: %s" % (it, msg.replace("\n", "\nFAIL: ")))
    sys.exit(1)


def header(wid, s):
    return struct.pack("<IIQ", MAGIC, wid, s)


def sector_data(wid, first, n):
    return b"".join(header(wid, s) * 32 for s in range(first, first + n))


def load_base():
    if not os.path.exists(base_path):
        return [0] * nsect
    with open(base_path, "rb") as f:
        b = f.read()
    assert len(b) == 4 * nsect, "bad base file"
    return list(struct.unpack("<%dI" % nsect, b))


def allowed_values(base):
    """Sector -> set of values allowed, for the sectors the log touches."""
    if not os.path.exists(log_path):
        return {}, {}
    ops = {}               # id -> [kind, first, n, fua, pos_sent, pos_done]
    barriers = []          # (pos_sent, pos_done) of flushes and commits
    pending = {}
    with open(log_path) as f:
        lines = f.read().split("\n")
    for pos, line in enumerate(lines):
        w = line.split()
        if not w:
            continue
        if w[0] in ("W", "Z"):
            ops[int(w[1])] = [w[0], int(w[2]) // SECTOR,
                              int(w[3]) // SECTOR, w[4] == "1", pos, None]
        elif w[0] == "D":
            ops[int(w[1])][5] = pos
        elif w[0] in ("F", "C"):
            pending[w[0] + w[1]] = pos
        elif w[0] in ("FD", "CD"):
            barriers.append((pending[w[0][0] + w[1]], pos))
    stats = dict(writes=len(ops), acked=0, durable=0, barriers=len(barriers))
    # A write is durable if acknowledged before the send of some
    # acknowledged barrier: i.e. before the latest such send.
    last_barrier_sent = max((s for s, d in barriers), default=-1)
    per_sector = {}
    for wid in sorted(ops, key=lambda k: ops[k][4]):
        kind, first, n, fua, sent, done = ops[wid]
        durable = done is not None and (fua or done < last_barrier_sent)
        stats["acked"] += done is not None
        stats["durable"] += durable
        val = 0 if kind == "Z" else wid
        for s in range(first, first + n):
            per_sector.setdefault(s, []).append((val, durable))
    allowed = {}
    for s, seq in per_sector.items():
        floor = None
        for j, (val, durable) in enumerate(seq):
            if durable:
                floor = j
        if floor is None:
            allowed[s] = {base[s]} | {v for v, d in seq}
        else:
            allowed[s] = {v for v, d in seq[floor:]}
    return allowed, stats


def read_all(handle):
    """The whole device.  (Synchronous reads: libnbd 1.14's python
    aio_pread leaks every nbd.Buffer it is given, which adds up over a
    long run.)"""
    step = 4 << 20
    return b"".join(handle.pread(min(step, size - off), off)
                    for off in range(0, size, step))


def read_values(handle):
    vals = [0] * nsect
    buf = read_all(handle)
    zero = bytes(SECTOR)
    for s in range(nsect):
        sec = buf[s * SECTOR:(s + 1) * SECTOR]
        if sec == zero:
            continue
        hdr = sec[:16]
        magic, wid, sno = struct.unpack("<IIQ", hdr)
        if magic != MAGIC or sno != s or sec != hdr * 32:
            fail("sector %d (offset %d) holds garbage: %r..." %
                 (s, s * SECTOR, bytes(sec[:32])))
        vals[s] = wid
    return vals


def describe(v):
    return "zeros" if v == 0 else "write %d.%d" % (v >> 20, v & 0xfffff)


def check(handle):
    base = load_base()
    allowed, stats = allowed_values(base)
    vals = read_values(handle)
    bad = []
    for s in range(nsect):
        ok = vals[s] in allowed[s] if s in allowed else vals[s] == base[s]
        if not ok:
            want = allowed.get(s, {base[s]})
            bad.append("sector %d (offset %d): %s, allowed: %s" % (
                s, s * SECTOR, describe(vals[s]),
                ", ".join(describe(v) for v in sorted(want))))
    if bad:
        fail("%d sectors break the durability rule:\n  %s" % (
            len(bad), "\n  ".join(bad[:20])))
    return vals, stats


def save_base(vals):
    tmp = base_path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<%dI" % nsect, *vals))
    os.rename(tmp, base_path)
    if os.path.exists(log_path):
        os.rename(log_path, log_path + ".prev")


def connect(uri):
    global size, nsect
    hd = nbd.NBD()
    hd.connect_uri(uri)
    size = hd.get_size()
    nsect = size // SECTOR
    return hd


def check_and_save(hd):
    vals, stats = check(hd)
    save_base(vals)
    return "checked %s" % ", ".join("%s %d" % kv for kv in sorted(
        stats.items()))


def cmd_compare(uri):
    hd = connect(uri)
    base = load_base()
    vals = read_values(hd)
    hd.shutdown()
    diff = [s for s in range(nsect) if vals[s] != base[s]]
    if diff:
        fail("the committed version differs from the cache in %d sectors, "
             "first %d: %s, want %s" % (len(diff), diff[0],
                                       describe(vals[diff[0]]),
                                       describe(base[diff[0]])))
    say("ok: committed version matches (%d sectors written)" %
        sum(1 for v in base if v))


def cmd_commit(uri, ctl_path):
    hd = connect(uri)
    checked = check_and_save(hd)
    hd.shutdown()
    answer = ctl.request(ctl_path, "commit crash test check")
    if not answer.startswith("ok "):
        fail("commit after restart: " + answer)
    say("iteration %d: %s" % (it, checked))
    say("version " + answer.split()[1])


def cmd_write(uri, ctl_path):
    handles = [connect(uri), connect(uri)]
    checked = check_and_save(handles[0])
    rnd = random.Random(seed * 100003 + it)
    logfd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC |
                    os.O_APPEND, 0o644)
    loglock = threading.Lock()
    inflight = []               # (first, n, handle, cookie, id, slot)
    free_slots = list(range(len(POOL)))
    commit_thread = None
    next_id = [1]

    def log(line):
        # One write(2) a line: what was written survives whatever happens
        # to this process (only nbdkit is killed).
        with loglock:
            os.write(logfd, (line + "\n").encode())

    def new_id():
        wid = it << 20 | next_id[0]
        next_id[0] += 1
        return wid

    def do_commit(cid):
        log("C %d" % cid)
        try:
            if ctl.request(ctl_path, "commit", timeout=60).startswith("ok"):
                log("CD %d" % cid)
        except OSError:
            pass

    def reap(block):
        """Retire completed requests (all of them if block)."""
        if inflight and not block:
            for hd in handles:
                hd.poll(0)
        for r in list(inflight):
            first, n, hd, cookie, wid, slot = r
            while True:
                try:
                    done = hd.aio_command_completed(cookie)
                except nbd.Error:
                    log("E %d" % wid)
                    raise
                if done or not block:
                    break
                hd.poll(-1)
            if done:
                inflight.remove(r)
                if slot is not None:
                    free_slots.append(slot)
                log("D %d" % wid)

    def free_range(first, n):
        return not any(first < f + m and f < first + n
                       for f, m, *_ in inflight)

    say("go")
    nops = 0
    try:
        while True:
            k = rnd.random()
            if k < 0.72 or k >= 0.9:
                # Mostly small writes, some up to 1 MiB; now and then a
                # zero; a third of them whole chunks.
                n = rnd.choice([1, 1, 2, 8, 8, 16, 64, 128, 512, 2048])
                n = rnd.randint(1, n)
                first = rnd.randrange(0, nsect - n + 1)
                if rnd.random() < 0.3:
                    first -= first % 128
                    n = min(nsect - first, 128 * rnd.randint(1, 4))
                if not free_range(first, n):
                    reap(True)
                    continue
                fua = rnd.random() < 0.08
                wid = new_id()
                flags = nbd.CMD_FLAG_FUA if fua else 0
                hd = rnd.choice(handles)
                if k < 0.72:
                    log("W %d %d %d %d" % (wid, first * SECTOR, n * SECTOR,
                                           fua))
                    slot = free_slots.pop()
                    POOL[slot][:n * SECTOR] = sector_data(wid, first, n)
                    buf = nbd.Buffer.from_buffer(
                        memoryview(POOL[slot])[:n * SECTOR])
                    cookie = hd.aio_pwrite(buf, first * SECTOR, flags=flags)
                else:
                    log("Z %d %d %d %d" % (wid, first * SECTOR, n * SECTOR,
                                           fua))
                    slot = None
                    cookie = hd.aio_zero(n * SECTOR, first * SECTOR,
                                         flags=flags)
                inflight.append((first, n, hd, cookie, wid, slot))
            elif k < 0.86:
                fid = new_id()
                log("F %d" % fid)
                rnd.choice(handles).flush()
                log("FD %d" % fid)
            elif commit_thread is None or not commit_thread.is_alive():
                commit_thread = threading.Thread(target=do_commit,
                                                 args=(new_id(),))
                commit_thread.start()
            nops += 1
            reap(len(inflight) >= 4)
    except nbd.Error:
        pass
    if commit_thread:
        commit_thread.join()
    os.close(logfd)
    handles.clear()                     # closes the connections
    # What was going on when nbdkit died?
    with open(log_path) as f:
        events = [line.split() for line in f]
    pending = {}
    for w in events:
        if w[0] in ("W", "Z", "F", "C"):
            pending[w[1]] = w[0]
        elif w[0] in ("D", "FD", "CD", "E"):
            pending.pop(w[1], None)
    during = sorted(set({"W": "write", "Z": "zero", "F": "flush",
                         "C": "commit"}[k] for k in pending.values()))
    say("crashed: iteration %d: %s; %d requests, then killed during: %s" % (
        it, checked, nops, " ".join(during) or "nothing in flight"))


for line in sys.stdin:
    w = line.split()
    if not w:
        continue
    if w[0] == "quit":
        say("bye: checker's peak memory %d MiB" %
            (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10))
        break
    it = int(w[1])
    if w[0] == "write":
        cmd_write(w[2], w[3])
    elif w[0] == "commit":
        cmd_commit(w[2], w[3])
    elif w[0] == "compare":
        cmd_compare(w[2])
    else:
        fail("unknown command " + w[0])
