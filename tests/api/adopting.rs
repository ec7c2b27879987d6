//! docs/adopting.md, replayed: every `$` command in its ```console blocks
//! runs, and prints what the document shows, times, Alembic revision ids
//! and the database's path aside.
//! - `bash scripts/fastapi_tutorial/python.sh HOW URL` makes the tutorials'
//!   database on a database of this test's own (a SQLite file; on
//!   PostgreSQL a new database, so that section needs TEST_DATABASE_URL);
//! - `export DATABASE_URL=…` says what the document calls it, and
//!   `createdb …` is the database the test made: neither is run;
//! - `cargo run -- ARGS` runs the bookshelf binary this suite built, with
//!   DATABASE_URL set to that database;
//! - `cargo run -- serve &` starts the application in this process (the same
//!   router on the same database), and `curl -s http://127.0.0.1:8000PATH`
//!   asks it for PATH.
//!
//! With BOOKSHELF_WRITE_DOCS=1 the test writes what the commands printed into
//! the document instead of comparing (then read the change before keeping it).

use std::path::Path;
use std::process::Command;

use rocket::local::blocking::Client;

use crate::helpers::{figment, postgres_or_skip, TestDb};

/// The database a section of the document works on, and the URL the
/// document calls it by.
struct Section {
    // Declared first, dropped first: the application stops before its
    // database is dropped.
    app: Option<Client>,
    db: TestDb,
    shown_url: String,
}

impl Section {
    /// What a line printed, as the document shows it: this test's database
    /// named as the document names it.
    fn shown(&self, line: &str) -> String {
        let real = self.db.url();
        let line = line.replace(&real, &self.shown_url);
        match &self.db {
            TestDb::Sqlite { .. } => line.replace(&format!("sqlite:///{real}"), &self.shown_url),
            TestDb::Postgres { .. } => line,
        }
    }
}

