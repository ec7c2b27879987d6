//! docs/tutorial.md, replayed: every `src/schema.rs` and `src/constraints.rs`
//! it shows is written to a copy of the repository (holding only the first
//! migration), and every `$` command it shows is run there, on SQLite and
//! again on PostgreSQL, its output compared with the document's (versions
//! aside). `cargo run --` runs the bookshelf binary this suite built;
//! `diesel` runs Diesel CLI. After each `diesel migration run`, the database
//! matches the model the tutorial wrote (no drift), and after each `diesel
//! migration revert` the model before it; on SQLite the src/schema.rs that
//! diesel print-schema rewrote is the one the tutorial wrote.
//!
//! It needs PostgreSQL (TEST_DATABASE_URL; `migrate diff` replays there) and
//! Diesel CLI; without them it says it was skipped. CI has both and sets
//! BOOKSHELF_REQUIRE_DIESEL, so there it cannot be skipped.

use std::path::Path;
use std::process::Command;

use bookshelf_migrate::{catalog, diff};

use crate::helpers::{connect, postgres_or_skip, TestDb};

/// What the tutorial shows, in order.
#[derive(Debug)]
enum Step {
    /// The whole of src/schema.rs.
    Schema(String),
    /// The whole of src/constraints.rs.
    Constraints(String),
    /// A command and the output it prints.
    Command { line: String, output: Vec<String> },
}

/// The steps of a tutorial: a ```rust block right after a line ending in
/// "`src/schema.rs` now reads:" (or "`src/constraints.rs` now reads:") is
/// that file; in ```console blocks, `$ ` lines are commands and the lines
/// after them their output.
fn steps(markdown: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut lines = markdown.lines().peekable();
    let mut previous = "";
    while let Some(line) = lines.next() {
        let schema_block = line == "```rust" && previous.ends_with("`src/schema.rs` now reads:");
        let constraints_block =
            line == "```rust" && previous.ends_with("`src/constraints.rs` now reads:");
        if schema_block || constraints_block || line == "```console" {
            let mut block = Vec::new();
            for inner in lines.by_ref() {
                if inner == "```" {
                    break;
                }
                block.push(inner.to_string());
            }
            if schema_block {
                steps.push(Step::Schema(block.join("\n") + "\n"));
            } else if constraints_block {
                steps.push(Step::Constraints(block.join("\n") + "\n"));
            } else {
                for line in block {
                    match line.strip_prefix("$ ") {
                        Some(command) => steps.push(Step::Command {
                            line: command.to_string(),
                            output: Vec::new(),
                        }),
                        None => match steps.last_mut() {
                            Some(Step::Command { output, .. }) => output.push(line),
                            _ => panic!("console output before any command: {line}"),
                        },
                    }
                }
            }
        }
        if !line.trim().is_empty() {
            previous = line;
        }
    }
    steps
}

