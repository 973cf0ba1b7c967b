#!/usr/bin/env python3
"""The text a reader sees in an HTML file, one line of words.

    python3 tests/support/visible_text.py FILE.html

Uses Python's own html.parser: text outside <head>, <style> and <script>, comments (Outlook's
conditional ones too) left out, character references decoded, runs of whitespace made one space.
"""

import sys
from html.parser import HTMLParser


class Visible(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.skip = 0
        self.words = []

    def handle_starttag(self, tag, attrs):
        if tag in ("head", "style", "script", "title"):
            self.skip += 1

    def handle_endtag(self, tag):
        if tag in ("head", "style", "script", "title"):
            self.skip -= 1

    def handle_data(self, data):
        if self.skip == 0:
            self.words.extend(data.split())


parser = Visible()
with open(sys.argv[1], encoding="utf-8") as f:
    parser.feed(f.read())
print(" ".join(parser.words))
