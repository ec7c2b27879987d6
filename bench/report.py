#!/usr/bin/env python3
"""Turns the measurements of bench/run.sh into bench/results.md.

Usage: report.py RESULTS_TSV META_FILE OUTPUT_MD

RESULTS_TSV has a header line and one row per wrk run (see COLUMNS), of
bookshelf, of the peer (bench/peer) or of pgbench (column `server`; rows
without it are bookshelf's).
META_FILE holds KEY=VALUE lines (date, nproc, commit, command, ...; values
may contain '=' and spaces; everything after the first '=' is the value).
Writes the Markdown report to OUTPUT_MD and prints the target summary to
stdout. Exit status 0 whether or not targets are met (the report says so);
2 when the input is unusable. Python 3.11 standard library only.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass

COLUMNS = [
    "backend", "scenario", "conns", "threads", "duration_us", "requests",
    "bytes", "p50_us", "p90_us", "p99_us", "max_us", "status", "connect",
    "read", "write", "timeout", "peak_rss_kb", "server_cpu", "machine_procs",
    "books_added", "wrk_cpu", "machine_irq", "machine_idle",
]
# Columns added later; absent in older TSV files.
OPTIONAL_COLUMNS = ["db_cpu", "server", "avg_us"]

SCENARIO_LABELS = {
    "health": "GET /health",
    "get": "GET /books/{id}",
    "list": "GET /books?limit=20",
    "post": "POST /books",
    "mix": "90% GET /books/{id} + 10% POST /books",
}
SCENARIO_ORDER = list(SCENARIO_LABELS)

# pgbench scripts (bench/pgbench/*.sql) and the bookshelf scenario each
# measures the statement of.
PGBENCH_LABELS = {
    "select": "select.sql: bookshelf's SELECT of GET /books/{id}",
    "insert": "insert.sql: bookshelf's INSERT ... RETURNING of POST /books",
}
PGBENCH_SCENARIO = {"select": "get", "insert": "post"}

# The targets of issue 5, as ratios in one run, at this many connections.
TARGET_CONNS = 64
GET_RATIO = 0.60
GET_P99_MS = 10.0
POST_RATIO = 0.25
RSS_LIMIT_MIB = 50.0

# The targets of issue 12: bookshelf against the peer (bench/peer, axum +
# sqlx) and pgbench in the same run, at TARGET_CONNS connections.
PG_GET_PEER_RATIO = 1.2
PG_GET_PGBENCH_SHARE = 0.30
PG_GET_P99_MS = 10.0
PG_POST_PEER_RATIO = 1.0
PG_LIST_PEER_RATIO = 1.0
PG_LIST_HEALTH_SHARE = 0.15
SQLITE_GET_PEER_RATIO = 1.0
SQLITE_POST_PEER_RATIO = 1.0

# The targets of issue 24: ahead of the peer at every connection count,
# starting with one client.
ISSUE24_CONNS = (1, 16, 64)
ISSUE24_SCENARIOS = ("get", "list", "post")
ISSUE24_PEER_RATIO = 1.0
ISSUE24_GET_P99_MS = 10.0
ISSUE24_RSS_MIB = 40.0


@dataclass
class Run:
    backend: str
    scenario: str
    conns: int
    threads: int
    duration_s: float
    requests: int
    bytes: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    status: int
    connect: int
    read: int
    write: int
    timeout: int
    peak_rss_mib: float
    server_cpu: float
    machine_procs: float
    books_added: int | None
    wrk_cpu: float | None
    irq: float
    idle: float
    db_cpu: float | None
    # bookshelf, peer or pgbench.
    server: str = "bookshelf"
    # pgbench's "latency average" (wrk runs: None).
    avg_ms: float | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def socket_errors(self) -> int:
        return self.connect + self.read + self.write


def load_runs(path: str) -> list[Run]:
    runs = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            missing = [c for c in COLUMNS if c not in row]
            if missing:
                raise ValueError(f"{path}: missing columns {missing}")
            runs.append(Run(
                backend=row["backend"],
                scenario=row["scenario"],
                conns=int(row["conns"]),
                threads=int(row["threads"]),
                duration_s=int(row["duration_us"]) / 1e6,
                requests=int(row["requests"]),
                bytes=int(row["bytes"]),
                p50_ms=int(row["p50_us"]) / 1000,
                p90_ms=int(row["p90_us"]) / 1000,
                p99_ms=int(row["p99_us"]) / 1000,
                max_ms=int(row["max_us"]) / 1000,
                status=int(row["status"]),
                connect=int(row["connect"]),
                read=int(row["read"]),
                write=int(row["write"]),
                timeout=int(row["timeout"]),
                peak_rss_mib=int(row["peak_rss_kb"] or 0) / 1024,
                server_cpu=float(row["server_cpu"] or 0),
                machine_procs=float(row["machine_procs"] or 0),
                books_added=int(row["books_added"]) if row.get("books_added") else None,
                wrk_cpu=float(row["wrk_cpu"]) if row.get("wrk_cpu") else None,
                irq=float(row["machine_irq"] or 0),
                idle=float(row["machine_idle"] or 0),
                db_cpu=float(row["db_cpu"]) if row.get("db_cpu") else None,
                server=row.get("server") or "bookshelf",
                avg_ms=int(row["avg_us"]) / 1000 if row.get("avg_us") else None,
            ))
    return runs


def load_meta(path: str) -> dict[str, str]:
    meta: dict[str, str] = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if "=" in line:
                key, value = line.split("=", 1)
                meta[key] = value
    return meta


# A run during which processes other than the server and wrk used this much
# CPU (in cores) is flagged as disturbed.
DISTURBED_CORES = 0.25


def other_cpu(run: Run, cores: int) -> float | None:
    """Cores used by processes other than the server and wrk (and stolen by
    the hypervisor) during the run."""
    if run.wrk_cpu is None:
        return None
    return max(0.0, run.machine_procs - run.server_cpu - run.wrk_cpu - (run.db_cpu or 0.0))


def find(runs: list[Run], backend: str, scenario: str, conns: int,
         server: str = "bookshelf") -> Run | None:
    for run in runs:
        if (run.backend, run.scenario, run.conns, run.server) == (backend, scenario, conns, server):
            return run
    return None


def of_server(runs: list[Run], server: str) -> list[Run]:
    return [r for r in runs if r.server == server]


def run_name(run: Run) -> str:
    who = "" if run.server == "bookshelf" else f"{run.server} "
    return f"{run.backend} {who}{run.scenario} c{run.conns}"


def pct(x: float) -> str:
    return f"{x * 100:.0f}%"


def digits_apart(a: float, b: float, digits: int) -> int:
    """How many decimals print a and b apart: `digits`, or more (up to 4) when
    two different values would print the same, so that a verdict is never
    decided by a difference the report hides (14.9% against a 15% target
    printed "15%", MISSED)."""
    while digits < 4 and a != b and f"{a:.{digits}f}" == f"{b:.{digits}f}":
        digits += 1
    return digits


def pct_against(x: float, target: float) -> str:
    """x as a percentage, with the decimals that tell it from `target`."""
    return f"{x * 100:.{digits_apart(x * 100, target * 100, 0)}f}%"


def verdict(ok: bool | None) -> str:
    if ok is None:
        return "not measured"
    return "**met**" if ok else "**MISSED**"


def peak_rss(runs: list[Run], meta: dict[str, str], backends: list[str]) -> dict[str, float]:
    """The server's peak RSS in MiB per backend: its VmHWM at the end of the
    pass, or the highest VmRSS sampled in a run, whichever is higher."""
    peaks = {}
    for backend in backends:
        hwm = meta.get(f"hwm_kb_{backend}")
        sampled = max((r.peak_rss_mib for r in runs if r.backend == backend), default=0.0)
        peaks[backend] = max(int(hwm) / 1024 if hwm else 0.0, sampled)
    return peaks


def evaluate(runs: list[Run], meta: dict[str, str]) -> list[tuple[str, str, bool | None]]:
    """The four targets of issue 5: (description, measured, met?), on
    bookshelf's runs."""
    runs = of_server(runs, "bookshelf")
    targets = []
    health = find(runs, "sqlite", "health", TARGET_CONNS)
    get = find(runs, "sqlite", "get", TARGET_CONNS)
    post = find(runs, "sqlite", "post", TARGET_CONNS)

    if health and get and health.rps > 0:
        ratio = get.rps / health.rps
        ok = ratio >= GET_RATIO and get.p99_ms < GET_P99_MS
        measured = (f"{get.rps:,.0f} / {health.rps:,.0f} req/s = {pct_against(ratio, GET_RATIO)}; "
                    f"p99 {get.p99_ms:.2f} ms")
    else:
        ok, measured = None, "-"
    targets.append((
        f"SQLite `GET /books/{{id}}` ≥ {pct(GET_RATIO)} of `/health` req/s, "
        f"p99 < {GET_P99_MS:g} ms, at {TARGET_CONNS} connections",
        measured, ok))

    if health and post and health.rps > 0:
        ratio = post.rps / health.rps
        ok = ratio >= POST_RATIO
        measured = f"{post.rps:,.0f} / {health.rps:,.0f} req/s = {pct_against(ratio, POST_RATIO)}"
    else:
        ok, measured = None, "-"
    targets.append((
        f"SQLite `POST /books` ≥ {pct(POST_RATIO)} of `/health` req/s "
        f"at {TARGET_CONNS} connections",
        measured, ok))

    bad = [r for r in runs if r.status or r.timeout]
    if runs:
        ok = not bad
        if bad:
            measured = "; ".join(
                f"{r.backend} {r.scenario} c{r.conns}: {r.status} non-2xx, "
                f"{r.timeout} timeouts" for r in bad)
        else:
            measured = f"0 in all {len(runs)} runs"
    else:
        ok, measured = None, "-"
    targets.append((
        "Zero non-2xx responses (and no timeouts) in every run", measured, ok))

    peaks = peak_rss(runs, meta, backends_of(runs))
    if peaks:
        ok = all(v < RSS_LIMIT_MIB for v in peaks.values())
        measured = ", ".join(f"{b}: {v:.1f} MiB" for b, v in peaks.items())
    else:
        ok, measured = None, "-"
    targets.append((
        f"Server peak RSS (VmHWM) < {RSS_LIMIT_MIB:g} MiB under load", measured, ok))
    return targets


