//! `bookshelf migrate`: each subcommand, a thin layer over the engine
//! (`bookshelf_migrate`) with bookshelf's own migrations and model.

use bookshelf_migrate::{self as engine, diff, generate, lint, Backend, DatabaseUrl, DownTo, UpTo};

use super::args::{Hints, MigrateCommand};
use crate::config::Settings;
use crate::db::{self, StartupError};
use crate::migrations;

/// The settings, from the environment, .env and Rocket.toml.
pub fn settings() -> Result<Settings, StartupError> {
    crate::config::figment()
        .extract()
        .map_err(|e| StartupError::Target(format!("invalid configuration: {e}")))
}

/// The options of `diff` and `adopt`: renames, defaults, data loss.
fn diff_options(hints: &Hints) -> Result<diff::Options, StartupError> {
    let mut options = diff::Options {
        allow_data_loss: hints.allow_data_loss,
        ..diff::Options::default()
    };
    for hint in &hints.rename {
        options.rename(hint).map_err(StartupError::Target)?;
    }
    for value in &hints.default {
        options.default_value(value).map_err(StartupError::Target)?;
    }
    Ok(options)
}

/// Runs one `bookshelf migrate` subcommand, printing what it did.
pub fn run(command: MigrateCommand) -> Result<(), StartupError> {
    if let MigrateCommand::Diff {
        name,
        check,
        hints,
        postgres,
        dir,
        schema,
        constraints,
    } = command
    {
        let options = diff_options(&hints)?;
        let request = generate::Request {
            dir,
            schema,
            constraints,
            name: name.unwrap_or_default(),
            options,
            postgres,
            backends: vec![Backend::Sqlite, Backend::Postgres],
        };
        return run_diff(&request, check);
    }
    if let MigrateCommand::Lint { versions, dir } = &command {
        let report = lint::lint_dir(dir, versions)?;
        for finding in &report.findings {
            println!("{finding}");
        }
        for late in &report.late {
            println!("warning: {late}");
        }
        for folder in &report.unordered {
            println!(
                "note: {} has no git history here, so lint cannot tell a migration merged out of order",
                folder.display()
            );
        }
        let summary = lint::summary(&report);
        if !report.findings.is_empty() {
            return Err(StartupError::Target(format!("lint: {summary}")));
        }
        println!("lint: {summary}");
        return Ok(());
    }
    let settings = settings()?;
    let say = |verb: &str, names: Vec<String>| {
        if names.is_empty() {
            println!("nothing to {verb}");
        }
        for name in names {
            println!("{verb} {name}");
        }
    };
    match command {
        // Without a database: the URL only chooses the SQL dialect.
        MigrateCommand::Sql { direction, to } => {
            let url = DatabaseUrl::parse(&settings.database_url, settings.timeout())?;
            let source = migrations::of(url.backend());
            let to = to
                .as_deref()
                .map(|v| engine::resolve(source, v))
                .transpose()?;
            print!(
                "{}",
                engine::sql(source, url.backend(), direction.into(), to.as_deref())
            );
        }
        MigrateCommand::Diff { .. } | MigrateCommand::Lint { .. } => {
            unreachable!("handled above")
        }
        MigrateCommand::New { name, dir } => {
            let created = engine::new(&dir, &name, chrono::Utc::now().naive_utc())?;
            for folder in &created {
                println!("created {}/{{up.sql,down.sql}}", folder.display());
            }
            warn_lint(&created)?;
        }
        command @ (MigrateCommand::Status | MigrateCommand::History) => {
            let (mut conn, url) = db::open_connection(&settings)?;
            let history = engine::history(&mut conn, &url, migrations::of(url.backend()))?;
            let current = history.iter().rev().find(|m| m.applied_at.is_some());
            let pending = history.iter().filter(|m| m.applied_at.is_none()).count();
            let marker = |m: &engine::MigrationState| match (m.stamped, m.contract, m.out_of_order)
            {
                (_, _, true) => {
                    " (out of order: older than the newest applied; see `migrate up --help`)"
                }
                (Some(engine::Stamp::Forced), ..) => {
                    " (stamped with --force over a schema that differed)"
                }
                (Some(engine::Stamp::Stamped), ..) => " (stamped: recorded without running)",
                (None, true, false) => " (contract)",
                (None, false, false) => "",
            };
            let unmanaged = engine::unmanaged(&mut conn)?;
            println!("database: {url} ({})", url.backend().name());
            match (current, &unmanaged) {
                (Some(m), _) => println!("current:  {}", m.name),
                (None, Some(found)) => println!("current:  none; {found}"),
                (None, None) => println!("current:  none (empty database)"),
            }
            println!("applied:  {}, pending: {pending}", history.len() - pending);
            for m in &history {
                match m.applied_at {
                    Some(at) => println!(
                        "  [applied {}] {}{}",
                        at.format("%Y-%m-%d %H:%M:%S"),
                        m.name,
                        marker(m)
                    ),
                    None => println!("  [pending]                     {}{}", m.name, marker(m)),
                }
            }
            for index in engine::invalid_indexes(&mut conn)? {
                println!("WARNING: {index}");
            }
            if matches!(command, MigrateCommand::History) {
                return Ok(());
            }
            let replicas =
                engine::replicas::list(&mut conn).map_err(|e| engine::Error::MigrationState {
                    url: url.to_string(),
                    source: Box::new(e),
                })?;
            println!("replicas: {}", replicas.len());
            let now = engine::now();
            for r in &replicas {
                let seen = (now - r.heartbeat_at).num_seconds();
                println!(
                    "  [{}] {} (pid {} on {}), knows up to {}, seen {seen} s ago",
                    if r.is_alive(now) { "alive" } else { "stale" },
                    r.id,
                    r.pid,
                    r.host,
                    r.newest_migration
                );
            }
            let standbys = db::standby_urls(&settings, &url)?;
            if !standbys.is_empty() {
                println!("standbys: {} (database_replica_urls)", standbys.len());
                let max_lag = settings.replica_max_lag();
                for (standby, health) in db::probe_once(&mut conn, &standbys, settings.timeout()) {
                    let state = health.state(max_lag);
                    match health {
                        db::Health::Replaying { replayed, lag } => println!(
                            "  [{state}] {standby}: replayed {replayed}, lag {:.2} s (reads skip it past {:.1} s)",
                            lag.as_secs_f64(),
                            max_lag.as_secs_f64()
                        ),
                        db::Health::Down(why) => println!("  [{state}] {standby}: {why}"),
                        db::Health::NotStandby => println!(
                            "  [{state}] {standby}: answers but replays nothing (promoted, or not a standby)"
                        ),
                        db::Health::Unknown => println!("  [{state}] {standby}"),
                    }
                }
            }
        }
        MigrateCommand::Up {
            to,
            steps,
            contract,
            out_of_order,
        } => {
            let (mut conn, url) = db::open_connection(&settings)?;
            let source = migrations::of(url.backend());
            let to = match (to, steps) {
                (Some(v), _) => UpTo::Version(engine::resolve(source, &v)?),
                (None, Some(n)) => UpTo::Steps(n),
                (None, None) => UpTo::Latest,
            };
            let options = engine::UpOptions {
                contract,
                out_of_order,
            };
            let applied = engine::up_with_options(&mut conn, &url, source, to, options)?;
            say("applied", applied);
            let waiting: Vec<String> = engine::history(&mut conn, &url, source)?
                .into_iter()
                .filter(|m| m.applied_at.is_none() && m.contract)
                .map(|m| m.name)
                .collect();
            if !waiting.is_empty() {
                println!(
                    "waiting: contract migration(s) {}; run `bookshelf migrate up --contract` once every replica runs this binary",
                    waiting.join(", ")
                );
            }
        }
        MigrateCommand::Down { steps, to, all } => {
            let (mut conn, url) = db::open_connection(&settings)?;
            let source = migrations::of(url.backend());
            let to = match (to, all) {
                (_, true) => DownTo::All,
                (Some(v), false) => DownTo::Version(engine::resolve(source, &v)?),
                (None, false) => DownTo::Steps(steps.unwrap_or(1)),
            };
            say("reverted", engine::down(&mut conn, &url, source, to)?);
        }
        MigrateCommand::Verify => {
            let (mut conn, url) = db::open_connection(&settings)?;
            let source = migrations::of(url.backend());
            let verification = engine::verify(&mut conn, &url, source)?;
            for name in &verification.unrecorded {
                println!("note: {name} has no recorded checksum (applied outside bookshelf)");
            }
            for problem in &verification.problems {
                println!("FAIL: {problem}");
            }
            let model = migrations::built_model()?;
            let drift = engine::schema_drift(&mut conn, &url, source, &model)?;
            for difference in drift.iter().flatten() {
                println!("FAIL: schema drift: {difference}");
            }
            if drift.is_none() {
                println!("note: migrations are pending, so the schema was not compared with src/schema.rs");
            }
            let invalid = engine::invalid_indexes(&mut conn)?;
            for index in &invalid {
                println!("FAIL: {index}");
            }
            let failures =
                verification.problems.len() + drift.as_ref().map_or(0, Vec::len) + invalid.len();
            if failures > 0 {
                return Err(StartupError::Target(format!("{failures} problem(s) found")));
            }
            println!("ok: every applied migration matches this binary");
            if drift.is_some() {
                println!("ok: the database matches src/schema.rs and src/constraints.rs (tables, columns, indexes, CHECKs, defaults, foreign keys)");
            }
        }
        MigrateCommand::Stamp { version, force } => {
            let (mut conn, url) = db::open_connection(&settings)?;
            let source = migrations::of(url.backend());
            let name = engine::resolve(source, &version)?;
            let stamped = engine::stamp(&mut conn, &url, source, &name, force)?;
            for difference in &stamped.differences {
                println!("differs: {difference}");
            }
            let how = if stamped.differences.is_empty() {
                "the schema matches"
            } else {
                "forced: the schema differs as listed above, and the records say so"
            };
            for name in &stamped.names {
                println!("stamped {name}");
            }
            println!(
                "{} migration(s) recorded as applied without running ({how})",
                stamped.names.len()
            );
        }
        MigrateCommand::Adopt { hints, sql } => {
            let options = diff_options(&hints)?;
            let (mut conn, url) = db::open_connection(&settings)?;
            let source = migrations::of(url.backend());
            let adoption = engine::adopt(&mut conn, &url, source, &options, !sql)?;
            if let Some(revision) = &adoption.alembic {
                println!(
                    "note: alembic_version holds Alembic revision {revision}: the database came from Alembic; it is left as it is"
                );
            }
            for change in &adoption.changes {
                println!("{change}");
            }
            if sql {
                println!("-- the SQL `bookshelf migrate adopt` runs, in one transaction:");
                for statement in &adoption.sql {
                    println!("{statement}");
                }
                println!("-- nothing was changed (--sql)");
                return Ok(());
            }
            println!("ran {} statement(s) in one transaction", adoption.sql.len());
            for name in &adoption.stamped {
                println!("stamped {name}");
            }
            println!(
                "adopted: the database is at {} and bookshelf manages it",
                adoption.stamped.last().map_or("", String::as_str)
            );
        }
        MigrateCommand::Accept { version } => {
            let (mut conn, url) = db::open_connection(&settings)?;
            let source = migrations::of(url.backend());
            let name = engine::resolve(source, &version)?;
            engine::accept(&mut conn, &url, source, &name)?;
            println!("accepted {name}: its checksum is now the compiled one");
        }
        MigrateCommand::Redo { steps } => {
            let (mut conn, url) = db::open_connection(&settings)?;
            let source = migrations::of(url.backend());
            say(
                "reverted",
                engine::down(&mut conn, &url, source, DownTo::Steps(steps))?,
            );
            say(
                "applied",
                engine::up(&mut conn, &url, source, UpTo::Steps(steps))?,
            );
        }
    }
    Ok(())
}

