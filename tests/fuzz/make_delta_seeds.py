#!/usr/bin/env python3
"""make_delta_seeds.py [OUTDIR] - write the fuzz_delta seed corpus
(default: corpus/delta next to this script).

fuzz_delta uses every input twice (see fuzz_delta.c):

  apply      bytes 0-1 (little-endian) modulo (size - 1) split the rest
             into a source and a delta, applied and compared with a
             reference decoder: the apply-* seeds put the split exactly at
             the source's end, so the delta is the one meant here
  roundtrip  the first half is a source, the second a script building a
             target from it (3-byte steps: op, offset high, offset low; op
             & 3: 0 copy of the source, 1 copy of the target so far, 2 fresh
             bytes from the script, 3 one changed byte; length 1 + (op >> 2)
             * 8); an odd first byte indexes at most 64 source bytes

Names: valid-* decode, bad-* must be refused (STRATA_ECORRUPT), rt-* aim at
the round trip.
"""
import os
import random
import sys


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def insert(data):
    return varint(len(data) << 1) + data


def copy(off, n):
    return varint((n << 1) | 1) + varint(off)


def apply_seed(src, delta):
    split = len(src)
    assert split < len(src) + len(delta) + 1  # split % (size - 1) == split
    return bytes([split & 0xFF, split >> 8]) + src + delta


def script(*steps):
    out = bytearray()
    for op, arg, extra in steps:
        out += bytes([op, arg >> 8, arg & 0xFF]) + extra
    return bytes(out)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus", "delta")
    os.makedirs(out, exist_ok=True)
    for f in os.listdir(out):
        os.remove(os.path.join(out, f))
    seeds = {}
    fox = b"the quick brown fox jumps over the lazy dog; " * 3
    target = fox[:40] + b"NEW WORDS " + fox[40:100]
    seeds["valid-copy-insert-copy"] = apply_seed(
        fox, varint(len(target)) + copy(0, 40) + insert(b"NEW WORDS ") + copy(40, 60))
    seeds["valid-empty-content"] = apply_seed(b"", varint(0))
    seeds["valid-insert-only"] = apply_seed(b"", varint(5) + insert(b"hello"))
    seeds["valid-copy-whole-source"] = apply_seed(fox, varint(len(fox)) + copy(0, len(fox)))
    seeds["valid-nonminimal-varints"] = apply_seed(fox, b"\x8a\x00" + b"\x95\x00" + b"\x80\x00")  # 10: copy 10 at 0
    seeds["valid-long-insert"] = apply_seed(b"x", varint(300) + insert(bytes(range(256)) + b"y" * 44))
    seeds["bad-copy-outside-source"] = apply_seed(fox, varint(20) + copy(len(fox) - 5, 20))
    seeds["bad-copy-offset-huge"] = apply_seed(fox, varint(4) + copy((1 << 63) + 5, 4))
    seeds["bad-zero-length-insert"] = apply_seed(b"", varint(0) + varint(0))
    seeds["bad-zero-length-copy"] = apply_seed(fox, varint(0) + varint(1) + varint(0))
    seeds["bad-truncated-varint"] = apply_seed(fox, varint(10) + b"\x93")
    seeds["bad-overlong-varint"] = apply_seed(fox, b"\xff" * 10 + b"\x01")
    seeds["bad-varint-overflow"] = apply_seed(fox, b"\xff" * 9 + b"\x02")
    seeds["bad-produces-less"] = apply_seed(fox, varint(10) + copy(0, 5))
    seeds["bad-produces-more"] = apply_seed(fox, varint(3) + insert(b"abcdef"))
    seeds["bad-insert-past-end"] = apply_seed(b"", varint(9) + varint(9 << 1) + b"abc")
    seeds["bad-copy-missing-offset"] = apply_seed(fox, varint(4) + varint((4 << 1) | 1))
    seeds["bad-declared-huge"] = apply_seed(b"", varint(1 << 40) + insert(b"a"))
    seeds["one-byte"] = b"\x07"
    seeds["two-bytes"] = b"\x00\x00"

    rnd = random.Random(1)
    text = b"".join(b"line %d: alpha bravo charlie delta %d\n" % (i, rnd.randrange(1000)) for i in range(40))
    src = text[:1200]
    steps = script((0 | (20 << 2), 0, b""), (2 | (3 << 2), 0, b"inserted text here, 25 b"),
                   (0 | (40 << 2), 300, b""), (3, 77, b""), (1 | (10 << 2), 5, b""),
                   (0 | (60 << 2), 900, b""))
    seeds["rt-text-edits"] = src + steps.ljust(len(src), b"\x00")
    body = bytes(rnd.randrange(256) for _ in range(900))
    steps = script((0 | (63 << 2), 100, b""), (2 | (1 << 2), 0, b"\x01\x02\x03\x04\x05\x06\x07\x08\x09"),
                   (0 | (50 << 2), 600, b""), (3, 2, b""))
    seeds["rt-binary"] = body + steps.ljust(len(body), b"\xfe")
    rep = b"abcabcabcabc" * 60
    steps = script((0 | (63 << 2), 0, b""), (1 | (63 << 2), 3, b""), (0 | (30 << 2), 9, b""))
    seeds["rt-repetitive"] = rep + steps.ljust(len(rep), b"\x00")
    small = b"\x01" + text[1:600]  # odd first byte: an index of at most 64 bytes
    steps = script((0 | (40 << 2), 10, b""), (0 | (40 << 2), 500, b""), (2 | (1 << 2), 0, b"z" * 9))
    seeds["rt-small-index"] = small + steps.ljust(len(small), b"\x00")
    seeds["rt-unrelated"] = bytes(rnd.randrange(256) for _ in range(1000))
    for name, data in seeds.items():
        assert len(data) < 4096
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(len(seeds))


main()
