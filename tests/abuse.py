#!/usr/bin/env python3
"""HTTP abuse against a running node, and what it costs the node.

    python3 tests/abuse.py --url http://127.0.0.1:7700 --pid "$(pidof maillage)"

Opens at once 1 000 POSTs without a token that announce 250 KB and send none of it, 1 000
readers of the event stream that never read, and 200 requests whose head never ends. Reports
the node's resident memory before, under and after (the target: at most 50 MB more under the
load, and back after), and the p99 of `/health` and of a record lookup unloaded and under the
load (the target: within 2 x). Exits 1 when a target is missed.
"""

import argparse
import resource
import socket
import statistics
import sys
import time
import urllib.parse
import urllib.request


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise SystemExit(f"no process {pid}")


def p99_ms(url, n=300):
    times = []
    for _ in range(n):
        start = time.perf_counter()
        with urllib.request.urlopen(url, timeout=30) as answer:
            answer.read()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.quantiles(times, n=100)[98]


def opened(host, port, head, count):
    held = []
    for _ in range(count):
        s = socket.create_connection((host, port), timeout=10)
        s.sendall(head)
        held.append(s)
    return held


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the node's HTTP address")
    parser.add_argument("--pid", required=True, type=int, help="the node's process id")
    parser.add_argument("--lookup", help="a record path to time besides /health")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    url = urllib.parse.urlparse(args.url)
    host, port = url.hostname, url.port
    health = args.url + "/health"
    lookup = args.url + (args.lookup or "/api/v1/status")

    before = rss_mb(args.pid)
    quiet = (p99_ms(health), p99_ms(lookup))
    held = []
    held += opened(host, port, b"POST /api/v1/records HTTP/1.1\r\nhost: node\r\n"
                   b"content-type: application/json\r\ncontent-length: 250000\r\n\r\n", 1000)
    held += opened(host, port, b"GET /api/v1/events HTTP/1.1\r\nhost: node\r\n\r\n", 1000)
    held += opened(host, port, b"GET /health HTTP/1.1\r\nhost: no", 200)
    time.sleep(2)
    loaded = (p99_ms(health), p99_ms(lookup))
    under = rss_mb(args.pid)
    for s in held:
        s.close()
    time.sleep(5)
    after = rss_mb(args.pid)

    print(f"resident memory: {before:.1f} MB before, {under:.1f} MB under load (+{under - before:.1f}), {after:.1f} MB after")
    print(f"/health p99: {quiet[0]:.2f} ms unloaded, {loaded[0]:.2f} ms under load")
    print(f"lookup p99: {quiet[1]:.2f} ms unloaded, {loaded[1]:.2f} ms under load")
    missed = []
    if under - before > 50:
        missed.append("memory grew by more than 50 MB")
    if after - before > 10:
        missed.append("memory did not come back")
    # A floor of 1 ms: below it, the ratio measures the scheduler, not the node.
    if max(loaded[0], 1.0) > 2 * max(quiet[0], 1.0) or max(loaded[1], 1.0) > 2 * max(quiet[1], 1.0):
        missed.append("latency more than doubled")
    for m in missed:
        print("missed:", m)
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