/// A line with what changes from run to run replaced: times
/// (`2026-12-04 01:41:03.892019`, `2026-12-04T01:41:03Z`) by TIME, and
/// Alembic's revision ids (twelve hex digits after "revision ") by REVISION.
fn steady(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let digits = |from: usize, n: usize| {
        from + n <= chars.len() && chars[from..from + n].iter().all(char::is_ascii_digit)
    };
    while i < chars.len() {
        let is_time = digits(i, 4)
            && chars.get(i + 4) == Some(&'-')
            && digits(i + 5, 2)
            && chars.get(i + 7) == Some(&'-')
            && digits(i + 8, 2)
            && matches!(chars.get(i + 10), Some(' ' | 'T'))
            && digits(i + 11, 2)
            && chars.get(i + 13) == Some(&':');
        if is_time {
            i += 11;
            while i < chars.len() && (chars[i].is_ascii_digit() || matches!(chars[i], ':' | '.')) {
                i += 1;
            }
            if chars.get(i) == Some(&'Z') {
                i += 1;
            }
            out.push_str("TIME");
            continue;
        }
        let rest: String = chars[i..].iter().collect();
        if let Some(after) = rest.strip_prefix("revision ") {
            let id: String = after.chars().take(12).collect();
            if id.len() == 12 && id.chars().all(|c| c.is_ascii_hexdigit()) {
                out.push_str("revision REVISION");
                i += "revision ".len() + 12;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Runs one command of the document; returns what it printed (stdout, then
/// stderr) as the document would show it, or `None` for a command that only
/// names the database.
fn run(line: &str, section: &mut Option<Section>, server: Option<&str>) -> Option<Vec<String>> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["createdb", ..] => None,
        ["export", assignment] => {
            let url = assignment
                .strip_prefix("DATABASE_URL=")
                .unwrap_or_else(|| panic!("the guide exports only DATABASE_URL: {line}"));
            section.as_mut().expect("a database first").shown_url = url.to_string();
            None
        }
        ["bash", "scripts/fastapi_tutorial/python.sh", how, url] => {
            let db = if url.starts_with("postgresql://") {
                TestDb::postgres(server.expect("the PostgreSQL section needs TEST_DATABASE_URL"))
            } else {
                TestDb::sqlite()
            };
            let real = match &db {
                TestDb::Sqlite { .. } => format!("sqlite:///{}", db.url()),
                TestDb::Postgres { .. } => db.url(),
            };
            let shown_url = match &db {
                TestDb::Sqlite { .. } => url.trim_start_matches("sqlite:///").to_string(),
                TestDb::Postgres { .. } => url.to_string(),
            };
            *section = Some(Section {
                app: None,
                db,
                shown_url,
            });
            let mut command = Command::new("bash");
            command.args(["scripts/fastapi_tutorial/python.sh", how, &real]);
            Some(output(command, section.as_ref().unwrap()))
        }
        ["cargo", "run", "--", "serve", "&"] => {
            let current = section.as_mut().expect("a database first");
            let rocket = bookshelf::rocket(figment(&current.db));
            current.app = Some(Client::tracked(rocket).expect("the application starts"));
            Some(Vec::new())
        }
        ["cargo", "run", "--", args @ ..] => {
            let current = section.as_ref().expect("a database first");
            let mut command = Command::new(env!("CARGO_BIN_EXE_bookshelf"));
            command
                .args(args)
                .env("DATABASE_URL", current.db.url())
                .env("ROCKET_LOG_LEVEL", "off");
            Some(output(command, current))
        }
        ["curl", "-s", url] => {
            let current = section.as_ref().expect("a database first");
            let path = url
                .strip_prefix("http://127.0.0.1:8000")
                .unwrap_or_else(|| panic!("curl asks the server at 127.0.0.1:8000: {line}"));
            let app = current.app.as_ref().expect("`cargo run -- serve &` first");
            let body = app.get(path.to_string()).dispatch().into_string();
            Some(vec![current.shown(&body.unwrap_or_default())])
        }
        _ => panic!("docs/adopting.md runs a command this test cannot replay: {line}"),
    }
}

fn output(mut command: Command, section: &Section) -> Vec<String> {
    let result = command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("ROCKET_CLI_COLORS", "false")
        .env_remove("TEST_DATABASE_URL")
        .output()
        .expect("run the command");
    String::from_utf8_lossy(&result.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&result.stderr).lines())
        .map(|l| section.shown(l))
        .collect()
}

#[test]
fn the_adopting_guide_replays_on_sqlite_and_postgres() {
    let Some(server) = postgres_or_skip("the_adopting_guide_replays_on_sqlite_and_postgres") else {
        return;
    };
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/adopting.md");
    let guide = std::fs::read_to_string(&path).unwrap();
    let write = std::env::var_os("BOOKSHELF_WRITE_DOCS").is_some();
    let mut rewritten = Vec::new();
    let mut section = None;
    let mut commands = 0;
    let mut lines = guide.lines().peekable();
    while let Some(line) = lines.next() {
        rewritten.push(line.to_string());
        if line != "```console" {
            continue;
        }
        while let Some(inner) = lines.next() {
            if inner == "```" {
                rewritten.push(inner.to_string());
                break;
            }
            let Some(command) = inner.strip_prefix("$ ") else {
                panic!("console output before any command in docs/adopting.md: {inner}");
            };
            rewritten.push(inner.to_string());
            let mut shown = Vec::new();
            while let Some(next) = lines.peek() {
                if next.starts_with("$ ") || *next == "```" {
                    break;
                }
                shown.push(lines.next().unwrap().to_string());
            }
            commands += 1;
            let printed = run(command, &mut section, Some(&server)).unwrap_or_default();
            if write {
                rewritten.extend(printed);
                continue;
            }
            let steady_all = |lines: &[String]| lines.iter().map(|l| steady(l)).collect::<Vec<_>>();
            assert_eq!(
                steady_all(&printed),
                steady_all(&shown),
                "`{command}` printed otherwise than docs/adopting.md shows"
            );
        }
    }
    assert!(commands >= 20, "the guide's commands were not found");
    if write {
        std::fs::write(&path, rewritten.join("\n") + "\n").unwrap();
    }
}

#[test]
fn times_and_revisions_are_steadied_and_other_text_is_not() {
    assert_eq!(
        steady("[applied 2026-12-04 01:41:08] x, \"created_at\":\"2026-12-04T01:41:03.892019Z\"}"),
        "[applied TIME] x, \"created_at\":\"TIME\"}"
    );
    assert_eq!(
        steady("Alembic revision 5bbbf5980de3: the database"),
        "Alembic revision REVISION: the database"
    );
    assert_eq!(
        steady("version 2026-11-23-000001"),
        "version 2026-11-23-000001"
    );
    assert_eq!(steady("revision head"), "revision head");
}
