#!/usr/bin/python3
"""Rebuild the known-answer record from docs/specs with an independent
implementation (python3-cryptography, not OpenSSL's EVP calls in seal.c) and
compare it byte for byte with tests/vectors/record-v1.hex."""
import struct
import sys
import uuid

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

RAW = (Encoding.Raw, PublicFormat.Raw)


def host(seed):
    ed = Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)
    x = X25519PrivateKey.from_private_bytes(bytes([seed ^ 0x5A]) * 32)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(ed.public_key().public_bytes(*RAW) + x.public_key().public_bytes(*RAW))
    return ed, x, digest.finalize()[:16]


def main(vector_path):
    s_ed, _, s_id = host(0x11)
    _, r_x, r_id = host(0x22)
    eph = X25519PrivateKey.from_private_bytes(b"\x33" * 32)
    nonce = b"\x44" * 12
    perm = bytes(range(64))
    vol = bytes(0xFF - i for i in range(32))
    plain = perm + vol
    header = b"XenvTPMr" + struct.pack(">IIHBB", 1, 192, 1, 2, 0) + s_id + r_id
    header += uuid.UUID("00112233-4455-6677-8899-aabbccddeeff").bytes
    header += uuid.UUID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0").bytes
    header += struct.pack(">QQ", 1, 1700000000) + eph.public_key().public_bytes(*RAW) + nonce
    header += struct.pack(">III", 1, 0, len(perm)) + struct.pack(">III", 2, 0, len(vol))
    header += struct.pack(">III", 3, 0, 0) + struct.pack(">I", len(plain) + 16) + b"\0" * 8
    assert len(header) == 192
    shared = eph.exchange(r_x.public_key())
    key = HKDF(hashes.SHA256(), 32, b"xen-vtpm-migration-record-v1", header).derive(shared)
    body = header + AESGCM(key).encrypt(nonce, plain, header)
    record = body + s_ed.sign(body)
    want = open(vector_path).read().strip()
    if record.hex() != want:
        print("independent record differs from %s" % vector_path)
        return 1
    print("independent implementation reproduces %s (%d bytes)" % (vector_path, len(record)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
