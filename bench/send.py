#!/usr/bin/env python3
"""End-to-end send benchmark: mailshot against Postfix's own smtp-source, in one run.

    python3 bench/send.py [--members 20000] [--connections 4] [--dkim] [--rounds 3]
    python3 bench/send.py --members 1000 --latency-ms 10  # through a link with a 20 ms round trip
    python3 bench/send.py --rate 100 --seconds 60       # achieved rate against the configured one
    python3 bench/send.py --scale --members 1000000     # preflight time and peak memory at scale
    python3 bench/send.py --cases                       # 4 and 8 connections x 19 KB and 51 KB

1. Builds mailshot (release) and generates a member list of N members.
2. Starts Postfix's `smtp-sink` on a loopback port (it accepts and discards everything).
3. Runs `mailshot send` of the example bulletin with no rate limit, measuring wall time, CPU
   (user + system) and peak memory (max RSS); with --dkim, RSA-2048 signing is on. Then the
   same send with the journal off, and with `smtp.pipelining = false`.
   A warm-up send comes first; then each variant runs in turn, --rounds times, and the
   medians are compared.
4. In the same run measures the ceiling: `smtp-source` sending N messages of the same size into
   the same sink over the same number of connections. smtp-source cannot pipeline ("No SMTP
   command pipelining support", its man page): mailshot with pipelining off is like for like.
   With --latency-ms D everything goes through a proxy that delays each direction by D ms,
   as a relay across a network would.
5. Where Node is available, times the JavaScript mjml rendering the same template per member
   against mailshot's per-member render (examples/render_bench.rs).
With --cases, instead: the four cases 4 and 8 connections x a 19 KB and a 51 KB bulletin
(the example bulletin, and the same with sections left out), each with mailshot and smtp-source
alternated --rounds times against one sink; the ratio of the medians for each case.
Prints the figures and the ratios. Nothing is asserted: timings vary with the machine.
Needs: postfix (smtp-sink, smtp-source), optionally node + npm.
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(cmd, cwd, env=None, stdout_file=None):
    """Wall seconds, CPU seconds (user+sys) and peak RSS (MiB) of one child process.
    Its output is small (read after it exits), or goes to `stdout_file`."""
    start = time.perf_counter()
    sink = open(stdout_file, "w") if stdout_file else subprocess.PIPE
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=sink, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if stdout_file:
        sink.close()
    out = "" if stdout_file else proc.stdout.read().decode()
    err = proc.stderr.read().decode()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{' '.join(cmd[:3])} failed ({code}):\n{out}\n{err}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out


def example_vars():
    """The `[vars]` section of the shipped config: what the example template needs."""
    config = open(os.path.join(ROOT, "config.toml")).read()
    return config[config.index("\n[vars]\n") + 1:]


def latency_proxy(target_port, delay):
    """A loopback TCP proxy to `target_port` that holds every chunk back `delay` seconds in each
    direction (a round trip of 2 x delay), in order. Returns its port; runs until exit."""
    import asyncio
    import threading
    ready = threading.Event()
    box = {}

    async def pipe(reader, writer):
        loop = asyncio.get_running_loop()
        queue = asyncio.Queue()

        async def feed():
            while True:
                data = await reader.read(1 << 16)
                await queue.put((loop.time() + delay, data))
                if not data:
                    return

        async def drain():
            while True:
                due, data = await queue.get()
                await asyncio.sleep(max(0.0, due - loop.time()))
                if not data:
                    writer.close()
                    return
                writer.write(data)
                await writer.drain()

        await asyncio.gather(feed(), drain(), return_exceptions=True)

    async def handle(client_r, client_w):
        server_r, server_w = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w), return_exceptions=True)

    async def serve():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        box["port"] = server.sockets[0].getsockname()[1]
        ready.set()
        await asyncio.Event().wait()

    threading.Thread(target=lambda: asyncio.run(serve()), daemon=True).start()
    ready.wait()
    return box["port"]


def write_project(tmp, members, connections, port, dkim):
    shutil.copytree(os.path.join(ROOT, "templates"), os.path.join(tmp, "templates"))
    os.makedirs(os.path.join(tmp, "lists"))
    with open(os.path.join(tmp, "lists", "members.csv"), "w") as f:
        f.write("email,first_name,last_name,organisation\n")
        for i in range(members):
            f.write(f"member{i}@example.org,First{i},Last{i},Organisation {i} Ltd\n")
    dkim_section = ""
    if dkim:
        subprocess.run(["openssl", "genrsa", "-traditional", "-out", "dkim.pem", "2048"], cwd=tmp, check=True, capture_output=True)
        dkim_section = '[dkim]\ndomain = "example.org"\nselector = "bench"\nkey_file = "dkim.pem"\n'
    with open(os.path.join(tmp, "config.toml"), "w") as f:
        f.write(f'''transport = "smtp"
[sender]
from = "Cluster News <news@example.org>"
list_id = "cluster-news.example.org"
[unsubscribe]
url = "https://example.org/unsubscribe/{{{{ token }}}}"
[web]
base_url = "https://example.org"
{dkim_section}
[smtp]
host = "127.0.0.1"
port = {port}
security = "none"
connections = {connections}
[rate]
messages_per_second = 0
{example_vars()}''')


def message_size(tmp, env):
    """Bytes of one member's message, from a file-transport test send."""
    cfg = open(os.path.join(tmp, "config.toml")).read().replace('transport = "smtp"', 'transport = "file"')
    with open(os.path.join(tmp, "size.toml"), "w") as f:
        f.write(cfg)
    binary = os.path.join(ROOT, "target", "release", "mailshot")
    shutil.rmtree(os.path.join(tmp, "outbox"), ignore_errors=True)
    subprocess.run([binary, "--config", "size.toml", "send", "--campaign", "size", "--test-to", "size@example.org"],
                   cwd=tmp, env=env, check=True, capture_output=True)
    return os.path.getsize(os.path.join(tmp, "outbox", "size", "test", "size@example.org.eml"))


