#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Golden objects of the s3vol storage format (docs/FORMAT.md).

Writes, next to this script, one binary object NAME.bin per kind of
stored object and NAME.txt with the fields a decoder must find in it,
as `key=value` lines (`#` starts a comment; keys that repeat, `entry`
and `page`, list a page's entries or a root's pages in order).
tests/unit/test_golden.c decodes each object with libs3vol, compares
every field, and re-encodes it byte for byte.

This script is written from docs/FORMAT.md alone, not from the C code,
so that an encoder and decoder that drift together are caught.  It
needs the standard library and, for the objects of an encrypted volume
(FORMAT.md, "Encrypted volumes": user.key, chunk-sealed*, page-keyed,
root-encrypted), python3-cryptography; and the zstd frame of
chunk-zstd.bin (reused in chunk-sealed-zstd.bin): that is taken from the
checked-in chunk-zstd.bin when there is one (so a rerun is byte-stable),
else made once with the `zstd` command.  Everything else is fixed, the
keys and the wrap's nonce included (sealing is deterministic), so every
file is byte-stable.

    tests/golden/make.py           write the objects
    tests/golden/make.py --check   exit 1 if a checked-in file differs
"""

import hashlib
import hmac
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

# ---- the format, from docs/FORMAT.md ----

OBJ_MAGIC = b"S3VC"
FORMAT_VERSION = 1
CODEC_RAW, CODEC_ZSTD = 0, 1


def sha256(b):
    return hashlib.sha256(b).digest()


def obj_encode(codec, plain, payload):
    """Chunk/page object: 16-byte header, then the payload."""
    return (OBJ_MAGIC + struct.pack("<BBHII", FORMAT_VERSION, codec, 0,
                                    len(plain), len(payload)) + payload)


def page_plain(entries):
    """Map page plaintext: entries are (slot, stored length, chunk id)."""
    out = b"S3VPAGE\0" + struct.pack("<II", FORMAT_VERSION, len(entries))
    for slot, stored, cid in entries:
        out += struct.pack("<II", slot, stored) + cid
    return out


def root_encode(r, user=None, k=None, nonce=None):
    """A root; with user, k and nonce an encrypted one (flag bit 1 set
    by the caller), ending with the wrap and the HMAC under K_root."""
    host = r["host"].encode()
    msg = r["message"].encode()
    out = b"S3VROOT\0" + struct.pack(
        "<II16sQQQQIIqIHH16sQQ",
        FORMAT_VERSION, r["flags"], r["volid"], r["seq"], r["parent"],
        r["overwrote"], r["size"], r["chunk_size"], r["page_entries"],
        r["time_ns"], r["pid"], len(host), len(msg), r["fork_of"],
        r["fork_seq"], len(r["pages"]))
    assert len(out) == 120
    out += host + msg
    for index, chunks, stored, pid in r["pages"]:
        out += struct.pack("<QIQ", index, chunks, stored) + pid
    if user is not None:
        out += wrap_key(user, k, nonce, r["volid"])
        out += mac(vkeys(k)["root"], out)
    return out + sha256(out)


def record(magic, payload):
    """Small record: 8-byte NUL-padded magic, u32 version 1, u32 0."""
    return (magic.ljust(8, b"\0") + struct.pack("<II", FORMAT_VERSION, 0)
            + payload)


def ca_key(kind, oid):
    h = oid.hex()
    return "%s/%s/%s" % (kind, h[:2], h)


def vol_key(volid, rest):
    return "volumes/%s/%s" % (volid.hex(), rest)


# ---- encrypted volumes, from docs/FORMAT.md "Encrypted volumes" ----

SEALED_VERSION = 2
WRAP_AES_GCM = 1


def _crypto():
    # Imported only here: the plain objects need the standard library only.
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
    return hashes, AESGCM, HKDF


def hkdf(key, info):
    """HKDF-SHA-256, no salt, 32 bytes out."""
    hashes, _, HKDF = _crypto()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=info).derive(key)


def mac(key, data):
    return hmac.new(key, data, hashlib.sha256).digest()


def gcm_encrypt(key, nonce, plain, aad):
    """AES-256-GCM: the ciphertext followed by the 16-byte tag."""
    _, AESGCM, _ = _crypto()
    return AESGCM(key).encrypt(nonce, plain, aad)


def vkeys(k):
    return {"id": hkdf(k, b"s3vol id"), "enc": hkdf(k, b"s3vol enc"),
            "root": hkdf(k, b"s3vol root")}


def wrap_key(user, k, nonce, volid):
    """The 64-byte wrapped volume key: u32 algorithm, nonce, K, tag."""
    return (struct.pack("<I", WRAP_AES_GCM) + nonce
            + gcm_encrypt(user, nonce, k, volid))


def obj_key(vk, oid):
    return hkdf(vk["enc"], b"s3vol obj" + oid)


def obj_seal(vk, codec, plain, payload):
    """Sealed chunk: the version 2 header, then the payload encrypted
    under HKDF(K_enc, "s3vol obj" || id), zero nonce, the header as
    associated data, then the tag."""
    oid = mac(vk["id"], plain)
    hdr = OBJ_MAGIC + struct.pack("<BBHII", SEALED_VERSION, codec, 0,
                                  len(plain), len(payload) + 16)
    return hdr + gcm_encrypt(obj_key(vk, oid), bytes(12), payload, hdr)


# ---- the objects ----

def stream(seed, n):
    """n deterministic pseudo-random bytes."""
    out = b""
    i = 0
    while len(out) < n:
        out += sha256(b"%s %d" % (seed, i))
        i += 1
    return out[:n]


def zstd_frame(plain):
    old = os.path.join(HERE, "chunk-zstd.bin")
    if os.path.exists(old):
        with open(old, "rb") as f:
            data = f.read()
        hdr = struct.unpack("<4sBBHII", data[:16])
        if hdr[:3] == (OBJ_MAGIC, FORMAT_VERSION, CODEC_ZSTD) and \
           hdr[4] == len(plain) and hdr[5] == len(data) - 16:
            return data[16:]
    with tempfile.NamedTemporaryFile() as t:
        t.write(plain)
        t.flush()
        return subprocess.run(["zstd", "-3", "--no-check", "-q", "-c",
                               t.name], check=True,
                              stdout=subprocess.PIPE).stdout


def hexs(b):
    return b.hex()


def chunk_fields(obj, codec, plain, oid):
    return [("kind", "chunk"), ("key", ca_key("chunks", oid)),
            ("version", FORMAT_VERSION), ("codec", codec),
            ("plain_len", len(plain)), ("payload_len", len(obj) - 16),
            ("id", hexs(oid)), ("plain", hexs(plain))]


def objects():
    objs = {}

    # Raw chunk: random bytes, which zstd cannot shrink.
    raw = stream(b"s3vol golden chunk-raw", 200)
    raw_id = sha256(raw)
    raw_obj = obj_encode(CODEC_RAW, raw, raw)
    objs["chunk-raw"] = (raw_obj, chunk_fields(raw_obj, CODEC_RAW, raw,
                                               raw_id))

    # zstd chunk: text that compresses well.
    z = b"".join(b"s3vol golden chunk, line %04d\n" % i for i in range(136))
    z_id = sha256(z)
    z_obj = obj_encode(CODEC_ZSTD, z, zstd_frame(z))
    objs["chunk-zstd"] = (z_obj, chunk_fields(z_obj, CODEC_ZSTD, z, z_id))

    # A map page of three chunks (slots 0, 5, 4095), stored raw.
    far = sha256(b"s3vol golden: a chunk stored elsewhere")
    entries = [(0, len(raw_obj), raw_id), (5, len(z_obj), z_id),
               (4095, 65536 + 16, far)]
    plain = page_plain(entries)
    page_id = sha256(plain)
    page_obj = obj_encode(CODEC_RAW, plain, plain)
    f = chunk_fields(page_obj, CODEC_RAW, plain, page_id)
    f[0:2] = [("kind", "page"), ("key", ca_key("pages", page_id))]
    f += [("n", len(entries))]
    f += [("entry", "%d %d %s" % (s, l, hexs(i))) for s, l, i in entries]
    objs["page"] = (page_obj, f)

    # A forced version of a forked volume, with two pages.
    volid = bytes.fromhex("0123456789abcdef00112233445566ff")
    root = {
        "flags": 1, "volid": volid, "seq": 7, "parent": 5, "overwrote": 6,
        "size": 5000 << 20, "chunk_size": 1 << 20, "page_entries": 4096,
        "time_ns": 1700000000123456789, "pid": 4242,
        "host": "golden-host.example",
        "message": "golden commit: na\u00efve caf\u00e9 \u2713",
        "fork_of": bytes.fromhex("fedcba98765432100123456789abcdef"),
        "fork_seq": 3,
        "pages": [(0, 3, sum(e[1] for e in entries), page_id),
                  (1, 1, 65536 + 16,
                   sha256(b"s3vol golden: another page"))],
    }
    objs["root"] = root_objs(root)

    # Version 1 of a new volume: no pages, no message, no fork; a time
    # before 1970 to show the field is signed.
    objs["root-min"] = root_objs({
        "flags": 0, "volid": bytes(range(16)), "seq": 1, "parent": 0,
        "overwrote": 0, "size": 64 << 10, "chunk_size": 64 << 10,
        "page_entries": 4096, "time_ns": -1500000000, "pid": 1,
        "host": "h", "message": "", "fork_of": bytes(16), "fork_seq": 0,
        "pages": []})

    t = 1700000000987654321
    objs["name"] = (record(b"S3VNAME", volid + struct.pack("<q", t)),
                    [("kind", "name"), ("key", "names/golden-volume"),
                     ("volid", hexs(volid)), ("time_ns", t)])
    seq = 0x0123456789abcdef
    objs["head"] = (record(b"S3VHEAD", struct.pack("<Q", seq)),
                    [("kind", "head"), ("key", vol_key(volid, "head")),
                     ("seq", seq)])
    objs["snapshot"] = (record(b"S3VSNAP", struct.pack("<Qq", 7, t)),
                        [("kind", "snapshot"),
                         ("key", vol_key(volid, "snapshots/golden-snap")),
                         ("seq", 7), ("time_ns", t)])
    objs.update(encrypted_objects(raw_obj, z, z_obj[16:]))
    return objs


# The user key (also written as user.key), the volume key and the wrap's
# nonce of the encrypted volume: fixed, so that every file is stable.
USER_KEY = bytes.fromhex(
    "7e57a11ce0ddba11c0ffee00123456789abcdef0fedcba98765432100badf00d")
VOLUME_KEY = bytes.fromhex(
    "4b4b4b4b00010203040506070809a0b0c0d0e0f0f1e2d3c4b5a6978800ff00ff")
WRAP_NONCE = bytes.fromhex("a0a1a2a3a4a5a6a7a8a9aaab")
ENC_VOLID = bytes.fromhex("e0c0de00112233445566778899aabbcc")


def key_fields(vk):
    return [("volume", "root-encrypted"),
            ("# volume key K, and K_id, K_enc, K_root derived from it", ""),
            ("volume_key", hexs(VOLUME_KEY)), ("k_id", hexs(vk["id"])),
            ("k_enc", hexs(vk["enc"])), ("k_root", hexs(vk["root"]))]


def encrypted_objects(raw_obj, z, z_frame):
    objs = {}
    vk = vkeys(VOLUME_KEY)

    # Sealed raw chunk: random bytes, which zstd cannot shrink.
    plain = stream(b"s3vol golden chunk-sealed", 300)
    sid = mac(vk["id"], plain)
    sealed = obj_seal(vk, CODEC_RAW, plain, plain)
    f = chunk_fields(sealed, CODEC_RAW, plain, sid)
    f[2] = ("version", SEALED_VERSION)
    f.insert(0, ("# plain: stream(b\"s3vol golden chunk-sealed\", 300)"
                 " in make.py", ""))
    f += key_fields(vk) + [("obj_key", hexs(obj_key(vk, sid)))]
    objs["chunk-sealed"] = (sealed, f)

    # Sealed zstd chunk: chunk-zstd's plaintext and frame.
    zid = mac(vk["id"], z)
    zsealed = obj_seal(vk, CODEC_ZSTD, z, z_frame)
    f = chunk_fields(zsealed, CODEC_ZSTD, z, zid)
    f[2] = ("version", SEALED_VERSION)
    f.insert(0, ("# plain: as chunk-zstd; payload: chunk-zstd's frame,"
                 " sealed", ""))
    f += key_fields(vk) + [("obj_key", hexs(obj_key(vk, zid)))]
    objs["chunk-sealed-zstd"] = (zsealed, f)

    # A page of the encrypted volume: plain, keyed ids.
    far = mac(vk["id"], b"s3vol golden: a sealed chunk stored elsewhere")
    entries = [(1, len(sealed), sid), (2, len(zsealed), zid),
               (63, 65536 + 32, far)]
    pplain = page_plain(entries)
    page_id = mac(vk["id"], pplain)
    page_obj = obj_encode(CODEC_RAW, pplain, pplain)
    f = chunk_fields(page_obj, CODEC_RAW, pplain, page_id)
    f[0:2] = [("kind", "page"), ("key", ca_key("pages", page_id))]
    f += [("n", len(entries))]
    f += [("entry", "%d %d %s" % (s, l, hexs(i))) for s, l, i in entries]
    f += key_fields(vk)
    objs["page-keyed"] = (page_obj, f)

    # Version 2 of an encrypted volume with that page, and one more.
    root = {
        "flags": 2, "volid": ENC_VOLID, "seq": 2, "parent": 1,
        "overwrote": 0, "size": 1 << 30, "chunk_size": 1 << 20,
        "page_entries": 64, "time_ns": 1700000000555555555, "pid": 77,
        "host": "golden-crypt.example", "message": "sealed",
        "fork_of": bytes(16), "fork_seq": 0,
        "pages": [(0, 3, sum(e[1] for e in entries), page_id),
                  (15, 1, 65536 + 32,
                   mac(vk["id"], b"s3vol golden: another keyed page"))],
    }
    data, f = root_objs(root, USER_KEY, VOLUME_KEY, WRAP_NONCE)
    f[-1:-1] = [("wrap", hexs(data[-128:-64])),
                ("wrap_nonce", hexs(WRAP_NONCE)),
                ("mac", hexs(data[-64:-32]))]
    f += [("user_key", "user.key")] + key_fields(vk)[1:]
    objs["root-encrypted"] = (data, f)
    return objs


def root_objs(r, user=None, k=None, nonce=None):
    data = root_encode(r, user, k, nonce)
    f = [("kind", "root"),
         ("key", vol_key(r["volid"], "versions/%016x" % r["seq"])),
         ("version", FORMAT_VERSION)]
    for k in ("flags", "volid", "seq", "parent", "overwrote", "size",
              "chunk_size", "page_entries", "time_ns", "pid", "host",
              "message", "fork_of", "fork_seq"):
        v = r[k]
        f.append((k, hexs(v) if isinstance(v, bytes) else v))
    f.append(("npages", len(r["pages"])))
    f += [("page", "%d %d %d %s" % (i, c, s, hexs(p)))
          for i, c, s, p in r["pages"]]
    f.append(("checksum", hexs(data[-32:])))
    return data, f


def fields_text(name, fields):
    out = "# %s.bin: expected fields (made by make.py)\n" % name
    return out + "".join(k + "\n" if k.startswith("#") else
                         "%s=%s\n" % (k, v) for k, v in fields)


def files():
    """(file name, bytes) of every file make.py writes."""
    out = []
    for name, (data, fields) in sorted(objects().items()):
        out += [(name + ".bin", data),
                (name + ".txt", fields_text(name, fields).encode())]
    return out + [("user.key", USER_KEY.hex().encode() + b"\n")]


def main():
    check = sys.argv[1:] == ["--check"]
    bad = 0
    for path, want in files():
        full = os.path.join(HERE, path)
        if check:
            try:
                with open(full, "rb") as f:
                    same = f.read() == want
            except OSError:
                same = False
            if not same:
                print("make.py: %s differs from what make.py writes"
                      % path, file=sys.stderr)
                bad = 1
        else:
            with open(full, "wb") as f:
                f.write(want)
            if path == "user.key":     # s3vol refuses a key others can read
                os.chmod(full, 0o600)
    return bad


if __name__ == "__main__":
    sys.exit(main())
