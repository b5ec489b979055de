#!/usr/bin/env python3
"""A mail catcher for the local compose stack, where the Mailpit image cannot be pulled.

SMTP on port 1025 (aiosmtpd, from Debian) accepts every message and keeps it in memory; HTTP on
port 8025 serves the part of Mailpit's API that the stack's test and an operator's curl use, in
Mailpit's shapes, so the same client works against either:

    GET    /readyz                       200 once both listeners are up
    GET    /api/v1/messages              {"total", "count", "messages": [{"ID", "MessageID",
                                          "From", "To", "Subject", "Created", "Size"}]}, newest first
    GET    /api/v1/message/ID            the summary + "Text", "HTML"
    GET    /api/v1/message/ID/raw        the message as received
    DELETE /api/v1/messages              forget every message
"""

import email
import email.policy
import email.utils
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

MESSAGES = []  # newest last
LOCK = threading.Lock()


def addresses(header):
    return [{"Name": name, "Address": addr} for name, addr in email.utils.getaddresses([header or ""])]


def part_text(msg, subtype):
    part = msg.get_body(preferencelist=(subtype,))
    return part.get_content() if part is not None else ""


class Handler:
    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        to = addresses(msg.get("To")) or [{"Name": "", "Address": a} for a in envelope.rcpt_tos]
        entry = {
            "ID": uuid.uuid4().hex,
            "MessageID": (msg.get("Message-ID") or "").strip("<>"),
            "From": (addresses(msg.get("From")) or [{"Name": "", "Address": envelope.mail_from}])[0],
            "To": to,
            "Subject": str(msg.get("Subject") or ""),
            "Created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "Size": len(raw),
            "Text": part_text(msg, "plain"),
            "HTML": part_text(msg, "html"),
            "raw": raw,
        }
        with LOCK:
            MESSAGES.append(entry)
        print(f"mailcapture: {entry['ID']} to {[t['Address'] for t in to]}: {entry['Subject']}", flush=True)
        return "250 Message accepted for delivery"


SUMMARY = ("ID", "MessageID", "From", "To", "Subject", "Created", "Size")


class Api(BaseHTTPRequestHandler):
    def reply(self, status, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def find(self, id_):
        with LOCK:
            return next((m for m in MESSAGES if m["ID"] == id_), None)

    def do_GET(self):
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/readyz":
            return self.reply(200, b"ok\n", "text/plain")
        if path == "/api/v1/messages":
            with LOCK:
                msgs = [{k: m[k] for k in SUMMARY} for m in reversed(MESSAGES)]
            return self.reply(200, {"total": len(msgs), "count": len(msgs), "messages": msgs})
        parts = path.split("/")
        if len(parts) in (5, 6) and parts[:4] == ["", "api", "v1", "message"]:
            m = self.find(parts[4])
            if m is None:
                return self.reply(404, b"message not found\n", "text/plain")
            if len(parts) == 6 and parts[5] == "raw":
                return self.reply(200, m["raw"], "message/rfc822")
            if len(parts) == 5:
                return self.reply(200, {k: v for k, v in m.items() if k != "raw"})
        self.reply(404, b"not found\n", "text/plain")

    def do_DELETE(self):
        if self.path.split("?", 1)[0].rstrip("/") == "/api/v1/messages":
            with LOCK:
                MESSAGES.clear()
            return self.reply(200, b"ok\n", "text/plain")
        self.reply(404, b"not found\n", "text/plain")

    def log_message(self, *args):
        pass  # the health check polls every few seconds: only the messages are logged


def main():
    smtp = Controller(Handler(), hostname="0.0.0.0", port=1025)
    smtp.start()
    http = ThreadingHTTPServer(("0.0.0.0", 8025), Api)
    print("mailcapture: SMTP on :1025, HTTP on :8025", flush=True)
    try:
        http.serve_forever()
    finally:
        smtp.stop()


if __name__ == "__main__":
    main()
