#!/usr/bin/env python3
"""Independent verifier of Maillage records, written from docs/protocol.md alone.

Usage: verify_records.py FILE...

Each FILE is JSON: an array (or an object with an "items" array) of test vectors (with
"signed_cbor" in hex) or of records in their JSON form (with "cbor" in base64). Every record
must be canonical CBOR with exactly the eight record fields, carry a valid strict Ed25519
signature over "maillage-record-v1:" + the canonical encoding without "sig", and match the
hash, did and address given beside it.

A FILE that is an object with "events" holds one identity's key events (docs/protocol.md
section 9): each is checked alone (encoding, fields, signature of the key it installs), then
all are resolved, with the rules of section 9.3 at "now", to the key history in "state".

Prints "N passed, M failed" and exits non-zero on any failure.
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


KEY_EVENT_FIELDS = {
    "inception": ({"key", "next"}, {"guardians", "threshold", "window"}),
    "rotation": ({"identity", "prior", "key", "next"}, {"guardians", "threshold", "window", "void_from", "countersigned"}),
    "recovery": ({"identity", "prior", "key", "next"}, {"countersigned"}),
    "cancellation": ({"identity", "prior", "recovery"}, set()),
}
MAX_INTEGER = 2**53 - 1
AHEAD = 15 * 60 * 1000


def base58_decode(text: str) -> bytes:
    alphabet = {c: i for i, c in enumerate(ALPHABET)}
    n = 0
    for c in text:
        n = n * 58 + alphabet[c]
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def key_of_did(did: str) -> bytes:
    """The key of a did:key (a did:maillage guardian would need its own log)."""
    assert did.startswith("did:key:z"), f"{did}: only did:key guardians are resolved here"
    raw = base58_decode(did[len("did:key:z"):])
    assert raw[:2] == b"\xed\x01" and len(raw) == 34, "not an ed25519-pub multicodec"
    return raw[2:]


def is_did(did) -> bool:
    if not isinstance(did, str):
        return False
    if did.startswith("did:maillage:z"):
        return len(base58_decode(did[len("did:maillage:z"):])) == 32
    return did.startswith("did:key:z6Mk")


def signed_by(key: bytes, message: bytes, sig: bytes) -> bool:
    try:
        VerifyKey(key).verify(message, sig)
        return True
    except BadSignatureError:
        return False


def key_event(signed: bytes, expected: dict) -> dict:
    """Checks one key event alone; returns it with its identity, digest and signed message."""
    assert len(signed) <= 8192, "key event larger than 8 KiB"
    event = cbor2.loads(signed)
    assert cbor2.dumps(event, canonical=True) == signed, "not canonical CBOR"
    assert event.get("v") == 1, "unknown version"
    required, optional = KEY_EVENT_FIELDS[event["type"]]
    fields = set(event) - {"v", "type", "n", "time", "sig"}
    assert required <= fields <= required | optional, f"fields are {sorted(fields)}"
    assert {"guardians", "threshold", "window"} & fields in (set(), {"guardians", "threshold", "window"})
    for name in ("n", "time", "threshold", "window", "void_from"):
        if name in event:
            assert isinstance(event[name], int) and 0 <= event[name] <= MAX_INTEGER, f"bad {name}"
    for name in ("key", "next", "prior", "recovery"):
        if name in event:
            assert isinstance(event[name], bytes) and len(event[name]) == 32, f"{name} is not 32 bytes"
    assert isinstance(event.get("sig"), bytes) and len(event["sig"]) == 64, "sig is not 64 bytes"
    unsigned = cbor2.dumps({k: v for k, v in event.items() if k not in ("sig", "countersigned")}, canonical=True)
    digest = hashlib.sha256(unsigned).digest()
    if event["type"] == "inception":
        assert event["n"] == 0, "an inception is at 0"
        identity = "did:maillage:z" + base58btc(digest)
    else:
        assert event["n"] >= 1, "after the inception, n >= 1"
        identity = event["identity"]
        assert identity.startswith("did:maillage:z") and is_did(identity), "identity is not a did:maillage"
    message = b"maillage-key-event-v1:" + unsigned
    if "key" in event:
        assert signed_by(event["key"], message, event["sig"]), "not signed by the key it installs"
    if "void_from" in event:
        assert event["void_from"] <= event["time"], "void_from after the rotation"
    if "guardians" in event:
        guardians = event["guardians"]
        assert all(is_did(g) for g in guardians), "guardians are dids"
        assert 1 <= event["threshold"] <= len(guardians) <= 16, "bad threshold"
        assert len(set(guardians)) == len(guardians) and identity not in guardians, "guardians repeat or name the identity"
    pairs = event.get("countersigned", [])
    if "countersigned" in event:
        assert 1 <= len(pairs) <= 16, "countersigned holds 1 to 16 signatures"
        assert all(isinstance(p, list) and len(p) == 2 and is_did(p[0]) and isinstance(p[1], bytes) and len(p[1]) == 64
                   for p in pairs), "countersigned holds [did, 64-byte signature] pairs"
        assert [p[0] for p in pairs] == sorted({p[0] for p in pairs}), "countersigned in order of dids, once each"
    for key, value in {"digest": digest.hex(), "unsigned_cbor": unsigned.hex(), "type": event["type"]}.items():
        if key in expected:
            assert expected[key] == value, f"{key} is {expected[key]!r}, computed {value!r}"
    return dict(event, identity=identity, digest=digest, message=message, sigs=[event["sig"]],
                countersigned={did: [sig] for did, sig in pairs})


def resolve(events: list, now: int) -> dict:
    """docs/protocol.md section 9.3, for an identity whose guardians are did:keys."""
    inception = next(e for e in events if e["type"] == "inception")
    identity = inception["identity"]
    ahead = [e for e in events if e["time"] > now + AHEAD]
    # One event per digest; copies add their signatures.
    merged = {}
    for e in events:
        if e["identity"] != identity or e in ahead:
            continue
        m = merged.setdefault(e["digest"], dict(e, sigs=[], countersigned={}))
        m["sigs"] += e["sigs"]
        for did, sigs in e["countersigned"].items():
            m["countersigned"].setdefault(did, []).extend(sigs)
    keys = [{"n": 0, "key": inception["key"].hex(), "how": "inception", "time": inception["time"],
             "void_from": None, "digest": inception["digest"].hex()}]
    state = {"next": inception["next"], "guardians": inception.get("guardians"), "threshold": inception.get("threshold"),
             "window": inception.get("window", 0), "head": inception["digest"], "n": 0, "key": inception["key"]}
    pending, cancelled = None, []

    def establish(e, how, void_from=None):
        keys[-1]["void_from"] = min(void_from if void_from is not None else e["time"], e["time"])
        keys.append({"n": e["n"], "key": e["key"].hex(), "how": how, "time": e["time"], "void_from": None,
                     "digest": e["digest"].hex()})
        state.update(next=e["next"], head=e["digest"], n=e["n"], key=e["key"])
        if "guardians" in e:
            state.update(guardians=e["guardians"], threshold=e["threshold"], window=e["window"])

    def enough(e):
        """Whether a threshold of the guardians countersigned e with their keys."""
        if not state["guardians"]:
            return False
        signers = {g for g in state["guardians"]
                   if any(signed_by(key_of_did(g), e["message"], sig) for sig in e["countersigned"].get(g, []))}
        return len(signers) >= state["threshold"]

    while True:
        at = sorted((e for e in merged.values() if e["n"] == state["n"] + 1 and e.get("prior") == state["head"]),
                    key=lambda e: e["digest"])
        if not at:
            break
        current_time, window = keys[-1]["time"], state["window"]
        rotations = [e for e in at if e["type"] == "rotation"
                     and hashlib.sha256(e["key"]).digest() == state["next"] and e["time"] >= current_time]
        recoveries = [e for e in at if e["type"] == "recovery" and e["time"] >= current_time and enough(e)]
        cancellations = [e for e in at if e["type"] == "cancellation"
                         and any(signed_by(state["key"], e["message"], sig) for sig in e["sigs"])]

        def sealed(r):
            return any(e["type"] == "rotation" and e["n"] == r["n"] + 1 and e.get("prior") == r["digest"]
                       and e["time"] >= r["time"] + window and hashlib.sha256(e["key"]).digest() == r["next"]
                       and enough(e) for e in merged.values())

        final, open_ = [], []
        for r in recoveries:
            end = r["time"] + window
            if now >= end and sealed(r):
                final.append(r)
            elif any(c["recovery"] == r["digest"] and c["time"] <= end for c in cancellations):
                cancelled.append(r["digest"].hex())
            else:
                open_.append(r)
        if final:
            establish(final[0], "recovery")
        elif rotations:
            establish(rotations[0], "rotation", rotations[0].get("void_from"))
        elif open_:
            r = open_[0]
            if now >= r["time"] + window:
                establish(r, "recovery")
            else:
                pending = r["digest"].hex()
                break
        else:
            break
    return {"identity": identity, "keys": keys, "pending": pending, "cancelled": cancelled}


def key_events(data: dict) -> tuple:
    """Checks a file of one identity's key events; returns (passed, failed)."""
    passed = failed = 0
    events = []
    for i, item in enumerate(data["events"]):
        try:
            events.append(key_event(bytes.fromhex(item["signed_cbor"]), item))
            passed += 1
        except Exception as e:
            failed += 1
            print(f"event {i}: {e}", file=sys.stderr)
    try:
        state = resolve(events, data["now"])
        assert state == data["state"], f"resolves to {state}, the file says {data['state']}"
        passed += 1
    except Exception as e:
        failed += 1
        print(f"the key state: {e}", file=sys.stderr)
    return passed, failed


def main(paths) -> int:
    passed = failed = 0
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        if isinstance(data, dict) and "events" in data:
            p, f_ = key_events(data)
            passed, failed = passed + p, failed + f_
            continue
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
