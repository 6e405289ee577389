#!/usr/bin/env python3
"""A fake acme-crm vendor API for trying Gatehouse's outbound routes locally (standard library only).

    python3 examples/fake_acme_crm.py            # listens on 127.0.0.1:9100

It speaks the vendor's model (cust_id, full_name, email_address, money as strings, page-numbered lists) and wants
`Authorization: Bearer dev-acme-api-key`, the development credential in config/gatehouse.toml. A creation with an
`Idempotency-Key` it has seen answers the first creation again (a saga's retried step creates one customer).
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

API_KEY = "dev-acme-api-key"
CUSTOMERS = {
    f"c_{1000 + n}": {
        "cust_id": f"c_{1000 + n}",
        "full_name": name,
        "email_address": f"{name.split()[0].lower()}@example.com",
        "lifetime_value": f"{n * 125}.50",
        "created": f"2026-01-{n + 1:02d} 10:00:00",
    }
    for n, name in enumerate(["Ada Lovelace", "Grace Hopper", "Alan Turing", "Edsger Dijkstra", "Barbara Liskov"])
}


CREATED_BY_KEY = {}
NEXT_ID = [1000 + len(CUSTOMERS)]


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
        self.reply(401, {"error": "invalid api key"})
        return False

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def do_GET(self):
        if not self.authorised():
            return
        url = urlparse(self.path)
        parts = url.path.strip("/").split("/")
        if parts == ["customers"]:
            query = parse_qs(url.query)
            page, per_page = int(query.get("page", ["1"])[0]), int(query.get("per_page", ["20"])[0])
            everyone = list(CUSTOMERS.values())
            total_pages = max(1, -(-len(everyone) // per_page))
            results = everyone[(page - 1) * per_page : page * per_page]
            return self.reply(200, {"results": results, "page": page, "total_pages": total_pages})
        if len(parts) == 2 and parts[0] == "customers" and parts[1] in CUSTOMERS:
            return self.reply(200, CUSTOMERS[parts[1]])
        self.reply(404, {"error": "not_found"})

    def do_POST(self):
        if not self.authorised():
            return
        fields = self.body()
        if not fields.get("full_name") or not fields.get("email_address"):
            return self.reply(422, {"error": "full_name and email_address are required"})
        key = self.headers.get("Idempotency-Key")
        if key in CREATED_BY_KEY:
            return self.reply(201, CREATED_BY_KEY[key])
        cust_id = f"c_{NEXT_ID[0]}"
        NEXT_ID[0] += 1
        CUSTOMERS[cust_id] = {"cust_id": cust_id, "lifetime_value": "0.00", "created": "2026-11-23 10:00:00", **fields}
        if key:
            CREATED_BY_KEY[key] = CUSTOMERS[cust_id]
        self.reply(201, CUSTOMERS[cust_id])

    def do_PATCH(self):
        if not self.authorised():
            return
        cust_id = self.path.strip("/").split("/")[-1]
        if cust_id not in CUSTOMERS:
            return self.reply(404, {"error": "not_found"})
        CUSTOMERS[cust_id].update(self.body())
        self.reply(200, CUSTOMERS[cust_id])

    def do_DELETE(self):
        if not self.authorised():
            return
        cust_id = self.path.strip("/").split("/")[-1]
        if CUSTOMERS.pop(cust_id, None) is None:
            return self.reply(404, {"error": "not_found"})
        self.send_response(204)
        self.end_headers()

    def log_message(self, fmt, *args):
        sys.stderr.write("fake acme-crm: " + fmt % args + "\n")


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9100
    print(f"fake acme-crm listening on 127.0.0.1:{port}", file=sys.stderr)
    ThreadingHTTPServer(("127.0.0.1", port), Vendor).serve_forever()
