#!/usr/bin/env python3
"""Independent checker for messages mailshot writes, run by the Rust integration tests.

Usage:
    python3 tests/support/check_message.py [--dkim-dns NAME=RECORD]... FILE.eml [FILE.eml ...]

Uses only code we did not write: Python's ``email`` package (policy.default) and dkimpy
(plus PyNaCl for ed25519-sha256). See tests/support/requirements.txt for the pinned versions.

For each FILE, in order, prints ONE JSON line:

    {"file": "<path as given>",
     "defects": ["<ClassName>: <message>", ...],   # [] when the message is clean
     "long_lines": N,          # lines (split on CRLF) longer than 998 octets, CRLF excluded
     "max_line": N,            # longest such line, in octets
     "headers": {"from": decoded, "to": decoded, "subject": decoded,
                 "list-unsubscribe": raw, "list-unsubscribe-post": raw,
                 "list-id": raw, "message-id": raw},   # null when absent
     "parts": ["multipart/alternative", "text/plain", "text/html"],  # walk order
     "dkim": null | {"valid": bool, "error": null | "<why not>",
                     "signed_headers": ["from", "to", ...],  # h=, lowercased, in order
                     "d": ..., "s": ..., "a": ..., "c": ...}}

``defects`` holds the parser's own defects (the message's; "<type>: ..." for a part's; "header
<Name>: ..." for a header's, e.g. a bad address or a broken RFC 2047 encoded word), plus any
exception raised while decoding a header value (``str(header)``) or a text part's content
(``part.get_content()``), plus "BareLF"/"BareCR" for line endings that are not CRLF and
"NonASCIIHeader" for 8-bit bytes in a header.  "decoded" header values have RFC 2047 encoded words decoded; "raw" ones
are the unfolded value exactly as written.  ``dkim`` is null when the message has no
DKIM-Signature header; otherwise the first (topmost) signature is verified with dkimpy against
the public keys given with ``--dkim-dns`` (NAME like ``sel._domainkey.example.org``, RECORD like
``v=DKIM1; k=rsa; p=MIIB...``); any other DNS name is answered "no record", so nothing ever
touches the network.  ``error`` says why verification failed (dkimpy's message) when it did.

Exit status: 0, whatever the messages contain; 2 if a file cannot be read or the arguments are
wrong (a JSON line {"file": ..., "error": ...} is printed for an unreadable file; the other files
are still checked).
"""

import argparse
import email
import email.policy
from email import _header_value_parser as _hvp
from email import headerregistry
import json
import logging
import re
import sys

try:
    import dkim  # dkimpy
except ImportError:  # pragma: no cover - reported per message instead of crashing
    dkim = None

MAX_LINE = 998

DECODED_HEADERS = ("from", "to", "subject")
RAW_HEADERS = ("list-unsubscribe", "list-unsubscribe-post", "list-id", "message-id")


def defect_str(d):
    text = str(d)
    name = type(d).__name__
    return f"{name}: {text}" if text else name


def exc_str(where, e):
    return f"{where}: {type(e).__name__}: {e}"


def raw_header_values(raw):
    """Unfolded raw header values by lowercased name, from the bytes before the first blank line.

    Returns (dict name -> [values], list of (name, raw_bytes_of_whole_field))."""
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    fields = []
    for line in re.split(rb"\r?\n", head):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] = fields[-1] + b"\r\n" + line
        elif line:
            fields.append(line)
    out = {}
    whole = []
    for f in fields:
        name, sep, value = f.partition(b":")
        if not sep:
            continue
        key = name.strip().decode("ascii", "replace").lower()
        unfolded = re.sub(rb"\r?\n(?=[ \t])", b"", value).strip()
        out.setdefault(key, []).append(unfolded.decode("utf-8", "replace"))
        whole.append((key, f))
    return out, whole


def parse_tags(value):
    """DKIM tag=value list (RFC 6376 3.2); whitespace removed from values."""
    tags = {}
    for item in value.split(";"):
        if "=" not in item:
            continue
        k, _, v = item.partition("=")
        tags[k.strip()] = re.sub(r"\s+", "", v)
    return tags


def make_dnsfunc(records):
    def dnsfunc(name, timeout=5, **_kw):
        if isinstance(name, (bytes, bytearray)):
            name = bytes(name).decode("ascii", "replace")
        name = name.rstrip(".").lower()
        rec = records.get(name)
        return rec.encode("utf-8") if rec is not None else None

    return dnsfunc


