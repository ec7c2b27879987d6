#!/usr/bin/env python3
"""Helpers of the reliability checks (Python 3.11 standard library only).

Subcommands (see --help of each):
  wait-ready   poll GET /ready until 200; print the seconds it took
  load         HTTP load from threads on keep-alive connections; JSON summary
  count        rows in the books table (SQLite file or postgres:// URL)
  sqlite-check integrity_check, foreign_key_check and acknowledged ids
  db-has-ids   every acknowledged id is a row of books (SQLite or PostgreSQL)
  hold-lock    hold a SQLite file write-locked (BEGIN EXCLUSIVE) for a while
  pool-probe   the requests of the pool-exhaustion check, timed
  recovery     GET a path until it answers 200; PASS if soon enough after an event
  analyze      check a load's failed requests against event times
  proxy        TCP proxy to PostgreSQL that can simulate an outage (SIGUSR1/2)
  hostile      the hostile-input requests; prints PASS/FAIL lines

Lines printed as "PASS ..." / "FAIL ..." are counted by common.sh's py_checks.
Only 127.0.0.1 is ever contacted.
"""

import argparse
import http.client
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse


def split_base(base):
    u = urllib.parse.urlsplit(base)
    assert u.hostname == "127.0.0.1", "only 127.0.0.1 is allowed"
    return u.hostname, u.port


def request(base, method, path, body=None, headers=None, timeout=10):
    """One request on a fresh connection: (status, body bytes, seconds)."""
    host, port = split_base(base)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    hdrs = {"Connection": "close"}
    if body is not None and not isinstance(body, (bytes, bytearray)):
        body = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    hdrs.update(headers or {})
    t0 = time.monotonic()
    try:
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, data, time.monotonic() - t0
    finally:
        conn.close()


def percentile(sorted_values, p):
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, int(round(p / 100 * (len(sorted_values) - 1)))))
    return sorted_values[k]


# --------------------------------------------------------------------------
def cmd_wait_ready(a):
    since = a.since if a.since else time.time()
    deadline = time.time() + a.timeout
    while time.time() < deadline:
        if a.pid and not os.path.exists(f"/proc/{a.pid}"):
            print(f"server process {a.pid} exited", file=sys.stderr)
            return 1
        try:
            status, _, _ = request(a.base, "GET", "/ready", timeout=2)
            if status == 200:
                print(f"{time.time() - since:.3f}")
                return 0
        except OSError:
            pass
        time.sleep(0.01)
    print(f"not ready after {a.timeout}s", file=sys.stderr)
    return 1


# --------------------------------------------------------------------------
class Load:
    """Threads, each with one keep-alive connection, sending requests."""

    def __init__(self, a):
        self.a = a
        self.host, self.port = split_base(a.base)
        self.lock = threading.Lock()
        self.next_n = 0
        self.stop = threading.Event()
        self.statuses = {}
        self.conn_errors = 0
        self.error_samples = []
        self.latencies = []
        self.events = []  # (t_start, t_end, kind, status or -1)
        self.acked = open(a.acked, "a", buffering=1) if a.acked else None
        self.acked_reviews = (open(a.acked_reviews, "a", buffering=1)
                              if a.acked_reviews else None)
        self.t0 = time.time()

    def take(self):
        with self.lock:
            if self.a.total and self.next_n >= self.a.total:
                return None
            n = self.next_n
            self.next_n += 1
            return n

    def record(self, kind, status, t_start, t_end, error=None):
        with self.lock:
            if status is None:
                self.conn_errors += 1
                if len(self.error_samples) < 5:
                    self.error_samples.append(f"{kind}: {error!r}")
            else:
                self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1
                self.latencies.append(t_end - t_start)
            if self.a.events:
                self.events.append((t_start - self.t0, t_end - self.t0, kind,
                                    -1 if status is None else status))

    def worker(self, index):
        conn = None
        kinds = self.a.kinds.split(",")
        i = 0
        last_book = None
        while not self.stop.is_set():
            if self.a.duration and time.time() - self.t0 >= self.a.duration:
                break
            if self.a.stop_file and os.path.exists(self.a.stop_file):
                break
            n = self.take()
            if n is None:
                break
            kind = kinds[i % len(kinds)]
            i += 1
            if kind == "review" and last_book is None:
                kind = "post"
            if conn is None:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=self.a.timeout)
            if kind == "post":
                body = json.dumps({
                    "title": f"{self.a.prefix}-{n}",
                    "author": f"load {index}",
                    "price": 9.5,
                    "rating": 1 + n % 5,
                }).encode()
                method, path, headers = "POST", "/books", {"Content-Type": "application/json"}
            elif kind == "review":
                body = json.dumps({"author": f"load {index}", "content": f"{self.a.prefix}-{n}"})
                method, path = "POST", f"/books/{last_book}/reviews"
                headers = {"Content-Type": "application/json"}
                body = body.encode()
            elif kind == "list":
                body, method, path, headers = None, "GET", "/books?limit=5", {}
            elif kind == "get":
                book = 1 + n % self.a.get_ids
                body, method, path, headers = None, "GET", f"/books/{book}", {}
            else:
                raise SystemExit(f"unknown kind {kind}")
            t_start = time.time()
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                status = resp.status
                if resp.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                self.record(kind, None, t_start, time.time(), e)
                try:
                    conn.close()
                except Exception:
                    pass
                conn = None
                if self.a.stop_on_conn_error:
                    break
                time.sleep(0.02)
                continue
            t_end = time.time()
            if kind == "post" and status == 201:
                book_id = last_book = json.loads(data)["id"]
                if self.acked:
                    with self.lock:
                        self.acked.write(f"{book_id}\n")
            if kind == "review" and status == 201:
                review_id = json.loads(data)["id"]
                if self.acked_reviews:
                    with self.lock:
                        self.acked_reviews.write(f"{review_id}\n")
            self.record(kind, status, t_start, t_end)
            if self.a.sleep:
                time.sleep(self.a.sleep)
        if conn is not None:
            conn.close()

    def run(self):
        signal.signal(signal.SIGTERM, lambda *_: self.stop.set())
        signal.signal(signal.SIGUSR1, lambda *_: self.stop.set())
        threads = [threading.Thread(target=self.worker, args=(i,), daemon=True)
                   for i in range(self.a.conns)]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.2)
        elapsed = time.time() - self.t0
        for f in (self.acked, self.acked_reviews):
            if f:
                f.close()
        lat = sorted(self.latencies)
        done = sum(self.statuses.values())
        summary = {
            "requests": done,
            "statuses": self.statuses,
            "conn_errors": self.conn_errors,
            "error_samples": self.error_samples,
            "elapsed_s": round(elapsed, 3),
            "rps": round(done / elapsed, 1) if elapsed else 0,
            "p50_ms": round(percentile(lat, 50) * 1000, 1),
            "p99_ms": round(percentile(lat, 99) * 1000, 1),
            "max_ms": round((lat[-1] if lat else 0) * 1000, 1),
            "t0": self.t0,
        }
        if self.a.events:
            with open(self.a.events, "w") as f:
                json.dump(self.events, f)
        out = json.dumps(summary)
        if self.a.summary:
            with open(self.a.summary, "w") as f:
                f.write(out + "\n")
        print(out)
        return 0