/// `bookshelf migrate diff`: one line per change, then the folders written.
fn run_diff(request: &generate::Request, check: bool) -> Result<(), StartupError> {
    let schema = if request.constraints.exists() {
        format!(
            "the model ({}, {})",
            request.schema.display(),
            request.constraints.display()
        )
    } else {
        format!("the model ({})", request.schema.display())
    };
    if check {
        let changes = generate::check(request)?;
        if changes.is_empty() {
            println!("ok: {schema} matches the migrations (sqlite and postgres)");
            return Ok(());
        }
        for change in &changes {
            println!("{change}");
        }
        return Err(StartupError::Target(format!(
            "{schema} and the migrations disagree ({} change(s) above); \
             write them with `bookshelf migrate diff NAME`",
            changes.len()
        )));
    }
    let outcome = generate::diff(request, chrono::Utc::now().naive_utc())?;
    if outcome.changes.is_empty() {
        println!(
            "no changes: {schema} matches the migrations (sqlite and postgres); nothing written"
        );
        return Ok(());
    }
    for change in &outcome.changes {
        println!("{change}");
    }
    for folder in &outcome.created {
        println!("created {}/{{up.sql,down.sql}}", folder.display());
    }
    for note in &outcome.notes {
        println!("note: {note}");
    }
    warn_lint(&outcome.created)
}

/// Lints migrations just written and prints what it finds; the files stay
/// written either way (`migrate lint`, in CI, is the gate).
fn warn_lint(folders: &[std::path::PathBuf]) -> Result<(), StartupError> {
    let report = lint::lint_folders(folders)?;
    for finding in &report.findings {
        println!("warning: {finding}");
    }
    if !report.findings.is_empty() {
        println!(
            "lint: {}; change the SQL or add `-- lint: allow RULE: REASON` before the statement",
            lint::summary(&report)
        );
    }
    Ok(())
}
