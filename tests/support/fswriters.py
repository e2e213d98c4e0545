# SPDX-License-Identifier: BSD-3-Clause
"""s3vol integration tests: a writer of a mounted filesystem that keeps a
model of what it did, and a check of a copy of the filesystem (a
published version, mounted) against the models of several writers.

    python3 fswriters.py write ROOT NAME SEED STOP MODEL
    python3 fswriters.py check ROOT [--state FILE] [--final] MODEL...

write works in ROOT/NAME until the file STOP is gone, then writes its
model (JSON) to MODEL.  It first builds its directory as ROOT/.init-NAME
and renames it into place, then touches MODEL.ready.  Every later change
is one system call as the filesystem sees it: files are written (in
several pieces) to a ".tmp*" name and renamed into place, or renamed,
unlinked, changed in place with one pwrite(2) (the kind of write that
changes a block the last version holds), appended to with one write(2),
made as symlinks or directories; some are fsync'd at once.  So a copy of the filesystem taken at any instant (the
freeze of a commit) holds, for each writer, exactly its state after some
number k of its changes (k = -1: the directory not there yet), plus
partly written ".tmp*" files, which are ignored.

check finds that k for each writer's directory under ROOT and prints
"NAME K N" (N: the writer's number of changes); fails, saying what
differs from the nearest state, if there is none.  --state FILE: the
k of each writer must not be below the one FILE holds, which is then
updated (versions in order never go back).  --final: k must be N, and
ROOT holds nothing else but lost+found.
"""
import hashlib
import json
import os
import random
import sys
import time

MAX_FILES = 150
MAX_LOG = 64 << 10


def entry_hash(path, entry):
    h = hashlib.sha256(("%s\0%s\0%s" % (path, entry[0], entry[1])).encode())
    return int.from_bytes(h.digest()[:16], "little")


class Model:
    """Path -> ("f", sha256) | ("l", target) | ("d", ""), and a hash of
    the whole set kept up to date change by change."""

    def __init__(self):
        self.tree = {}
        self.h = 0

    def set(self, path, entry):
        old = self.tree.pop(path, None)
        if old is not None:
            self.h = (self.h - entry_hash(path, old)) % (1 << 128)
        if entry is not None:
            self.tree[path] = entry
            self.h = (self.h + entry_hash(path, entry)) % (1 << 128)


def sha(data):
    return hashlib.sha256(data).hexdigest()


# ---- write -----------------------------------------------------------

def write(root, name, seed, stop, model_path):
    r = random.Random(seed)
    top = os.path.join(root, name)
    stage = os.path.join(root, ".init-" + name)
    changes = []        # per change: [[path, entry or None], ...]
    os.mkdir(stage)
    os.mkdir(os.path.join(stage, "d0"))
    open(os.path.join(stage, "log"), "wb").close()
    init = [["d0", ["d", ""]], ["log", ["f", sha(b"")]]]
    os.rename(stage, top)
    m = Model()
    for p, e in init:
        m.set(p, tuple(e))
    dirs = ["", "d0"]
    data_of = {"log": b""}      # the bytes of every regular file
    i = 0
    open(model_path + ".ready", "w").close()

    def files():
        return [p for p, e in m.tree.items() if e[0] in "fl" and p != "log"]

    def moved(p, q):
        if p in data_of:
            data_of[q] = data_of.pop(p)

    def write_tmp(d, data):
        tmp = os.path.join(top, d, ".tmp%d" % i)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            cuts = sorted(r.randrange(len(data) + 1)
                          for _ in range(r.randrange(4)))
            start = 0
            for end in cuts + [len(data)]:
                os.write(fd, data[start:end])
                start = end
            if r.random() < 0.2:
                os.fsync(fd)    # to the device now, not at the next freeze
        finally:
            os.close(fd)
        return tmp

    def content():
        x = r.random()
        if x < 0.02:
            n = r.randrange(256 << 10, 1 << 20)
        elif x < 0.15:
            n = r.choice([0, 1, 4095, 4096, 4097])
        else:
            n = r.randrange(64 << 10)
        return r.randbytes(n)

    while os.path.exists(stop):
        i += 1
        live = files()
        x = r.random()
        ch = []
        if live and (len(live) > MAX_FILES or x < 0.12):
            p = r.choice(live)
            os.unlink(os.path.join(top, p))
            data_of.pop(p, None)
            ch = [[p, None]]
        elif live and x < 0.27:
            p = r.choice(live)
            q = os.path.join(r.choice(dirs), "r%d" % i).lstrip("/")
            os.rename(os.path.join(top, p), os.path.join(top, q))
            moved(p, q)
            ch = [[p, None], [q, list(m.tree[p])]]
        elif x < 0.37 and any(data_of.get(p) for p in live):
            p = r.choice([p for p in live if data_of.get(p)])
            old = data_of[p]
            off = r.randrange(len(old))
            new = r.randbytes(min(r.randrange(1, 8192), len(old) - off))
            fd = os.open(os.path.join(top, p), os.O_WRONLY)
            try:
                assert os.pwrite(fd, new, off) == len(new)
                if r.random() < 0.3:
                    os.fsync(fd)
            finally:
                os.close(fd)
            data_of[p] = old[:off] + new + old[off + len(new):]
            ch = [[p, ["f", sha(data_of[p])]]]
        elif x < 0.45 and len(data_of["log"]) < MAX_LOG:
            line = b"line %d %s\n" % (i, r.randbytes(r.randrange(40)).hex()
                                      .encode())
            fd = os.open(os.path.join(top, "log"), os.O_WRONLY | os.O_APPEND)
            try:
                assert os.write(fd, line) == len(line)
            finally:
                os.close(fd)
            data_of["log"] += line
            ch = [["log", ["f", sha(data_of["log"])]]]
        elif x < 0.50:
            p = os.path.join(r.choice(dirs), "l%d" % i).lstrip("/")
            target = r.choice(["f%d" % r.randrange(i), "../x", "/abs/%d" % i])
            os.symlink(target, os.path.join(top, p))
            ch = [[p, ["l", target]]]
        elif x < 0.53 and len(dirs) < 8:
            p = os.path.join(r.choice(dirs), "d%d" % i).lstrip("/")
            os.mkdir(os.path.join(top, p))
            dirs.append(p)
            ch = [[p, ["d", ""]]]
        else:
            if live and x < 0.66:
                p = r.choice(live)         # overwrite (or replace a link)
            else:
                p = os.path.join(r.choice(dirs), "f%d" % i).lstrip("/")
            data = content()
            tmp = write_tmp(os.path.dirname(p), data)
            os.rename(tmp, os.path.join(top, p))
            data_of[p] = data
            ch = [[p, ["f", sha(data)]]]
        for p, e in ch:
            m.set(p, tuple(e) if e else None)
        changes.append(ch)
        time.sleep(0.005)
    with open(model_path + ".tmp", "w") as f:
        json.dump({"name": name, "init": init, "changes": changes}, f)
    os.rename(model_path + ".tmp", model_path)


