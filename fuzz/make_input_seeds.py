#!/usr/bin/python3
"""Writes a seed corpus for fuzz_input_files: each file is one mode byte (0 npy,
1 IDX images, 2 IDX labels, 3 image, 4 CSV, 5 TON_IoT CSV) and a small valid
file of that kind.   usage: make_input_seeds.py OUTDIR
"""
import gzip
import io
import os
import struct
import sys
import zlib

import numpy as np


def npy(arr):
    b = io.BytesIO()
    np.save(b, arr)
    return b.getvalue()


def idx(magic, dims, payload):
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + payload


def png(w, h, channels):
    color = {1: 0, 3: 2, 4: 6}[channels]
    raw = b"".join(b"\0" + bytes((x * 7 + y * 3 + c) % 256 for x in range(w) for c in range(channels))
                   for y in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


TON_HEADER = ("src_ip,src_port,dst_ip,dst_port,proto,service,duration,src_bytes,dst_bytes,"
              "conn_state,missed_bytes,src_pkts,src_ip_bytes,dst_pkts,dst_ip_bytes,dns_query,"
              "dns_qclass,dns_qtype,dns_rcode,dns_AA,dns_RD,dns_RA,dns_rejected,ssl_version,"
              "ssl_cipher,ssl_resumed,ssl_established,ssl_subject,ssl_issuer,http_trans_depth,"
              "http_method,http_uri,http_version,http_request_body_len,http_response_body_len,"
              "http_status_code,http_user_agent,http_orig_mime_types,http_resp_mime_types,"
              "weird_name,weird_addl,weird_notice,label,type")


def ton_row(i, label, kind):
    vals = ["192.168.1.%d" % i, str(1000 + i), "10.0.0.1", "80", "tcp", "http", "0.5",
            str(100 * i), "-", "SF", "0", "3", "200", "2", "150", "-", "0", "0", "0", "F", "F",
            "F", "F", "-", "-", "-", "-", "-", "-", "1", "GET", '"/a,b"', "1.1", "0", "10",
            "200", "-", "-", "-", "-", "-", "F", str(label), kind]
    return ",".join(vals)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else sys.exit(__doc__)
    os.makedirs(out, exist_ok=True)
    images = np.arange(2 * 4 * 4, dtype=np.uint8).tobytes()
    ton = "\r\n".join([TON_HEADER] + [ton_row(i, i % 2, ["normal", "ddos", "xss"][i % 3])
                                      for i in range(6)]) + "\r\n"
    seeds = {
        "npy_f32": (0, npy(np.arange(12, dtype=np.float32).reshape(3, 4))),
        "npy_i64": (0, npy(np.array([[1, 2]], dtype=np.int64))),
        "npy_fortran": (0, npy(np.asfortranarray(np.ones((2, 3), np.float32)))),
        "idx_images": (1, idx(0x803, [2, 4, 4], images)),
        "idx_images_gz": (1, gzip.compress(idx(0x803, [2, 4, 4], images))),
        "idx_labels": (2, idx(0x801, [3], bytes([1, 7, 9]))),
        "png_gray": (3, png(5, 3, 1)),
        "png_rgb": (3, png(4, 4, 3)),
        "png_rgba": (3, png(3, 2, 4)),
        "csv": (4, b'a,b,"c,d"\r\n1,"x""y",3\n\n4,5,6\n'),
        "ton_iot": (5, ("\ufeff" + ton).encode()),
    }
    for name, (mode, body) in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(bytes([mode]) + body)
        print(name)


if __name__ == "__main__":
    main()