def peer_ratio(runs: list[Run], backend: str, scenario: str, conns: int,
               need: float) -> tuple[str, bool | None]:
    """bookshelf's req/s against the peer's in one scenario: (measured, met?)."""
    mine = find(runs, backend, scenario, conns)
    peer = find(runs, backend, scenario, conns, "peer")
    if not (mine and peer and peer.rps > 0):
        return "-", None
    ratio = mine.rps / peer.rps
    measured = f"{mine.rps:,.0f} / {peer.rps:,.0f} req/s = {ratio:.{digits_apart(ratio, need, 2)}f}×"
    if peer.status or peer.timeout:
        measured += f" (⚠ the peer had {peer.status} non-2xx, {peer.timeout} timeouts)"
    return measured, ratio >= need


def get_p99(runs: list[Run], backend: str, conns: int,
            limit_ms: float) -> tuple[str, bool | None]:
    """bookshelf's `GET /books/{id}` p99 against a limit: (measured, met?)."""
    get = find(runs, backend, "get", conns)
    if not get:
        return "-", None
    return f"p99 {get.p99_ms:.2f} ms", get.p99_ms < limit_ms


def evaluate_issue12(runs: list[Run]) -> list[tuple[str, str, bool | None]]:
    """The targets of issue 12, bookshelf against the peer and pgbench at
    TARGET_CONNS connections: (description, measured, met?)."""
    targets: list[tuple[str, str, bool | None]] = []
    n = TARGET_CONNS

    def vs_peer(backend: str, scenario: str, need: float, name: str) -> None:
        measured, ok = peer_ratio(runs, backend, scenario, n, need)
        targets.append((
            f"Issue 12: {name} `{SCENARIO_LABELS[scenario]}` ≥ {need:g}× the peer's req/s "
            f"at {n} connections", measured, ok))

    vs_peer("postgres", "get", PG_GET_PEER_RATIO, "PostgreSQL")

    get = find(runs, "postgres", "get", n)
    select = next((r for r in of_server(runs, "pgbench")
                   if r.backend == "postgres" and r.scenario == "select"), None)
    if get and select and select.rps > 0:
        share = get.rps / select.rps
        ok: bool | None = share >= PG_GET_PGBENCH_SHARE
        measured = (f"{get.rps:,.0f} req/s / {select.rps:,.0f} tps (pgbench, "
                    f"{select.conns} clients) = {pct_against(share, PG_GET_PGBENCH_SHARE)}")
    else:
        ok, measured = None, "-"
    targets.append((
        f"Issue 12: PostgreSQL `GET /books/{{id}}` ≥ {pct(PG_GET_PGBENCH_SHARE)} of pgbench's "
        f"tps for the same SELECT, at {n} connections", measured, ok))

    measured, ok = get_p99(runs, "postgres", n, PG_GET_P99_MS)
    targets.append((
        f"Issue 12: PostgreSQL `GET /books/{{id}}` p99 < {PG_GET_P99_MS:g} ms at {n} connections",
        measured, ok))

    vs_peer("postgres", "post", PG_POST_PEER_RATIO, "PostgreSQL")
    vs_peer("postgres", "list", PG_LIST_PEER_RATIO, "PostgreSQL")

    lst = find(runs, "postgres", "list", n)
    health = find(runs, "postgres", "health", n)
    if lst and health and health.rps > 0:
        share = lst.rps / health.rps
        ok, measured = share >= PG_LIST_HEALTH_SHARE, (
            f"{lst.rps:,.0f} / {health.rps:,.0f} req/s = {pct_against(share, PG_LIST_HEALTH_SHARE)}")
    else:
        ok, measured = None, "-"
    targets.append((
        f"Issue 12: PostgreSQL `{SCENARIO_LABELS['list']}` ≥ {pct(PG_LIST_HEALTH_SHARE)} of "
        f"`/health` req/s at {n} connections", measured, ok))

    pg = [r for r in of_server(runs, "bookshelf") if r.backend == "postgres"]
    bad = [r for r in pg if r.status or r.timeout]
    if pg:
        ok = not bad
        measured = ("; ".join(f"{r.scenario} c{r.conns}: {r.status} non-2xx, {r.timeout} timeouts"
                              for r in bad) if bad else f"0 in all {len(pg)} PostgreSQL runs")
    else:
        ok, measured = None, "-"
    targets.append((
        "Issue 12: zero non-2xx responses (and no timeouts) in bookshelf's PostgreSQL runs",
        measured, ok))

    vs_peer("sqlite", "get", SQLITE_GET_PEER_RATIO, "SQLite")
    vs_peer("sqlite", "post", SQLITE_POST_PEER_RATIO, "SQLite")
    return targets


