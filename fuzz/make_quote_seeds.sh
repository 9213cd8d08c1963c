#!/usr/bin/env bash
# Writes the seed corpus of fuzz_quote (fuzz/fuzz_quote.cpp), each file prefixed
# with the fuzzer's mode byte (0 parse, 1 verify, 2 DCAP signature data):
#  - the two genuine SGX quotes of tests/data/sgx-quotes/, whole, and their
#    signature data alone (from byte 436 on);
#  - a simulated quote built here without teesplit: header and report body packed
#    by Python at Intel's offsets (docs/attestation.md), signed by the openssl CLI
#    with the fuzzer's fixed Ed25519 key (seed bytes 01 02 .. 20). Its verify seed
#    is also tests/test_attest_verifier.cpp's independent check of the format.
#   fuzz/make_quote_seeds.sh OUTDIR
set -euo pipefail
out=${1:?usage: make_quote_seeds.sh OUTDIR}
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
for q in mobilecoin-hw_quote.dat automata-quotev3.bin; do
  n=${q%%-*}
  { printf '\x00'; cat "tests/data/sgx-quotes/$q"; } > "$out/${n}_parse"
  { printf '\x01'; cat "tests/data/sgx-quotes/$q"; } > "$out/${n}_verify"
  { printf '\x02'; tail -c +437 "tests/data/sgx-quotes/$q"; } > "$out/${n}_sigdata"
done
# PKCS#8 DER of an Ed25519 key (RFC 8410): fixed prefix, then the 32-byte seed.
python3 - "$work" <<'PY'
import struct, sys
w = sys.argv[1]
seed = bytes(range(1, 33))
open(f"{w}/key.der", "wb").write(bytes.fromhex("302e020100300506032b657004220420") + seed)
header = struct.pack("<HHIHH", 3, 0xED25, 0, 0, 0) + b"TSPLIT-SIMULATED" + bytes(20)
body = bytearray(384)
struct.pack_into("<QQ", body, 48, 0x5, 0x7)          # ATTRIBUTES: INIT | MODE64BIT; XFRM
body[64:96] = bytes([0x5A]) * 32                       # MRENCLAVE
body[128:160] = bytes([0x5B]) * 32                     # MRSIGNER
struct.pack_into("<HH", body, 256, 1, 2)               # ISV prod id, ISV SVN
assert len(header) == 48
open(f"{w}/signed.bin", "wb").write(header + bytes(body))
PY
openssl pkey -inform DER -in "$work/key.der" -out "$work/key.pem"
openssl pkey -in "$work/key.pem" -pubout -outform DER | tail -c 32 > "$work/pub.bin"
openssl pkeyutl -sign -inkey "$work/key.pem" -rawin -in "$work/signed.bin" -out "$work/sig.bin"
python3 - "$work" "$out" <<'PY'
import struct, sys
w, out = sys.argv[1], sys.argv[2]
signed = open(f"{w}/signed.bin", "rb").read()
sig, pub = open(f"{w}/sig.bin", "rb").read(), open(f"{w}/pub.bin", "rb").read()
assert len(signed) == 432 and len(sig) == 64 and len(pub) == 32
quote = signed + struct.pack("<I", 96) + sig + pub
open(f"{out}/simulated_parse", "wb").write(b"\x00" + quote)
open(f"{out}/simulated_verify", "wb").write(b"\x01" + quote)
PY
echo "wrote $(ls "$out" | wc -l) seeds to $out"
