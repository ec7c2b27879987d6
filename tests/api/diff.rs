//! `bookshelf migrate diff` as a user runs it: exit codes and messages, in a
//! copy of the repository's project. The engine's own suite
//! (crates/bookshelf_migrate/tests/diff.rs) tests the changes themselves.

use std::path::Path;

use bookshelf_test_db::ProjectCopy;

use crate::helpers::postgres_url;

const LAST_OF_BOOKS: &str = "        description -> Nullable<Text>,\n        version -> Integer,\n";

/// `bookshelf migrate diff ARGS` in the project, with only `env` naming
/// databases: exit code, stdout, stderr.
fn run_binary(project: &ProjectCopy, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_bookshelf"));
    command
        .arg("migrate")
        .arg("diff")
        .args(args)
        .current_dir(project.path())
        .env_remove("TEST_DATABASE_URL")
        .env_remove("DATABASE_URL")
        .env_remove("ROCKET_DATABASE_URL");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn without_a_postgresql_server_diff_says_so_in_one_line_and_exits_1() {
    let project = ProjectCopy::of(Path::new(env!("CARGO_MANIFEST_DIR")));
    project.edit(
        LAST_OF_BOOKS,
        "        description -> Nullable<Text>,\n        version -> Integer,\n        isbn -> Nullable<Text>,\n",
    );
    let folders = project.folders("sqlite");
    let (code, stdout, stderr) = run_binary(&project, &["add_isbn"], &[]);
    assert_eq!(code, 1);
    assert_eq!(stdout, "");
    assert_eq!(
        stderr,
        "error: migrate diff replays migrations/postgres on a PostgreSQL server, and none is \
         named: give --postgres postgres://USER@HOST/DB (or set TEST_DATABASE_URL)\n"
    );
    let (code, _, stderr) = run_binary(
        &project,
        &[
            "add_isbn",
            "--postgres",
            "postgres://bookshelf:secret@127.0.0.1:1/none",
        ],
        &[],
    );
    assert_eq!(code, 1);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(
            "error: cannot reach PostgreSQL at postgres://bookshelf:***@127.0.0.1:1/none: "
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("secret"), "{stderr}");
    assert_eq!(project.folders("sqlite"), folders, "nothing is written");
}

#[test]
fn the_binary_exits_1_on_a_refusal_and_on_check_with_a_difference() {
    let Some(server) = postgres_url() else {
        eprintln!("SKIPPED the_binary_exits_1_on_a_refusal_and_on_check_with_a_difference: TEST_DATABASE_URL is not set");
        return;
    };
    let env = [("TEST_DATABASE_URL", server.as_str())];
    let project = ProjectCopy::of(Path::new(env!("CARGO_MANIFEST_DIR")));
    let (code, stdout, _) = run_binary(&project, &["--check"], &env);
    assert_eq!(
        (code, stdout.as_str()),
        (
            0,
            "ok: the model (src/schema.rs, src/constraints.rs) matches the migrations (sqlite and postgres)\n"
        )
    );
    let (code, stdout, _) = run_binary(&project, &["nothing"], &env);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("no changes: "), "{stdout}");

    project.edit(
        LAST_OF_BOOKS,
        "        description -> Nullable<Text>,\n        version -> Integer,\n        isbn -> Text,\n",
    );
    let (code, stdout, stderr) = run_binary(&project, &["--check"], &env);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains("books.isbn is new and NOT NULL"),
        "{stderr}"
    );
    let (code, _, stderr) = run_binary(&project, &["add_isbn"], &env);
    assert_eq!(code, 1);
    assert!(
        stderr.starts_with("error: books.isbn is new and NOT NULL"),
        "{stderr}"
    );
    let (code, _, stderr) = run_binary(
        &project,
        &["add_isbn", "--default", "books.isbn='none'"],
        &env,
    );
    assert_eq!(code, 1);
    assert!(
        stderr.contains(
            "--default books.isbn: a new column's default is declared in src/constraints.rs"
        ),
        "{stderr}"
    );
    project.constrain(
        "default(version, 1);",
        "default(version, 1);\n        default(isbn, \"none\");",
    );
    let (code, stdout, _) = run_binary(&project, &["add_isbn"], &env);
    assert_eq!(code, 0);
    assert_eq!(
        stdout.lines().next(),
        Some("add column books.isbn Text default \"none\"")
    );
    assert!(!stdout.contains("warning:"), "lint finds nothing: {stdout}");
    let (code, stdout, _) = run_binary(&project, &["--check"], &env);
    assert_eq!(code, 0, "{stdout}");

    project.edit(
        "        isbn -> Text,\n",
        "        isbn -> Text,\n        pages -> Nullable<Integer>,\n",
    );
    let (code, stdout, stderr) = run_binary(&project, &["--check"], &env);
    assert_eq!(code, 1);
    assert_eq!(stdout, "add column books.pages Nullable<Integer>\n");
    assert!(
        stderr.starts_with(
            "error: the model (src/schema.rs, src/constraints.rs) and the migrations disagree (1 change(s) above)"
        ),
        "{stderr}"
    );
    let (code, _, stderr) = run_binary(&project, &["Bad Name"], &env);
    assert_eq!(code, 1);
    assert!(stderr.contains("invalid migration name"), "{stderr}");
    let (code, _, stderr) = run_binary(&project, &["x", "--rename", "books.pages"], &env);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("write TABLE.OLD=NEW for a column or OLD=NEW for a table"),
        "{stderr}"
    );
}