def evaluate_issue24(runs: list[Run], meta: dict[str, str]) -> list[tuple[str, str, bool | None]]:
    """The targets of issue 24, bookshelf against the peer at 1, 16 and 64
    connections on both backends: (description, measured, met?)."""
    targets: list[tuple[str, str, bool | None]] = []
    backends = [b for b in ("sqlite", "postgres") if b in backends_of(runs)]
    names = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
    for backend in backends:
        for scenario in ISSUE24_SCENARIOS:
            for n in ISSUE24_CONNS:
                measured, ok = peer_ratio(runs, backend, scenario, n, ISSUE24_PEER_RATIO)
                targets.append((
                    f"Issue 24: {names[backend]} `{SCENARIO_LABELS[scenario]}` ≥ "
                    f"{ISSUE24_PEER_RATIO:g}× the peer's req/s at {n} connection{'s' if n > 1 else ''}",
                    measured, ok))
    for backend in backends:
        for scenario in ISSUE24_SCENARIOS:
            mine = find(runs, backend, scenario, 1)
            peer = find(runs, backend, scenario, 1, "peer")
            if mine and peer:
                d = digits_apart(mine.p50_ms, peer.p50_ms, 2)
                ok, measured = mine.p50_ms <= peer.p50_ms, (
                    f"{mine.p50_ms:.{d}f} ms / peer {peer.p50_ms:.{d}f} ms")
            else:
                ok, measured = None, "-"
            targets.append((
                f"Issue 24: {names[backend]} `{SCENARIO_LABELS[scenario]}` p50 at 1 connection "
                f"no higher than the peer's", measured, ok))
    for backend in backends:
        measured, ok = get_p99(runs, backend, 64, ISSUE24_GET_P99_MS)
        targets.append((
            f"Issue 24: {names[backend]} `GET /books/{{id}}` p99 < {ISSUE24_GET_P99_MS:g} ms "
            f"at 64 connections", measured, ok))
    mine = of_server(runs, "bookshelf")
    peaks = peak_rss(mine, meta, backends)
    if peaks:
        ok = all(v < ISSUE24_RSS_MIB for v in peaks.values())
        measured = ", ".join(f"{b}: {v:.1f} MiB" for b, v in peaks.items())
    else:
        ok, measured = None, "-"
    targets.append((f"Issue 24: server peak RSS (VmHWM) < {ISSUE24_RSS_MIB:g} MiB", measured, ok))
    writes = [r for r in mine if r.scenario == "post" and r.conns == 64]
    lost = [r for r in writes if r.books_added is None or r.books_added < r.requests - r.status]
    if writes:
        ok = not lost and not any(r.status or r.timeout for r in writes)
        measured = "; ".join(
            f"{r.backend}: {r.requests - r.status:,} answered 201, {r.books_added or 0:,} rows added, "
            f"{r.status} non-2xx, {r.timeout} timeouts" for r in writes)
    else:
        ok, measured = None, "-"
    targets.append((
        "Issue 24: nothing lost at 64 connections (`POST /books`: rows added ≥ 201s answered, "
        "no non-2xx, no timeouts)", measured, ok))
    return targets


