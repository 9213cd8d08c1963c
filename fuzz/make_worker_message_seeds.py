#!/usr/bin/env python3
"""Seeds for fuzz_worker_messages: one valid message per decoder (the first byte
picks it; layouts in docs/protocol.md, "Host and worker"), written independently of
the C++ encoder. usage: make_worker_message_seeds.py OUT_DIR"""
import os
import struct
import sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)


def u32(n): return struct.pack("<I", n)
def u64(n): return struct.pack("<Q", n)
def s(b): return u32(len(b)) + b
def shape(dims): return bytes([len(dims)]) + b"".join(u64(d) for d in dims)
def tensor(dims): 
    n = 1
    for d in dims: n *= d
    return bytes([0]) + shape(dims) + struct.pack("<%df" % n, *[0.5 * i for i in range(n)])


seeds = {
    "ready": bytes([0]) + bytes(range(32)) + bytes([1]) + s(b"memfd_secret") + s(b"locked down")
    + shape([1, 1, 8, 8]) + shape([1, 4, 8, 8]) + shape([1, 10]),
    "attest": bytes([1]) + bytes(range(32)) + bytes(range(32, 64)),
    "attest_reply": bytes([2]) + u64(7) + bytes(32) + s(b"\x03\x00" + bytes(50)),
    "infer": bytes([3]) + u64(7) + s(bytes(40)),
    "feature": bytes([4]) + u64(7) + tensor([1, 4, 8, 8]) + u64(1500) + u64(250000),
    "tail": bytes([5]) + u64(7) + tensor([1, 1, 8, 8]),
    "tail_reply": bytes([6]) + u64(7) + s(bytes(24)) + u64(900) + u64(30000),
    "provision_reply": bytes([7]) + s(bytes(68)),
    "error": bytes([8]) + bytes([3, 1]) + s(b"unknown or expired session: attest again"),
}
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
print("wrote %d seeds to %s" % (len(seeds), out))
