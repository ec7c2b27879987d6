//! `bookshelf migrate diff`: src/schema.rs against each backend's
//! migrations replayed on a scratch database (SQLite in memory, PostgreSQL in
//! a throwaway database), then one new migration for both backends under one
//! version. Before anything is kept, the new files are tried on fresh
//! scratch databases: up reaches src/schema.rs, down restores every catalog
//! object, up again works.

use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;

use crate::connection::{Backend, DbConn};
use crate::diff::{self, Change, Options};
use crate::error::Error;
use crate::model::{self, Schema};
use crate::scratch::Scratch;
use crate::{catalog, sql};

/// What `migrate diff` was asked to do.
#[derive(Debug, Clone)]
pub struct Request {
    /// The folder holding sqlite/ and postgres/.
    pub dir: PathBuf,
    /// The model, normally src/schema.rs.
    pub schema: PathBuf,
    /// The model's constraints, normally src/constraints.rs; none when the
    /// file does not exist.
    pub constraints: PathBuf,
    /// The new migration's name (ignored by `check`).
    pub name: String,
    pub options: Options,
    /// The PostgreSQL server to replay on (a throwaway database is made there).
    pub postgres: Option<String>,
    /// The backends to write for: both, except in tests without PostgreSQL.
    pub backends: Vec<Backend>,
}

/// What `diff` did: the changes, and the folders it wrote (none when there
/// was nothing to change).
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub changes: Vec<Change>,
    pub created: Vec<PathBuf>,
    /// What to do about src/schema.rs so that `diesel print-schema` writes it
    /// as it is (the order of columns).
    pub notes: Vec<String>,
}

/// The changes src/schema.rs needs beyond the migrations, the same on both
/// backends, without writing anything (`migrate diff --check`).
pub fn check(request: &Request) -> Result<Vec<Change>, Error> {
    let target = read_model(request)?;
    let mut agreed: Option<Vec<Change>> = None;
    for &backend in &request.backends {
        let (_, _, changes) = compare(backend, request, &target)?;
        agree(&mut agreed, backend, changes)?;
    }
    Ok(agreed.unwrap_or_default())
}

/// A scratch database of `backend` with its migrations replayed, and the
/// changes that take it to `target` (refused changes are an error).
fn compare(
    backend: Backend,
    request: &Request,
    target: &Schema,
) -> Result<(Scratch, DbConn, Vec<Change>), Error> {
    let mut scratch = Scratch::open(backend, request.postgres.as_deref())?;
    let mut conn = scratch.replayed(&request.dir, &[])?;
    let current = catalog::read(&mut conn)?;
    let changes = diff::changes(&current, target, &request.options)
        .map_err(|refused| Error::Target(refused.to_string()))?;
    Ok((scratch, conn, changes))
}

