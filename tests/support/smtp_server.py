#!/usr/bin/env python3
"""Scriptable SMTP sink for mailshot's integration tests (built on aiosmtpd).

Usage:
    python3 tests/support/smtp_server.py --dump DIR [--script FILE]
        [--host 127.0.0.1] [--port 0] [--delay-ms 0]

Once listening it prints exactly ``READY <port>`` on stdout. It stops when its
stdin reaches EOF (the test harness drops the pipe) or on SIGTERM/SIGINT.

8BITMIME and SMTPUTF8 are supported; no SIZE limit. Optional:
  * ``--tls-cert PEM --tls-key PEM``: offer STARTTLS (and require it before MAIL),
    or with ``--implicit-tls`` speak TLS from the first byte (SMTPS).
  * ``--auth USER:PASS``: require AUTH PLAIN/LOGIN with these credentials; each
    AUTH attempt is appended to ``auth.jsonl`` as {"user": ..., "ok": bool}.

Files written to DIR:
  * ``<seq>.eml`` (seq zero-padded to 6 digits, starting at 1): the raw bytes
    of each accepted message exactly as received (CRLF preserved,
    dot-stuffing removed).
  * ``received.jsonl``: one line per accepted message, written after its .eml:
    {"seq": n, "mail_from": ..., "rcpt_tos": [...], "file": "000001.eml",
     "size": bytes}
  * ``attempts.jsonl``: one line per DATA attempt, accepted or not:
    {"rcpt_tos": [...], "reply": "<reply line sent>"}

A scripted reply of ``HANGUP`` closes the connection once the message has been received,
instead of answering it (a disconnect in the middle of DATA, as the client sees it).
A scripted reply starting ``RCPT `` is given to the RCPT command instead (the rest of
it is the reply: ``RCPT 550 5.1.1 no such user``), and the message then has no recipient.
``sessions.log`` gets one line per session (an EHLO repeated on it is not counted again),
so tests can count connections.

``--refuse-mail N:REPLY`` answers the first N MAIL commands with REPLY (the RCPT and DATA
after a refused MAIL then get aiosmtpd's 503s).

PIPELINING (RFC 2920) is offered unless ``--no-pipelining``. ``pipelining.log`` gets one
line per MAIL command: ``pipelined`` if the client had already sent the RCPT after it
(it did not wait for the reply to MAIL), else ``alone``.

``--script FILE`` is a JSON object mapping a lowercased recipient address to a
list of replies. The n-th DATA attempt for that recipient gets the n-th reply
(the last one repeats once the list is exhausted). If a message has several
scripted recipients, the first one in RCPT order decides the reply and only
its counter advances. A reply starting with "2" means accepted (dumped);
anything else is not dumped. Unscripted messages get
"250 2.0.0 Ok: queued as <seq>".
"""

import argparse
import asyncio
import json
import logging
import os
import signal
import ssl
import sys
import threading
import warnings
from pathlib import Path

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Handler:
    def __init__(self, dump_dir: Path, script: dict[str, list[str]], delay_ms: int,
                 pipelining: bool, refuse_mail: str | None):
        self.pipelining = pipelining
        self.refuse_left, self.refuse_reply = 0, ""
        if refuse_mail:
            n, reply = refuse_mail.split(":", 1)
            self.refuse_left, self.refuse_reply = int(n), reply
        self.dump_dir = dump_dir
        self.script = script
        self.delay_ms = delay_ms
        self.attempts: dict[str, int] = {}  # per-address DATA attempt counter
        self.seq = 0  # number of messages dumped so far
        self.received = open(dump_dir / "received.jsonl", "a", encoding="utf-8")
        self.attempts_log = open(dump_dir / "attempts.jsonl", "a", encoding="utf-8")

    def close(self) -> None:
        self.received.close()
        self.attempts_log.close()

    def scripted_reply(self, rcpt_tos: list[str]) -> str | None:
        for rcpt in rcpt_tos:
            replies = self.script.get(rcpt.lower())
            if replies is not None:
                n = self.attempts.get(rcpt.lower(), 0)
                self.attempts[rcpt.lower()] = n + 1
                return replies[min(n, len(replies) - 1)]
        return None

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        # One line per session, so tests can count connections.
        if not getattr(session, "counted", False):
            session.counted = True
            with open(self.dump_dir / "sessions.log", "a", encoding="utf-8") as f:
                f.write(hostname + "\n")
        session.host_name = hostname
        if self.pipelining:
            responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        # What the client sent after MAIL without waiting for its reply is still buffered.
        waiting = bytes(server._reader._buffer).upper()
        with open(self.dump_dir / "pipelining.log", "a", encoding="utf-8") as f:
            f.write("pipelined\n" if b"RCPT TO" in waiting else "alone\n")
        if self.refuse_left > 0:
            self.refuse_left -= 1
            return self.refuse_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        replies = self.script.get(address.lower())
        if replies is not None:
            n = self.attempts.get(address.lower(), 0)
            reply = replies[min(n, len(replies) - 1)]
            if reply.startswith("RCPT "):
                self.attempts[address.lower()] = n + 1
                reply = reply[len("RCPT "):]
                self.attempts_log.write(json.dumps({"rcpt_tos": [address], "reply": reply}) + "\n")
                self.attempts_log.flush()
                return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.delay_ms > 0:
            await asyncio.sleep(self.delay_ms / 1000)
        # No awaits from here on: the decision and the dump are atomic.
        rcpt_tos = list(envelope.rcpt_tos)
        reply = self.scripted_reply(rcpt_tos)
        if reply == "HANGUP":
            # The client sent the whole message and waits for the reply: hang up instead.
            self.attempts_log.write(json.dumps({"rcpt_tos": rcpt_tos, "reply": reply}) + "\n")
            self.attempts_log.flush()
            server.transport.close()
            return "451 4.3.0 closing"
        if reply is None or reply.startswith("2"):
            self.seq += 1
            name = f"{self.seq:06d}.eml"
            data = envelope.original_content
            (self.dump_dir / name).write_bytes(data)
            if reply is None:
                reply = f"250 2.0.0 Ok: queued as {self.seq}"
            record = {
                "seq": self.seq,
                "mail_from": envelope.mail_from,
                "rcpt_tos": rcpt_tos,
                "file": name,
                "size": len(data),
            }
            self.received.write(json.dumps(record) + "\n")
            self.received.flush()
        self.attempts_log.write(json.dumps({"rcpt_tos": rcpt_tos, "reply": reply}) + "\n")
        self.attempts_log.flush()
        return reply


