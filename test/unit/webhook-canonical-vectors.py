#!/usr/bin/env python3
"""Regenerates webhook-canonical-vectors.json: what Python 3 (Didit's side) makes of webhook bodies.

Run: python3 test/unit/webhook-canonical-vectors.py > test/unit/webhook-canonical-vectors.json

X-Signature-V2 (didit-api.md §6.4) signs
    json.dumps(shorten_floats(json.loads(body)), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
where shorten_floats turns whole-number floats into ints. The TypeScript canonicaliser must produce the very
same string from the same body text; these vectors are the reference. `ascii` is the ensure_ascii=True
variant (the docs' table calls V2 "ASCII-escaped", see the [?] note). `float_repr` checks the float
formatting alone (repr(float(text)), i.e. what json.dumps writes for a float that was not shortened).
Deterministic: the random doubles come from a fixed seed.
"""
import hashlib
import hmac
import json
import random
import struct
import sys


def shorten_floats(v):
    if isinstance(v, float) and v == int(v):
        return int(v)
    if isinstance(v, dict):
        return {k: shorten_floats(x) for k, x in v.items()}
    if isinstance(v, list):
        return [shorten_floats(x) for x in v]
    return v


def canonical(text, ascii_only=False):
    return json.dumps(shorten_floats(json.loads(text)), sort_keys=True, separators=(",", ":"), ensure_ascii=ascii_only)


BODIES = {
    "flat object, unsorted keys": '{"status": "Approved", "session_id": "11111111-2222-4333-8444-555555555555", "webhook_type": "status.updated", "timestamp": 1700000000}',
    "whole-number floats become ints": '{"a": 1.0, "b": -2.0, "c": 100.0, "d": 3.0e2, "e": 1e2, "f": 1E+16, "g": 1e22, "h": -0.0, "i": 0.0, "j": -0}',
    "fractional floats keep Python repr": '{"a": 0.5, "b": 0.1, "c": 1.5, "d": 1e-07, "e": 1.5e-05, "f": 0.0001, "g": 0.00001, "h": 123456789.123, "i": -2.50, "j": 2.5E-3, "k": 0.30000000000000004, "l": 1.2345678901234567e-300, "m": 5e-324, "n": 89.5, "o": 4503599627370495.5, "p": 0.1000000000000000055511151231257827}',
    "large floats that are whole become exact ints": '{"max": 1.7976931348623157e308, "big": 1.2345678901234567e25, "two53p1": 9007199254740993.0}',
    "big ints keep every digit": '{"big": 12345678901234567890, "neg": -9007199254740993, "zero": 0, "pos": 42}',
    "nested arrays and objects": '{"b": [3, {"z": 1, "a": [1.0, 2.5, {"k": null, "j": [[], {}, [[1.0]]]}]}], "a": true, "c": false, "d": [], "e": {}}',
    "non-ASCII names": '{"first_name": "José", "last_name": "Müller-Łukasz", "city": "東京", "emoji": "😀", "escaped": "\\u00e9\\u00df", "rtl": "مرحبا"}',
    "string escapes": '{"s": "quote\\" back\\\\slash / \\n \\r \\t \\b \\f \\u0000 \\u001f \\u007f \\u2028 \\u2029 \\ud83d\\ude00"}',
    "keys sort by code point (not UTF-16 unit)": '{"\\uffff": 1, "😀": 2, "a": 3, "B": 4, "é": 5, "": 6, "aa": 7, "a\\u0000": 8, "\\ue000": 9}',
    "duplicate keys keep the last": '{"a": 1, "b": 2, "a": 3}',
    "top-level array": '[1.0, "x", null, {"b": 1, "a": 2}]',
    "decision-like payload": json.dumps({
        "webhook_type": "status.updated",
        "session_id": "11111111-2222-4333-8444-555555555555",
        "status": "Approved",
        "timestamp": 1700000000,
        "created_at": 1700000000,
        "vendor_data": "user-ß-42",
        "decision": {
            "features": ["ID_VERIFICATION", "LIVENESS"],
            "id_verifications": [{
                "status": "Approved", "document_number": "X1234567", "first_name": "Zoë", "age": 44.0,
                "portrait_image": "https://example.invalid/p.jpg", "score": 97.25, "warnings": [],
            }],
            "liveness_checks": [{"status": "Approved", "score": 89.5, "age_estimation": 44.2}],
        },
    }, ensure_ascii=False),
}

FLOAT_TEXTS = [
    "1.0", "-1.0", "0.0", "-0.0", "0.5", "0.1", "1.5", "1e-07", "1.5e-05", "0.0001", "0.00001", "1e16", "1e+16",
    "1E15", "123456789012345678", "1e22", "1e21", "1.7976931348623157e308", "5e-324", "2.2250738585072014e-308",
    "0.30000000000000004", "123456789.123", "9007199254740993", "4503599627370495.5", "1e-4", "9.999999999999999e-5",
    "1234567890123456.7", "12345678901234567.0", "100", "0.000123", "-2.5e-10", "3.14159", "2.5e+300",
]


def random_doubles(n):
    rng = random.Random(20261128)
    out = []
    while len(out) < n:
        (x,) = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))
        if x == x and x not in (float("inf"), float("-inf")):
            out.append(repr(x))
    # And values of ordinary magnitude, where the fixed/exponent switch happens.
    for _ in range(n):
        out.append(repr(rng.uniform(-1, 1) * 10 ** rng.randint(-8, 18)))
    return out


# A made-up, test-only secret shaped like Didit's (43 URL-safe characters).
TEST_SECRET = "tEsT-0nly_Secret-not-a-real-one_0123456789ab"[:43]
TEST_HEADER_TIMESTAMP = "1700000100"


def hmac_hex(message):
    return hmac.new(TEST_SECRET.encode(), message.encode() if isinstance(message, str) else message, hashlib.sha256).hexdigest()


def signed(name, text):
    body = json.loads(text)
    c = canonical(text)
    return {
        "name": name,
        "body": text,
        "x_timestamp": TEST_HEADER_TIMESTAMP,
        "x_signature": hmac_hex(text.encode("utf-8")),
        "x_signature_v2": hmac_hex(c),
        "x_signature_v2_timestamped": hmac_hex(f"{TEST_HEADER_TIMESTAMP}:{c}"),
        "x_signature_v2_ascii": hmac_hex(canonical(text, True)),
        "x_signature_simple": hmac_hex(f"{body.get('timestamp')}:{body.get('session_id')}:{body.get('status')}:{body.get('webhook_type')}"),
    }


def main():
    vectors = {
        "generator": "python %d.%d.%d json.dumps(shorten_floats(json.loads(body)), sort_keys=True, separators=(',', ':'), ensure_ascii=...)" % sys.version_info[:3],
        "canonical": [
            {"name": name, "body": text, "canonical": canonical(text), "ascii": canonical(text, True)}
            for name, text in BODIES.items()
        ],
        "secret": TEST_SECRET,
        "signed": [signed(name, BODIES[name]) for name in ("flat object, unsorted keys", "decision-like payload")]
        + [signed("pretty-printed body with floats", json.dumps(json.loads(BODIES["decision-like payload"]) | {"score": 1.0, "ratio": 0.5}, indent=2, ensure_ascii=False))],
        "float_repr": [{"text": t, "repr": repr(float(t))} for t in FLOAT_TEXTS + random_doubles(150)],
    }
    json.dump(vectors, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
