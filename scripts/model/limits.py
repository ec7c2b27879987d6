"""The checks of limit-follows.sh: WORK holds tree/ (the changed copy, with
its new migration), BINARY_A (built from the unchanged tree) and BINARY_B
(built from the copy). Prints PASS/FAIL lines; exits 1 on any FAIL."""

import glob
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request

work, binary_a, binary_b = sys.argv[1:4]
tree = os.path.join(work, "tree")
failed = 0


def check(what, ok, detail=""):
    global failed
    print(("PASS " if ok else "FAIL ") + what + ("" if ok else f": {detail}"))
    failed += 0 if ok else 1


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method=method,
        headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def serve(binary, db):
    port = free_port()
    env = dict(os.environ, DATABASE_URL=db, ROCKET_PORT=str(port),
               ROCKET_ADDRESS="127.0.0.1", ROCKET_CONFIG=os.path.join(tree, "Rocket.toml"),
               ROCKET_LOG_LEVEL="off")
    env.pop("TEST_DATABASE_URL", None)
    log = open(db + ".log", "w")
    proc = subprocess.Popen([binary, "serve"], env=env, stdout=log, stderr=log, cwd=work)
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if request(port, "GET", "/ready")[0] == 200:
                return proc, port
        except OSError:
            pass
        time.sleep(0.2)
    proc.kill()
    sys.exit(f"FAIL {binary} did not become ready; see {db}.log")


def book(rating):
    return {"title": "Dune", "author": "Frank Herbert", "price": 9.5,
            "rating": rating, "published": True}


for backend in ("sqlite", "postgres"):
    ups = glob.glob(os.path.join(tree, "migrations", backend, "*_raise_rating_limit", "up.sql"))
    text = open(ups[0]).read() if ups else ""
    check(f"{backend}: migrate diff wrote the new CHECK", "rating BETWEEN 1 AND 10" in text,
          ups or "no migration written")

for name, binary, allowed in (("changed model", binary_b, True), ("unchanged model", binary_a, False)):
    db = os.path.join(work, f"{name.replace(' ', '-')}.db")
    proc, port = serve(binary, db)
    try:
        status, spec = request(port, "GET", "/openapi.json")
        rating = spec["components"]["schemas"]["Rating"]
        check(f"{name}: /openapi.json says maximum {10 if allowed else 5}",
              rating.get("maximum") == (10 if allowed else 5), rating)
        status, body = request(port, "POST", "/books", book(7))
        check(f"{name}: a rating of 7 is {'201' if allowed else '422'}",
              status == (201 if allowed else 422), (status, body))
        status, body = request(port, "POST", "/books", book(11))
        check(f"{name}: a rating of 11 is 422", status == 422, (status, body))
    finally:
        proc.kill()
        proc.wait()
    if allowed:
        conn = sqlite3.connect(db)
        try:
            conn.execute("INSERT INTO books (title, author, price, rating, published) "
                         "VALUES ('x', 'y', 1, 11, 0)")
            conn.commit()
            check(f"{name}: the database refuses a rating of 11 written directly", False,
                  "it was stored")
        except sqlite3.IntegrityError as e:
            check(f"{name}: the database refuses a rating of 11 written directly",
                  "CHECK" in str(e), e)
        conn.execute("INSERT INTO books (title, author, price, rating, published) "
                     "VALUES ('x', 'y', 1, 10, 0)")
        conn.commit()
        conn.close()

print(f"limit-follows: {'all passed' if failed == 0 else f'{failed} failed'}")
sys.exit(1 if failed else 0)
