#!/usr/bin/env python3
"""Do two HTML files read the same to an HTML parser?

    python3 tests/support/same_html.py A.html B.html

Uses only Python's own html.parser (code we did not write). Both files are read as a browser
would: CRLF made LF first (the HTML standard's newline normalization), character references
decoded in text and attribute values. Compares the parser's events: start and end tags with
their attributes, text (adjacent pieces joined), comments (references decoded too, since
Outlook reads its conditional comments as HTML) and declarations.

Exit status 0 when the same; 1 with the first difference on stdout when not.
"""

import html
import sys
from html.parser import HTMLParser


class Events(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.events = []

    def add(self, event):
        if event[0] == "data" and self.events and self.events[-1][0] == "data":
            self.events[-1] = ("data", self.events[-1][1] + event[1])
        else:
            self.events.append(event)

    def handle_starttag(self, tag, attrs):
        self.add(("start", tag, attrs))

    def handle_startendtag(self, tag, attrs):
        self.add(("startend", tag, attrs))

    def handle_endtag(self, tag):
        self.add(("end", tag))

    def handle_data(self, data):
        self.add(("data", data))

    def handle_comment(self, data):
        self.add(("comment", html.unescape(data)))

    def handle_decl(self, decl):
        self.add(("decl", decl))


def events(path):
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read().replace("\r\n", "\n")
    p = Events()
    p.feed(text)
    p.close()
    return p.events


def main():
    a, b = events(sys.argv[1]), events(sys.argv[2])
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            print(f"event {i}: {x!r} != {y!r}")
            return 1
    if len(a) != len(b):
        print(f"{len(a)} events != {len(b)} events")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
