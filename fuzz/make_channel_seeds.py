#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_channel (fuzz/fuzz_channel.cpp): frame streams
for the frame parsers (modes 0 and 1), messages sealed under the fuzzer's fixed
session for SecureChannel::open (mode 2) and plaintexts for the seal-and-deliver
mode (3). The messages are sealed here with python3-cryptography, an
implementation independent of teesplit's, following docs/protocol.md (Channel);
tests/test_channel.cpp (ChannelSeeds) checks that teesplit opens them.
  fuzz/make_channel_seeds.py OUTDIR
"""
import hashlib
import os
import struct
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def frame(ftype, payload=b""):
    return struct.pack("<I", len(payload) + 1) + bytes([ftype]) + payload


def filled(start, step=1):
    return bytes((start + step * i) & 0xFF for i in range(32))


# The fuzzer's fixed session: shared secret, public keys, nonce.
SHARED, CLIENT_PUB, ENCLAVE_PUB, NONCE = filled(3, 7), filled(0x10), filled(0x40), filled(0x80)


def session_keys():
    transcript = hashlib.sha256(struct.pack("<I", 1) + CLIENT_PUB + ENCLAVE_PUB + NONCE).digest()
    okm = HKDF(algorithm=hashes.SHA256(), length=64, salt=NONCE,
               info=b"teesplit channel v1" + transcript).derive(SHARED)
    return okm[:32], okm[32:]


def seal(key, label, seq, plaintext, aad=b""):
    header = struct.pack("<Q", seq)
    return header + AESGCM(key).encrypt(label + header, plaintext, header + aad)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    c2e, _ = session_keys()
    seeds = {}
    stream = frame(1, b"hello") + frame(0) + frame(200, bytes(range(256)) * 3)
    seeds["frames_chunked"] = b"\x00\x05" + stream
    seeds["frames_bytewise"] = b"\x00\x00" + stream
    seeds["frames_whole"] = b"\x01" + stream
    seeds["frames_cut_inside"] = b"\x01" + stream + struct.pack("<I", 9) + b"Tab"
    seeds["frames_cut_header"] = b"\x01" + frame(1, b"x") + b"\x09\x00"
    seeds["frames_too_long"] = b"\x01" + frame(1, b"x") + struct.pack("<I", 4098) + b"\x01"
    seeds["frames_zero_length"] = b"\x01" + b"\x00\x00\x00\x00\x07"
    label = b"c2e\x00"
    # Mode 2: frame type bit 0 = associated data "fuzz"; type >> 1 = minutes passing.
    msgs = [seal(c2e, label, 0, b"first input"),
            seal(c2e, label, 1, b"with aad", b"fuzz"),
            seal(c2e, label, 2, b""),
            seal(c2e, label, 3, b"\x00" * 100)]
    seeds["open_valid"] = b"\x02" + frame(0, msgs[0]) + frame(1, msgs[1]) + frame(
        0, msgs[2]) + frame(0, msgs[3])
    seeds["open_replay_reorder"] = b"\x02" + frame(0, msgs[0]) + frame(0, msgs[0]) + frame(
        0, msgs[2]) + frame(1, msgs[1])
    seeds["open_expire"] = b"\x02" + frame(0, msgs[0]) + frame(120, msgs[1][:5]) + frame(
        1, msgs[1])
    seeds["open_truncated"] = b"\x02" + frame(0, msgs[0][:23]) + frame(0, msgs[0][:-1])
    # Mode 3: frame type % 5 = deliver, flip a bit, drop, replay the last, deliver a dropped one.
    seeds["seal_deliver"] = b"\x03" + b"".join(frame(t, p) for t, p in [
        (0, b"a"), (0, b"bb"), (1, b"\x05ccc"), (0, b"ccc"), (2, b"dropped"), (0, b"e"),
        (4, b""), (3, b""), (0, b"f" * 1001), (0, b"g" * 1000)])
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(seeds)} seeds to {out}")


if __name__ == "__main__":
    main()
