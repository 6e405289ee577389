#!/usr/bin/env python3
"""Writes asymmetric-signatures.json: Standard Webhooks v1a (Ed25519) and SendGrid (ECDSA P-256) cases signed with
the `cryptography` package, an implementation independent of the kit's (RustCrypto p256, ed25519-dalek).

The keys are derived from fixed labels, so a rerun writes the same file (Ed25519 and RFC 6979 ECDSA signatures are
deterministic). Run from this folder: `python3 make_asymmetric_vectors.py`.
"""

import base64
import hashlib
import hmac
import json

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
NOW = 1_700_000_000
B64 = lambda raw: base64.b64encode(raw).decode()


def ed25519_key(label):
    seed = hashlib.sha256(label.encode()).digest()
    key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return key, "whsk_" + B64(seed), "whpk_" + B64(public)


def p256_key(label):
    scalar = int.from_bytes(hashlib.sha256(label.encode()).digest(), "big") % P256_ORDER
    key = ec.derive_private_key(scalar, ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return key, B64(private), B64(public)


ED, ED_PRIVATE, ED_PUBLIC = ed25519_key("gatehouse-kit test ed25519 key 1")
ED2, ED2_PRIVATE, ED2_PUBLIC = ed25519_key("gatehouse-kit test ed25519 key 2")
ED3, _, _ = ed25519_key("gatehouse-kit test ed25519 key 3")  # signs beside the test key, configured nowhere
EC, EC_PRIVATE, EC_PUBLIC = p256_key("gatehouse-kit test p256 key 1")
EC2, EC2_PRIVATE, EC2_PUBLIC = p256_key("gatehouse-kit test p256 key 2")
HMAC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

MSG_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
BODY = '{"type":"invoice.paid","data":{"id":"in_1","amount":4200}}'


def v1a(key, msg_id, ts, body):
    return "v1a," + B64(key.sign(f"{msg_id}.{ts}.{body}".encode()))


def v1(secret, msg_id, ts, body):
    raw = base64.b64decode(secret.removeprefix("whsec_"))
    return "v1," + B64(hmac.new(raw, f"{msg_id}.{ts}.{body}".encode(), hashlib.sha256).digest())


def standard(name, key, signature, expected, body=BODY, now=NOW, ts=NOW):
    return {
        "name": name,
        "scheme": "standard_webhooks",
        "secret": key,
        "headers": {"webhook-id": MSG_ID, "webhook-timestamp": str(ts), "webhook-signature": signature},
        "body": body,
        "now": now,
        "tolerance_s": 300,
        "expected_valid": expected,
        "source": "cryptography (Ed25519) via make_asymmetric_vectors.py",
    }


def sendgrid(name, key, signing, expected, body=BODY, signed_body=None, now=NOW, ts=NOW):
    payload = (str(ts) + (body if signed_body is None else signed_body)).encode()
    signature = signing.sign(payload, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    return {
        "name": name,
        "scheme": "sendgrid_event_webhook_ecdsa",
        "secret": key,
        "headers": {
            "X-Twilio-Email-Event-Webhook-Signature": B64(signature),
            "X-Twilio-Email-Event-Webhook-Timestamp": str(ts),
        },
        "body": body,
        "now": now,
        "tolerance_s": 300,
        "expected_valid": expected,
        "source": "cryptography (ECDSA P-256, RFC 6979) via make_asymmetric_vectors.py",
    }


good = v1a(ED, MSG_ID, NOW, BODY)
vectors = [
    standard("v1a_valid", ED_PUBLIC, good, True),
    standard("v1a_empty_body", ED_PUBLIC, v1a(ED, MSG_ID, NOW, ""), True, body=""),
    standard("v1a_tampered_body", ED_PUBLIC, good, False, body=BODY.replace("4200", "4201")),
    standard("v1a_other_key", ED2_PUBLIC, good, False),
    standard("v1a_stale", ED_PUBLIC, good, False, now=NOW + 301),
    standard("v1a_future", ED_PUBLIC, good, False, now=NOW - 301),
    standard("v1a_at_tolerance_edge", ED_PUBLIC, good, True, now=NOW + 300),
    standard("v1a_rotation_second_signature", ED_PUBLIC, v1a(ED3, MSG_ID, NOW, BODY) + " " + good, True),
    standard("v1a_beside_v1_public_key_only", ED_PUBLIC, v1(HMAC_SECRET, MSG_ID, NOW, BODY) + " " + good, True),
    standard("v1a_wrong_beside_valid_v1_public_key_only", ED_PUBLIC,
             v1(HMAC_SECRET, MSG_ID, NOW, BODY) + " " + v1a(ED2, MSG_ID, NOW, BODY), False),
    standard("v1_beside_wrong_v1a_secret_only", HMAC_SECRET,
             v1(HMAC_SECRET, MSG_ID, NOW, BODY) + " " + v1a(ED2, MSG_ID, NOW, BODY), True),
    standard("v1a_signature_as_v1_public_key_only", ED_PUBLIC, "v1," + good.split(",", 1)[1], False),
    standard("v1a_unknown_version", ED_PUBLIC, "v1b," + good.split(",", 1)[1], False),
    sendgrid("sendgrid_generated_valid", EC_PUBLIC, EC, True),
    sendgrid("sendgrid_generated_empty_body", EC_PUBLIC, EC, True, body=""),
    sendgrid("sendgrid_generated_tampered", EC_PUBLIC, EC, False, signed_body=BODY.replace("4200", "4201")),
    sendgrid("sendgrid_generated_other_key", EC2_PUBLIC, EC, False),
    sendgrid("sendgrid_generated_stale", EC_PUBLIC, EC, False, now=NOW + 301),
    sendgrid("sendgrid_generated_future", EC_PUBLIC, EC, False, now=NOW - 301),
]

document = {
    "generated_by": "make_asymmetric_vectors.py (python cryptography); the test keys are for tests only",
    "keys": {
        "ed25519_private": ED_PRIVATE,
        "ed25519_public": ED_PUBLIC,
        "ed25519_other_public": ED2_PUBLIC,
        "p256_private_pkcs8": EC_PRIVATE,
        "p256_public_spki": EC_PUBLIC,
        "p256_other_public_spki": EC2_PUBLIC,
    },
    "count": len(vectors),
    "vectors": vectors,
}
with open("asymmetric-signatures.json", "w") as out:
    json.dump(document, out, indent=2)
    out.write("\n")