/// Writes the migrations that take both backends from their migrations to
/// the model, or nothing when they already agree: one for the changes that
/// run in a transaction, one more for each index on a table that exists
/// (PostgreSQL builds it CONCURRENTLY, alone in its file), and a last one
/// that makes a new unique index a constraint. Versions follow each other.
pub fn diff(request: &Request, now: NaiveDateTime) -> Result<Outcome, Error> {
    let target = read_model(request)?;
    let mut agreed: Option<Vec<Change>> = None;
    let mut files = Vec::new();
    let mut scratches = Vec::new();
    let mut notes = Vec::new();
    for &backend in &request.backends {
        let (scratch, mut conn, changes) = compare(backend, request, &target)?;
        agree(&mut agreed, backend, changes.clone())?;
        if let DbConn::Sqlite(sqlite) = &mut conn {
            // As the generated file runs a rebuild: foreign keys off.
            sqlite
                .batch_execute("PRAGMA foreign_keys = OFF")
                .map_err(|e| Error::Target(e.to_string()))?;
        }
        if changes.is_empty() {
            continue;
        }
        let mut steps = Vec::new();
        // In the order the migrations will run (the first, then each of
        // its own), so that each step's down.sql is read from the database
        // as it will be just before that step.
        let (own, first): (Vec<_>, Vec<_>) = sql::groups(backend, &changes)
            .into_iter()
            .partition(|group| sql::phases(group[0]).0);
        for group in first.into_iter().chain(own) {
            let step = sql::render_group(&mut conn, &group)?;
            let all = (step.guard.iter().chain(&step.up).chain(&step.validate))
                .chain(&step.finally)
                .chain(&step.then_up);
            for statement in all {
                conn.batch_execute(statement).map_err(|e| {
                    let what: Vec<String> = group.iter().map(ToString::to_string).collect();
                    Error::Target(format!(
                        "{} SQL for `{}` does not run: {e}\n{statement}",
                        backend.name(),
                        what.join("`, `")
                    ))
                })?;
            }
            steps.push((group, step));
        }
        if backend == Backend::Sqlite {
            notes = column_order_notes(&catalog::read(&mut conn)?, &target);
        }
        files.push((backend, migrations(backend, &steps)));
        scratches.push(scratch);
    }
    let changes = agreed.unwrap_or_default();
    if changes.is_empty() {
        return Ok(Outcome::default());
    }
    // One version for each migration, the same on every backend.
    let names = |m: &[Planned]| -> Vec<Option<String>> { m.iter().map(|p| p.0.clone()).collect() };
    if files
        .windows(2)
        .any(|pair| names(&pair[0].1) != names(&pair[1].1))
    {
        return Err(Error::Target(
            "migrate diff planned different migrations for the two backends; nothing was kept \
             (please report this with your src/schema.rs and src/constraints.rs)"
                .to_string(),
        ));
    }
    let mut created = Vec::new();
    let mut folders = Vec::new();
    let mut at = now;
    for (backend, migrations) in &files {
        for (i, (suffix, _, files)) in migrations.iter().enumerate() {
            if folders.len() <= i {
                let name = match suffix {
                    Some(suffix) => format!("{}_{suffix}", request.name),
                    None => request.name.clone(),
                };
                let folder = crate::folders::folder_name(&request.dir, &name, at)?;
                at = crate::folders::version_time(&folder).unwrap_or(at)
                    + chrono::Duration::seconds(1);
                folders.push(folder);
            }
            let path = request.dir.join(backend.name()).join(&folders[i]);
            let header = header(*backend, &folders[i], &migrations[i].1);
            if let Err(e) = write_folder(&path, &with_header(files, &header)) {
                remove(&created);
                return Err(e);
            }
            created.push(path);
        }
    }
    // The files as written, on fresh scratch databases: any failure removes them.
    for scratch in &mut scratches {
        if let Err(error) = scratch.prove(&request.dir, &folders, &target) {
            remove(&created);
            return Err(error);
        }
    }
    Ok(Outcome {
        changes,
        created,
        notes,
    })
}

fn remove(created: &[PathBuf]) {
    for path in created {
        let _ = std::fs::remove_dir_all(path);
    }
}