def cmd_load(a):
    return Load(a).run()


# --------------------------------------------------------------------------
def psql(url, sql):
    u = urllib.parse.urlsplit(url)
    db = u.path.lstrip("/")
    out = subprocess.run(
        ["psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
         "-U", "postgres", "-d", db, "-c", sql],
        check=True, capture_output=True, text=True)
    return out.stdout


def sqlite_path(url):
    for prefix in ("sqlite://", "sqlite:"):
        if url.startswith(prefix):
            return url[len(prefix):]
    return url


def row_ids(url, table="books"):
    if url.startswith(("postgres://", "postgresql://")):
        return {int(x) for x in psql(url, f"SELECT id FROM {table}").split()}
    con = sqlite3.connect(f"file:{sqlite_path(url)}?mode=ro", uri=True, timeout=10)
    try:
        return {row[0] for row in con.execute(f"SELECT id FROM {table}")}
    finally:
        con.close()


def cmd_count(a):
    if a.db.startswith(("postgres://", "postgresql://")):
        print(int(psql(a.db, "SELECT count(*) FROM books").strip()))
    else:
        con = sqlite3.connect(f"file:{sqlite_path(a.db)}?mode=ro", uri=True, timeout=10)
        print(con.execute("SELECT count(*) FROM books").fetchone()[0])
        con.close()
    return 0


def read_acked(path):
    ids = []
    if path and os.path.exists(path):
        with open(path) as f:
            ids = [int(line) for line in f if line.strip()]
    return ids


def cmd_db_has_ids(a):
    label = a.label + ": " if a.label else ""
    for table, path in (("books", a.acked), ("reviews", a.acked_reviews)):
        if not path:
            continue
        acked = read_acked(path)
        present = row_ids(a.db, table)
        missing = sorted(set(acked) - present)
        what = "book" if table == "books" else "review"
        if missing:
            print(f"FAIL {label}{len(missing)} of {len(acked)} acknowledged {what} ids missing "
                  f"from the database (first: {missing[:10]})")
        else:
            print(f"PASS {label}all {len(acked)} acknowledged {what} ids are in the database "
                  f"({len(present)} rows)")
    return 0


def cmd_sqlite_check(a):
    label = a.label + ": " if a.label else ""
    # Opening read-write lets SQLite recover the WAL left by the killed server,
    # as the next server would.
    con = sqlite3.connect(a.db, timeout=10)
    try:
        integrity = [r[0] for r in con.execute("PRAGMA integrity_check")]
        fk = con.execute("PRAGMA foreign_key_check").fetchall()
        present = {r[0] for r in con.execute("SELECT id FROM books")}
        reviews = {r[0] for r in con.execute("SELECT id FROM reviews")}
    finally:
        con.close()
    acked = read_acked(a.acked)
    missing = sorted(set(acked) - present)
    acked_reviews = read_acked(a.acked_reviews)
    missing_reviews = sorted(set(acked_reviews) - reviews)
    if integrity == ["ok"]:
        print(f"PASS {label}integrity_check = ok")
    else:
        print(f"FAIL {label}integrity_check = {integrity[:5]}")
    if not fk:
        print(f"PASS {label}foreign_key_check is empty")
    else:
        print(f"FAIL {label}foreign_key_check: {fk[:5]}")
    if missing:
        print(f"FAIL {label}{len(missing)} of {len(acked)} acknowledged ids missing "
              f"(first: {missing[:10]})")
    else:
        print(f"PASS {label}all {len(acked)} acknowledged book ids present ({len(present)} rows)")
    if a.acked_reviews:
        if missing_reviews:
            print(f"FAIL {label}{len(missing_reviews)} of {len(acked_reviews)} acknowledged "
                  f"review ids missing (first: {missing_reviews[:10]})")
        else:
            print(f"PASS {label}all {len(acked_reviews)} acknowledged review ids present "
                  f"({len(reviews)} rows)")
    return 0