# The example bulletin's sections, in the order they are left out to make a smaller message.
SHEDDABLE = ["Regional news", "Regulation and investment", "People", "Awards", "Conference",
             "Spotlight", "Events", "Programme news"]


def trim_bulletin(tmp, env, target_kb):
    """Leaves sections of the project's bulletin out, one at a time, until one member's message
    is at most `target_kb` KB (1000 bytes); returns the message's size in bytes."""
    path = os.path.join(tmp, "templates", "bulletin.mjml")
    size = message_size(tmp, env)
    for name in SHEDDABLE:
        if size <= target_kb * 1000:
            break
        mjml = open(path).read()
        start = mjml.index(f"    <!-- {name}")
        end = mjml.index("    <!-- ", start + 1)
        open(path, "w").write(mjml[:start] + mjml[end:])
        size = message_size(tmp, env)
    return size


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--members", type=int, default=20000)
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--dkim", action="store_true")
    p.add_argument("--rounds", type=int, default=3, help="times each variant is run, in turn; medians are compared")
    p.add_argument("--latency-ms", type=float, default=0, help="send through a proxy adding this one-way delay (ms)")
    p.add_argument("--rate", type=float, help="instead: send at this rate for --seconds and report the achieved rate")
    p.add_argument("--seconds", type=int, default=60)
    p.add_argument("--compare", metavar="BINARY", help="also send with this mailshot binary (say, a build of an earlier commit), in the same run")
    p.add_argument("--keep", metavar="DIR", help="with --scale: build the project in DIR and keep it (the store, for inspection)")
    p.add_argument("--scale", action="store_true", help="instead: time the preflight (--dry-run) and the send of --members, with peak memory")
    p.add_argument("--cases", action="store_true", help="instead: 4 and 8 connections x 19 KB and 51 KB, mailshot against smtp-source in each")
    args = p.parse_args()
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    if args.rate:
        return rate_run(args)
    if args.scale:
        return scale_run(args)
    if args.cases:
        return cases_run(args)
    for tool in (SINK, SOURCE):
        if not os.path.exists(tool):
            sys.exit(f"{tool} not found: apt-get install postfix")
    subprocess.run(["cargo", "build", "--release", "-q", "--bins", "--examples"], cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "release", "mailshot")
    # The same code with the benchmark switches compiled in (they never ship): for "journal off".
    hooks_dir = os.path.join(ROOT, "target", "bench-hooks")
    subprocess.run(["cargo", "build", "--release", "-q", "--bins", "--features", "bench-hooks",
                    "--target-dir", hooks_dir], cwd=ROOT, check=True)
    hooks_binary = os.path.join(hooks_dir, "release", "mailshot")
    env = dict(os.environ, MAILSHOT_UNSUBSCRIBE_SECRET="benchmark-secret-0123456789")
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        # What the clients connect to: the sink, or the proxy in front of it.
        via = latency_proxy(port, args.latency_ms / 1000) if args.latency_ms else port
        write_project(tmp, args.members, args.connections, via, args.dkim)
        size = message_size(tmp, env)
        cfg = open(os.path.join(tmp, "config.toml")).read()
        assert "[smtp]\n" in cfg, "write_project's config has no [smtp] section"
        with open(os.path.join(tmp, "nopipe.toml"), "w") as f:
            f.write(cfg.replace("[smtp]\n", "[smtp]\npipelining = false\n"))
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        sink = subprocess.Popen([SINK, *user, f"127.0.0.1:{port}", "1024"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        nj_env = dict(env, MAILSHOT_BENCH_JOURNAL="off")
        # Each variant, in turn, --rounds times: the median of each is compared.
        variants = [
            ("mailshot send", [binary], env),
            ("journal off", [hooks_binary], nj_env),  # a benchmark-only build, to price the journal
            ("pipelining off", [binary, "--config", "nopipe.toml"], env),
        ]
        if args.compare:
            variants.append((args.compare, [args.compare], env))
        source = [SOURCE, "-d", "-s", str(args.connections), "-l", str(size), "-m", str(args.members),
                  "-f", "news@example.org", "-t", "member@example.org", f"127.0.0.1:{via}"]
        runs = {name: [] for name, _, _ in variants}
        runs["smtp-source"] = []
        try:
            # A warm-up, not measured: the first send into a fresh sink is slower whoever sends.
            measure([binary, "send", "--campaign", "warm-up", "--yes", "--limit", str(min(1000, args.members))], tmp, env)
            for r in range(args.rounds):
                for i, (name, cmd, e) in enumerate(variants):
                    runs[name].append(measure([*cmd, "send", "--campaign", f"bench-{i}-{r}", "--yes"], tmp, e))
                runs["smtp-source"].append(measure(source, tmp))
        finally:
            sink.terminate()
            sink.wait()

        def median(name):
            # The lower middle when the rounds are even.
            return sorted(runs[name], key=lambda m: m[0])[(len(runs[name]) - 1) // 2]

        def rates(name):
            return " / ".join(f"{args.members / m[0]:,.0f}" for m in runs[name])

        wall, cpu, rss, out = median("mailshot send")
        ceiling = args.members / median("smtp-source")[0]
        rate = args.members / wall
        print(f"members: {args.members:,}, connections: {args.connections}, message: {size / 1024:.1f} KiB, DKIM: {'RSA-2048' if args.dkim else 'off'}"
              + (f", latency: {args.latency_ms:g} ms each way" if args.latency_ms else "")
              + f"; medians of {args.rounds} rounds (msg/s of each round in brackets)")
        print(f"mailshot send:     {wall:7.2f} s  {rate:9,.0f} msg/s  CPU {cpu:6.2f} s ({cpu / wall * 100:.0f}% of one core)  peak {rss:6.1f} MiB  [{rates('mailshot send')}]")
        print(f"smtp-source:       {args.members / ceiling:7.2f} s  {ceiling:9,.0f} msg/s  [{rates('smtp-source')}]")
        print(f"ratio mailshot / smtp-source: {rate / ceiling:.2f}")
        nj_wall = median("journal off")[0]
        print(f"journal off:       {nj_wall:7.2f} s  {args.members / nj_wall:9,.0f} msg/s  [{rates('journal off')}]  -> the journal costs {(1 - nj_wall / wall) * 100:.0f}% of throughput")
        np_wall = median("pipelining off")[0]
        print(f"pipelining off:    {np_wall:7.2f} s  {args.members / np_wall:9,.0f} msg/s  [{rates('pipelining off')}]  -> ratio to smtp-source, which cannot pipeline: {args.members / np_wall / ceiling:.2f}; pipelining gains {np_wall / wall:.2f}x")
        if args.compare:
            cmp_wall, cmp_cpu, _, _ = median(args.compare)
            print(f"{args.compare}: {cmp_wall:7.2f} s  {args.members / cmp_wall:9,.0f} msg/s  CPU {cmp_cpu:6.2f} s  [{rates(args.compare)}]  -> this build is {cmp_wall / wall:.2f}x its speed")
        summary = [l for l in out.splitlines() if l.startswith("sent ")]
        if summary:
            print(f"mailshot says: {summary[0]}")
    if args.latency_ms:
        return

    # Per-member rendering: mailshot's against the JavaScript mjml's, same template.
    render = subprocess.run(["cargo", "run", "--release", "-q", "--example", "render_bench"], cwd=ROOT, capture_output=True, text=True)
    if render.returncode != 0:
        sys.exit(render.stderr)
    ours_us = float(render.stdout.split()[0])
    print(f"mailshot per-member render (HTML + text): {ours_us:.2f} us")
    node = shutil.which("node")
    js_dir = os.path.join(ROOT, "bench", "mjml-js")
    if node and shutil.which("npm"):
        if not os.path.isdir(os.path.join(js_dir, "node_modules", "mjml")):
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=js_dir, check=True)
        js = subprocess.run([node, "render.mjs", os.path.join(ROOT, "templates", "bulletin.mjml")], cwd=js_dir, capture_output=True, text=True)
        if js.returncode == 0:
            js_us = float(js.stdout.split()[0])
            print(f"JavaScript mjml per-member render: {js_us:.0f} us")
            print(f"ratio JavaScript mjml / mailshot per member: {js_us / ours_us:,.0f}x")
        else:
            print(f"JavaScript mjml could not run: {js.stderr.strip()[:200]}")
    else:
        print("node not found: JavaScript mjml comparison skipped")


def cases_run(args):
    """The four cases (connections x message size), each mailshot and smtp-source alternated
    --rounds times into one sink; a table of the medians and their ratio."""
    for tool in (SINK, SOURCE):
        if not os.path.exists(tool):
            sys.exit(f"{tool} not found: apt-get install postfix")
    subprocess.run(["cargo", "build", "--release", "-q", "--bins"], cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "release", "mailshot")
    env = dict(os.environ, MAILSHOT_UNSUBSCRIBE_SECRET="benchmark-secret-0123456789")
    print(f"members: {args.members:,} a case; medians of {args.rounds} rounds, mailshot and smtp-source alternated (msg/s of each round in brackets)")
    extra = f" {args.compare} msg/s | its ratio |" if args.compare else ""
    print(f"| connections | message | mailshot msg/s | smtp-source msg/s | ratio | mailshot CPU per message |{extra}")
    print("|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if args.compare else ""))
    for kb in (19, 51):
        for connections in (4, 8):
            with tempfile.TemporaryDirectory() as tmp:
                port = free_port()
                write_project(tmp, args.members, connections, port, args.dkim)
                size = trim_bulletin(tmp, env, kb)
                user = ["-u", "nobody"] if os.geteuid() == 0 else []
                sink = subprocess.Popen([SINK, *user, f"127.0.0.1:{port}", "1024"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(0.5)
                source = [SOURCE, "-d", "-s", str(connections), "-l", str(size), "-m", str(args.members),
                          "-f", "news@example.org", "-t", "member@example.org", f"127.0.0.1:{port}"]
                ours, theirs, other = [], [], []
                try:
                    measure([binary, "send", "--campaign", "warm-up", "--yes", "--limit", str(min(1000, args.members))], tmp, env)
                    for r in range(args.rounds):
                        ours.append(measure([binary, "send", "--campaign", f"bench-{r}", "--yes"], tmp, env))
                        theirs.append(measure(source, tmp))
                        if args.compare:
                            other.append(measure([args.compare, "send", "--campaign", f"compare-{r}", "--yes"], tmp, env))
                finally:
                    sink.terminate()
                    sink.wait()
                mid = (args.rounds - 1) // 2
                wall, cpu, _, _ = sorted(ours, key=lambda m: m[0])[mid]
                src = sorted(m[0] for m in theirs)[mid]
                each = lambda runs: " / ".join(f"{args.members / m[0]:,.0f}" for m in runs)
                row = (f"| {connections} | {size / 1000:.1f} KB | {args.members / wall:,.0f} [{each(ours)}] | {args.members / src:,.0f} [{each(theirs)}] "
                       f"| **{src / wall:.2f}** | {cpu / args.members * 1e6:.0f} us |")
                if args.compare:
                    cmp_wall = sorted(m[0] for m in other)[mid]
                    row += f" {args.members / cmp_wall:,.0f} [{each(other)}] | {src / cmp_wall:.2f} |"
                print(row, flush=True)


def scale_run(args):
    """Preflight time and peak memory (`send --dry-run`), then the send itself, for --members."""
    subprocess.run(["cargo", "build", "--release", "-q", "--bins"], cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "release", "mailshot")
    env = dict(os.environ, MAILSHOT_UNSUBSCRIBE_SECRET="benchmark-secret-0123456789")
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.keep or scratch
        os.makedirs(tmp, exist_ok=True)
        port = free_port()
        write_project(tmp, args.members, args.connections, port, False)
        wall, _, rss, _ = measure([binary, "send", "--campaign", "scale", "--dry-run"], tmp, env)
        print(f"dry run (the whole preflight) of {args.members:,}: {wall:.2f} s, peak {rss:.1f} MiB", flush=True)
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        sink = subprocess.Popen([SINK, *user, f"127.0.0.1:{port}", "1024"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        try:
            wall, cpu, rss, _ = measure([binary, "send", "--campaign", "scale", "--yes"], tmp, env)
        finally:
            sink.terminate()
            sink.wait()
        print(f"send of {args.members:,}: {wall:.1f} s, {args.members / wall:,.0f} msg/s, CPU {cpu:.1f} s, peak {rss:.1f} MiB", flush=True)
        # Resuming the finished campaign: every member is skipped, as already accepted.
        wall, _, rss, out = measure([binary, "send", "--campaign", "scale", "--dry-run"], tmp, env)
        print(f"dry run of the finished campaign ({out.split('(')[1].split(':')[0]}): {wall:.2f} s, peak {rss:.1f} MiB", flush=True)
        wall, _, rss, _ = measure([binary, "log", "--campaign", "scale"], tmp, env, os.path.join(tmp, "log.csv"))
        print(f"log of the campaign as CSV ({args.members:,} rows): {wall:.2f} s, peak {rss:.1f} MiB")


def rate_run(args):
    """Sends rate x seconds messages at `messages_per_second = rate` and reports the rate achieved
    between the first and the last attempt, from the delivery log."""
    import json
    from datetime import datetime
    for tool in (SINK,):
        if not os.path.exists(tool):
            sys.exit(f"{tool} not found: apt-get install postfix")
    subprocess.run(["cargo", "build", "--release", "-q", "--bins"], cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "release", "mailshot")
    env = dict(os.environ, MAILSHOT_UNSUBSCRIBE_SECRET="benchmark-secret-0123456789")
    n = int(args.rate * args.seconds)
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        write_project(tmp, n, args.connections, port, False)
        cfg = open(os.path.join(tmp, "config.toml")).read().replace("messages_per_second = 0", f"messages_per_second = {args.rate}\nburst = 1")
        open(os.path.join(tmp, "config.toml"), "w").write(cfg)
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        sink = subprocess.Popen([SINK, *user, f"127.0.0.1:{port}", "1024"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        try:
            measure([binary, "send", "--campaign", "rate", "--yes"], tmp, env)
        finally:
            sink.terminate()
            sink.wait()
        log = json.loads(subprocess.run([binary, "log", "--campaign", "rate", "--format", "json"], cwd=tmp, env=env, capture_output=True, text=True, check=True).stdout)
        times = sorted(datetime.fromisoformat(r["first_attempt_at"].replace("Z", "+00:00")) for r in log)
        span = (times[-1] - times[0]).total_seconds()
        achieved = (len(times) - 1) / span
        print(f"configured {args.rate:g}/s for {args.seconds} s ({n:,} messages): achieved {achieved:.3f}/s over {span:.1f} s, {(achieved / args.rate - 1) * 100:+.2f}%")


if __name__ == "__main__":
    main()
