#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Differential test of s3vol's file verbs against the kernel's ext4.

Random operations (mkdir -p, put of files of random sizes (empty,
sparse), put --force, put of trees holding symlinks and hard links, rm,
rm -r, cp -r, long and unicode names, directories grown past the htree
thresholds and shrunk back) are applied to a volume through the CLI and
to a model tree on local disk.  After each batch the volume is compared
with the model through `s3vol get -r` and through a kernel mount of its
newest version, and every version the batch published is checked with
e2fsck -fn.  With --kernel-ops, some batches are applied the other way:
the kernel edits the attached volume (and the model), the volume is
detached, and the CLI reads it and carries on editing.

The seed is printed first; a failure prints the operations since the
last good comparison (and all of them into --log).  Needs root (loop
mounts, attach).

usage: fileops_diff.py --s3vol PATH --store URL --work DIR --ops N
                       [--seed S] [--batch N] [--grow N] [--many N]
                       [--size SIZE] [--kernel-ops [--kernel-every N]]
                       [--log FILE]
"""
import argparse
import concurrent.futures
import hashlib
import os
import random
import shutil
import stat
import subprocess
import sys
import time

# ---- names and contents ----------------------------------------------

# The most bytes of paths one CLI run is given (ARG_MAX is 2 MiB).
ARGS_MAX = 512 * 1024

UNICODE = ["ü", "ñ", "í", "ç", "ø", "☃", "ファイル", "数据", "Ω", "é"]


def rand_name(rng):
    """A name: short ASCII, with a space, unicode, or 255 bytes long."""
    k = rng.random()
    if k < 0.6:
        base = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789_.")
                       for _ in range(rng.randint(1, 12)))
    elif k < 0.7:
        base = "with space %d" % rng.randint(0, 999)
    elif k < 0.85:
        base = "".join(rng.choice(UNICODE) for _ in range(rng.randint(1, 6)))
    else:
        base = "L" * 200
    # Room for a suffix that makes it unique; 255 bytes at most.
    base = base.lstrip(".") or "n"
    suffix = "%x" % rng.randint(0, 1 << 30)
    b = (base + suffix).encode()
    while len(b) > 255:
        base = base[:-1]
        b = (base + suffix).encode()
    if rng.random() < 0.05:     # exactly 255 bytes
        b = b + b"z" * (255 - len(b))
    return b.decode()


def write_content(rng, path):
    """A local file of a random kind of size; deterministic mtime."""
    k = rng.random()
    with open(path, "wb") as f:
        if k < 0.15:
            pass                                # empty
        elif k < 0.3:                           # sparse
            f.truncate(rng.randint(1, 64) << 20)
            f.seek(rng.randint(0, 1 << 20))
            f.write(rng.randbytes(rng.randint(1, 5000)))
        elif k < 0.9:
            f.write(rng.randbytes(rng.randint(1, 9000)))
        else:
            f.write(rng.randbytes(rng.randint(9000, 300000)))
    os.chmod(path, rng.choice([0o644, 0o600, 0o755, 0o640]))
    set_mtime(rng, path)


def set_mtime(rng, path):
    t = rng.randint(10 ** 9, 2 * 10 ** 9) * 10 ** 9 + rng.randint(0, 10 ** 9 - 1)
    os.utime(path, ns=(t, t), follow_symlinks=False)


# ---- comparing -------------------------------------------------------

def snapshot(root):
    """Everything a user would compare: per path its type, mode, size,
    mtime, content hash or link target; and which paths share an inode.
    lost+found at the root is left out.
    """
    out, inodes = {}, {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        if rel == ".":
            dirnames[:] = [d for d in dirnames if d != "lost+found"]
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            r = os.path.normpath(os.path.join(rel, n))
            st = os.lstat(p)
            if stat.S_ISDIR(st.st_mode):
                out[r] = ("dir", st.st_mode & 0o7777)
            elif stat.S_ISLNK(st.st_mode):
                out[r] = ("link", os.readlink(p))
            else:
                h = hashlib.sha256()
                with open(p, "rb") as f:
                    for blk in iter(lambda: f.read(1 << 20), b""):
                        h.update(blk)
                out[r] = ("file", st.st_mode & 0o7777, st.st_size,
                          st.st_mtime_ns, h.hexdigest()[:16])
                inodes.setdefault(st.st_ino, []).append(r)
    links = sorted(tuple(sorted(v)) for v in inodes.values() if len(v) > 1)
    return out, links


def diff(a, b, what):
    """Lines saying how snapshots a (model) and b differ."""
    (ta, la), (tb, lb) = a, b
    lines = []
    for p in sorted(set(ta) | set(tb)):
        if ta.get(p) != tb.get(p):
            lines.append("  %s: model %s, %s %s" % (p, ta.get(p), what,
                                                  tb.get(p)))
    if la != lb:
        lines.append("  hard links: model %s, %s %s" % (la[:5], what, lb[:5]))
    return lines[:30]


# ---- the test --------------------------------------------------------

class Failure(Exception):
    pass


class Diff:
    def __init__(self, a):
        self.a = a
        self.rng = random.Random(a.seed)
        self.work = a.work
        self.model = os.path.join(a.work, "model")
        self.stage = os.path.join(a.work, "stage")
        self.mnt = os.path.join(a.work, "mnt")
        self.img = os.path.join(a.work, "check.img")
        for d in (self.model, self.stage, self.mnt):
            os.makedirs(d, exist_ok=True)
        self.vol = "diff"
        self.ops = []           # since the last good comparison
        self.log = open(a.log, "w") if a.log else None
        self.done = 0
        self.checked = 0        # the last version checked
        self.nstage = 0
        self.runs = 0           # CLI runs that changed the volume
        self.by_kernel = 0      # operations the kernel applied

    # -- running things --

    def note(self, text):
        text = short(text)
        self.ops.append(text)
        if self.log:
            self.log.write(text + "\n")
            self.log.flush()

    def run(self, args, want=0, stdin=None):
        t0 = time.time()
        p = subprocess.run(args, stdin=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
        if p.returncode != want:
            raise Failure("%s exited %d, not %d: %s" % (
                " ".join(args[:6]), p.returncode, want,
                p.stderr.decode(errors="replace").strip()[:600]))
        if os.environ.get("FILEOPS_DIFF_TIMES") and time.time() - t0 > 0.5:
            print("  %.1fs: %s" % (time.time() - t0, short(" ".join(
                args[1:5]))), flush=True)
        return p.stdout.decode(errors="replace")

    def cli(self, *args, want=0):
        return self.run([self.a.s3vol, "--store", self.a.store] + list(args),
                        want=want)

    def head(self):
        for line in self.cli("info", self.vol).splitlines():
            if line.startswith("head version:"):
                return int(line.split()[2])
        raise Failure("no head version in s3vol info")

    # -- picking paths in the model --

    def entries(self, kind):
        """Model paths (relative) of a kind: dir (with ''), file, any."""
        out = [""] if kind == "dir" else []
        for dirpath, dirnames, filenames in os.walk(self.model):
            rel = os.path.relpath(dirpath, self.model)
            rel = "" if rel == "." else rel
            if kind in ("dir", "any"):
                out += [os.path.join(rel, d) for d in dirnames]
            if kind in ("file", "any"):
                out += [os.path.join(rel, f) for f in filenames]
        return out

    def new_path(self):
        """A path that does not exist, in an existing directory."""
        d = self.rng.choice(self.entries("dir"))
        while True:
            p = os.path.join(d, rand_name(self.rng))
            if not os.path.lexists(os.path.join(self.model, p)):
                return p

    def stage_file(self):
        self.nstage += 1
        p = os.path.join(self.stage, "s%d-%s" % (self.nstage,
                                                 rand_name(self.rng)[:40]))
        write_content(self.rng, p)
        return p

    def stage_tree(self):
        """A local tree with files, subdirectories, symlinks and hard
        links (cp -a keeps them), mtimes fixed.
        """
        self.nstage += 1
        root = os.path.join(self.stage, "t%d" % self.nstage)
        os.makedirs(root)
        dirs, files = [root], []
        for _ in range(self.rng.randint(1, 12)):
            k = self.rng.random()
            d = self.rng.choice(dirs)
            p = os.path.join(d, rand_name(self.rng))
            if k < 0.2:
                os.mkdir(p)
                dirs.append(p)
            elif k < 0.7 or not files:
                write_content(self.rng, p)
                files.append(p)
            elif k < 0.85:
                os.link(self.rng.choice(files), p)
            else:
                os.symlink(self.rng.choice(["../x", "a b", "/abs/target",
                                            rand_name(self.rng)]), p)
                set_mtime(self.rng, p)
        for d in reversed(dirs):
            set_mtime(self.rng, d)
        return root

    # -- the operations --
    #
    # Each picks its arguments, returns (description, CLI arguments,
    # expected exit code, model change).  The model change is a function
    # of a root, so that the kernel side can apply it to a mount too.

    def op_mkdir(self):
        p = self.new_path()
        if self.rng.random() < 0.5:
            p = os.path.join(p, rand_name(self.rng))
        return ("mkdir -p /" + p, ["mkdir", "-p", self.vol, "/" + p], 0,
                lambda root: os.makedirs(os.path.join(root, p)))

    def op_put(self):
        files = self.entries("file")
        src = self.stage_file()
        if files and self.rng.random() < 0.3:
            p = self.rng.choice(files)
            force = self.rng.random() < 0.8
            if os.path.isdir(os.path.join(self.model, p)):
                force = False
            if force:
                return ("put --force %s /%s" % (desc(src), p),
                        ["put", "--force", self.vol, src, "/" + p], 0,
                        lambda root: replace(src, os.path.join(root, p)))
            return ("put (exists) %s /%s" % (desc(src), p),
                    ["put", self.vol, src, "/" + p], 8, lambda root: None)
        p = self.new_path()
        return ("put %s /%s" % (desc(src), p), ["put", self.vol, src, "/" + p],
                0, lambda root: copy(src, os.path.join(root, p)))

    def op_put_tree(self):
        src = self.stage_tree()
        p = self.new_path()
        return ("put tree %s /%s" % (src, p), ["put", self.vol, src, "/" + p],
                0, lambda root: copy(src, os.path.join(root, p)))

    def op_symlink(self):
        self.nstage += 1
        src = os.path.join(self.stage, "l%d" % self.nstage)
        os.symlink(rand_name(self.rng), src)
        set_mtime(self.rng, src)
        p = self.new_path()
        return ("put symlink /%s" % p, ["put", self.vol, src, "/" + p], 0,
                lambda root: copy(src, os.path.join(root, p)))

    def op_rm(self):
        files = self.entries("file")
        if not files:
            return self.op_put()
        p = self.rng.choice(files)
        return ("rm /" + p, ["rm", self.vol, "/" + p], 0,
                lambda root: os.unlink(os.path.join(root, p)))

    def op_rm_r(self):
        dirs = self.entries("dir")[1:]
        if not dirs:
            return self.op_mkdir()
        p = self.rng.choice(dirs)
        return ("rm -r /" + p, ["rm", "-r", self.vol, "/" + p], 0,
                lambda root: shutil.rmtree(os.path.join(root, p)))

    def op_cp(self):
        anyp = self.entries("any")
        if not anyp:
            return self.op_put_tree()
        s = self.rng.choice(anyp)
        if len(self.entries("file")) > 6000:
            return self.op_rm_r()
        d = self.new_path()
        if d.startswith(s + "/"):
            return self.op_mkdir()
        return ("cp -r /%s /%s" % (s, d), ["cp", "-r", self.vol, "/" + s,
                                          "/" + d], 0,
                lambda root: copy(os.path.join(root, s),
                                  os.path.join(root, d)))

    def op_grow(self):
        """Many new files into one directory: past the htree threshold."""
        dirs = self.entries("dir")
        d = self.rng.choice(dirs)
        n = self.rng.randint(200, self.a.grow)
        self.nstage += 1
        src = os.path.join(self.stage, "g%d" % self.nstage)
        os.mkdir(src)
        names = set()
        existing = set(os.listdir(os.path.join(self.model, d)))
        room = ARGS_MAX - len(self.stage) * n
        while len(names) < n and room > 0:
            nm = rand_name(self.rng) if self.rng.random() < 0.2 else \
                "f%x" % self.rng.randint(0, 1 << 40)
            if nm not in existing and nm not in names:
                names.add(nm)
                room -= len(nm.encode()) + 16
        n = len(names)
        for nm in names:
            with open(os.path.join(src, nm), "wb") as f:
                f.write(nm.encode()[:20])
            os.utime(os.path.join(src, nm), ns=(10 ** 18, 10 ** 18))
        locs = [os.path.join(src, nm) for nm in sorted(names)]

        def model(root):
            for loc in locs:
                copy(loc, os.path.join(root, d, os.path.basename(loc)))
        return ("grow /%s by %d files" % (d, n),
                ["put", self.vol] + locs + ["/" + d + "/"], 0, model)

    def op_shrink(self):
        """Remove most entries of the biggest directory."""
        best, most = None, -1
        for dirpath, dirnames, filenames in os.walk(self.model):
            if len(filenames) > most:
                best, most = dirpath, len(filenames)
        if most < 2:
            return self.op_grow()
        rel = os.path.relpath(best, self.model)
        rel = "" if rel == "." else rel
        names = sorted(os.listdir(best))
        names = [n for n in names
                 if not os.path.isdir(os.path.join(best, n))
                 or os.path.islink(os.path.join(best, n))]
        gone = self.rng.sample(names, int(len(names) *
                                          self.rng.uniform(0.5, 1.0)))
        # Within the room a command line has.
        room, keep = ARGS_MAX, 0
        for n in gone:
            room -= len(os.path.join(rel, n).encode()) + 2
            if room < 0:
                break
            keep += 1
        gone = gone[:keep]
        if not gone:
            return self.op_grow()
        paths = ["/" + os.path.join(rel, n) for n in gone]

        def model(root):
            for n in gone:
                os.unlink(os.path.join(root, rel, n))
        return ("shrink /%s by %d of %d" % (rel, len(gone), len(names)),
                ["rm", self.vol] + paths, 0, model)

    # Several operations of one verb in one run of the CLI (one
    # version): put of new files into one directory, rm of files, mkdir
    # -p of paths.  Each counts as one operation.

    def op_put_many(self):
        d = self.rng.choice(self.entries("dir"))
        srcs, names = [], set()
        for _ in range(self.rng.randint(2, self.a.many)):
            src = self.stage_file()
            nm = os.path.basename(src)
            if nm in names or os.path.lexists(os.path.join(self.model, d, nm)):
                continue
            names.add(nm)
            srcs.append(src)

        def model(root):
            for src in srcs:
                copy(src, os.path.join(root, d, os.path.basename(src)))
        return ("put %d files into /%s" % (len(srcs), d),
                ["put", self.vol] + srcs + ["/" + d + "/"], 0, model,
                len(srcs))

    def op_rm_many(self):
        files = self.entries("file")
        if len(files) < 2:
            return self.op_put_many()
        gone = self.rng.sample(files, min(len(files),
                                          self.rng.randint(2, self.a.many)))

        def model(root):
            for p in gone:
                os.unlink(os.path.join(root, p))
        return ("rm " + " ".join("/" + p for p in gone),
                ["rm", self.vol] + ["/" + p for p in gone], 0, model,
                len(gone))

    def op_mkdir_many(self):
        paths = []
        for _ in range(self.rng.randint(2, max(2, self.a.many // 2))):
            p = self.new_path()
            if p not in paths:
                paths.append(p)

        def model(root):
            for p in paths:
                os.makedirs(os.path.join(root, p), exist_ok=True)
        return ("mkdir -p " + " ".join("/" + p for p in paths),
                ["mkdir", "-p", self.vol] + ["/" + p for p in paths], 0,
                model, len(paths))

    OPS = [("op_mkdir", 4), ("op_mkdir_many", 5), ("op_put", 16),
           ("op_put_many", 16), ("op_put_tree", 8), ("op_symlink", 5),
           ("op_rm", 5), ("op_rm_many", 8), ("op_rm_r", 4), ("op_cp", 8),
           ("op_grow", 3), ("op_shrink", 3)]

    def pick(self):
        """One step: (description, CLI arguments, exit code, model
        change, operations it counts as).
        """
        names = [n for n, _ in self.OPS]
        weights = [w for _, w in self.OPS]
        step = getattr(self, self.rng.choices(names, weights)[0])()
        return step if len(step) == 5 else step + (1,)

    # -- checking --

    def fsck_version(self, v, keep):
        img = self.img if keep else "%s.%d" % (self.img, v)
        if os.path.exists(img):
            os.unlink(img)
        self.cli("export", self.vol, img, "--version", str(v))
        p = subprocess.run(["e2fsck", "-fn", img], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        if not keep:
            os.unlink(img)
        if p.returncode != 0:
            raise Failure("e2fsck -fn of version %d:\n%s" % (
                v, p.stdout.decode(errors="replace")[-1500:]))

    def check_versions(self):
        """e2fsck -fn of every version since the last check; the newest
        mounted by the kernel and compared with the model.
        """
        head = self.head()
        want = snapshot(self.model)
        # Two at a time; the newest is left in self.img for the mount.
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            for f in [pool.submit(self.fsck_version, v, v == head)
                      for v in range(self.checked + 1, head + 1)]:
                f.result()
        if head > self.checked:
            try:
                self.run(["mount", "-o", "ro,loop", self.img, self.mnt])
            except Failure as e:
                p = subprocess.run(["dumpe2fs", "-h", self.img],
                                   stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL)
                state = [l for l in p.stdout.decode(errors="replace")
                         .splitlines() if l.startswith(("Filesystem state",
                                                        "Filesystem feat"))]
                raise Failure("version %d: %s\n  %s" % (head, e,
                                                       "\n  ".join(state)))
            try:
                got = snapshot(self.mnt)
            finally:
                self.run(["umount", self.mnt])
            d = diff(want, got, "kernel mount")
            if d:
                raise Failure("version %d, mounted, differs from the "
                              "model:\n%s" % (head, "\n".join(d)))
        self.checked = head
        out = os.path.join(self.work, "got")
        shutil.rmtree(out, ignore_errors=True)
        self.cli("get", self.vol, "/", out, "-r")
        d = diff(want, snapshot(out), "get -r")
        shutil.rmtree(out)
        if d:
            raise Failure("get -r of version %d differs from the model:\n%s"
                          % (head, "\n".join(d)))
        self.ops = []
        if self.log:
            self.log.write("# %d operations, versions up to %d: no "
                           "difference\n" % (self.done, head))
            self.log.flush()

    # -- batches --

    def cli_batch(self, n):
        end = self.done + n
        while self.done < end:
            text, args, want, model, count = self.pick()
            self.note("cli: " + text)
            self.cli(*args, want=want)
            model(self.model)
            self.done += count
            self.runs += 1
        self.check_versions()

    def kernel_batch(self, n):
        """The kernel edits the attached volume (and the model); then the
        volume is detached and compared through the CLI.
        """
        self.note("kernel: attach")
        self.cli("attach", self.vol, self.mnt)
        end = self.done + n
        try:
            while self.done < end:
                text, args, want, model, count = self.pick()
                if want != 0:
                    continue
                self.note("kernel: " + text)
                model(self.mnt)
                model(self.model)
                self.done += count
                self.by_kernel += count
        finally:
            self.note("kernel: detach")
            self.cli("detach", self.mnt)
        self.check_versions()

    def clean_stage(self):
        shutil.rmtree(self.stage)
        os.makedirs(self.stage)

    def main(self):
        a = self.a
        print("fileops_diff: seed %d, %d operations, store %s" % (
            a.seed, a.ops, a.store), flush=True)
        self.cli("create", self.vol, "--size", a.size)
        self.checked = self.head() - 1   # version 1: not yet formatted
        t0 = time.time()
        batches = 0
        try:
            while self.done < a.ops:
                n = min(a.batch, a.ops - self.done)
                if a.kernel_ops and batches % a.kernel_every == \
                        a.kernel_every - 1:
                    self.kernel_batch(n)
                else:
                    self.cli_batch(n)
                batches += 1
                self.clean_stage()
                if sys.stderr.isatty():
                    sys.stderr.write("\r%d/%d operations" % (self.done, a.ops))
        except Exception as e:     # any: the seed and the operations
            print("FAIL: seed %d, after %d operations: %s%s" % (
                a.seed, self.done, "" if isinstance(e, Failure)
                else type(e).__name__ + ": ", e))
            print("operations since the last good comparison:")
            for o in self.ops:
                print("  " + o)
            return 1
        if sys.stderr.isatty():
            sys.stderr.write("\n")
        print("fileops_diff: %d operations (%d by the kernel, the rest in "
              "%d CLI runs) in %d batches, versions up to %d checked, no "
              "difference (seed %d, %.0fs)" % (
                  self.done, self.by_kernel, self.runs, batches,
                  self.checked, a.seed, time.time() - t0))
        return 0


def short(text):
    """Names of more than 40 characters cut, with their length, for the
    operation lists.
    """
    def cut(word):
        return word if len(word) <= 40 else "%s...(%d bytes)" % (
            word[:24], len(word.encode()))
    return " ".join("/".join(cut(c) for c in w.split("/"))
                    for w in text.split(" "))


def desc(path):
    st = os.lstat(path)
    return "(%d bytes, %d allocated)" % (st.st_size, st.st_blocks * 512)


def copy(src, dst):
    """What put and cp -r do: cp -a (modes, mtimes, symlinks, hard links
    within the tree); parents made.
    """
    os.makedirs(os.path.dirname(dst) or "/", exist_ok=True)
    if (os.path.isfile(src) and not os.path.islink(src) and
            os.path.getsize(src) < (1 << 20)):
        shutil.copy2(src, dst)  # modes and mtimes (to the ns) too
    else:
        # Holes kept, as put keeps them: a sparse file written densely
        # through the kernel would fill the volume.
        subprocess.run(["cp", "-a", "--sparse=always", "--", src, dst],
                       check=True)


def replace(src, dst):
    os.unlink(dst)
    copy(src, dst)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--s3vol", required=True)
    ap.add_argument("--store", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--ops", type=int, default=300)
    ap.add_argument("--seed", type=int,
                    default=int.from_bytes(os.urandom(4), "little"))
    ap.add_argument("--batch", type=int, default=25)
    ap.add_argument("--grow", type=int, default=1500)
    ap.add_argument("--many", type=int, default=6,
                    help="the most operations one CLI run carries")
    ap.add_argument("--size", default="512M")
    ap.add_argument("--kernel-ops", action="store_true")
    ap.add_argument("--kernel-every", type=int, default=4,
                    help="with --kernel-ops: every Nth batch by the kernel")
    ap.add_argument("--log")
    return Diff(ap.parse_args()).main()


if __name__ == "__main__":
    sys.exit(main())