def cmd_hold_lock(a):
    con = sqlite3.connect(a.db, timeout=10, isolation_level=None)
    con.execute("BEGIN EXCLUSIVE")
    t_locked = time.time()
    with open(a.ready_file + ".tmp", "w") as f:
        f.write(f"{t_locked}\n")
    os.rename(a.ready_file + ".tmp", a.ready_file)
    time.sleep(a.seconds)
    con.execute("COMMIT")
    t_released = time.time()
    con.close()
    if a.release_file:
        with open(a.release_file + ".tmp", "w") as f:
            f.write(f"{t_released}\n")
        os.rename(a.release_file + ".tmp", a.release_file)
    print(json.dumps({"locked": t_locked, "released": t_released}))
    return 0


# --------------------------------------------------------------------------
def parallel(n, fn):
    """Runs fn(i) for i in range(n) at once; returns the results in order."""
    results = [None] * n

    def run(i):
        try:
            results[i] = fn(i)
        except Exception as e:  # noqa: BLE001 - recorded as a result
            results[i] = e

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def timed_post(base, title, timeout=15):
    t0 = time.time()
    try:
        status, _, _ = request(base, "POST", "/books", {
            "title": title, "author": "pool", "price": 1.0, "rating": 3}, timeout=timeout)
    except (OSError, http.client.HTTPException) as e:
        return (repr(e), t0, time.time())
    return (status, t0, time.time())


def cmd_pool_probe(a):
    """Sends the pool-exhaustion check's requests; prints PASS/FAIL lines.

    A separate hold-lock process holds the SQLite write lock from the time in
    --ready-file until it writes --release-file. Wave 1: N concurrent POSTs
    just after the lock is taken; wave 2: N more, later, while wave 1's
    first writes still wait (on the lock, or in the writer's queue); then, after the release, N
    more that must all succeed within --recover seconds of it.
    """
    base = a.base
    with open(a.ready_file) as f:
        t_locked = float(f.read())

    def launch(n, prefix):
        out = [None] * n

        def run(i):
            out[i] = timed_post(base, f"{prefix}-{i}", timeout=a.seconds + 20)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        return out, threads

    wave1, th1 = launch(a.n, "pool-w1")
    time.sleep(max(0.0, t_locked + a.wave2_at - time.time()))
    lock_held_w2 = not os.path.exists(a.release_file)
    wave2, th2 = launch(a.n, "pool-w2")
    # /health (no database) stays fast while the pool is exhausted.
    t0 = time.time()
    try:
        hs, _, _ = request(base, "GET", "/health", timeout=5)
    except OSError as e:
        hs = repr(e)
    health_s = time.time() - t0
    for t in th1 + th2:
        t.join()

    def rel(t):
        return f"+{t - t_locked:.2f}s"

    def describe(wave):
        return ", ".join(f"{st}@{e - s:.2f}s" for st, s, e in sorted(wave, key=lambda w: w[2]))

    deadline = time.time() + a.seconds + 15
    while not os.path.exists(a.release_file) and time.time() < deadline:
        time.sleep(0.005)
    if not os.path.exists(a.release_file):
        print("FAIL the lock was never released")
        return 0
    with open(a.release_file) as f:
        t_released = float(f.read())
    print(f"lock taken at +0.00s, released at {rel(t_released)}")
    fast = a.fail_fast
    for name, wave, held in (("wave 1", wave1, True), ("wave 2", wave2, lock_held_w2)):
        print(f"{name} sent at {rel(min(w[1] for w in wave))}: {describe(wave)}")
        bad = [w for w in wave if w[0] not in (201, 503)]
        n503 = [w for w in wave if w[0] == 503]
        n201 = [w for w in wave if w[0] == 201]
        if bad:
            print(f"FAIL {name}: answers other than 201/503: {[w[0] for w in bad]}")
        else:
            print(f"PASS {name}: every answer is 201 or 503 ({len(n503)} x 503, {len(n201)} x 201)")
        if not held:
            print(f"{name} was sent after the release: no 503 expected")
        elif not n503:
            print(f"FAIL {name}: no 503 although {a.n} writers share a pool of {a.pool}")
        elif any(w[2] - w[1] > fast for w in n503):
            slow = [w for w in n503 if w[2] - w[1] > fast]
            print(f"FAIL {name}: {len(slow)} of the 503s took over {fast}s "
                  f"(slowest {max(w[2] - w[1] for w in slow):.2f}s)")
        else:
            print(f"PASS {name}: the {len(n503)} requests without a connection failed fast with "
                  f"503 (slowest {max(w[2] - w[1] for w in n503):.2f}s <= {fast}s, all before "
                  f"the release at {rel(t_released)})")
        # The writers that did get a connection wait for the lock and then commit.
        late = [w for w in n201 if w[2] > t_released + a.recover]
        if late:
            print(f"FAIL {name}: {len(late)} 201s came over {a.recover}s after the release")
    if hs == 200 and health_s < 0.5:
        print(f"PASS GET /health (no database) answers while the pool is exhausted "
              f"({health_s * 1000:.0f} ms)")
    else:
        print(f"FAIL GET /health while the pool is exhausted: {hs} in {health_s:.2f}s")

    after = parallel(a.n, lambda i: timed_post(base, f"pool-after-{i}"))
    sts = [w[0] for w in after]
    last_end = max(w[2] for w in after)
    print(f"after the release (sent at {rel(min(w[1] for w in after))}): {describe(after)}")
    if all(s == 201 for s in sts) and last_end - t_released <= a.recover:
        print(f"PASS all {a.n} POSTs sent after the release succeeded, the last "
              f"{last_end - t_released:.2f}s after the release (<= {a.recover}s)")
    else:
        print(f"FAIL after the release: statuses {sts}, the last answered "
              f"{last_end - t_released:.2f}s after the release (limit {a.recover}s)")
    more = parallel(a.n, lambda i: timed_post(base, f"pool-more-{i}"))
    if all(w[0] == 201 for w in more):
        print(f"PASS a further {a.n} concurrent POSTs all 201 "
              f"(slowest {max(w[2] - w[1] for w in more):.2f}s)")
    else:
        print(f"FAIL a further burst: {[w[0] for w in more]}")
    return 0


