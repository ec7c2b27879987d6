//! The binary itself: it serves on the SQLite default after applying the
//! migrations, and refuses a database it cannot use with one clear line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn bookshelf() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bookshelf"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DATABASE_URL")
        .env("ROCKET_CLI_COLORS", "false");
    command
}

/// Runs the binary to its end, with a deadline; returns (success, output).
fn run_to_exit(mut command: Command, deadline: Duration) -> (bool, String, Duration) {
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut output = String::new();
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut output)
                .unwrap();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut output)
                .unwrap();
            return (status.success(), output, started.elapsed());
        }
        if started.elapsed() > deadline {
            child.kill().unwrap();
            panic!("still running after {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn an_unreachable_postgres_fails_fast_with_the_url_and_a_masked_password() {
    let mut command = bookshelf();
    command.env("DATABASE_URL", "postgres://shelf:hunter2@127.0.0.1:1/books");
    let (success, output, took) = run_to_exit(command, Duration::from_secs(20));
    assert!(!success, "{output}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(
        output.contains("cannot connect to database postgres://shelf:***@127.0.0.1:1/books"),
        "{output}"
    );
    assert!(!output.contains("hunter2"), "{output}");
}

#[test]
fn an_unsupported_database_url_is_refused() {
    let mut command = bookshelf();
    command.env("DATABASE_URL", "mysql://root@localhost/books");
    let (success, output, _) = run_to_exit(command, Duration::from_secs(20));
    assert!(!success, "{output}");
    assert!(
        output.contains("invalid database URL mysql://root@localhost/books"),
        "{output}"
    );
}

#[test]
fn help_names_the_commands_and_the_configuration() {
    let mut command = bookshelf();
    command.arg("--help");
    let (success, output, _) = run_to_exit(command, Duration::from_secs(20));
    assert!(success, "{output}");
    for expected in ["serve", "DATABASE_URL", "ROCKET_PORT", "Usage"] {
        assert!(output.contains(expected), "no {expected:?} in {output}");
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_get(port: u16, path: &str) -> Option<String> {
    http_get_with(port, path, &[])
}

/// `GET path` with extra `headers` (`Name: value`), the raw response.
fn http_get_with(port: u16, path: &str, headers: &[&str]) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\n{extra}Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

/// Starts the binary on a SQLite file, waits until it answers `/ready`, and
/// returns its log so far; the server is stopped before returning.
fn serve_once(db_path: &std::path::Path) -> String {
    let server = Server::start(&db_path.display().to_string());
    let ready = server.wait_ready(Instant::now() + Duration::from_secs(20));
    let books = http_get(server.port, "/books");
    let log = server.stop();
    assert!(ready, "never ready: {log}");
    assert!(books.unwrap().contains("\"total\":0"), "{log}");
    log
}

#[test]
fn the_binary_migrates_a_new_sqlite_database_then_serves() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shelf.db");
    let first = serve_once(&db);
    for name in [
        "applied migration 2026-11-23-000001_create_books",
        "applied migration 2026-11-23-000002_add_description_to_books",
        "applied migration 2026-11-23-000003_create_reviews",
    ] {
        assert!(first.contains(name), "no {name:?} in {first}");
    }
    let second = serve_once(&db);
    assert!(!second.contains("applied migration"), "{second}");
    assert!(second.contains("is up to date"), "{second}");
}

#[test]
fn rocket_database_url_overrides_database_url() {
    let mut command = bookshelf();
    command
        .env("DATABASE_URL", "postgres://shelf@127.0.0.1:1/books")
        .env("ROCKET_DATABASE_URL", "mysql://root@localhost/override");
    let (success, output, _) = run_to_exit(command, Duration::from_secs(20));
    assert!(!success, "{output}");
    assert!(
        output.contains("mysql://root@localhost/override"),
        "{output}"
    );
}

#[test]
fn every_migrate_command_works_through_the_binary() {
    let db = crate::helpers::TestDb::new();
    let run = |args: &[&str]| {
        let mut command = bookshelf();
        command.env("DATABASE_URL", db.url()).args(args);
        let (ok, output, _) = run_to_exit(command, Duration::from_secs(30));
        (ok, output)
    };
    let expect = |args: &[&str], success: bool, needle: &str| {
        let (ok, output) = run(args);
        assert_eq!(ok, success, "{args:?}: {output}");
        assert!(
            output.contains(needle),
            "{args:?}: no {needle:?} in {output}"
        );
    };
    expect(&["migrate", "status"], true, "applied:  0, pending: 11");
    expect(
        &["migrate", "up", "--to", "add_description_to_books"],
        true,
        "applied 2026-11-23-000002_add_description_to_books",
    );
    expect(
        &["migrate", "up", "--to", "no_such_migration"],
        false,
        "no migration matches",
    );
    expect(
        &["migrate", "up", "--to", "create_books"],
        false,
        "already applied",
    );
    expect(
        &["migrate", "history"],
        true,
        "current:  2026-11-23-000002_add_description_to_books",
    );
    expect(
        &["serve", "--migrate", "check"],
        false,
        "pending migrations: 2026-11-23-000003_create_reviews",
    );
    expect(
        &["migrate", "up"],
        true,
        "applied 2026-11-23-000003_create_reviews",
    );
    expect(
        &["migrate", "redo", "--steps", "10"],
        true,
        "applied 2026-11-23-000002_add_description_to_books",
    );
    expect(
        &["migrate", "verify"],
        true,
        "the database matches src/schema.rs and src/constraints.rs",
    );
    expect(
        &["migrate", "accept", "create_books"],
        true,
        "accepted 2026-11-23-000001_create_books",
    );
    expect(
        &["migrate", "down", "--steps", "12"],
        false,
        "cannot revert 12 migrations: 11 applied",
    );
    expect(
        &["migrate", "down", "--to", "create_books"],
        true,
        "reverted 2026-11-23-000002_add_description_to_books",
    );
    expect(
        &["migrate", "down", "--all"],
        true,
        "reverted 2026-11-23-000001_create_books",
    );
    expect(
        &["migrate", "down"],
        false,
        "cannot revert 1 migrations: 0 applied",
    );
    expect(
        &["migrate", "sql", "up", "--to", "create_books"],
        true,
        "CREATE TABLE books",
    );
    expect(&["migrate", "--help"], true, "redo");
}

/// A `bookshelf serve` process on `database_url`, with its log collected.
struct Server {
    child: std::process::Child,
    port: u16,
    log: mpsc::Receiver<String>,
}

impl Server {
    fn start(database_url: &str) -> Server {
        let mut command = bookshelf();
        command.env("DATABASE_URL", database_url);
        Server::spawn(command)
    }

    /// Starts `command` (a `bookshelf` command) on a free port.
    fn spawn(mut command: Command) -> Server {
        let port = free_port();
        let mut child = command
            .env("ROCKET_PORT", port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (lines, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        Server { child, port, log }
    }

    /// Waits until `/ready` answers 200; false if it never does in time.
    fn wait_ready(&self, deadline: Instant) -> bool {
        while Instant::now() < deadline {
            if http_get(self.port, "/ready").is_some_and(|r| r.starts_with("HTTP/1.1 200")) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// Stops the server and returns its whole log: every line its reader
    /// thread passes on until it reads the pipe's end (10 s at most). Lines
    /// the process wrote just before it was killed may still be in the pipe
    /// when `wait` returns, so what had arrived by then is not enough.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut lines = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.log.recv_timeout(left) {
                Ok(line) => lines.push(line),
                Err(_) => break,
            }
        }
        lines.join("\n")
    }
}

#[test]
fn four_processes_starting_together_on_an_empty_database_apply_each_migration_once() {
    for round in 0..10 {
        let db = crate::helpers::TestDb::new();
        let servers: Vec<Server> = (0..4).map(|_| Server::start(&db.url())).collect();
        let deadline = Instant::now() + Duration::from_secs(30);
        let ready: Vec<bool> = servers.iter().map(|s| s.wait_ready(deadline)).collect();
        let logs: Vec<String> = servers.into_iter().map(Server::stop).collect();
        assert!(
            ready.iter().all(|r| *r),
            "round {round}: ready {ready:?}\n{logs:#?}"
        );
        let all = logs.join("\n");
        // Each is in the registry the contract gate reads.
        assert!(
            !all.contains("cannot record this process"),
            "round {round}: {all}"
        );
        for name in [
            "2026-11-23-000001_create_books",
            "2026-11-23-000002_add_description_to_books",
            "2026-11-23-000003_create_reviews",
        ] {
            let times = all.matches(&format!("applied migration {name}")).count();
            assert_eq!(
                times, 1,
                "round {round}: {name} applied {times} times\n{all}"
            );
        }
    }
}

fn http_post_json(port: u16, path: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}

/// A client that sends a whole body before it reads the answer, as some
/// browsers do, still gets the 413 of a body over the limit: the server
/// reads and drops the rest before it closes, where closing at once with
/// bytes unread sends a TCP reset that can discard the answer on the way
/// (rwf2/Rocket#3004, fixed in Rocket 0.5.4 by its `linger`).
#[test]
fn an_oversize_body_sent_whole_before_reading_still_gets_its_413() {
    const BODY: usize = 16 << 20;
    let db = crate::helpers::TestDb::new();
    let server = Server::start(&db.url());
    let ready = server.wait_ready(Instant::now() + Duration::from_secs(20));
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let sent = write!(
        stream,
        "POST /books HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {BODY}\r\nConnection: close\r\n\r\n"
    )
    .and_then(|()| stream.write_all(&vec![b' '; BODY]));
    let mut response = String::new();
    let read = stream.read_to_string(&mut response);
    let log = server.stop();
    assert!(ready, "never ready: {log}");
    sent.expect("the whole body is taken");
    read.expect("the answer arrives");
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("\"status\":413"), "{response}");
}

/// The binary shipped alone, in a directory without Rocket.toml or .env, has
/// the documented defaults: they live in the code, and Rocket.toml only
/// overrides them.
#[test]
fn the_binary_alone_in_an_empty_directory_has_the_documented_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = bookshelf();
    command.current_dir(dir.path()).env_remove("ROCKET_CONFIG");
    let server = Server::spawn(command);
    let ready = server.wait_ready(Instant::now() + Duration::from_secs(20));
    let port = server.port;
    // limits.json = 64 KiB: one byte over is a 413; just under is read (and
    // refused for its too-long title).
    let over = http_post_json(
        port,
        "/books",
        &format!("\"{}\"", "x".repeat(64 * 1024 - 1)),
    );
    let under = http_post_json(
        port,
        "/books",
        &format!("{{\"title\": \"{}\"}}", "x".repeat(60 * 1024)),
    );
    let health = http_get(port, "/health").unwrap_or_default();
    let log = server.stop();
    assert!(ready, "never ready: {log}");
    assert!(over.starts_with("HTTP/1.1 413"), "{over}");
    assert!(under.starts_with("HTTP/1.1 422"), "{under}");
    // database_url = bookshelf.db in the working directory, migrate = auto,
    // database_pool_size = 8, and no Server header.
    assert!(dir.path().join("bookshelf.db").is_file());
    assert!(
        log.contains("applied migration 2026-11-23-000003_create_reviews"),
        "{log}"
    );
    assert!(log.contains("pool of up to 8"), "{log}");
    assert!(
        !health.to_ascii_lowercase().contains("\nserver:"),
        "{health}"
    );
}

#[test]
fn the_log_has_one_line_per_request_with_its_id_route_status_and_duration() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("ids.db").display().to_string());
    assert!(server.wait_ready(Instant::now() + Duration::from_secs(20)));
    let response = http_get_with(server.port, "/books/77", &["X-Request-Id: probe-7"]).unwrap();
    let log = server.stop();
    assert!(
        response.to_lowercase().contains("x-request-id: probe-7"),
        "{response}"
    );
    let line = log
        .lines()
        .find(|line| line.contains("request probe-7 "))
        .unwrap_or_else(|| panic!("no line for probe-7 in {log}"));
    assert!(
        line.contains("GET /books/77 (route /books/<id>) 404 in "),
        "{line}"
    );
}

