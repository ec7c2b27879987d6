"""Rolling upgrade under load; run by scripts/rolling/run.sh.

    python3 rolling.py BINARY_A BINARY_B POSTGRES_SERVER_URL WORKDIR CONTRACT_MIGRATION

Three replicas of A serve one fresh PostgreSQL database behind haproxy, which
checks each one's /ready. Eight clients send constant mixed load through
haproxy (30% POST /books, 50% GET /books/{id}, 20% GET /books?limit=20). Each
replica in turn is drained in haproxy (no new requests), stopped with SIGTERM
(Rocket finishes what it has), and replaced by B on the same port; the first
B applies the expand migration at start-up, under load. While a replica of A
is alive, `B migrate up --contract` must be refused; once all run B it must
apply the contract migration. A sampler reads pg_locks for the longest wait
any query had on a lock. Exit 1 on any non-2xx, any lost or extra write, or a
contract step that did not behave.
"""

import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

BINARY_A, BINARY_B, SERVER, WORK, CONTRACT = sys.argv[1:6]
CLIENTS = 8


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(url, sql):
    out = subprocess.run(["psql", url, "-Atqc", sql], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def database_url(name):
    parts = urllib.parse.urlsplit(SERVER)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def get_status(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def wait_ready(port, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if get_status(port, "/ready") == 200:
            return
        time.sleep(0.1)
    raise SystemExit(f"rolling: the replica on port {port} was not ready within {seconds} s")


def start(binary, port, url, tag):
    log = open(os.path.join(WORK, f"replica-{port}-{tag}.log"), "w")
    env = dict(os.environ, DATABASE_URL=url, ROCKET_PORT=str(port), ROCKET_ADDRESS="127.0.0.1",
               ROCKET_LOG_LEVEL="normal", ROCKET_CLI_COLORS="false")
    return subprocess.Popen([binary, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)


class Haproxy:
    def __init__(self, ports):
        self.port = free_port()
        self.socket = os.path.join(WORK, "haproxy.sock")
        servers = "\n".join(f"  server s{i} 127.0.0.1:{p} check" for i, p in enumerate(ports, 1))
        config = f"""global
  stats socket {self.socket} mode 600 level admin
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  option redispatch
  retries 2
frontend fe
  bind 127.0.0.1:{self.port}
  default_backend be
backend be
  option httpchk GET /ready
  http-check expect status 200
  default-server inter 200ms fall 2 rise 1
{servers}
"""
        path = os.path.join(WORK, "haproxy.cfg")
        with open(path, "w") as f:
            f.write(config)
        log = open(os.path.join(WORK, "haproxy.log"), "w")
        self.process = subprocess.Popen(["haproxy", "-db", "-f", path], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while not os.path.exists(self.socket):
            if time.time() > deadline or self.process.poll() is not None:
                raise SystemExit("rolling: haproxy did not start; see haproxy.log:\n"
                                 + open(os.path.join(WORK, "haproxy.log")).read())
            time.sleep(0.05)

    def command(self, line):
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(self.socket)
            s.sendall((line + "\n").encode())
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def server(self, name):
        """(status, current sessions) of a server, from `show stat`."""
        lines = self.command("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        for line in lines[1:]:
            row = dict(zip(header, line.split(",")))
            if row.get("pxname") == "be" and row.get("svname") == name:
                return row["status"], int(row["scur"] or 0)
        raise SystemExit(f"rolling: haproxy has no server {name}")

    def wait(self, name, status, seconds=30):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if self.server(name)[0] == status:
                return
            time.sleep(0.05)
        raise SystemExit(f"rolling: {name} did not become {status} in haproxy")


class Load:
    def __init__(self, port):
        self.port = port
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.sent = 0
        self.statuses = {}
        self.failures = []
        self.acknowledged = 0
        self.ids = []
        self.slowest = 0.0
        self.threads = [threading.Thread(target=self.client, args=(n,)) for n in range(CLIENTS)]

    def client(self, n):
        rng = random.Random(n)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while not self.stop.is_set():
            roll = rng.random()
            with self.lock:
                known = self.ids[-1000:]
            if roll < 0.3 or not known:
                body = json.dumps({"title": f"Rolling {n}-{rng.random()}", "author": "Load", "price": 9.5,
                                   "rating": 4})
                method, path = "POST", "/books"
            elif roll < 0.8:
                method, path, body = "GET", f"/books/{rng.choice(known)}", None
            else:
                method, path, body = "GET", "/books?limit=20", None
            started = time.monotonic()
            try:
                conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                data = response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as e:
                status, data = f"error: {e.__class__.__name__}", b""
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            took = time.monotonic() - started
            with self.lock:
                self.sent += 1
                self.statuses[status] = self.statuses.get(status, 0) + 1
                self.slowest = max(self.slowest, took)
                if status == 201:
                    self.acknowledged += 1
                    self.ids.append(json.loads(data)["id"])
                elif not (isinstance(status, int) and 200 <= status < 300):
                    self.failures.append(f"{method} {path}: {status} {data[:200]!r}")

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_):
        self.stop.set()
        for t in self.threads:
            t.join()


class LockWaits:
    """The longest time any query of the database waited for a lock (pg_locks.waitstart)."""

    def __init__(self, url):
        self.url = url
        self.longest = 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def run(self):
        while not self.stop.is_set():
            waited = psql(self.url, "SELECT coalesce(extract(epoch FROM max(now() - waitstart)), 0) "
                                    "FROM pg_locks WHERE NOT granted AND waitstart IS NOT NULL")
            self.longest = max(self.longest, float(waited or 0))
            time.sleep(0.05)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *_):
        self.stop.set()
        self.thread.join()


def contract_step(url):
    env = dict(os.environ, DATABASE_URL=url)
    run = subprocess.run([BINARY_B, "migrate", "up", "--contract"], env=env, capture_output=True, text=True)
    return run.returncode, (run.stdout + run.stderr).strip()


def main():
    name = f"bookshelf_rolling_{os.getpid()}"
    psql(SERVER, f"CREATE DATABASE {name}")
    url = database_url(name)
    ports = [free_port() for _ in range(3)]
    replicas = {}
    haproxy = None
    problems = []
    try:
        for port in ports:  # the first one migrates the empty database
            replicas[port] = start(BINARY_A, port, url, "a")
            wait_ready(port)
        haproxy = Haproxy(ports)
        for i in range(1, 4):
            haproxy.wait(f"s{i}", "UP")
        before = int(psql(url, "SELECT count(*) FROM books"))
        with LockWaits(url) as waits, Load(haproxy.port) as load:
            time.sleep(3)
            for i, port in enumerate(ports, 1):
                server = f"s{i}"
                haproxy.command(f"set server be/{server} state drain")
                deadline = time.time() + 10
                while haproxy.server(server)[1] > 0 and time.time() < deadline:
                    time.sleep(0.05)
                old = replicas[port]
                old.send_signal(signal.SIGTERM)
                code = old.wait(timeout=30)
                print(f"rolling: replica {server} (A) stopped with exit code {code}")
                replicas[port] = start(BINARY_B, port, url, "b")
                wait_ready(port)
                haproxy.command(f"set server be/{server} state ready")
                haproxy.wait(server, "UP")
                print(f"rolling: replica {server} now runs B")
                if i < 3:
                    code, said = contract_step(url)
                    if code == 0 or "refusing to apply contract migration" not in said:
                        problems.append(f"the contract step was not refused with A replicas alive: {said}")
                    else:
                        print(f"rolling: contract step refused while {3 - i} A replica(s) are alive, as it must be")
                time.sleep(2)
            code, said = contract_step(url)
            if code != 0 or f"applied {CONTRACT}" not in said:
                problems.append(f"the contract step failed with every replica on B: {said}")
            else:
                print(f"rolling: contract step applied {CONTRACT}")
            time.sleep(3)
        rows = int(psql(url, "SELECT count(*) FROM books"))
        columns = psql(url, "SELECT string_agg(column_name, ',' ORDER BY column_name) FROM "
                            "information_schema.columns WHERE table_name = 'books'")
        valid = psql(url, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'books_isbn_idx'::regclass")
        non_2xx = sum(n for s, n in load.statuses.items() if not (isinstance(s, int) and 200 <= s < 300))
        print(f"requests sent: {load.sent}")
        print(f"statuses: {dict(sorted(load.statuses.items(), key=str))}")
        print(f"non-2xx: {non_2xx}")
        print(f"writes acknowledged: {load.acknowledged}, rows present: {rows - before}")
        print(f"longest wait on a lock (pg_locks): {waits.longest * 1000:.0f} ms; slowest request: "
              f"{load.slowest * 1000:.0f} ms")
        print(f"books columns after contract: {columns}; books_isbn_idx valid: {valid}")
        if non_2xx:
            problems.append(f"{non_2xx} request(s) failed: {load.failures[:5]}")
        if load.acknowledged != rows - before:
            problems.append(f"{load.acknowledged} writes acknowledged but {rows - before} rows present")
        if "isbn" not in columns.split(",") or "subtitle" in columns.split(",") or valid != "t":
            problems.append(f"the schema is not the expected one: {columns}, index valid {valid}")
    finally:
        if haproxy:
            haproxy.process.terminate()
            haproxy.process.wait()
        for process in replicas.values():
            process.send_signal(signal.SIGTERM)
        for process in replicas.values():
            process.wait(timeout=30)
        psql(SERVER, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    if problems:
        for problem in problems:
            print(f"FAIL: {problem}")
        sys.exit(1)
    print("rolling upgrade: passed")


main()