# ---- check -----------------------------------------------------------

def scan(top):
    """The tree under top as the model sees it, or None if absent."""
    if not os.path.isdir(top) or os.path.islink(top):
        return None
    tree = {}

    def walk(d, rel):
        for e in os.scandir(d):
            p = os.path.join(rel, e.name)
            if e.is_symlink():
                tree[p] = ("l", os.readlink(e.path))
            elif e.is_dir(follow_symlinks=False):
                tree[p] = ("d", "")
                walk(e.path, p)
            elif not e.is_file(follow_symlinks=False):
                tree[p] = ("?", "")
            elif not e.name.startswith(".tmp"):
                with open(e.path, "rb") as f:
                    tree[p] = ("f", sha(f.read()))
    walk(top, "")
    return tree


def states(model):
    """The hash of the writer's tree after each change (index k + 1)."""
    m = Model()
    for p, e in model["init"]:
        m.set(p, tuple(e))
    out = [m.h]
    for ch in model["changes"]:
        for p, e in ch:
            m.set(p, tuple(e) if e else None)
        out.append(m.h)
    return out


def nearest(model, tree):
    """The k whose state differs from tree in the fewest paths, and the
    differences (path, model's entry, tree's entry)."""
    m = {}
    for p, e in model["init"]:
        m[p] = tuple(e)
    bad = set(p for p in set(m) | set(tree) if m.get(p) != tree.get(p))
    best = (len(bad), 0, set(bad))
    for k, ch in enumerate(model["changes"], 1):
        for p, e in ch:
            if e:
                m[p] = tuple(e)
            else:
                m.pop(p, None)
            if m.get(p) != tree.get(p):
                bad.add(p)
            else:
                bad.discard(p)
        if len(bad) < best[0]:
            best = (len(bad), k, set(bad))
    # The model at best[1], for the report.
    m = {p: tuple(e) for p, e in model["init"]}
    for ch in model["changes"][:best[1]]:
        for p, e in ch:
            if e:
                m[p] = tuple(e)
            else:
                m.pop(p, None)
    return best[1], sorted((p, m.get(p), tree.get(p)) for p in best[2])


def check(argv):
    state_file, final, paths = None, False, []
    root = argv[0]
    it = iter(argv[1:])
    for a in it:
        if a == "--state":
            state_file = next(it)
        elif a == "--final":
            final = True
        else:
            paths.append(a)
    prev = {}
    if state_file and os.path.exists(state_file):
        with open(state_file) as f:
            prev = json.load(f)
    ok = True
    found = {}
    for path in paths:
        with open(path) as f:
            model = json.load(f)
        name = model["name"]
        n = len(model["changes"])
        tree = scan(os.path.join(root, name))
        hs = states(model)
        if tree is None:
            ks = [-1]
        else:
            h = Model()
            for p, e in tree.items():
                h.set(p, e)
            ks = [k for k, x in enumerate(hs) if x == h.h]
        low = prev.get(name, -1)
        good = [k for k in ks if k >= low and (not final or k == n)]
        if good:
            found[name] = good[0]
            print("%s %d %d" % (name, good[0], n))
            continue
        ok = False
        if ks:
            print("%s: FAIL: matches only changes %s, not %s" %
                  (name, ks[:5], "%d" % n if final else ">= %d" % low))
            continue
        k, diff = nearest(model, tree)
        print("%s: FAIL: the tree is no state the writer went through "
              "(%d changes); nearest: after change %d, differing in "
              "%d paths:" % (name, n, k, len(diff)))
        for p, want, got in diff[:10]:
            print("   %s: model %s, tree %s" % (p, want, got))
    if final:
        names = set(json.load(open(p))["name"] for p in paths)
        extra = sorted(set(os.listdir(root)) - names - {"lost+found"})
        if extra:
            ok = False
            print("FAIL: more at the top: %s" % extra[:10])
    if state_file and ok:
        prev.update(found)
        with open(state_file, "w") as f:
            json.dump(prev, f)
    return ok


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5],
              sys.argv[6])
    elif sys.argv[1] == "check":
        sys.exit(0 if check(sys.argv[2:]) else 1)
    else:
        sys.exit(__doc__)
