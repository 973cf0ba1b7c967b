#!/usr/bin/env python3
"""Benchmark `mailshot import` against a reference, side by side in one run.

    python3 bench/import.py [--rows 1000000]

Generates an export of N rows (10% duplicates in other case, 1% bad addresses, a BOM,
semicolons, CRLF), then times, on the same file:
  * mailshot import (release build) into an empty list, and a second import merging into it;
  * the reference: Python's csv module reading the file, deduplicating on the lowercased
    address in a dict and writing the list (what a mailmerge-style script does).
Reports rows/s and peak memory (max RSS) for each and the ratios. Nothing is asserted.
"""

import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def generate(path: str, rows: int) -> None:
    rnd = random.Random(42)
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        f.write("E-mail Address;Forename;Surname;Company;Job Title\r\n")
        for i in range(rows):
            n = rnd.randrange(max(1, int(rows * 0.9)))
            email = f"member{n}@Example.org" if rnd.random() < 0.5 else f"MEMBER{n}@example.ORG"
            if rnd.random() < 0.01:
                email = f"broken{i}@@example.org"
            f.write(f"{email};Forename{n};Surname{n};\"Company {n}; Ltd\";Job {i % 50}\r\n")


def run(cmd: list[str], cwd: str) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):  # 1 = some rows rejected, expected here
        sys.exit(f"{cmd[0]} failed ({code}): {proc.stderr.read().decode()}")
    return elapsed, usage.ru_maxrss


REFERENCE = r'''
import csv, sys
rows = {}
with open(sys.argv[1], encoding="utf-8-sig", newline="") as f:
    for r in csv.DictReader(f, delimiter=";"):
        e = r["E-mail Address"].strip()
        if "@" not in e or e.count("@") != 1:
            continue
        rows[e.lower()] = r
with open(sys.argv[2], "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f)
    w.writerow(["email", "first_name", "last_name", "organisation", "job_title"])
    for r in rows.values():
        w.writerow([r["E-mail Address"], r["Forename"], r["Surname"], r["Company"], r["Job Title"]])
'''


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=1_000_000)
    args = p.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "release", "mailshot")
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "export.csv")
        generate(raw, args.rows)
        size_mib = os.path.getsize(raw) / 2**20
        config = os.path.join(tmp, "config.toml")
        with open(config, "w") as f:
            f.write('[sender]\nfrom = "x@example.org"\nlist_id = "news.example.org"\n'
                    '[unsubscribe]\nurl = "https://example.org/u/{{ token }}"\n')
        lst = os.path.join(tmp, "members.csv")
        first = run([binary, "--config", config, "import", raw, "--into", lst], tmp)
        merge = run([binary, "--config", config, "import", raw, "--into", lst], tmp)
        ref = run([sys.executable, "-c", REFERENCE, raw, os.path.join(tmp, "ref.csv")], tmp)
        print(f"input: {args.rows:,} rows, {size_mib:.1f} MiB (UTF-8 BOM, semicolons, CRLF, 10% duplicates, 1% bad)")
        print(f"{'':34}{'seconds':>9}{'rows/s':>12}{'peak MiB':>10}")
        for name, (secs, rss) in [
            ("mailshot import (new list)", first),
            ("mailshot import (merge into it)", merge),
            ("reference: Python csv + dict", ref),
        ]:
            print(f"{name:34}{secs:9.2f}{args.rows / secs:12,.0f}{rss / 1024:10.1f}")
        print(f"ratio mailshot/reference, rows/s: {ref[0] / first[0]:.2f}x (new list; target >= 3x), {ref[0] / merge[0]:.2f}x (merge)")
        print(f"ratio mailshot/reference, peak memory: {first[1] / ref[1]:.2f}x; mailshot peak / input size: {first[1] / 1024 / size_mib:.2f}")


if __name__ == "__main__":
    main()