def cmd_recovery(a):
    """GET each --path (in parallel, on fresh connections) until it answers
    200; PASS for each that does within --limit seconds of --since."""
    t0 = a.since or time.time()
    results = {}

    def probe(path):
        seen = []
        while True:
            try:
                status, _, _ = request(a.base, "GET", path, timeout=a.limit + 3)
            except (OSError, http.client.HTTPException) as e:
                status = type(e).__name__
            now = time.time()
            if not seen or seen[-1] != status:
                seen.append(status)
            if status == 200 or now - t0 > a.limit + 5:
                results[path] = (status, now - t0, seen)
                return
            time.sleep(0.02)

    threads = [threading.Thread(target=probe, args=(p,)) for p in a.path]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for path in a.path:
        status, secs, seen = results[path]
        if status == 200:
            ok = secs <= a.limit
            print(f"{'PASS' if ok else 'FAIL'} {a.label}GET {path} answered 200 "
                  f"{secs:.3f}s after the event (limit {a.limit}s; answers seen: {seen})")
        else:
            print(f"FAIL {a.label}GET {path} not 200 {secs:.1f}s after the event "
                  f"(answers seen: {seen})")
    return 0


def cmd_analyze(a):
    """Checks a load's events against event times (--marks, epoch seconds):
    every failed request (non-2xx, or no answer) must have a status in
    --allowed and overlap [mark - before, mark + after] of some mark."""
    with open(a.summary) as f:
        t0 = json.loads(f.read().strip().splitlines()[-1])["t0"]
    with open(a.events) as f:
        events = json.load(f)
    # A mark is a moment "T" or a period "START:END" (epoch seconds).
    marks = []
    for m in a.marks.split(","):
        if m:
            start, _, end = m.partition(":")
            marks.append((float(start), float(end or start)))
    allowed = {int(x) for x in a.allowed.split(",") if x}
    failures = [e for e in events if not 200 <= e[3] < 300]
    outside, wrong = [], []
    per_mark = [0] * len(marks)
    for start, end, kind, status in failures:
        s, e = t0 + start, t0 + end
        hit = [i for i, (ms, me) in enumerate(marks) if s <= me + a.after and e >= ms - a.before]
        if hit:
            per_mark[hit[0]] += 1
        else:
            outside.append((round(s - t0, 3), kind, status))
        if status not in allowed:
            wrong.append((round(s - t0, 3), kind, status))
    ok_total = len(events) - len(failures)
    if a.max_latency:
        slow = [(round(e[0], 3), e[2], e[3], round(e[1] - e[0], 2)) for e in events
                if e[1] - e[0] > a.max_latency]
        slowest = max((e[1] - e[0] for e in events), default=0)
        if slow:
            print(f"FAIL {len(slow)} requests took over {a.max_latency}s: {slow[:10]}")
        else:
            print(f"PASS no request took over {a.max_latency}s (slowest {slowest:.2f}s)")
    from collections import Counter
    print(f"{len(events)} requests during the load: {ok_total} 2xx, failures "
          f"{dict(Counter(e[3] for e in failures))} (-1 = no answer); per event: {per_mark}")
    if wrong:
        print(f"FAIL {len(wrong)} failed requests had a status other than "
              f"{sorted(allowed)}: {wrong[:10]}")
    else:
        print(f"PASS every failed request ({len(failures)}) was a "
              f"{'/'.join(map(str, sorted(allowed)))}")
    if outside:
        print(f"FAIL {len(outside)} requests failed away from the events "
              f"(more than {a.after}s after / {a.before}s before one): {outside[:10]}")
    else:
        print(f"PASS every failure was within {a.after}s of an event")
    # Requests kept succeeding after the last event.
    if marks:
        after_last = [e for e in events if t0 + e[0] > marks[-1][1] + a.after]
        good = [e for e in after_last if 200 <= e[3] < 300]
        if after_last and len(good) == len(after_last):
            print(f"PASS all {len(after_last)} requests sent more than {a.after}s after the last "
                  f"event succeeded")
        else:
            print(f"FAIL after the last event: {len(good)} of {len(after_last)} requests succeeded")
    return 0