/// A migration to write: the suffix of its name (none for the first), its
/// changes, and its files without their header.
type Planned = (Option<String>, Vec<Change>, Vec<(&'static str, String)>);

/// The migrations the steps make, in order (see [`diff`]).
fn migrations(backend: Backend, steps: &[(Vec<&Change>, sql::Step)]) -> Vec<Planned> {
    let mut first = (Vec::new(), Vec::new());
    let mut own = Vec::new();
    let mut last = (Vec::new(), Vec::new());
    for (group, step) in steps {
        let (alone, then) = sql::phases(group[0]);
        if !alone {
            first.0.extend(group.iter().map(|c| (*c).clone()));
            first.1.push(step.clone());
            continue;
        }
        if !step.guard.is_empty() {
            first.1.push(sql::Step {
                up: step.guard.clone(),
                ..sql::Step::default()
            });
        }
        let suffix = match group[0] {
            Change::AddIndex { index, .. } => format!("add_{}", index.name),
            Change::DropIndex { index, .. } => format!("drop_{}", index.name),
            _ => "index".to_string(),
        };
        own.push((Some(suffix), vec![group[0].clone()], step.clone()));
        if then {
            last.0.push(group[0].clone());
            last.1.push(sql::Step {
                up: step.then_up.clone(),
                down: step.then_down.clone(),
                ..sql::Step::default()
            });
        }
    }
    let mut out = Vec::new();
    if !first.0.is_empty() || !first.1.is_empty() {
        out.push((
            None,
            first.0.clone(),
            migration_files(backend, &first.0, &first.1, false),
        ));
    }
    for (suffix, changes, step) in own {
        let files = migration_files(backend, &changes, std::slice::from_ref(&step), true);
        out.push((suffix, changes, files));
    }
    if !last.0.is_empty() {
        let files = migration_files(backend, &last.0, &last.1, false);
        out.push((Some("constraints".to_string()), last.0, files));
    }
    // The first migration of a diff that only adds indexes is the first of these.
    if out.first().is_some_and(|(suffix, ..)| suffix.is_some()) {
        out[0].0 = None;
    }
    out
}

/// Where the database's column order (which `diesel print-schema` follows:
/// new columns come last) differs from src/schema.rs's.
fn column_order_notes(live: &Schema, target: &Schema) -> Vec<String> {
    let mut notes = Vec::new();
    for table in &target.tables {
        let Some(found) = live.table(&table.name) else {
            continue;
        };
        let wanted: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
        let order: Vec<&str> = found.columns.iter().map(|c| c.name.as_str()).collect();
        if wanted != order {
            notes.push(format!(
                "the columns of {} are in this order in the database: {}; diesel print-schema \
                 lists them so, so put them in that order in src/schema.rs",
                table.name,
                order.join(", ")
            ));
        }
    }
    notes
}

/// The model: src/schema.rs, with src/constraints.rs on top when it exists.
fn read_model(request: &Request) -> Result<Schema, Error> {
    let read = |path: &Path| {
        std::fs::read_to_string(path)
            .map_err(|e| Error::Target(format!("cannot read {}: {e}", path.display())))
    };
    let text = read(&request.schema)?;
    let mut schema = model::parse(&text)
        .map_err(|e| Error::Target(format!("{}: {e}", request.schema.display())))?;
    if request.constraints.exists() {
        let constraints = read(&request.constraints)?;
        crate::constraints::apply(&mut schema, &constraints)
            .map_err(|e| Error::Target(format!("{}: {e}", request.constraints.display())))?;
    }
    Ok(schema)
}

/// Both backends' migrations must describe one schema: their changes to
/// src/schema.rs must be the same.
fn agree(
    agreed: &mut Option<Vec<Change>>,
    backend: Backend,
    changes: Vec<Change>,
) -> Result<(), Error> {
    match agreed {
        None => *agreed = Some(changes),
        Some(first) if *first == changes => {}
        Some(first) => {
            let list = |changes: &[Change]| -> String {
                if changes.is_empty() {
                    return "  (none)".to_string();
                }
                changes
                    .iter()
                    .map(|c| format!("  {c}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            return Err(Error::Target(format!(
                "migrations/sqlite and migrations/{} describe different schemas; \
                 src/schema.rs needs\n on sqlite:\n{}\n on {}:\n{}\nmake the two folders agree first",
                backend.name(),
                list(first),
                backend.name(),
                list(&changes)
            )));
        }
    }
    Ok(())
}

/// What metadata.toml says of a contract migration.
const CONTRACT_METADATA: &str =
    "# It removes what the previous binary may rely on: run it once every replica\n\
     # runs the new one (bookshelf migrate up --contract).\n\
     contract = true\n";

/// A migration's header: its name and backend, and its changes.
fn header(backend: Backend, folder: &str, changes: &[Change]) -> Vec<String> {
    let mut header = vec![format!(
        "{folder} ({}): written by `bookshelf migrate diff` from the model \
         (src/schema.rs, src/constraints.rs).",
        backend.name()
    )];
    header.extend(changes.iter().map(|c| format!("  {c}")));
    header
}

/// The files with the header written at the top of up.sql and down.sql.
fn with_header(files: &[(&'static str, String)], header: &[String]) -> Vec<(&'static str, String)> {
    let top: String = header.iter().map(|line| format!("-- {line}\n")).collect();
    files
        .iter()
        .map(|(file, text)| match *file {
            "up.sql" | "down.sql" => (*file, format!("{top}{text}")),
            _ => (*file, text.clone()),
        })
        .collect()
}

/// up.sql, down.sql and, for a SQLite rebuild, a PostgreSQL index built
/// CONCURRENTLY (`alone`) or a contract migration, metadata.toml; without
/// the header, which needs the migration's folder name.
fn migration_files(
    backend: Backend,
    changes: &[Change],
    steps: &[sql::Step],
    alone: bool,
) -> Vec<(&'static str, String)> {
    let losses: Vec<String> = changes.iter().filter_map(Change::data_loss).collect();
    let mut up_header = Vec::new();
    for loss in &losses {
        up_header.push(format!(
            "DATA LOSS (allowed with --allow-data-loss): {loss}."
        ));
    }
    let contract = Change::is_contract(changes);
    if contract {
        up_header.push(
            "A contract migration: it removes what the previous binary may rely on, so it runs \
             once every replica runs the new one (`bookshelf migrate up --contract`)."
                .to_string(),
        );
    }
    let mut down_header = vec!["Undoes up.sql, newest change first.".to_string()];
    if !losses.is_empty() {
        down_header.push(
            "The structure comes back; the data up.sql dropped or narrowed does not.".to_string(),
        );
    }
    let rebuild = steps.iter().any(|s| s.rebuild);
    let gather = |part: fn(&sql::Step) -> &Vec<String>| -> Vec<String> {
        steps.iter().flat_map(|s| part(s).iter().cloned()).collect()
    };
    let up = vec![
        gather(|s| &s.up),
        gather(|s| &s.validate),
        gather(|s| &s.finally),
    ];
    let down: Vec<String> = steps
        .iter()
        .rev()
        .flat_map(|s| s.down.iter().cloned())
        .collect();
    let layout = match backend {
        Backend::Postgres if alone => sql::Layout::Concurrent,
        Backend::Postgres if up[1..].iter().any(|t| !t.is_empty()) => sql::Layout::Explicit,
        _ => sql::Layout::InDiesels,
    };
    let script = |header: &[String], transactions: &[Vec<String>]| {
        if transactions.iter().all(Vec::is_empty) {
            let mut text = sql::script(backend, header, &[], false, sql::Layout::Concurrent);
            text.push_str("-- Nothing to do on this backend: the other one needs this version.\n");
            return text;
        }
        sql::script(backend, header, transactions, rebuild, layout)
    };
    let down = if down.is_empty() && up.iter().any(|t| !t.is_empty()) {
        // PostgreSQL refuses an empty script; up.sql only checked rows.
        vec!["SELECT 1 AS nothing_to_undo;".to_string()]
    } else {
        down
    };
    let mut files = vec![
        ("up.sql", script(&up_header, &up)),
        ("down.sql", script(&down_header, &[down])),
    ];
    let metadata = match layout {
        sql::Layout::Concurrent => Some(sql::CONCURRENT_METADATA),
        sql::Layout::Explicit => Some(sql::EXPLICIT_METADATA),
        sql::Layout::InDiesels if sql::needs_own_transaction(backend, steps) => {
            Some(sql::OWN_TRANSACTION_METADATA)
        }
        sql::Layout::InDiesels => None,
    };
    let metadata = match (metadata, contract) {
        (None, false) => None,
        (Some(text), false) => Some(text.to_string()),
        (None, true) => Some(format!("run_in_transaction = true\n{CONTRACT_METADATA}")),
        (Some(text), true) => Some(format!("{text}{CONTRACT_METADATA}")),
    };
    if let Some(metadata) = metadata {
        files.push(("metadata.toml", metadata));
    }
    files
}

fn write_folder(path: &Path, files: &[(&str, String)]) -> Result<(), Error> {
    if path.exists() {
        return Err(Error::Target(format!("{} exists already", path.display())));
    }
    std::fs::create_dir_all(path)
        .and_then(|()| {
            files
                .iter()
                .try_for_each(|(file, text)| std::fs::write(path.join(file), text))
        })
        .map_err(|e| Error::Target(format!("cannot write {}: {e}", path.display())))
}
