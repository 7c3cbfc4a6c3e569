#!/usr/bin/env python3
"""Independent verifier of Maillage records, written from docs/protocol.md alone.

Usage: verify_records.py FILE...

Each FILE is JSON: an array (or an object with an "items" array) of test vectors (with
"signed_cbor" in hex) or of records in their JSON form (with "cbor" in base64). Every record
must be canonical CBOR with exactly the eight record fields, carry a valid strict Ed25519
signature over "maillage-record-v1:" + the canonical encoding without "sig", and match the
hash, did and address given beside it. Prints "N passed, M failed" and exits non-zero on any
failure.
"""

import base64
import hashlib
import json
import re
import sys

import cbor2
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
FIELDS = {"v", "author", "kind", "id", "seq", "time", "body", "sig"}
ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def base58btc(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = ALPHABET[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def did_of(public_key: bytes) -> str:
    return "did:key:z" + base58btc(b"\xed\x01" + public_key)


def no_floats(value) -> bool:
    if isinstance(value, float):
        return False
    if isinstance(value, list):
        return all(no_floats(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and no_floats(v) for k, v in value.items())
    return isinstance(value, (int, str, bytes, bool)) or value is None


def verify(signed: bytes, expected: dict) -> None:
    assert len(signed) <= 65536, "record larger than 64 KiB"
    record = cbor2.loads(signed)
    assert cbor2.dumps(record, canonical=True) == signed, "not canonical CBOR"
    assert isinstance(record, dict) and set(record) == FIELDS, f"fields are {sorted(record)}"
    assert no_floats(record), "floats or non-text keys"
    assert record["v"] == 1, "unknown version"
    assert record["kind"] in ("organisation", "collaboration", "endorsement"), "bad kind"
    assert ID.match(record["id"]), "bad id"
    assert 1 <= record["seq"] < 2**53 and 0 <= record["time"] < 2**53, "bad seq or time"
    author, sig = record["author"], record["sig"]
    assert len(author) == 32 and len(sig) == 64, "bad key or signature length"
    unsigned = cbor2.dumps({k: v for k, v in record.items() if k != "sig"}, canonical=True)
    try:
        VerifyKey(author).verify(b"maillage-record-v1:" + unsigned, sig)
    except BadSignatureError:
        raise AssertionError("signature does not verify") from None
    digest = hashlib.sha256(signed).hexdigest()
    did = did_of(author)
    address = f"maillage:{did}/{record['kind']}/{record['id']}"
    checks = {
        "hash": digest,
        "did": did,
        "author": did,
        "address": address,
        "sig": sig.hex(),
        "unsigned_cbor": unsigned.hex(),
        "public_key": author.hex(),
        "seq": record["seq"],
        "kind": record["kind"],
    }
    for key, value in checks.items():
        if key in expected:
            assert expected[key] == value, f"{key} is {expected[key]!r}, computed {value!r}"
    if "secret_key" in expected:
        from nacl.signing import SigningKey

        derived = bytes(SigningKey(bytes.fromhex(expected["secret_key"])).verify_key)
        assert derived == author, "secret key does not match the author"


def main(paths) -> int:
    passed = failed = 0
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        items = data["items"] if isinstance(data, dict) else data
        for i, item in enumerate(items):
            try:
                if "signed_cbor" in item:
                    signed = bytes.fromhex(item["signed_cbor"])
                else:
                    signed = base64.b64decode(item["cbor"], validate=True)
                verify(signed, item)
                passed += 1
            except Exception as e:  # one line per failing record, then go on
                failed += 1
                print(f"{path}[{i}]: {e}", file=sys.stderr)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
