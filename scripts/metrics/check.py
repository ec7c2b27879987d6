"""Checks a running bookshelf's GET /metrics with the reference Prometheus
client's text parser (prometheus_client.parser), after the traffic of a
schemathesis run:

    python check.py BASE_URL MIGRATIONS

- the answer is the text format (content type, and the parser reads every line);
- every documented family is there with its type;
- the requests schemathesis sent are counted by method, route pattern and
  status, and each latency histogram is whole (buckets that never fall, +Inf
  equal to the count);
- the database's gauges are sane (connections, queues) and the migrations
  are MIGRATIONS applied and none pending;
- scraping again counts the first scrape.

Exits 1 with what is wrong.
"""

import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

EXPECTED = {
    "bookshelf_http_requests": "counter",
    "bookshelf_http_request_duration_seconds": "histogram",
    "bookshelf_database_up": "gauge",
    "bookshelf_migrations": "gauge",
    "bookshelf_migration_version": "gauge",
    "bookshelf_build_info": "gauge",
    "bookshelf_db_connections": "gauge",
    "bookshelf_db_queue_depth": "gauge",
    "bookshelf_db_queue_wait_seconds": "histogram",
    "bookshelf_db_writer_batch_size": "histogram",
    "bookshelf_db_writer_batches": "counter",
    "bookshelf_db_inline": "counter",
}

problems = []


def check(ok, what):
    if not ok:
        problems.append(what)


def scrape(base):
    with urllib.request.urlopen(base + "/metrics", timeout=30) as response:
        kind = response.headers.get("Content-Type", "")
        check(kind.startswith("text/plain") and "version=0.0.4" in kind, f"content type {kind!r}")
        text = response.read().decode("utf-8")
    return {f.name: f for f in text_string_to_metric_families(text)}


def samples(family, name=None, **labels):
    return [
        s
        for s in family.samples
        if (name is None or s.name == name) and all(s.labels.get(k) == v for k, v in labels.items())
    ]


def value(family, name=None, **labels):
    found = samples(family, name, **labels)
    return found[0].value if len(found) == 1 else None


def main(base, migrations):
    families = scrape(base)
    for name, kind in EXPECTED.items():
        check(name in families, f"family {name} missing")
        if name in families:
            check(families[name].type == kind, f"{name} is a {families[name].type}, not a {kind}")
    if problems:
        return

    requests = families["bookshelf_http_requests"]
    routes = {(s.labels["method"], s.labels["route"]) for s in requests.samples}
    for expected in [("GET", "/books"), ("POST", "/books"), ("GET", "/books/<id>"), ("GET", "/ready")]:
        check(expected in routes, f"no requests counted for {expected}")
    statuses = {s.labels["status"] for s in requests.samples}
    check({"200", "201", "404", "422"} <= statuses, f"statuses counted: {sorted(statuses)}")
    check(all(s.value >= 1 for s in samples(requests, "bookshelf_http_requests_total")), "a zero request counter")
    # A path no route matches is one series, whatever the path was.
    check(all(not r.startswith("/books/") or "<" in r for _, r in routes), f"raw paths as routes: {sorted(routes)}")

    latency = families["bookshelf_http_request_duration_seconds"]
    for method, route in routes:
        buckets = samples(latency, "bookshelf_http_request_duration_seconds_bucket", method=method, route=route)
        counts = [s.value for s in sorted(buckets, key=lambda s: float(s.labels["le"]))]
        total = value(latency, "bookshelf_http_request_duration_seconds_count", method=method, route=route)
        answered = sum(s.value for s in samples(requests, "bookshelf_http_requests_total", method=method, route=route))
        check(counts == sorted(counts), f"latency buckets of {method} {route} fall: {counts}")
        check(counts and counts[-1] == total, f"+Inf bucket of {method} {route} is not its count")
        check(total == answered, f"{method} {route}: {total} latencies, {answered} requests")

    check(value(families["bookshelf_database_up"]) == 1, "database_up is not 1")
    mig = families["bookshelf_migrations"]
    check(value(mig, state="applied") == migrations, f"applied: {value(mig, state='applied')}, expected {migrations}")
    check(value(mig, state="pending") == 0, f"pending: {value(mig, state='pending')}")
    check(value(families["bookshelf_migration_version"]) > 20000000000000, "migration_version is no version")
    build = samples(families["bookshelf_build_info"])
    check(len(build) == 1 and build[0].value == 1 and build[0].labels.get("version"), f"build_info {build}")

    conns = families["bookshelf_db_connections"]
    in_use, idle = value(conns, state="in_use"), value(conns, state="idle")
    check(in_use is not None and in_use >= 0, f"connections in use: {in_use}")
    check(idle is not None and idle >= 0 and in_use + idle >= 1, f"connections: {in_use} in use, {idle} idle")
    waits = families["bookshelf_db_queue_wait_seconds"]
    # A query waits in the readers' queue, or, its request alone, runs on
    # the request's own worker (database_inline): at least one did either.
    inline = families["bookshelf_db_inline"]
    for queue in ["readers", "writer"]:
        ran = value(inline, "bookshelf_db_inline_total", queue=queue)
        check(ran is not None and ran >= 0, f"inline jobs of {queue}: {ran}")
    reads = (value(waits, "bookshelf_db_queue_wait_seconds_count", queue="readers") or 0) + (
        value(inline, "bookshelf_db_inline_total", queue="readers") or 0
    )
    check(reads >= 1, "no reader job: none waited in the readers' queue, none ran inline")
    for queue in ["readers", "writer"]:
        depth = value(families["bookshelf_db_queue_depth"], queue=queue)
        check(depth is not None and depth >= 0, f"queue depth of {queue}: {depth}")

    before = value(requests, "bookshelf_http_requests_total", method="GET", route="/metrics", status="200") or 0
    again = scrape(base)["bookshelf_http_requests"]
    after = value(again, "bookshelf_http_requests_total", method="GET", route="/metrics", status="200")
    check(after == before + 1, f"scrapes counted: {before} then {after}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} BASE_URL MIGRATIONS")
    main(sys.argv[1].rstrip("/"), int(sys.argv[2]))
    for problem in problems:
        print(f"/metrics: {problem}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print("/metrics: parsed by prometheus_client; every family, label and count checked")