def check_dkim(raw, raw_headers, records):
    sigs = raw_headers.get("dkim-signature")
    if not sigs:
        return None
    tags = parse_tags(sigs[0])
    result = {
        "valid": False,
        "error": None,
        "signed_headers": [h.strip().lower() for h in tags.get("h", "").split(":") if h.strip()],
        "d": tags.get("d"),
        "s": tags.get("s"),
        "a": tags.get("a"),
        "c": tags.get("c", "simple/simple"),
    }
    if dkim is None:
        result["error"] = "dkimpy is not installed (python3 -m pip install -r tests/support/requirements.txt)"
        return result
    # dkim.verify() swallows the reason into a logger: capture it.
    messages = []

    class Capture(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.INFO:
                messages.append(record.getMessage())

    logger = logging.getLogger("check_message.dkim")
    logger.propagate = False
    logger.handlers[:] = [Capture()]
    logger.setLevel(logging.DEBUG)
    try:
        d = dkim.DKIM(raw, logger=logger, minkey=1024)
        result["valid"] = bool(d.verify(dnsfunc=make_dnsfunc(records)))
        if not result["valid"]:
            errors = [m for m in messages if m]
            result["error"] = errors[-1] if errors else "signature mismatch: a signed header changed, or the key does not match"
    except Exception as e:  # DKIMException and anything dkimpy lets through
        result["valid"] = False
        result["error"] = f"{type(e).__name__}: {e}"
    return result


def check(path, raw, records):
    defects = []
    lines = raw.split(b"\r\n")
    lengths = [len(l) for l in lines]
    long_lines = sum(1 for n in lengths if n > MAX_LINE)
    max_line = max(lengths) if lengths else 0
    bare_lf = sum(l.count(b"\n") for l in lines)
    bare_cr = sum(l.count(b"\r") for l in lines)
    if bare_lf:
        defects.append(f"BareLF: {bare_lf} line ending(s) not CRLF")
    if bare_cr:
        defects.append(f"BareCR: {bare_cr} CR(s) not followed by LF")

    raw_headers, whole_fields = raw_header_values(raw)
    for key, field in whole_fields:
        if any(b > 0x7F for b in field):
            defects.append(f"NonASCIIHeader: {key} has 8-bit bytes (needs RFC 2047 or SMTPUTF8)")

    headers = {k: None for k in DECODED_HEADERS + RAW_HEADERS}
    parts = []
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
    except Exception as e:
        defects.append(exc_str("parse", e))
        msg = None

    if msg is not None:
        # Every header of every part must decode.
        for part in msg.walk():
            for name, raw_value in part.raw_items():
                try:
                    v = part.policy.header_fetch_parse(name, raw_value)
                    str(v)
                    found = list(getattr(v, "defects", ()))
                    # Unstructured headers (Subject...) do not keep their parse tree's defects
                    # (a broken RFC 2047 encoded word): parse again to see them.
                    if isinstance(v, headerregistry.UnstructuredHeader):
                        found += _hvp.get_unstructured(
                            re.sub(r"\r?\n(?=[ \t])", "", str(raw_value))).all_defects
                    for d in found:
                        defects.append(f"header {name}: {defect_str(d)}")
                except Exception as e:
                    defects.append(exc_str(f"header {name}", e))
        for part in msg.walk():
            ctype = part.get_content_type()
            parts.append(ctype)
            # Decode first: a bad base64 body is recorded in part.defects while decoding.
            if part.get_content_maintype() == "text" and not part.is_multipart():
                try:
                    content = part.get_content()
                    if not isinstance(content, str):
                        defects.append(f"{ctype}: content decoded to {type(content).__name__}, not str")
                except Exception as e:
                    defects.append(exc_str(f"{ctype} content", e))
            for d in part.defects:
                defects.append(defect_str(d) if part is msg else f"{ctype}: {defect_str(d)}")
        for key in DECODED_HEADERS:
            try:
                v = msg.get(key)
                headers[key] = None if v is None else str(v)
            except Exception as e:
                defects.append(exc_str(f"header {key}", e))
    for key in RAW_HEADERS:
        vals = raw_headers.get(key)
        headers[key] = vals[0] if vals else None

    return {
        "file": path,
        "defects": defects,
        "long_lines": long_lines,
        "max_line": max_line,
        "headers": headers,
        "parts": parts,
        "dkim": check_dkim(raw, raw_headers, records),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dkim-dns", action="append", default=[], metavar="NAME=RECORD",
                    help="answer a TXT lookup of NAME with RECORD (repeatable)")
    ap.add_argument("files", nargs="+", metavar="FILE.eml")
    args = ap.parse_args(argv)

    records = {}
    for pair in args.dkim_dns:
        name, sep, rec = pair.partition("=")
        if not sep or not name.strip():
            ap.error(f"--dkim-dns wants NAME=RECORD, got {pair!r}")
        records[name.strip().rstrip(".").lower()] = rec.strip()

    status = 0
    for path in args.files:
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except OSError as e:
            print(json.dumps({"file": path, "error": f"{type(e).__name__}: {e}"}), flush=True)
            status = 2
            continue
        print(json.dumps(check(path, raw, records)), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
