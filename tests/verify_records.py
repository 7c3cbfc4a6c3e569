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
    "rotation": ({"identity", "prior", "key", "next"}, {"guardians", "threshold", "window", "void_from"}),
    "recovery": ({"identity", "prior", "key", "next"}, {"countersigned"}),
    "cancellation": ({"identity", "prior", "recovery"}, set()),
}


def key_of_did(did: str) -> bytes:
    """The key of a did:key (a did:maillage guardian would need its own log)."""
    assert did.startswith("did:key:z"), f"{did}: only did:key guardians are resolved here"
    alphabet = {c: i for i, c in enumerate(ALPHABET)}
    n = 0
    for c in did[len("did:key:z"):]:
        n = n * 58 + alphabet[c]
    raw = n.to_bytes(34, "big")
    assert raw[:2] == b"\xed\x01", "not an ed25519-pub multicodec"
    return raw[2:]


def signed_by(key: bytes, message: bytes, sig: bytes) -> bool:
    try:
        VerifyKey(key).verify(message, sig)
        return True
    except BadSignatureError:
        return False


def key_event(signed: bytes, expected: dict) -> dict:
    """Checks one key event alone; returns it with its identity, hash and signed message."""
    assert len(signed) <= 8192, "key event larger than 8 KiB"
    event = cbor2.loads(signed)
    assert cbor2.dumps(event, canonical=True) == signed, "not canonical CBOR"
    assert event.get("v") == 1, "unknown version"
    required, optional = KEY_EVENT_FIELDS[event["type"]]
    fields = set(event) - {"v", "type", "n", "time", "sig"}
    assert required <= fields <= required | optional, f"fields are {sorted(fields)}"
    assert {"guardians", "threshold", "window"} & fields in (set(), {"guardians", "threshold", "window"})
    unsigned = cbor2.dumps({k: v for k, v in event.items() if k not in ("sig", "countersigned")}, canonical=True)
    message = b"maillage-key-event-v1:" + unsigned
    if event["type"] == "inception":
        assert event["n"] == 0, "an inception is at 0"
        identity = "did:maillage:z" + base58btc(hashlib.sha256(unsigned).digest())
    else:
        assert event["n"] >= 1, "after the inception, n >= 1"
        identity = event["identity"]
    if "key" in event:
        assert signed_by(event["key"], message, event["sig"]), "not signed by the key it installs"
    if "void_from" in event:
        assert event["void_from"] <= event["time"], "void_from after the rotation"
    if "guardians" in event:
        assert 1 <= event["threshold"] <= len(event["guardians"]) <= 16, "bad threshold"
        assert len(set(event["guardians"])) == len(event["guardians"]) and identity not in event["guardians"]
    digest = hashlib.sha256(signed).hexdigest()
    for key, value in {"hash": digest, "unsigned_cbor": unsigned.hex(), "type": event["type"]}.items():
        if key in expected:
            assert expected[key] == value, f"{key} is {expected[key]!r}, computed {value!r}"
    return dict(event, identity=identity, hash=bytes.fromhex(digest), message=message)


def resolve(events: list, now: int) -> dict:
    """docs/protocol.md section 9.3, for an identity whose guardians are did:keys."""
    inception = next(e for e in events if e["type"] == "inception")
    keys = [{"n": 0, "key": inception["key"].hex(), "how": "inception", "time": inception["time"], "void_from": None}]
    state = {"next": inception["next"], "guardians": inception.get("guardians"), "threshold": inception.get("threshold"),
             "window": inception.get("window", 0), "head": inception["hash"], "n": 0, "key": inception["key"]}
    pending, cancelled = None, []

    def establish(e, how, void_from=None):
        keys[-1]["void_from"] = min(void_from if void_from is not None else e["time"], e["time"])
        keys.append({"n": e["n"], "key": e["key"].hex(), "how": how, "time": e["time"], "void_from": None})
        state.update(next=e["next"], head=e["hash"], n=e["n"], key=e["key"])
        if "guardians" in e:
            state.update(guardians=e["guardians"], threshold=e["threshold"], window=e["window"])

    while True:
        at = [e for e in events if e["n"] == state["n"] + 1 and e.get("prior") == state["head"] and e["type"] != "inception"]
        if not at:
            break
        current_time, window = keys[-1]["time"], state["window"]
        rotations = [e for e in at if e["type"] == "rotation"
                     and hashlib.sha256(e["key"]).digest() == state["next"] and e["time"] >= current_time]
        recoveries = []
        for e in at:
            if e["type"] != "recovery" or not state["guardians"] or e["time"] < current_time:
                continue
            signers = {did for did, sig in e.get("countersigned", [])
                       if did in state["guardians"] and signed_by(key_of_did(did), e["message"], sig)}
            if len(signers) >= state["threshold"]:
                recoveries.append(e)
        cancellations = [e for e in at if e["type"] == "cancellation" and signed_by(state["key"], e["message"], e["sig"])]

        def sealed(r):
            return any(e["type"] == "rotation" and e["n"] == r["n"] + 1 and e.get("prior") == r["hash"]
                       and e["time"] >= r["time"] + window and hashlib.sha256(e["key"]).digest() == r["next"]
                       for e in events)

        final = [r for r in recoveries if sealed(r) and now >= r["time"] + window]
        open_ = []
        for r in recoveries:
            if r in final:
                continue
            if any(c["recovery"] == r["hash"] and c["time"] <= r["time"] + window for c in cancellations):
                cancelled.append(r["hash"].hex())
            else:
                open_.append(r)
        lowest = lambda es: min(es, key=lambda e: e["hash"])  # noqa: E731
        if final:
            establish(lowest(final), "recovery")
        elif rotations:
            r = lowest(rotations)
            establish(r, "rotation", r.get("void_from"))
        elif open_:
            r = lowest(open_)
            if now >= r["time"] + window:
                establish(r, "recovery")
            else:
                pending = r["hash"].hex()
                break
        else:
            break
    return {"identity": inception["identity"], "keys": keys, "pending": pending, "cancelled": cancelled}


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
