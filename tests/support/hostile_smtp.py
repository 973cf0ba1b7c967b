#!/usr/bin/env python3
"""A hostile SMTP server for mailshot's reply-fault tests: it speaks SMTP well enough to take
messages, then misbehaves in one chosen way.

Usage:
    python3 tests/support/hostile_smtp.py --dump DIR --fault FAULT [--port 0]

Once listening it prints exactly ``READY <port>``; it stops when its stdin reaches EOF.
It offers PIPELINING, 8BITMIME and SMTPUTF8 (``--no-smtputf8``: not SMTPUTF8), answers
EHLO, MAIL, RCPT, DATA, RSET, NOOP and QUIT, and appends one line to ``DIR/received.jsonl``
for every message whose end (CRLF . CRLF) it has read, before any fault at the end of the
data: {"mail_from": ..., "rcpt_tos": [...], "size": n}. Every MAIL line is appended to
``DIR/mail.log`` as received.

Faults:
  extra-after-greeting  three unasked "250 2.0.0 OK" lines right after the greeting
  extra-after-mail      MAIL answered with three "250 2.1.0 Ok" lines
  drop-at-data          the connection closed on the DATA command, before any content
  drop-after-data       the message read whole, then the connection closed, no reply
  stall-after-data      the message read whole, then no reply ever
  bare-lf               the end of the data answered "250 Ok\\n" (no CR)
  non-utf8              the end of the data answered with bytes that are not UTF-8
  huge-line             the end of the data answered with one 8 MB line
  code-299, code-600, code-150
                        the end of the data answered with that code
  two-replies           the end of the data answered "250 Ok" twice
  multi-line-451        the end of the data answered with a three-line 451 4.3.0 reply
  none                  no fault: "250 2.0.0 Ok: queued"
"""

import argparse
import asyncio
import json
import threading
from pathlib import Path

from smtp_server import watch_stdin

END_REPLIES = {
    "bare-lf": b"250 Ok\n",
    "non-utf8": b"250 2.0.0 \xff\xfe queued\r\n",
    "huge-line": b"250 " + b"x" * (8 * 1024 * 1024) + b"\r\n",
    "code-299": b"299 2.0.0 Ok\r\n",
    "code-600": b"600 Ok\r\n",
    "code-150": b"150 Ok\r\n",
    "two-replies": b"250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n",
    "multi-line-451": b"451-4.3.0 Local problem,\r\n451-4.3.0 please try\r\n451 4.3.0 again later\r\n",
    "none": b"250 2.0.0 Ok: queued\r\n",
}


async def session(reader, writer, args, dump: Path):
    fault = args.fault
    writer.write(b"220 hostile.example ESMTP\r\n")
    if fault == "extra-after-greeting":
        writer.write(b"250 2.0.0 OK\r\n" * 3)
    await writer.drain()
    mail_from, rcpt_tos = "", []
    try:
        while True:
            line = await reader.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                ext = [b"PIPELINING", b"8BITMIME"] + ([] if args.no_smtputf8 else [b"SMTPUTF8"])
                writer.write(b"250-hostile.example\r\n" + b"".join(b"250-" + e + b"\r\n" for e in ext[:-1])
                             + b"250 " + ext[-1] + b"\r\n")
            elif verb == b"MAIL":
                with open(dump / "mail.log", "a", encoding="utf-8") as f:
                    f.write(line.decode("utf-8", "replace").rstrip("\r\n") + "\n")
                mail_from = line.decode("utf-8", "replace").split(":", 1)[1].strip()
                rcpt_tos = []
                writer.write(b"250 2.1.0 Ok\r\n" * (3 if fault == "extra-after-mail" else 1))
            elif verb == b"RCPT":
                addr = line.decode("utf-8", "replace").split(":", 1)[1].strip()
                rcpt_tos.append(addr.strip("<>"))
                writer.write(b"250 2.1.5 Ok\r\n")
            elif verb == b"DATA":
                if fault == "drop-at-data":
                    await writer.drain()
                    writer.transport.abort()
                    return
                writer.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                await writer.drain()
                data = await reader.readuntil(b"\r\n.\r\n")
                with open(dump / "received.jsonl", "a", encoding="utf-8") as f:
                    f.write(json.dumps({"mail_from": mail_from, "rcpt_tos": rcpt_tos,
                                        "size": len(data)}) + "\n")
                if fault == "drop-after-data":
                    writer.transport.abort()
                    return
                if fault == "stall-after-data":
                    await asyncio.sleep(3600)
                writer.write(END_REPLIES.get(fault, END_REPLIES["none"]))
            elif verb in (b"RSET", b"NOOP"):
                writer.write(b"250 2.0.0 Ok\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 2.0.0 Bye\r\n")
                await writer.drain()
                writer.close()
                return
            else:
                writer.write(b"502 5.5.2 Error: command not recognized\r\n")
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return
    finally:
        writer.transport.abort()


async def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dump", required=True)
    p.add_argument("--fault", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--no-smtputf8", action="store_true")
    args = p.parse_args()
    dump = Path(args.dump)
    dump.mkdir(parents=True, exist_ok=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    server = await asyncio.start_server(lambda r, w: session(r, w, args, dump), "127.0.0.1",
                                        args.port, limit=64 * 1024 * 1024)
    port = server.sockets[0].getsockname()[1]
    threading.Thread(target=watch_stdin, args=(loop, stop), daemon=True).start()
    print(f"READY {port}", flush=True)
    await stop.wait()
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