def disturbed_runs(runs: list[Run], meta: dict[str, str]) -> list[str]:
    cores = int(meta.get("nproc", "0") or 0) or 1
    return [run_name(r) for r in runs
            if (other_cpu(r, cores) or 0.0) >= DISTURBED_CORES]


def fmt_cpu(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def fmt_other(run: Run, cores: int) -> str:
    x = other_cpu(run, cores)
    if x is None:
        return "-"
    return f"{x:.2f} ⚠" if x >= DISTURBED_CORES else f"{x:.2f}"


def backends_of(runs: list[Run]) -> list[str]:
    seen: list[str] = []
    for r in runs:
        if r.backend not in seen:
            seen.append(r.backend)
    return seen


def render(runs: list[Run], meta: dict[str, str]) -> str:
    out = []
    w = out.append
    w("# bookshelf benchmark results")
    w("")
    w("Written by `bench/run.sh` (see the top of that script for what it does "
      "and the variables it reads). Re-running it overwrites this file.")
    w("")
    w(f"- Date: {meta.get('date', '?')}")
    w(f"- Machine: {meta.get('nproc', '?')} cores (`nproc`), {meta.get('cpu', '?')}, "
      f"{meta.get('mem', '?')} RAM, kernel {meta.get('kernel', '?')}, "
      f"cpuidle {meta.get('idle', '?')}")
    built = f"; the binary was built from {meta['binary_commit']}" if meta.get("binary_commit") else ""
    w(f"- Commit: `{meta.get('commit', '?')}` (the repository's HEAD when the run started{built})")
    w(f"- Binary: `{meta.get('binary', '?')}` ({meta.get('binary_info', '?')})")
    w(f"- Command: `{meta.get('command', '?')}`")
    w(f"- Load: `{meta.get('wrk_version', 'wrk')}` on 127.0.0.1, "
      f"{meta.get('duration', '?')} s per run, connections {meta.get('connections', '?')}, "
      f"wrk threads = min(connections, {meta.get('threads', '?')}), "
      f"client timeout {meta.get('wrk_timeout', '?')}")
    w(f"- Server: {meta.get('server_env', '?')}")
    w(f"- Data: {meta.get('books', '?')} books with {meta.get('reviews_per_book', '?')} "
      f"reviews each, inserted with SQL after the server applied its migrations")
    if meta.get("peer_binary"):
        if meta.get("peer_order") == "alternated":
            how = ("up beside bookshelf on the same database, each of its runs right before or "
                   "after bookshelf's run of the same scenario and connections (which goes first "
                   "alternates from pair to pair), only one server loaded at a time")
        else:
            how = "run on the same database after bookshelf stopped"
        w(f"- Peer: `{meta['peer_binary']}` ({meta.get('peer_info', '?')}), axum 0.8 + sqlx 0.8 "
          f"(bench/peer), {meta.get('peer_env', '?')}; scenarios {meta.get('peer_scenarios', '?')}, "
          f"{how}")
    if meta.get("pgbench_version"):
        w(f"- pgbench: `{meta['pgbench_version']}`, scripts {meta.get('pgbench_scripts', '?')} "
          f"(bench/pgbench), `-M prepared -c {meta.get('pgbench_clients', '?')} "
          f"-j {meta.get('pgbench_threads', '?')}`, {meta.get('duration', '?')} s each, "
          f"after the peer, with no HTTP server running")
    if meta.get("note"):
        w(f"- Note: {meta['note']}")
    w("")

    w("## Targets (issues 5, 12 and 24)")
    w("")
    w("| target | measured | verdict |")
    w("|---|---|---|")
    for desc, measured, ok in (evaluate(runs, meta) + evaluate_issue12(runs)
                               + evaluate_issue24(runs, meta)):
        w(f"| {desc} | {measured} | {verdict(ok)} |")
    w("")
    disturbed = disturbed_runs(runs, meta)
    if disturbed:
        w(f"⚠ {len(disturbed)} of {len(runs)} runs had other processes using "
          f"≥ {DISTURBED_CORES} cores beside the server and wrk: "
          + ", ".join(disturbed) + ". Their numbers are lower than on a quiet machine.")
        w("")

    cores = int(meta.get("nproc", "0") or 0) or 1
    for backend in backends_of(runs):
        hwm = meta.get(f"hwm_kb_{backend}")
        w(f"## {backend}")
        w("")
        if hwm:
            w(f"Server peak RSS over the whole pass (VmHWM): {int(hwm) / 1024:.1f} MiB. "
              f"Database: {meta.get(f'db_{backend}', '?')}.")
            w("")
        w_runs_table(w, of_server(runs, "bookshelf"), backend, cores)
        peer_runs = [r for r in of_server(runs, "peer") if r.backend == backend]
        if peer_runs:
            w_peer_comparison(w, runs, peer_runs, backend, meta)
        pgbench_runs = [r for r in of_server(runs, "pgbench") if r.backend == backend]
        if pgbench_runs:
            w_pgbench(w, runs, pgbench_runs, backend, cores)

    w("## How to read this")
    w("")
    w("- *req/s* is completed responses / wall time of the run, as counted by wrk; "
      "*% of /health* compares with the same binary's `/health` at the same "
      "connection count in the same pass (the framework's ceiling on this machine).")
    w("- *non-2xx* is wrk's `summary.errors.status` (responses with status ≥ 400); "
      "*socket errors* are wrk's connect/read/write errors (reads and writes cut "
      "when a run ends are counted there too).")
    w("- *CPU* columns are cores used on average during the run (user+system CPU "
      "time / wall time; the machine has "
      f"{cores} cores): the server process; wrk; *db* = the PostgreSQL server's "
      "processes (PostgreSQL pass only); *irq* = hardware and software "
      "interrupts (the loopback TCP traffic is mostly handled there); *other* = "
      "every other process and kernel thread, plus time stolen by the hypervisor; "
      "*idle* = cores left unused (exact; the other columns can add up to a "
      "little more than the cores, as part of the interrupt time is also charged "
      "to the process it interrupted). A server that leaves cores *idle* while "
      "latency grows is waiting (locks, sleeps, I/O), not CPU-bound. A run with "
      f"*other* ≥ {DISTURBED_CORES} cores is marked ⚠: something else competed "
      "for the CPU, so its numbers are low.")
    w("- *peak RSS* is the highest VmRSS of the server sampled every 0.1 s during the run.")
    w("- *books added* (write scenarios) is the change in `count(*)` of books across "
      "the run; it can exceed the 201s wrk counted by the requests still in flight "
      "when wrk stopped, and should never be lower than them.")
    w("- wrk and the server share the machine's cores, so absolute numbers are "
      "lower than with a separate load generator; the ratios are what the "
      "targets are about.")
    if of_server(runs, "peer"):
        w("- *peer* is bench/peer, the same routes written with axum 0.8 + sqlx 0.8 "
          "as their documentation shows (tokio multi-thread runtime, a pool of the "
          "backend's own driver of the same size, statements prepared and cached per "
          "connection; by default no ping on checkout, as bookshelf; the same SQLite "
          "settings: WAL, foreign keys, busy timeout 5 s, synchronous = FULL; on "
          "SQLite its writes go by default through one connection of their own, as "
          "bookshelf's go through its writer thread's, but each commits alone; the "
          "*Peer* line above gives its settings). "
          + ("It runs on the same database beside bookshelf, each of its runs right "
             "before or after bookshelf's run of the same scenario and connections, "
             "only one of the two loaded at a time, and is warmed up the same way. "
             if meta.get("peer_order") == "alternated" else
             "It runs on the same database right after bookshelf's pass, alone on "
             "the machine, and is warmed up the same way. ")
          + "Its list counts every row (`SELECT count(*)`). "
          "*bookshelf / peer* > 1 means bookshelf served more requests per second.")
    if of_server(runs, "pgbench"):
        w("- *pgbench* runs bookshelf's SQL statements (bench/pgbench) straight on "
          f"PostgreSQL, prepared, with {meta.get('pgbench_clients', '8')} clients "
          "(bookshelf's pool has 8 connections by default) "
          "and no HTTP in between: PostgreSQL's limit for those statements on this "
          "machine (pgbench still shares the cores with PostgreSQL, as bookshelf "
          "does). Its *avg* is pgbench's \"latency average\"; its percentiles come "
          "from its per-transaction log (`--log`, every transaction); *failed* is "
          "pgbench's failed transactions.")
    w("")
    if meta.get("analysis_file"):
        try:
            with open(meta["analysis_file"]) as f:
                w(f.read().rstrip("\n"))
                w("")
        except OSError:
            pass
    return "\n".join(out)


ROW_HEADER = (
    "| scenario | conns | req/s | % of /health | p50 ms | p99 ms | max ms "
    "| non-2xx | timeouts | socket errors | CPU: server | CPU: wrk | CPU: db | CPU: irq "
    "| CPU: other | CPU: idle | peak RSS MiB | books added |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")


def w_runs_table(w, runs: list[Run], backend: str, cores: int) -> None:
    """The table of every run of one server (bookshelf's or the peer's:
    `runs` holds that server's runs only) on one backend."""
    w(ROW_HEADER)
    conns_seen = sorted({r.conns for r in runs if r.backend == backend})
    for scenario in SCENARIO_ORDER:
        for conns in conns_seen:
            r = next((x for x in runs if (x.backend, x.scenario, x.conns) == (backend, scenario, conns)), None)
            if r is None:
                continue
            h = next((x for x in runs if (x.backend, x.scenario, x.conns) == (backend, "health", conns)), None)
            share = pct(r.rps / h.rps) if h and h.rps > 0 else "-"
            w(f"| {SCENARIO_LABELS.get(scenario, scenario)} | {r.conns} | {r.rps:,.0f} "
              f"| {share} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.max_ms:.1f} "
              f"| {r.status} | {r.timeout} | {r.socket_errors} "
              f"| {r.server_cpu:.2f} | {fmt_cpu(r.wrk_cpu)} | {fmt_cpu(r.db_cpu)} | {r.irq:.2f} "
              f"| {fmt_other(r, cores)} | {r.idle:.2f} "
              f"| {r.peak_rss_mib:.1f} "
              f"| {'' if r.books_added is None else f'{r.books_added:,}'} |")
    w("")


def w_peer_comparison(w, runs: list[Run], peer_runs: list[Run], backend: str,
                      meta: dict[str, str]) -> None:
    """bookshelf and the peer side by side, then every run of the peer."""
    cores = int(meta.get("nproc", "0") or 0) or 1
    w(f"### {backend}: bookshelf and the peer (axum + sqlx)")
    w("")
    w("| scenario | conns | bookshelf req/s | peer req/s | bookshelf / peer "
      "| bookshelf p99 ms | peer p99 ms | bookshelf CPU | peer CPU | bookshelf non-2xx | peer non-2xx |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for scenario in SCENARIO_ORDER:
        for conns in sorted({r.conns for r in peer_runs}):
            p = find(peer_runs, backend, scenario, conns, "peer")
            if p is None:
                continue
            b = find(runs, backend, scenario, conns)
            ratio = f"{b.rps / p.rps:.2f}×" if b and p.rps > 0 else "-"
            w(f"| {SCENARIO_LABELS.get(scenario, scenario)} | {conns} "
              f"| {f'{b.rps:,.0f}' if b else '-'} | {p.rps:,.0f} | {ratio} "
              f"| {f'{b.p99_ms:.2f}' if b else '-'} | {p.p99_ms:.2f} "
              f"| {f'{b.server_cpu:.2f}' if b else '-'} | {p.server_cpu:.2f} "
              f"| {b.status + b.timeout if b else '-'} | {p.status + p.timeout} |")
    w("")
    hwm = meta.get(f"hwm_kb_peer_{backend}")
    w(f"The peer's runs in full"
      + (f" (peak RSS over its pass, VmHWM: {int(hwm) / 1024:.1f} MiB)" if hwm else "") + ":")
    w("")
    w_runs_table(w, peer_runs, backend, cores)


def w_pgbench(w, runs: list[Run], pgbench_runs: list[Run], backend: str, cores: int) -> None:
    """pgbench's runs, and bookshelf's (and the peer's) req/s as a share of
    pgbench's tps for the same statement."""
    w(f"### {backend}: pgbench, PostgreSQL's limit for the same statements")
    w("")
    w("| script | clients | tps | avg ms | p50 ms | p90 ms | p99 ms | max ms | failed "
      "| CPU: pgbench | CPU: db | CPU: irq | CPU: other | CPU: idle | rows added |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in pgbench_runs:
        added = f"{r.requests:,}" if r.scenario == "insert" else ""
        w(f"| {PGBENCH_LABELS.get(r.scenario, r.scenario)} | {r.conns} | {r.rps:,.0f} "
          f"| {fmt_cpu(r.avg_ms)} | {r.p50_ms:.2f} | {r.p90_ms:.2f} | {r.p99_ms:.2f} | {r.max_ms:.1f} "
          f"| {r.status} | {fmt_cpu(r.wrk_cpu)} | {fmt_cpu(r.db_cpu)} | {r.irq:.2f} "
          f"| {fmt_other(r, cores)} | {r.idle:.2f} | {added} |")
    w("")
    w("bookshelf's (and the peer's) req/s as a share of pgbench's tps for the same statement:")
    w("")
    w("| scenario | conns | pgbench tps | bookshelf req/s | bookshelf % of pgbench | peer req/s | peer % of pgbench |")
    w("|---|---:|---:|---:|---:|---:|---:|")
    conns_seen = sorted({r.conns for r in runs if r.backend == backend and r.server != "pgbench"})
    for p in pgbench_runs:
        scenario = PGBENCH_SCENARIO.get(p.scenario)
        if scenario is None or p.rps <= 0:
            continue
        for conns in conns_seen:
            b = find(runs, backend, scenario, conns)
            peer = find(runs, backend, scenario, conns, "peer")
            if b is None and peer is None:
                continue
            w(f"| {SCENARIO_LABELS[scenario]} | {conns} | {p.rps:,.0f} "
              f"| {f'{b.rps:,.0f}' if b else '-'} | {pct(b.rps / p.rps) if b else '-'} "
              f"| {f'{peer.rps:,.0f}' if peer else '-'} | {pct(peer.rps / p.rps) if peer else '-'} |")
    w("")


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        runs = load_runs(argv[1])
        meta = load_meta(argv[2])
    except (OSError, ValueError) as e:
        print(f"report.py: {e}", file=sys.stderr)
        return 2
    with open(argv[3], "w") as f:
        f.write(render(runs, meta))
    print("Targets (issue 5):")
    for desc, measured, ok in evaluate(runs, meta):
        mark = {True: "met   ", False: "MISSED", None: "n/a   "}[ok]
        print(f"  [{mark}] {desc.replace('`', '')}: {measured}")
    print("Targets (issue 12):")
    for desc, measured, ok in evaluate_issue12(runs):
        mark = {True: "met   ", False: "MISSED", None: "n/a   "}[ok]
        print(f"  [{mark}] {desc.removeprefix('Issue 12: ').replace('`', '')}: {measured}")
    print("Targets (issue 24):")
    for desc, measured, ok in evaluate_issue24(runs, meta):
        mark = {True: "met   ", False: "MISSED", None: "n/a   "}[ok]
        print(f"  [{mark}] {desc.removeprefix('Issue 24: ').replace('`', '')}: {measured}")
    disturbed = disturbed_runs(runs, meta)
    if disturbed:
        print(f"  {len(disturbed)} run(s) disturbed by other CPU load: {', '.join(disturbed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