#[test]
fn log_format_json_writes_one_object_per_line_with_the_request_fields() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = bookshelf();
    command
        .env("DATABASE_URL", dir.path().join("json.db"))
        .env("ROCKET_LOG_FORMAT", "json");
    let server = Server::spawn(command);
    assert!(server.wait_ready(Instant::now() + Duration::from_secs(20)));
    let response = http_get_with(server.port, "/books/5", &["X-Request-Id: json-5"]).unwrap();
    let log = server.stop();
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["message"]
            .as_str()
            .is_some_and(|m| m.contains("applied migration"))),
        "{log}"
    );
    for line in &lines {
        for key in ["time", "level", "target", "message"] {
            assert!(line[key].is_string(), "no {key}: {line}");
        }
    }
    let request = lines
        .iter()
        .find(|l| l["request_id"] == "json-5")
        .unwrap_or_else(|| panic!("no line of request json-5 in {log}"));
    assert_eq!(request["method"], "GET");
    assert_eq!(request["uri"], "/books/5");
    assert_eq!(request["route"], "/books/<id>");
    assert_eq!(request["status"], 404);
    assert!(request["duration_ms"].as_f64().is_some(), "{request}");
}

#[test]
fn a_migrate_command_whose_reader_goes_away_ends_without_a_panic() {
    // `bookshelf migrate history | head -0`: the reader is gone before the
    // first line is written.
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let mut child = bookshelf()
        .env("DATABASE_URL", dir.path().join("pipe.db"))
        .args(["migrate", "history"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(status.signal(), Some(libc::SIGPIPE), "{status:?}: {stderr}");
}

/// A lone request's query and write run on its own worker
/// (`database_inline`): the served binary, with two workers as on a
/// two-core machine, counts them in `db_inline_total`; turned off, every
/// job goes to the database threads' queues.
#[test]
fn a_lone_request_runs_its_database_work_on_its_own_worker_unless_turned_off() {
    for inline in [true, false] {
        let db = crate::helpers::TestDb::new();
        let mut command = bookshelf();
        command
            .env("DATABASE_URL", db.url())
            .env("ROCKET_WORKERS", "2")
            .env("ROCKET_DATABASE_INLINE", inline.to_string());
        let server = Server::spawn(command);
        assert!(server.wait_ready(Instant::now() + Duration::from_secs(20)));
        for i in 0..5 {
            let created = http_post_json(
                server.port,
                "/books",
                &format!(r#"{{"title":"Lone {i}","author":"A","price":1,"rating":1}}"#),
            );
            assert!(created.starts_with("HTTP/1.1 201"), "{created}");
            let id = created.rsplit("\"id\":").next().unwrap();
            let id: String = id.chars().take_while(char::is_ascii_digit).collect();
            let read = http_get(server.port, &format!("/books/{id}")).unwrap();
            assert!(read.starts_with("HTTP/1.1 200"), "{read}");
        }
        let metrics = http_get(server.port, "/metrics").unwrap();
        // While another request is in flight (its body still on the way:
        // Rocket starts it once 14 bytes of body have come), reads are not
        // alone: they go to the database threads.
        let mut slow = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        write!(
            slow,
            "POST /books HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Content-Length: 100\r\n\r\n{{\"title\": \"still coming"
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        for _ in 0..5 {
            let read = http_get(server.port, "/books/1").unwrap();
            assert!(read.starts_with("HTTP/1.1 200"), "{read}");
        }
        let contended = http_get(server.port, "/metrics").unwrap();
        drop(slow);
        let log = server.stop();
        let inline_reads = |text: &str| {
            crate::metrics::sample(text, r#"bookshelf_db_inline_total{queue="readers"}"#).unwrap()
        };
        if inline {
            assert_eq!(
                inline_reads(&contended),
                inline_reads(&metrics),
                "a request that is not alone runs no query on its worker: {contended}"
            );
        }
        let counted = |queue: &str| {
            crate::metrics::sample(
                &metrics,
                &format!(r#"bookshelf_db_inline_total{{queue="{queue}"}}"#),
            )
            .unwrap_or_else(|| panic!("no db_inline_total for {queue}: {metrics}\n{log}"))
        };
        let (readers, writer) = (counted("readers"), counted("writer"));
        match (inline, crate::helpers::backend()) {
            (false, _) => assert_eq!((readers, writer), (0.0, 0.0), "{metrics}"),
            // The GETs on the readers, the POSTs on the writer.
            (true, bookshelf::db::Backend::Sqlite) => {
                assert!(readers >= 5.0, "{metrics}");
                assert_eq!(writer, 5.0, "{metrics}");
            }
            // Both on the readers: there is no writer thread.
            (true, bookshelf::db::Backend::Postgres) => {
                assert!(readers >= 10.0, "{metrics}");
                assert_eq!(writer, 0.0, "{metrics}");
            }
        }
    }
}
