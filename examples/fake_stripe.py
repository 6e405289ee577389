#!/usr/bin/env python3
"""A fake Stripe PaymentIntents API for trying Gatehouse's stripe routes and sagas locally (standard library only).

    python3 examples/fake_stripe.py            # listens on 127.0.0.1:9200

It speaks Stripe's model (form-encoded requests, amounts in minor units, `customer`), wants
`Authorization: Bearer dev-stripe-api-key` (the development credential in config/gatehouse.toml), deduplicates
creations and cancellations by `Idempotency-Key` as Stripe does, and declines any amount of 100000 or more with a
card error (402), to show a saga undoing what it did.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

API_KEY = "dev-stripe-api-key"
INTENTS = {}
BY_KEY = {}


class Vendor(BaseHTTPRequestHandler):
    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authorised(self):
        if self.headers.get("Authorization") == f"Bearer {API_KEY}":
            return True
        self.reply(401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}})
        return False

    def form(self):
        length = int(self.headers.get("Content-Length") or 0)
        return {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}

    def do_GET(self):
        if not self.authorised():
            return
        intent = INTENTS.get(self.path.rstrip("/").split("/")[-1])
        if intent is None:
            return self.reply(404, {"error": {"type": "invalid_request_error", "message": "No such payment_intent"}})
        self.reply(200, intent)

    def do_POST(self):
        if not self.authorised():
            return
        key = self.headers.get("Idempotency-Key")
        if key in BY_KEY:
            return self.reply(*BY_KEY[key])
        parts = self.path.strip("/").split("/")
        fields = self.form()
        if parts == ["v1", "payment_intents"]:
            answer = self.create(fields)
        elif len(parts) == 4 and parts[3] == "cancel" and parts[2] in INTENTS:
            INTENTS[parts[2]]["status"] = "canceled"
            answer = (200, INTENTS[parts[2]])
        else:
            answer = (404, {"error": {"type": "invalid_request_error", "message": "No such payment_intent"}})
        if key:
            BY_KEY[key] = answer
        self.reply(*answer)

    def create(self, fields):
        amount = int(fields.get("amount", "0"))
        if amount >= 100000:
            return (402, {"error": {"type": "card_error", "code": "card_declined", "message": "Your card was declined."}})
        intent_id = f"pi_{len(INTENTS) + 1:04d}"
        INTENTS[intent_id] = {"id": intent_id, "amount": amount, "currency": fields.get("currency", "usd"),
                              "customer": fields.get("customer"), "status": "succeeded"}
        return (200, INTENTS[intent_id])

    def log_message(self, fmt, *args):
        sys.stderr.write("fake stripe: " + fmt % args + "\n")


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9200
    print(f"fake stripe listening on 127.0.0.1:{port}", file=sys.stderr)
    ThreadingHTTPServer(("127.0.0.1", port), Vendor).serve_forever()