def cmd_proxy(a):
    """A TCP proxy 127.0.0.1:--port -> 127.0.0.1:--target that simulates a
    database outage: SIGUSR1 closes the listener and every proxied connection
    (new connections are refused), SIGUSR2 listens again. Each change is
    logged to stdout as "down EPOCH" / "up EPOCH", each connection proxied as
    "accept EPOCH". SIGTERM stops it."""
    import socket

    state = {"listener": None, "want": "up", "is": None, "stop": False}
    conns = set()
    lock = threading.Lock()

    def pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            with lock:
                conns.discard(src)
                conns.discard(dst)

    def accept_loop(listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", a.target), timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with lock:
                conns.update((client, upstream))
            print(f"accept {time.time()}", flush=True)
            threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=pump, args=(upstream, client), daemon=True).start()

    def go_up():
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", a.port))
        listener.listen(128)
        state["listener"] = listener
        threading.Thread(target=accept_loop, args=(listener,), daemon=True).start()

    def go_down():
        listener = state["listener"]
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
            state["listener"] = None
        with lock:
            victims = list(conns)
            conns.clear()
        for s in victims:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass

    signal.signal(signal.SIGUSR1, lambda *_: state.update(want="down"))
    signal.signal(signal.SIGUSR2, lambda *_: state.update(want="up"))
    signal.signal(signal.SIGTERM, lambda *_: state.update(stop=True))
    while not state["stop"]:
        if state["want"] != state["is"]:
            (go_up if state["want"] == "up" else go_down)()
            state["is"] = state["want"]
            print(f"{state['is']} {time.time()}", flush=True)
        time.sleep(0.002)
    go_down()
    return 0


# --------------------------------------------------------------------------
SQL_STRINGS = [
    "'; DROP TABLE books; --",
    "Robert'); DROP TABLE reviews;--",
    "\" OR \"1\"=\"1",
    "1' OR '1'='1' --",
    "x' UNION SELECT id, title FROM books --",
    "%_\\ LIKE '%' ESCAPE '\\'",
    "$1 ? :name @p1 ${x}",
    "/* comment */ SELECT pg_sleep(5); --",
    "'; SELECT sqlite_version(); ATTACH DATABASE '/tmp/x' AS x; --",
    "Ünïcödé ✓ 🙂 'quote' \"dq\" \\backslash",
]