def load_script(path: str | None) -> dict[str, list[str]]:
    if path is None:
        return {}
    with open(path, encoding="utf-8") as f:
        raw = json.load(f)
    if not isinstance(raw, dict):
        sys.exit(f"{path}: script must be a JSON object")
    script = {}
    for addr, replies in raw.items():
        if (not isinstance(replies, list) or not replies
                or not all(isinstance(r, str) and r for r in replies)):
            sys.exit(f"{path}: {addr!r} must map to a non-empty list of reply strings")
        script[addr.lower()] = replies
    return script


def watch_stdin(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    # os.read (not sys.stdin) so this daemon thread cannot hold the stdin
    # buffer lock at interpreter shutdown.
    try:
        while os.read(0, 65536):
            pass
    except OSError:
        pass
    loop.call_soon_threadsafe(stop.set)


async def serve(args: argparse.Namespace) -> None:
    dump_dir = Path(args.dump)
    dump_dir.mkdir(parents=True, exist_ok=True)
    handler = Handler(dump_dir, load_script(args.script), args.delay_ms, not args.no_pipelining,
                      args.refuse_mail)

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert, args.tls_key)

    auth_log = open(dump_dir / "auth.jsonl", "a", encoding="utf-8")
    authenticator = None
    if args.auth:
        want_user, want_pass = args.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (isinstance(auth_data, LoginPassword)
                  and auth_data.login.decode() == want_user
                  and auth_data.password.decode() == want_pass)
            user = auth_data.login.decode() if isinstance(auth_data, LoginPassword) else None
            auth_log.write(json.dumps({"user": user, "ok": ok}) + "\n")
            auth_log.flush()
            # handled=False: let aiosmtpd send the 535 itself.
            return AuthResult(success=ok, handled=False)

    class Server(SMTP):
        def connection_made(self, transport):
            if args.greeting:
                # Refuse at the greeting, as a busy or throttling server does.
                transport.write(args.greeting.encode() + b"\r\n")
                transport.close()
                return
            super().connection_made(transport)

    def factory() -> SMTP:
        return Server(
            handler,
            hostname="mailshot-test",  # avoid a (possibly slow) getfqdn()
            decode_data=False,
            enable_SMTPUTF8=True,
            data_size_limit=None,
            tls_context=tls if (tls and not args.implicit_tls) else None,
            require_starttls=bool(tls and not args.implicit_tls),
            authenticator=authenticator,
            auth_required=bool(args.auth),
            auth_require_tls=False,
        )

    server = await loop.create_server(
        factory, args.host, args.port, ssl=tls if args.implicit_tls else None
    )
    port = server.sockets[0].getsockname()[1]
    threading.Thread(target=watch_stdin, args=(loop, stop), daemon=True).start()
    print(f"READY {port}", flush=True)

    try:
        await stop.wait()
    finally:
        server.close()
        await server.wait_closed()
        handler.close()
        auth_log.close()


def main() -> None:
    # AUTH without TLS is what the tests want on loopback.
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    # aiosmtpd logs session errors (e.g. a client refusing our test certificate) with
    # tracebacks; the tests judge by what was received, so keep stderr quiet.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dump", required=True, metavar="DIR", help="directory for .eml and .jsonl files")
    p.add_argument("--script", metavar="FILE", help="JSON object: recipient -> list of DATA replies")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    p.add_argument("--delay-ms", type=int, default=0, help="sleep before answering each DATA")
    p.add_argument("--no-pipelining", action="store_true", help="do not offer PIPELINING")
    p.add_argument("--refuse-mail", metavar="N:REPLY", help="answer the first N MAIL commands with REPLY")
    p.add_argument("--tls-cert", metavar="PEM", help="certificate: offer STARTTLS (or implicit TLS)")
    p.add_argument("--tls-key", metavar="PEM", help="the certificate's private key")
    p.add_argument("--implicit-tls", action="store_true", help="TLS from the first byte (SMTPS)")
    p.add_argument("--auth", metavar="USER:PASS", help="require AUTH with these credentials")
    p.add_argument("--greeting", metavar="REPLY", help="answer every connection with this reply and hang up, e.g. '421 4.3.2 busy'")
    args = p.parse_args()
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