/// Migration versions (`2026-11-25-024205`) replaced, as each run has its own.
fn without_versions(line: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let candidate: String = chars[i..(i + 17).min(chars.len())].iter().collect();
        let is_version = candidate.len() == 17
            && candidate.chars().enumerate().all(|(k, c)| {
                if [4, 7, 10].contains(&k) {
                    c == '-'
                } else {
                    c.is_ascii_digit()
                }
            });
        if is_version {
            out.push_str("VERSION");
            i += 17;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

fn diesel_installed() -> bool {
    Command::new("diesel")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn the_tutorial_replays_on_sqlite_and_postgres() {
    if crate::helpers::skipped_through_a_pooler(
        "the_tutorial_replays_on_sqlite_and_postgres (diesel CLI caches statements)",
    ) {
        return;
    }
    let Some(server) = postgres_or_skip("the_tutorial_replays_on_sqlite_and_postgres") else {
        return;
    };
    if !diesel_installed() {
        assert!(
            std::env::var_os("BOOKSHELF_REQUIRE_DIESEL").is_none(),
            "BOOKSHELF_REQUIRE_DIESEL is set but diesel CLI is not installed"
        );
        eprintln!("SKIPPED the_tutorial_replays_on_sqlite_and_postgres: diesel CLI is not installed (see README)");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tutorial = std::fs::read_to_string(root.join("docs/tutorial.md")).unwrap();
    let steps = steps(&tutorial);
    assert!(
        steps
            .iter()
            .filter(|s| matches!(s, Step::Command { .. }))
            .count()
            >= 8,
        "the tutorial's commands were not found: {steps:?}"
    );
    for postgres in [false, true] {
        replay(&steps, root, &server, postgres);
    }
}

fn replay(steps: &[Step], root: &Path, server: &str, postgres: bool) {
    let copy = tempfile::tempdir().unwrap();
    for backend in ["sqlite", "postgres"] {
        let first = Path::new("migrations")
            .join(backend)
            .join("2026-11-23-000001_create_books");
        std::fs::create_dir_all(copy.path().join(&first)).unwrap();
        for file in ["up.sql", "down.sql"] {
            std::fs::copy(
                root.join(&first).join(file),
                copy.path().join(&first).join(file),
            )
            .unwrap();
        }
    }
    for file in ["diesel.toml", "diesel-postgres.toml"] {
        std::fs::copy(root.join(file), copy.path().join(file)).unwrap();
    }
    std::fs::create_dir_all(copy.path().join("src")).unwrap();
    let db = if postgres {
        TestDb::postgres(server)
    } else {
        TestDb::sqlite()
    };
    let backend = if postgres { "postgres" } else { "sqlite" };
    // The model as the tutorial last wrote it: (src/schema.rs, src/constraints.rs).
    let mut written = (String::new(), String::new());
    // The model after each `diesel migration run` still applied, oldest first.
    let mut applied: Vec<(String, String)> = Vec::new();
    for step in steps {
        let (line, expected) = match step {
            Step::Schema(text) => {
                written.0 = text.clone();
                std::fs::write(copy.path().join("src/schema.rs"), text).unwrap();
                continue;
            }
            Step::Constraints(text) => {
                written.1 = text.clone();
                std::fs::write(copy.path().join("src/constraints.rs"), text).unwrap();
                continue;
            }
            Step::Command { line, output } => (line, output),
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        let mut command = match words.as_slice() {
            ["export", ..] => continue, // DATABASE_URL is set below, per backend.
            ["cargo", "run", "--", args @ ..] => {
                let mut command = Command::new(env!("CARGO_BIN_EXE_bookshelf"));
                command.args(args);
                command
            }
            ["diesel", args @ ..] => {
                let mut command = Command::new("diesel");
                if postgres {
                    command.args(["--config-file", "diesel-postgres.toml"]);
                }
                command.args(args);
                command
            }
            _ => panic!("the tutorial runs a command this test cannot replay: {line}"),
        };
        let result = command
            .current_dir(copy.path())
            .env("DATABASE_URL", db.url())
            .env("TEST_DATABASE_URL", server)
            .env("ROCKET_LOG_LEVEL", "off")
            .output()
            .unwrap_or_else(|e| panic!("{line}: {e}"));
        let printed: Vec<String> = String::from_utf8_lossy(&result.stdout)
            .lines()
            .chain(String::from_utf8_lossy(&result.stderr).lines())
            .map(without_versions)
            .collect();
        let expected: Vec<String> = expected.iter().map(|l| without_versions(l)).collect();
        assert_eq!(printed, expected, "{backend}: `{line}` printed otherwise");
        let fails = expected.iter().any(|l| l.starts_with("error:"));
        assert_eq!(
            result.status.success(),
            !fails,
            "{backend}: `{line}` exit status {}",
            result.status
        );
        // The model the database should now have: the tutorial's newest after
        // `run`, the one before it after `revert`.
        let now = match words.get(1..3) {
            Some(["migration", "run"]) => {
                applied.push(written.clone());
                applied.last()
            }
            Some(["migration", "revert"]) => {
                applied.pop();
                applied.last()
            }
            _ => None,
        };
        if let Some((schema, constraints)) = now {
            let mut conn = connect(&db);
            let drift = diff::differences(
                &catalog::read(&mut conn).unwrap(),
                &bookshelf_migrate::parse_model(schema, constraints).unwrap(),
            );
            assert!(drift.is_empty(), "{backend}: after `{line}`: {drift:?}");
            if !postgres {
                // diesel rewrote src/schema.rs from the database (diesel.toml).
                let rewritten = std::fs::read_to_string(copy.path().join("src/schema.rs")).unwrap();
                assert_eq!(
                    &rewritten, schema,
                    "{backend}: after `{line}`, diesel print-schema differs from the tutorial's src/schema.rs"
                );
            }
        }
    }
}

#[test]
fn versions_are_replaced_and_other_text_is_not() {
    assert_eq!(
        without_versions("created migrations/sqlite/2026-11-25-024205_add/{up.sql}"),
        "created migrations/sqlite/VERSION_add/{up.sql}"
    );
    assert_eq!(without_versions("2026-11-25 02:42"), "2026-11-25 02:42");
}
