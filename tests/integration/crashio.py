# SPDX-License-Identifier: BSD-3-Clause
"""s3vol crash tests: writer and checker, driven by crash.sh.

    nbdsh -c 'exec(open("crashio.py").read())' DIR SEED  (see crash.sh)

One process for the whole run (a coprocess of crash.sh), so that each
iteration costs no interpreter start-up.  It reads one command a line
on stdin and answers on stdout:

  write ITER URI CTL [commit]
                      connect to URI, check the device against DIR/base
                      and DIR/log (see below), save what it read as the
                      new DIR/base, answer "go", then write, zero, flush
                      (up to DEPTH of these in flight) and commit
                      (through the control socket CTL, in a thread) at
                      random on two connections, logging every request,
                      until the connection dies (crash.sh kills nbdkit);
                      answer "crashed ..." with what the kill cut short.
                      With "commit", commit first (while writing) and
                      answer "committed" when that commit is answered.
  commit ITER URI CTL check as above, then commit; answer "version V".
  compare ITER URI    check that the device holds exactly DIR/base (a
                      fresh cache on the committed version); answer "ok".
  quit                answer "bye: NAME=COUNT ..." with the run's totals
                      (see TOTALS) and end.
A failed check answers "FAIL ..." and exits 1.

A crash is told from an error.  Before it kills nbdkit, crash.sh writes
the iteration's number to DIR/killing.  A request may fail only because
the connection went away (not an error reply: the connection is dead),
and only once DIR/killing names this iteration; a commit may fail only
by its control connection going away, and only then too.  Anything else
(an error reply such as EIO while nbdkit runs, a connection lost before
the kill, a commit answered "error ...") fails the test.  After the kill
every request still in flight is waited for (its reply may have arrived
before the connection died); those that failed are the ones the kill
cut short, and crash.sh requires that many kills cut writes short.

Every written sector carries its own identity: a 16-byte header (magic,
write id, sector number) repeated 32 times, so a sector read back is
either all zeros, or exactly one write's data for exactly that sector,
or garbage.  Write ids are ITER << 20 | n, unique over a whole run.

The log has one line per event, in the order the client saw them (one
write(2) a line, so it survives even the writer's death):

  W ID OFF LEN FUA   a write was sent      Z ID OFF LEN FUA  a zero
  D ID               it was acknowledged   E ID ERRNO        cut by the kill
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
import time

import nbd

import ctl

SECTOR = 512
# Requests in flight at once (writes, zeroes and flushes, over both
# connections): the writer waits for the oldest when there are this many.
DEPTH = 4
# Write buffers, reused: libnbd 1.14's python aio_pwrite keeps a reference
# to every nbd.Buffer it is given, so each write wraps a slice of one of
# these (the leak is then a small object, not the data).
POOL = [bytearray(1 << 20) for _ in range(DEPTH)]
# The longest wait for a reply (crash.sh waits 120 s for each answer).
WAIT = 60
MAGIC = 0x53335643                       # "CV3S"
# Errors a server replies with (the connection stays up): never a crash.
SERVER_ERRORS = {"EIO", "EPERM", "ENOMEM", "ENOSPC", "EOVERFLOW", "ENOTSUP",
                 "EOPNOTSUPP", "ESHUTDOWN", "EFBIG"}
sdir, seed = sys.argv[1], int(sys.argv[2])
base_path, log_path = os.path.join(sdir, "base"), os.path.join(sdir, "log")
killing_path = os.path.join(sdir, "killing")
it = 0
size = nsect = 0
say_lock = threading.Lock()
# The run's totals, answered on "quit" for crash.sh to check:
#   crashes         iterations that ended in the kill
#   checks          logs checked (each crash's, after the restart)
#   checks_durable  those that held writes that had to be there
#   checked_acked   acknowledged writes (and zeroes) whose data was checked
#   checked_durable those of them that had to be there (flushed or FUA)
#   acked_flushes   flushes acknowledged, ok_commits commits answered ok
#                   (both while writing; commits after a restart aside)
#   kills_in_writes kills that cut at least one write (or zero) short
#   cut_writes      writes (and zeroes) the kills cut short
#   kills_in_flush, kills_in_commit, kills_idle: kills that cut a flush,
#                   a commit, nothing
TOTALS = dict.fromkeys(
    "crashes checks checks_durable checked_acked checked_durable "
    "acked_flushes ok_commits "
    "kills_in_writes cut_writes kills_in_flush kills_in_commit "
    "kills_idle".split(), 0)


def say(line):
    with say_lock:
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
    stats = dict(writes=0, acked=0, durable=0, barriers=0)
    if not os.path.exists(log_path):
        return {}, stats
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
    stats.update(writes=len(ops), barriers=len(barriers))
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
    had_log = os.path.exists(log_path)
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
    TOTALS["checks"] += had_log
    TOTALS["checks_durable"] += stats["durable"] > 0
    TOTALS["checked_acked"] += stats["acked"]
    TOTALS["checked_durable"] += stats["durable"]
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


def killing():
    """Has crash.sh said it is killing nbdkit in this iteration?"""
    try:
        with open(killing_path) as f:
            return f.read().strip() == str(it)
    except FileNotFoundError:
        return False


class Crashed(Exception):
    """The connection went away once nbdkit was being killed."""


def nbd_failed(what, hd, e):
    """A request (or a poll) failed: return if that is the kill, else
    fail the test."""
    dead = hd.aio_is_dead() or hd.aio_is_closed()
    if e.errno in SERVER_ERRORS or not dead:
        fail("%s: an error reply, not a crash (nbdkit %s): %s" % (
            what, "being killed" if killing() else "running", e))
    if not killing():
        fail("%s: the connection went away before crash.sh killed "
             "nbdkit: %s" % (what, e))


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


class Req:
    """A request in flight: a write or zero of sectors [first, first+n)
    (slot: its buffer in POOL), or a flush (n = 0)."""

    def __init__(self, kind, rid, first, n, hd, slot=None):
        self.kind, self.rid, self.first, self.n = kind, rid, first, n
        self.hd, self.slot, self.cookie = hd, slot, None


def cmd_write(uri, ctl_path, commit_first):
    if os.path.exists(killing_path):
        os.unlink(killing_path)
    handles = [connect(uri), connect(uri)]
    checked = check_and_save(handles[0])
    rnd = random.Random(seed * 100003 + it)
    logfd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC |
                    os.O_APPEND, 0o644)
    loglock = threading.Lock()
    inflight = []               # Req, oldest first
    free_slots = list(range(len(POOL)))
    commit_thread = None
    commit_failed = []          # what went wrong in the commit thread
    next_id = [1]
    # What this iteration did: sent and acknowledged, and what the kill
    # cut short.
    n = dict(writes=0, acked=0, flushes=0, acked_flushes=0, commits=0,
             ok_commits=0)
    cut = dict.fromkeys(("write", "zero", "flush", "commit"), 0)

    def log(line):
        # One write(2) a line: what was written survives whatever happens
        # to this process (only nbdkit is killed).
        with loglock:
            os.write(logfd, (line + "\n").encode())

    def new_id():
        wid = it << 20 | next_id[0]
        next_id[0] += 1
        return wid

    def do_commit(cid, announce=False):
        log("C %d" % cid)
        try:
            answer = ctl.request(ctl_path, "commit", timeout=WAIT)
        except OSError as e:
            answer = "(%s)" % e
        if answer.startswith("ok"):
            log("CD %d" % cid)
            n["ok_commits"] += 1
            if announce:
                say("committed: version %s" % answer.split()[1])
        elif answer.startswith("error") or not killing():
            # An answer from a running nbdkit, or a connection lost (or
            # timed out) before the kill.
            commit_failed.append("commit %d failed (nbdkit %s): %r" % (
                cid, "being killed" if killing() else "running", answer))
        else:
            cut["commit"] += 1

    def retire(r, deadline=None):
        """Is request r done?  If deadline (a time.monotonic()), wait for
        it until then.  Raises Crashed if the kill cut it short (it is
        retired then too)."""
        err = None
        while True:
            try:
                if r.hd.aio_command_completed(r.cookie):
                    break
            except nbd.Error as e:
                nbd_failed("%s %d" % (r.kind, r.rid), r.hd, e)
                err = e
                break
            if deadline is None:
                return False
            if time.monotonic() > deadline:
                fail("%s %d: no reply in %d s (nbdkit %s)" % (
                    r.kind, r.rid, WAIT,
                    "being killed" if killing() else "running"))
            if r.hd.aio_is_dead():
                fail("%s %d: lost by a dead connection" % (r.kind, r.rid))
            try:
                r.hd.poll(1000)
            except nbd.Error as e:
                nbd_failed("waiting for %s %d" % (r.kind, r.rid), r.hd, e)
        inflight.remove(r)
        if r.slot is not None:
            free_slots.append(r.slot)
        if err:
            log("E %d %s" % (r.rid, err.errno))
            cut[r.kind] += 1
            raise Crashed
        log(("FD %d" if r.kind == "flush" else "D %d") % r.rid)
        n["acked_flushes" if r.kind == "flush" else "acked"] += 1
        return True

    def reap():
        """Retire what has completed; then wait for the oldest requests
        while DEPTH are in flight."""
        for hd in handles:
            if any(r.hd is hd for r in inflight):
                try:
                    hd.poll(0)
                except nbd.Error as e:
                    nbd_failed("poll", hd, e)
                    raise Crashed
        for r in list(inflight):
            retire(r)
        while len(inflight) >= DEPTH:
            retire(inflight[0], time.monotonic() + WAIT)

    def wait_for_range(first, count):
        """Wait until no write in flight overlaps [first, first+count)."""
        for r in list(inflight):
            if first < r.first + r.n and r.first < first + count:
                retire(r, time.monotonic() + WAIT)

    def submit(r, fn):
        inflight.append(r)
        try:
            r.cookie = fn()
        except nbd.Error as e:
            # Not sent: the connection was already dead.
            nbd_failed("sending %s %d" % (r.kind, r.rid), r.hd, e)
            inflight.remove(r)
            if r.slot is not None:
                free_slots.append(r.slot)
            log("E %d %s" % (r.rid, e.errno))
            cut[r.kind] += 1
            raise Crashed

    say("go")
    if commit_first:
        n["commits"] += 1
        commit_thread = threading.Thread(target=do_commit,
                                         args=(new_id(), True), daemon=True)
        commit_thread.start()
    nops = 0
    try:
        while True:
            if commit_failed:
                fail(commit_failed[0])
            k = rnd.random()
            hd = rnd.choice(handles)
            if k < 0.72 or k >= 0.9:
                # Mostly small writes, some up to 1 MiB; now and then a
                # zero; a third of them whole chunks.
                cnt = rnd.choice([1, 1, 2, 8, 8, 16, 64, 128, 512, 2048])
                cnt = rnd.randint(1, cnt)
                first = rnd.randrange(0, nsect - cnt + 1)
                if rnd.random() < 0.3:
                    first -= first % 128
                    cnt = min(nsect - first, 128 * rnd.randint(1, 4))
                wait_for_range(first, cnt)
                fua = rnd.random() < 0.08
                wid = new_id()
                flags = nbd.CMD_FLAG_FUA if fua else 0
                n["writes"] += 1
                if k < 0.72:
                    log("W %d %d %d %d" % (wid, first * SECTOR, cnt * SECTOR,
                                           fua))
                    r = Req("write", wid, first, cnt, hd, free_slots.pop())
                    POOL[r.slot][:cnt * SECTOR] = sector_data(wid, first, cnt)
                    buf = nbd.Buffer.from_buffer(
                        memoryview(POOL[r.slot])[:cnt * SECTOR])
                    submit(r, lambda: hd.aio_pwrite(buf, first * SECTOR,
                                                    flags=flags))
                else:
                    log("Z %d %d %d %d" % (wid, first * SECTOR, cnt * SECTOR,
                                           fua))
                    r = Req("zero", wid, first, cnt, hd)
                    submit(r, lambda: hd.aio_zero(cnt * SECTOR,
                                                  first * SECTOR,
                                                  flags=flags))
            elif k < 0.86:
                fid = new_id()
                log("F %d" % fid)
                n["flushes"] += 1
                submit(Req("flush", fid, 0, 0, hd), hd.aio_flush)
            elif commit_thread is None or not commit_thread.is_alive():
                n["commits"] += 1
                commit_thread = threading.Thread(target=do_commit,
                                                 args=(new_id(),),
                                                 daemon=True)
                commit_thread.start()
            nops += 1
            reap()
    except Crashed:
        pass
    # The kill: wait for every request still in flight (the connections
    # are dead, so this is quick); each either was acknowledged before
    # the connection died or is cut short by the kill.
    deadline = time.monotonic() + WAIT
    while inflight:
        try:
            retire(inflight[0], deadline)
        except Crashed:
            pass
    if commit_thread:
        commit_thread.join(WAIT + 10)
        if commit_thread.is_alive():
            fail("the commit was not answered in %d s" % (WAIT + 10))
    if commit_failed:
        fail(commit_failed[0])
    os.close(logfd)
    handles.clear()                     # closes the connections
    TOTALS["crashes"] += 1
    TOTALS["acked_flushes"] += n["acked_flushes"]
    TOTALS["ok_commits"] += n["ok_commits"]
    TOTALS["cut_writes"] += cut["write"] + cut["zero"]
    TOTALS["kills_in_writes"] += cut["write"] + cut["zero"] > 0
    TOTALS["kills_in_flush"] += cut["flush"] > 0
    TOTALS["kills_in_commit"] += cut["commit"] > 0
    TOTALS["kills_idle"] += not any(cut.values())
    say("crashed: iteration %d: %s; sent %d writes (%d acked), %d flushes "
        "(%d acked), %d commits (%d ok); the kill cut short: %s" % (
            it, checked, n["writes"], n["acked"], n["flushes"],
            n["acked_flushes"], n["commits"], n["ok_commits"],
            ", ".join("%s %d" % kv for kv in cut.items() if kv[1])
            or "nothing in flight"))


for line in sys.stdin:
    w = line.split()
    if not w:
        continue
    if w[0] == "quit":
        say("bye: %s peak_mib=%d" % (
            " ".join("%s=%d" % kv for kv in TOTALS.items()),
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10))
        break
    it = int(w[1])
    if w[0] == "write":
        cmd_write(w[2], w[3], w[4:] == ["commit"])
    elif w[0] == "commit":
        cmd_commit(w[2], w[3])
    elif w[0] == "compare":
        cmd_compare(w[2])
    else:
        fail("unknown command " + w[0])
