#!/usr/bin/env python3
"""A real SMTP server for the SMTP client's tests: aiosmtpd on 127.0.0.1 -- plain, STARTTLS or implicit TLS, with
or without AUTH. Each message received is appended to --out as one JSON line. Prints "port N" once listening and
serves until killed."""

import argparse
import json
import signal
import socket
import ssl
import sys
import time
import warnings

warnings.filterwarnings("ignore")

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Handler:
    def __init__(self, out):
        self.out = out

    async def handle_DATA(self, server, session, envelope):
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data": envelope.content.decode("utf-8", "replace"),
            "tls": session.ssl is not None or server.transport.get_extra_info("sslcontext") is not None,
            "authenticated": bool(session.authenticated),
        }
        with open(self.out, "a", encoding="utf-8") as file:
            file.write(json.dumps(record) + "\n")
        return "250 OK: queued"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["plain", "starttls", "implicit"], default="plain")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--auth", help="user:password required before MAIL")
    parser.add_argument("--only", help="the one AUTH mechanism to offer (PLAIN or LOGIN)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    options = {}
    if args.mode != "plain":
        # PROTOCOL_TLS (not _SERVER): aiosmtpd's readiness probe wraps its own client socket with this context.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS)
        context.load_cert_chain(args.cert, args.key)
        if args.mode == "implicit":
            options["ssl_context"] = context
        else:
            options["tls_context"] = context
            options["require_starttls"] = True
    if args.auth:
        user, password = args.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and auth_data.login == user.encode() and auth_data.password == password.encode()
            return AuthResult(success=ok, handled=False)

        options["authenticator"] = authenticator
        options["auth_required"] = True
        options["auth_require_tls"] = False
        if args.only:
            options["auth_exclude_mechanism"] = [m for m in ("PLAIN", "LOGIN") if m != args.only.upper()]

    # The test process ignores SIGTERM and children inherit that: stop on it explicitly.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    port = args.port or free_port()
    controller = Controller(Handler(args.out), hostname="127.0.0.1", port=port, **options)
    controller.start()
    print(f"port {port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


if __name__ == "__main__":
    sys.exit(main())