def cmd_hostile(a):
    """Every request is tallied under a category; a category passes when none
    of its requests got a 5xx (or an unexpected status, where one is given)
    and its read-back comparisons held."""
    import socket
    from collections import Counter, OrderedDict

    base = a.base
    host, port = split_base(base)
    tally = OrderedDict()  # category -> {"statuses": Counter, "bad": [..], "n": int}
    cat = ["setup"]
    last = [time.monotonic()]

    def note(ok, name, status, detail=""):
        t = tally.setdefault(cat[0], {"statuses": Counter(), "bad": [], "n": 0, "s": 0.0})
        t["n"] += 1
        now = time.monotonic()
        t["s"] += now - last[0]
        last[0] = now
        t["statuses"][str(status)] += 1
        if not ok:
            t["bad"].append(f"{name}: {status}{detail}")

    def send(name, method, path, body=None, headers=None, expect=None):
        try:
            status, data, secs = request(base, method, path, body=body, headers=headers,
                                         timeout=a.timeout)
        except (OSError, http.client.HTTPException) as e:
            note(False, name, "no answer", f" ({e!r})")
            return None, b""
        ok = status < 500 and (expect is None or status in expect)
        want = f" (expected {'/'.join(map(str, expect))})" if expect else ""
        note(ok, name, status, want)
        return status, data

    def expect_true(name, cond, detail=""):
        note(bool(cond), name, "ok" if cond else "mismatch", detail)

    def raw(name, head, body=b"", expect=None):
        """Sends raw bytes (the body from a second thread, so a server that
        answers before reading it all is seen); a status < 500 passes, and so
        does a connection the server closes without answering."""
        try:
            sock = socket.create_connection((host, port), timeout=a.timeout)
        except OSError as e:
            note(False, name, "no connection", f" ({e!r})")
            return

        def pump():
            try:
                sock.sendall(head)
                for i in range(0, len(body), 65536):
                    sock.sendall(body[i:i + 65536])
            except OSError:
                pass

        sender = threading.Thread(target=pump, daemon=True)
        sender.start()
        reply = b""
        try:
            while b"\r\n" not in reply:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
        except TimeoutError:
            note(False, name, "no answer", f" in {a.timeout}s")
            return
        except OSError:
            pass
        finally:
            sock.close()
        sender.join(5)
        if not reply:
            note(True, name, "closed")
            return
        status = int(reply.split(b" ", 2)[1])
        ok = status < 500 and (expect is None or status in expect)
        note(ok, name, status, f" (expected {expect})" if expect else "")

    J = {"Content-Type": "application/json"}
    good = {"title": "t", "author": "a", "price": 1.0, "rating": 3}
    status, data = send("create a book", "POST", "/books", good, expect=[201])
    book = json.loads(data)["id"] if status == 201 else 1
    status, data = send("create a review", "POST", f"/books/{book}/reviews",
                        {"author": "r", "content": "c"}, expect=[201])
    review = json.loads(data)["id"] if status == 201 else 1

    # 1. Bodies over the limit (64 KiB).
    cat[0] = "bodies over the 64 KiB limit -> 413"
    big = json.dumps({**good, "description": "x" * (64 * 1024)}).encode()
    for method, path in (("POST", "/books"), ("PUT", f"/books/{book}"),
                         ("PATCH", f"/books/{book}"), ("POST", f"/books/{book}/reviews"),
                         ("PATCH", f"/reviews/{review}")):
        send(f"{method} {path} with {len(big)} bytes", method, path, big, J, [413])
    huge = b'{"title":"' + b"x" * (4 << 20) + b'"}'
    raw("POST /books with a 4 MiB body",
        b"POST /books HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(huge), huge, [413])
    chunk = b"y" * (200 * 1024)
    raw("POST /books chunked, 200 KiB, no Content-Length",
        b"POST /books HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        b"%x\r\n" % (len(chunk) + 10) + b'{"title":"' + chunk + b"\r\n0\r\n\r\n", [413])
    raw("POST /books, Content-Length says 10 GB",
        b"POST /books HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 10000000000\r\nConnection: close\r\n\r\n", b"{" * 70_000, [413])

    # 2. Deeply nested JSON.
    cat[0] = "deeply nested JSON -> 4xx"
    deep_cases = [
        ("100k '['", b"[" * 100_000, [413]),
        ("60k '[' (under the limit)", b"[" * 60_000, [400, 422]),
        ("10k nested objects", b'{"a":' * 10_000 + b"1" + b"}" * 10_000, [400, 422]),
        ("title = 30k '['", b'{"title":' + b"[" * 30_000, [400, 422]),
        ("balanced 10k '[' in description",
         b'{"title":"t","author":"a","price":1,"rating":3,"description":'
         + b"[" * 10_000 + b"]" * 10_000 + b"}", [400, 422]),
    ]
    for label, body, expect in deep_cases:
        send(f"POST /books, {label}", "POST", "/books", body, J, expect)
        send(f"PUT /books/{book}, {label}", "PUT", f"/books/{book}", body, J, expect)
        send(f"PATCH /books/{book}, {label}", "PATCH", f"/books/{book}", body, J, expect)
        send(f"POST /books/{book}/reviews, {label}", "POST", f"/books/{book}/reviews", body, J,
             expect)
        send(f"PATCH /reviews/{review}, {label}", "PATCH", f"/reviews/{review}", body, J, expect)

    # 3. Huge / negative limit and offset, and other odd query values.
    cat[0] = "huge or negative limit/offset, odd query values -> no 5xx"
    queries = [
        "limit=99999999999999999999", "offset=99999999999999999999", "offset=-1", "limit=-1",
        "limit=0", "limit=101", "offset=9223372036854775807",
        "offset=9223372036854775807&limit=100", "offset=9223372036854775808",
        "offset=-9223372036854775808", "offset=2147483648", "limit=1e3", "limit=NaN",
        "limit=0x10", "limit=%00", "limit=", "offset=" + "9" * 5000, "limit=1&limit=2",
        "sort=" + "x" * 1000, "sort=-", "sort=id%3BDROP%20TABLE%20books", "author=%FF%FE",
        "author=%00", "published=maybe", "author=" + "a" * 20000,
    ]
    for q in queries:
        shown = q if len(q) < 60 else q[:50] + f"...({len(q)} chars)"
        send(f"GET /books?{shown}", "GET", f"/books?{q}")
        if q.startswith(("limit", "offset")):
            send(f"GET /books/{book}/reviews?{shown}", "GET", f"/books/{book}/reviews?{q}")
    cat[0] = "out-of-range limit/offset -> 422"
    for q in ("limit=99999999999999999999", "offset=-1", "limit=-1", "limit=0", "limit=101",
              "offset=99999999999999999999", "offset=9223372036854775807", "offset=10001"):
        send(f"GET /books?{q}", "GET", f"/books?{q}", expect=[422])
    cat[0] = "deepest valid offset -> 200, empty page"
    st, got = send("GET /books?offset=10000", "GET", "/books?offset=10000&limit=100", expect=[200])
    if st == 200:
        expect_true("offset=10000 (the most allowed) gives an empty page",
                    json.loads(got)["items"] == [])

    # 4. Non-UTF-8 bodies and URLs.
    cat[0] = "non-UTF-8 and malformed bodies -> 400/422"
    for label, body in (
        ("invalid UTF-8 in title", b'{"title":"\xff\xfe\xfd","author":"a","price":1,"rating":3}'),
        ("lone surrogate escape", b'{"title":"\\ud800","author":"a","price":1,"rating":3}'),
        ("UTF-16 body", json.dumps(good).encode("utf-16")),
        ("Latin-1 body", '{"title":"caf\xe9","author":"a","price":1,"rating":3}'.encode("latin-1")),
        ("NUL in title", b'{"title":"a\\u0000b","author":"a","price":1,"rating":3}'),
        ("random bytes", bytes(range(256)) * 4),
    ):
        send(f"POST /books, {label}", "POST", "/books", body, J, [400, 422])
        send(f"PATCH /books/{book}, {label}", "PATCH", f"/books/{book}", body, J, [400, 422])
        send(f"POST /books/{book}/reviews, {label}", "POST", f"/books/{book}/reviews", body, J,
             [400, 422])
    cat[0] = "non-UTF-8 bytes in the URL -> no 5xx"
    for label, target in (("query", b"/books?author=\xff\xfe"), ("path", b"/books/\xff"),
                          ("reviews path", b"/reviews/\xc3\x28")):
        raw(f"GET with non-UTF-8 bytes in the {label}", b"GET " + target + b" HTTP/1.1\r\n"
            b"Host: 127.0.0.1\r\nConnection: close\r\n\r\n")
    cat[0] = "odd numbers, types and content types -> no 5xx"
    for label, body in (
        ("price 1e309", b'{"title":"t","author":"a","price":1e309,"rating":3}'),
        ("rating 1e100", b'{"title":"t","author":"a","price":1,"rating":1e100}'),
        ("rating 99999999999999999999",
         b'{"title":"t","author":"a","price":1,"rating":99999999999999999999}'),
        ("rating -2147483649", b'{"title":"t","author":"a","price":1,"rating":-2147483649}'),
        ("price NaN", b'{"title":"t","author":"a","price":NaN,"rating":3}'),
        ("price -0.0", b'{"title":"t","author":"a","price":-0.0,"rating":3}'),
        ("price 1e-320", b'{"title":"t","author":"a","price":1e-320,"rating":3}'),
        ("null body", b"null"),
        ("empty body", b""),
        ("array body", b"[]"),
        ("duplicate keys", b'{"title":"t","title":"u","author":"a","price":1,"rating":3}'),
    ):
        send(f"POST /books, {label}", "POST", "/books", body, J)
    send("POST /books, text/plain", "POST", "/books", json.dumps(good).encode(),
         {"Content-Type": "text/plain"})
    send("POST /books, no Content-Type", "POST", "/books", json.dumps(good).encode(), {})

    # 5. SQL in every string field: stored literally, read back equal.
    cat[0] = "SQL in every string field -> stored literally, read back equal"
    for i, s in enumerate(SQL_STRINGS):
        body = {"title": s, "author": s[:100], "price": 2.5, "rating": 4, "description": s}
        status, data = send(f"POST /books with SQL #{i}", "POST", "/books", body, expect=[201])
        if status != 201:
            continue
        bid = json.loads(data)["id"]
        st, got = send(f"GET /books/{bid} (SQL #{i})", "GET", f"/books/{bid}", expect=[200])
        if st == 200:
            g = json.loads(got)
            expect_true(f"SQL #{i} read back equal",
                        (g["title"], g["author"], g["description"]) == (s, s[:100], s))
        st, got = send(f"GET /books?author=<SQL #{i}>", "GET",
                       "/books?" + urllib.parse.urlencode({"author": s[:100], "limit": 100}),
                       expect=[200])
        if st == 200:
            g = json.loads(got)
            ids = [b["id"] for b in g["items"]]
            expect_true(f"author filter = SQL #{i} finds only literal matches",
                        bid in ids and all(b["author"] == s[:100] for b in g["items"]),
                        f" ({len(ids)} found)")
        rs = s[:50]
        st, got = send(f"POST /books/{bid}/reviews with SQL #{i}", "POST",
                       f"/books/{bid}/reviews", {"author": rs, "content": s}, expect=[201])
        if st == 201:
            r = json.loads(got)
            st2, got2 = send(f"GET /reviews/{r['id']}", "GET", f"/reviews/{r['id']}",
                             expect=[200])
            if st2 == 200:
                g = json.loads(got2)
                expect_true(f"review with SQL #{i} read back equal",
                            (g["author"], g["content"]) == (rs, s))
        for method in ("PATCH", "PUT"):
            new = s[::-1] if method == "PATCH" else s + " (put)"
            payload = {"title": new} if method == "PATCH" else {**body, "title": new}
            st, got = send(f"{method} /books/{bid} title = SQL #{i}", method, f"/books/{bid}",
                           payload, expect=[200])
            if st == 200:
                expect_true(f"{method} with SQL #{i} stored literally",
                            json.loads(got)["title"] == new)
    st, got = send("GET /books?limit=1 afterwards", "GET", "/books?limit=1", expect=[200])
    st, got = send(f"GET /books/{book}/reviews afterwards", "GET", f"/books/{book}/reviews",
                   expect=[200])

    # 6. Ids out of range.
    cat[0] = "ids out of range or malformed -> 404/422"
    E = [404, 422, 400]
    for bad in ("99999999999", "-1", "0", "2147483647", "2147483648", "-2147483648",
                "-2147483649", "9223372036854775808", "1.5", "abc", "%00", "1e3", "0x10",
                "%FF", "9" * 500):
        shown = bad if len(bad) < 30 else f"9x{len(bad)}"
        send(f"GET /books/{shown}", "GET", f"/books/{bad}", expect=E)
        send(f"PUT /books/{shown}", "PUT", f"/books/{bad}", good, expect=E)
        send(f"PATCH /books/{shown}", "PATCH", f"/books/{bad}", {"title": "x"}, expect=E)
        send(f"DELETE /books/{shown}", "DELETE", f"/books/{bad}", expect=E)
        send(f"GET /books/{shown}/reviews", "GET", f"/books/{bad}/reviews", expect=E)
        send(f"POST /books/{shown}/reviews", "POST", f"/books/{bad}/reviews",
             {"author": "r", "content": "c"}, expect=E + [409])
        send(f"GET /reviews/{shown}", "GET", f"/reviews/{bad}", expect=E)
        send(f"PATCH /reviews/{shown}", "PATCH", f"/reviews/{bad}", {"content": "x"}, expect=E)
        send(f"DELETE /reviews/{shown}", "DELETE", f"/reviews/{bad}", expect=E)

    # 7. Odd requests: long header, long path.
    cat[0] = "long header and path -> no 5xx"
    send("GET /books with a 60 KiB header", "GET", "/books", headers={"X-Long": "h" * 60_000})
    send("GET /books/<10 KiB path>", "GET", "/books/" + "a" * 10_000)

    total = 0
    n5xx = 0
    for name, t in tally.items():
        total += t["n"]
        n5xx += sum(n for s, n in t["statuses"].items() if s.isdigit() and int(s) >= 500)
        statuses = ", ".join(f"{s} x{n}" for s, n in sorted(t["statuses"].items()))
        if t["bad"]:
            print(f"FAIL {name}: {len(t['bad'])} of {t['n']} wrong")
            for b in t["bad"][:10]:
                print(f"        {b}")
        else:
            print(f"PASS {name}: {t['n']} ({statuses}) in {t['s']:.1f}s")
    print(f"{'PASS' if n5xx == 0 else 'FAIL'} {total} hostile requests in all, {n5xx} answered 5xx")
    return 0


# --------------------------------------------------------------------------
def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("wait-ready")
    s.add_argument("--base", required=True)
    s.add_argument("--pid", type=int)
    s.add_argument("--since", type=float, help="epoch seconds to measure from")
    s.add_argument("--timeout", type=float, default=30)
    s.set_defaults(fn=cmd_wait_ready)

    s = sub.add_parser("load")
    s.add_argument("--base", required=True)
    s.add_argument("--conns", type=int, default=8)
    s.add_argument("--total", type=int, default=0, help="requests in all (0: no limit)")
    s.add_argument("--duration", type=float, default=0, help="seconds at most (0: no limit)")
    s.add_argument("--kinds", default="post",
                   help="comma-separated, taken in turn: post (a book), review (of the "
                        "thread's last book), list (GET /books?limit=5), get (GET /books/ID, "
                        "ID from 1 to --get-ids in turn)")
    s.add_argument("--get-ids", type=int, default=1,
                   help="the books 1..N exist: what the get kind reads")
    s.add_argument("--prefix", default=f"load-{os.getpid()}")
    s.add_argument("--acked", help="append the id of every 201 to this file")
    s.add_argument("--acked-reviews", help="append the id of every review 201 to this file")
    s.add_argument("--events", help="write every request (start, end, kind, status) here")
    s.add_argument("--summary", help="write the JSON summary here too")
    s.add_argument("--sleep", type=float, default=0, help="seconds between requests of a thread")
    s.add_argument("--timeout", type=float, default=30)
    s.add_argument("--stop-on-conn-error", action="store_true")
    s.add_argument("--stop-file", help="stop when this file exists")
    s.set_defaults(fn=cmd_load)

    s = sub.add_parser("count")
    s.add_argument("--db", required=True)
    s.set_defaults(fn=cmd_count)

    s = sub.add_parser("db-has-ids")
    s.add_argument("--db", required=True)
    s.add_argument("--acked", required=True)
    s.add_argument("--acked-reviews")
    s.add_argument("--label", default="")
    s.set_defaults(fn=cmd_db_has_ids)

    s = sub.add_parser("sqlite-check")
    s.add_argument("--db", required=True)
    s.add_argument("--acked")
    s.add_argument("--acked-reviews")
    s.add_argument("--label", default="")
    s.set_defaults(fn=cmd_sqlite_check)

    s = sub.add_parser("hold-lock")
    s.add_argument("--db", required=True)
    s.add_argument("--seconds", type=float, default=4)
    s.add_argument("--ready-file", required=True)
    s.add_argument("--release-file")
    s.set_defaults(fn=cmd_hold_lock)

    s = sub.add_parser("pool-probe")
    s.add_argument("--base", required=True)
    s.add_argument("--ready-file", required=True)
    s.add_argument("--release-file", required=True)
    s.add_argument("--seconds", type=float, default=4)
    s.add_argument("--n", type=int, default=10)
    s.add_argument("--pool", type=int, default=2)
    s.add_argument("--fail-fast", type=float, default=2.5)
    s.add_argument("--recover", type=float, default=1.0)
    s.add_argument("--wave2-at", type=float, default=1.8, help="seconds after the lock")
    s.set_defaults(fn=cmd_pool_probe)

    s = sub.add_parser("recovery")
    s.add_argument("--base", required=True)
    s.add_argument("--path", action="append", required=True, help="repeatable")
    s.add_argument("--since", type=float, help="epoch seconds of the event")
    s.add_argument("--limit", type=float, default=2.0)
    s.add_argument("--label", default="")
    s.set_defaults(fn=cmd_recovery)

    s = sub.add_parser("analyze")
    s.add_argument("--events", required=True)
    s.add_argument("--summary", required=True)
    s.add_argument("--marks", required=True,
                   help="comma-separated epoch seconds T, or periods START:END")
    s.add_argument("--max-latency", type=float, default=0)
    s.add_argument("--allowed", default="503")
    s.add_argument("--before", type=float, default=0.5)
    s.add_argument("--after", type=float, default=2.0)
    s.set_defaults(fn=cmd_analyze)

    s = sub.add_parser("proxy")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--target", type=int, default=5432)
    s.set_defaults(fn=cmd_proxy)

    s = sub.add_parser("hostile")
    s.add_argument("--base", required=True)
    s.add_argument("--timeout", type=float, default=15)
    s.set_defaults(fn=cmd_hostile)

    a = p.parse_args()
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
