//! `bookshelf migrate lint`: reads the migration files on disk (not the
//! ones compiled in, so it works before a build) and reports what would hurt
//! a live fleet: locks that stop other replicas' queries, rewrites of whole
//! tables, and changes that lose data or break the previous binary.
//!
//! - PostgreSQL: squawk's default rules (the `squawk-linter` crate, pinned)
//!   but the three that prefer other column types ([`EXCLUDED`]), told
//!   whether diesel runs the file in a transaction.
//! - SQLite: rules of our own, checked against the schema the earlier
//!   migrations build (replayed in an in-memory database): table rebuilds,
//!   `PRAGMA foreign_keys` inside a transaction (a no-op), dropping a column
//!   that is indexed or constrained, dropping or renaming what the previous
//!   binary reads, and any statement SQLite itself refuses.
//!
//! Only up.sql is linted: down.sql undoes its migration, dropping what up
//! made is its job. A finding is silenced by a comment just before its
//! statement that names the rule and gives a reason:
//!
//! ```sql
//! -- lint: allow require-concurrent-index-creation: the table is created in this migration
//! ```

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel::SqliteConnection;
use squawk_linter::Linter;
use squawk_syntax::ast::AstNode;
use squawk_syntax::SourceFile;

use crate::arrivals::{late_arrivals, LateArrival};
use crate::connection::Backend;
use crate::error::Error;
use crate::sql_tokens::{tokens, unquote, Kind};

/// One problem in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub file: PathBuf,
    pub line: usize,
    pub rule: String,
    /// Why it is dangerous.
    pub message: String,
    /// What to do instead.
    pub help: String,
    /// PostgreSQL: the lock the statement takes on the table it changes, as
    /// squawk classifies it (`SHARE`, `ACCESS EXCLUSIVE`, ...), if known.
    pub lock: Option<String>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file.display(),
            self.line,
            self.rule,
            self.message
        )?;
        if let Some(lock) = &self.lock {
            write!(f, "\n  lock: {lock} on the table while the statement runs")?;
        }
        write!(f, "\n  instead: {}", self.help)
    }
}

/// What linting a set of migrations found.
#[derive(Debug, Default)]
pub struct Report {
    /// up.sql files read.
    pub files: usize,
    pub findings: Vec<Finding>,
    /// Findings silenced by an allow comment, with its reason.
    pub allowed: Vec<(Finding, String)>,
    /// Migrations that arrived in their folder after a newer one (warnings:
    /// they do not fail the lint; see [`crate::arrivals`]).
    pub late: Vec<LateArrival>,
    /// Backend folders whose arrival order git could not tell (not in a git
    /// checkout, or a shallow one).
    pub unordered: Vec<PathBuf>,
}

/// squawk's default rules left out: they prefer other column types, a
/// choice src/schema.rs makes (`migrate diff` writes `INTEGER` for
/// `Integer`, `TIMESTAMP` for `Timestamp`; one schema.rs serves SQLite too,
/// which has neither `timestamptz` nor a 32/64-bit distinction), not a lock
/// or a loss of data.
pub const EXCLUDED: &[squawk_linter::Rule] = &[
    squawk_linter::Rule::PreferBigintOverInt,
    squawk_linter::Rule::PreferBigintOverSmallint,
    squawk_linter::Rule::PreferTimestampTz,
];

/// The rule names of SQLite findings (PostgreSQL's are squawk's).
pub const SQLITE_RULES: &[&str] = &[
    "table-rebuild",
    "foreign-keys-pragma-in-transaction",
    "drop-constrained-column",
    "ban-drop-column",
    "ban-drop-table",
    "renaming-column",
    "renaming-table",
    "refused-by-sqlite",
    "adding-required-field",
    "metadata-without-run-in-transaction",
];

/// Lints the up.sql of every migration under `dir`'s backend folders, or of
/// the migrations `versions` name (a folder name, its version, a prefix of
/// either, or the name after the version).
pub fn lint_dir(dir: &Path, versions: &[String]) -> Result<Report, Error> {
    lint_dir_with(dir, versions, true)
}

/// [`lint_dir`], with the order the migrations arrived in (from git) when
/// `arrivals` says so.
fn lint_dir_with(dir: &Path, versions: &[String], arrivals: bool) -> Result<Report, Error> {
    let mut report = Report::default();
    let mut matched = vec![false; versions.len()];
    let mut backends = 0;
    for backend in [Backend::Postgres, Backend::Sqlite] {
        let folder = dir.join(backend.name());
        if !folder.is_dir() {
            continue;
        }
        backends += 1;
        let mut replay = match backend {
            Backend::Sqlite => Some(SqliteReplay::new()?),
            Backend::Postgres => None,
        };
        let migrations = migration_folders(&folder)?;
        if arrivals {
            let present: Vec<String> = migrations.iter().map(|m| migration_name(m)).collect();
            match late_arrivals(&folder, &present) {
                Some(late) => report.late.extend(late.into_iter().filter(|l| {
                    versions.is_empty() || versions.iter().any(|v| names(&l.migration, v))
                })),
                None => report.unordered.push(folder.clone()),
            }
        }
        for migration in migrations {
            let name = migration_name(&migration);
            let wanted = versions.is_empty()
                || versions.iter().enumerate().any(|(i, v)| {
                    let hit = names(&name, v);
                    matched[i] |= hit;
                    hit
                });
            let up = migration.join("up.sql");
            let sql = read(&up)?;
            let (in_transaction, metadata_finding) = runs_in_transaction(&migration)?;
            let found = match &mut replay {
                Some(replay) => replay.lint(&up, &sql, in_transaction, wanted),
                None if wanted => lint_postgres(&up, &sql, in_transaction),
                None => Vec::new(),
            };
            if wanted {
                report.files += 1;
                apply_allows(&up, &sql, backend, found, &mut report);
                report.findings.extend(metadata_finding);
            }
        }
    }
    if backends == 0 {
        return Err(Error::Target(format!(
            "{} holds neither postgres/ nor sqlite/ migrations",
            dir.display()
        )));
    }
    if let Some(i) = matched.iter().position(|m| !m) {
        return Err(Error::Target(format!(
            "no migration under {} matches {}",
            dir.display(),
            versions[i]
        )));
    }
    Ok(report)
}

/// Lints the up.sql files of `folders` (as `migrate diff` just wrote them),
/// each against the migrations before it in its backend's folder.
pub fn lint_folders(folders: &[PathBuf]) -> Result<Report, Error> {
    // `diff` writes one version into each backend's folder; lint_dir reads
    // both backends, so each (migrations folder, version) is linted once.
    let mut runs: Vec<(&Path, String)> = Vec::new();
    for folder in folders {
        if let Some(dir) = folder.parent().and_then(Path::parent) {
            let run = (dir, migration_name(folder));
            if !runs.contains(&run) {
                runs.push(run);
            }
        }
    }
    let mut all = Report::default();
    for (dir, name) in runs {
        // A migration `diff` just wrote is the newest: it cannot arrive late.
        let one = lint_dir_with(dir, &[name], false)?;
        all.findings.extend(one.findings);
        all.allowed.extend(one.allowed);
    }
    // Each folder's own, in the order the folders were given.
    let mut report = Report {
        files: folders.len(),
        ..Report::default()
    };
    for folder in folders {
        let mine = |f: &Finding| f.file.starts_with(folder);
        report
            .findings
            .extend(all.findings.iter().filter(|f| mine(f)).cloned());
        report
            .allowed
            .extend(all.allowed.iter().filter(|(f, _)| mine(f)).cloned());
    }
    Ok(report)
}

fn migration_folders(folder: &Path) -> Result<Vec<PathBuf>, Error> {
    let entries = std::fs::read_dir(folder).map_err(|e| io_error(folder, e))?;
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("up.sql").is_file())
        .collect();
    out.sort();
    Ok(out)
}

fn migration_name(folder: &Path) -> String {
    folder
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Whether `query` names the migration `name` (as `migrate up --to` reads it).
fn names(name: &str, query: &str) -> bool {
    let digits = crate::scripts::version_of(name);
    let after = name.split_once('_').map_or("", |(_, after)| after);
    !query.is_empty() && (name.starts_with(query) || digits.starts_with(query) || after == query)
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| io_error(path, e))
}

fn io_error(path: &Path, e: std::io::Error) -> Error {
    Error::Target(format!("cannot read {}: {e}", path.display()))
}

/// Whether diesel wraps the migration in a transaction, as diesel reads
/// metadata.toml: yes without the file; with it, only if it says
/// `run_in_transaction = true` (a file without the key means false).
fn runs_in_transaction(folder: &Path) -> Result<(bool, Option<Finding>), Error> {
    let path = folder.join("metadata.toml");
    if !path.is_file() {
        return Ok((true, None));
    }
    let table: toml::Table = read(&path)?
        .parse()
        .map_err(|e| Error::Target(format!("invalid {}: {e}", path.display())))?;
    match table
        .get("run_in_transaction")
        .and_then(toml::Value::as_bool)
    {
        Some(value) => Ok((value, None)),
        None => Ok((
            false,
            Some(Finding {
                file: path,
                line: 1,
                rule: "metadata-without-run-in-transaction".into(),
                message: "diesel reads a metadata.toml without `run_in_transaction` as false: \
                          this migration runs outside a transaction"
                    .into(),
                help: "say `run_in_transaction = true` (or `false`, if that is meant)".into(),
                lock: None,
            }),
        )),
    }
}

fn line_of(sql: &str, offset: usize) -> usize {
    1 + sql[..offset.min(sql.len())].matches('\n').count()
}

/// squawk's default rules on one PostgreSQL file.
fn lint_postgres(file: &Path, sql: &str, in_transaction: bool) -> Vec<Finding> {
    let parse = SourceFile::parse(sql);
    let mut findings: Vec<Finding> = parse
        .errors()
        .into_iter()
        .map(|e| Finding {
            file: file.to_path_buf(),
            line: line_of(sql, usize::from(e.range().start())),
            rule: "syntax-error".into(),
            message: format!("the linter cannot read this statement: {}", e.message()),
            help: "check the SQL; if PostgreSQL accepts it, silence this with a reason".into(),
            lock: None,
        })
        .collect();
    let statements = statement_ranges(&parse.tree());
    let mut linter = Linter::with_rules(&[], EXCLUDED);
    linter.settings.assume_in_transaction = in_transaction;
    for violation in linter.lint(&parse, sql) {
        let at = usize::from(violation.text_range.start());
        let lock = statements
            .iter()
            .find(|range| range.contains(&at))
            .and_then(|range| lock_taken(&sql[range.clone()]));
        findings.push(Finding {
            file: file.to_path_buf(),
            line: line_of(sql, at),
            rule: violation.code.to_string(),
            message: violation.message,
            help: violation
                .help
                .or_else(|| safe_alternative(&violation.code.to_string()).map(String::from))
                .unwrap_or_else(|| format!("see https://squawkhq.com/docs/{}", violation.code)),
            lock,
        });
    }
    if !in_transaction && is_lone_concurrent_index(sql, &statements) {
        findings.retain(|f| !CONCURRENT_NEEDS_NO_TIMEOUT.contains(&f.rule.as_str()));
    }
    findings
}

/// The timeouts a lone `CREATE INDEX CONCURRENTLY` or `DROP INDEX
/// CONCURRENTLY` is not asked for. Its SHARE UPDATE EXCLUSIVE lock, even
/// while it waits, blocks no read and no write (only other schema changes
/// and VACUUM), so there is no queue behind it for a lock_timeout to cut
/// short; a statement_timeout would cancel a long build and leave an
/// INVALID index behind; and diesel sends a file whole, which PostgreSQL
/// runs as one transaction, where a SET beside the statement makes
/// CONCURRENTLY fail.
const CONCURRENT_NEEDS_NO_TIMEOUT: &[&str] = &["require-lock-timeout", "require-statement-timeout"];

/// Whether the file is one statement that builds or drops an index
/// CONCURRENTLY.
fn is_lone_concurrent_index(sql: &str, statements: &[Range<usize>]) -> bool {
    let [only] = statements else {
        return false;
    };
    let words: Vec<String> = sql[only.clone()]
        .split_whitespace()
        .take(4)
        .map(str::to_ascii_uppercase)
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    matches!(
        words.as_slice(),
        ["CREATE", "INDEX", "CONCURRENTLY", ..]
            | ["CREATE", "UNIQUE", "INDEX", "CONCURRENTLY"]
            | ["DROP", "INDEX", "CONCURRENTLY", ..]
    )
}

/// What to do instead, for the squawk rules whose findings carry no help.
fn safe_alternative(rule: &str) -> Option<&'static str> {
    Some(match rule {
        "renaming-column" => {
            "add the new column, write both, move reads to it, and drop the old one in a later \
             release, when no process reads it"
        }
        "renaming-table" => {
            "create the new table (or a view under the new name), move reads and writes, and \
             drop the old one in a later release"
        }
        "changing-column-type" => {
            "add a column of the new type, fill it in batches, move reads to it, then drop the \
             old column in a later release"
        }
        "ban-drop-column" | "ban-drop-table" => {
            "stop reading it in one release, drop it in a later one, once every replica runs \
             that release"
        }
        "adding-not-nullable-field" | "adding-required-field" => {
            "add the column nullable or with a constant DEFAULT, fill it, then add the NOT NULL"
        }
        "constraint-missing-not-valid" | "adding-foreign-key-constraint" => {
            "add the constraint NOT VALID, then VALIDATE CONSTRAINT in a later migration (it \
             takes a weaker lock)"
        }
        "prefer-robust-stmts" => "use IF [NOT] EXISTS so that a retried migration can run again",
        _ => return None,
    })
}

/// The lock a PostgreSQL statement takes on the table it changes, as squawk
/// classifies it: its `require-lock-timeout` rule names the lock of the first
/// statement that needs a timeout, so the statement is linted alone with it.
pub fn lock_taken(statement: &str) -> Option<String> {
    let parse = SourceFile::parse(statement);
    let mut linter = Linter::from([squawk_linter::Rule::RequireLockTimeout]);
    linter.lint(&parse, statement).into_iter().find_map(|v| {
        v.message
            .split_once(" slow ")
            .and_then(|(_, rest)| rest.strip_suffix(" lock operations"))
            .map(str::to_string)
    })
}

/// Where each PostgreSQL statement's code is in `sql`: from its first token
/// that is not a comment or white space to its end.
pub(crate) fn postgres_statements(sql: &str) -> Vec<Range<usize>> {
    statement_ranges(&SourceFile::parse(sql).tree())
}

fn statement_ranges(file: &SourceFile) -> Vec<Range<usize>> {
    file.stmts()
        .filter_map(|stmt| {
            let node = stmt.syntax();
            let first = node
                .descendants_with_tokens()
                .filter_map(|e| e.into_token())
                .find(|t| !t.kind().is_trivia())?;
            Some(usize::from(first.text_range().start())..usize::from(node.text_range().end()))
        })
        .collect()
}

/// Where each statement's code starts (after comments and white space).
fn statement_starts(sql: &str, backend: Backend) -> Vec<usize> {
    match backend {
        Backend::Postgres => postgres_statements(sql).iter().map(|r| r.start).collect(),
        Backend::Sqlite => sqlite_statements(sql).iter().map(|s| s.start).collect(),
    }
}

/// An allow comment: `-- lint: allow RULE: REASON`.
struct Allow {
    line: usize,
    offset: usize,
    rule: String,
    reason: String,
    used: bool,
}

/// Whether `line` is an allow comment (or a malformed one: `-- lint:` ...).
pub fn is_allow_comment(line: &str) -> bool {
    allow_text(line).is_some()
}

/// The text after `-- lint:` on a comment line.
fn allow_text(line: &str) -> Option<&str> {
    line.trim()
        .strip_prefix("--")
        .map(str::trim_start)
        .and_then(|t| t.strip_prefix("lint:"))
}

fn allows(sql: &str) -> Vec<Allow> {
    let mut out = Vec::new();
    let mut offset = 0;
    for (i, line) in sql.split_inclusive('\n').enumerate() {
        if let Some(rest) = allow_text(line) {
            let rest = rest.trim_start();
            let rest = rest.strip_prefix("allow").unwrap_or(rest).trim_start();
            let (rule, reason) = rest.split_once(':').unwrap_or((rest, ""));
            out.push(Allow {
                line: i + 1,
                offset,
                rule: rule.trim().to_string(),
                reason: reason.trim().to_string(),
                used: false,
            });
        }
        offset += line.len();
    }
    out
}

/// Sorts `found` into findings and allowed ones. An allow comment silences
/// its rule in the statement that follows it; one without a reason, for an
/// unknown rule, or that silences nothing is a finding itself.
fn apply_allows(
    file: &Path,
    sql: &str,
    backend: Backend,
    found: Vec<Finding>,
    report: &mut Report,
) {
    let starts = statement_starts(sql, backend);
    let mut allows = allows(sql);
    // The statement a byte offset belongs to: the last one starting at or before it.
    let statement = |offset: usize| starts.iter().rposition(|&s| s <= offset);
    let offset_of = |line: usize| {
        sql.split_inclusive('\n')
            .take(line - 1)
            .map(str::len)
            .sum::<usize>()
    };
    for finding in found {
        let at = statement(offset_of(finding.line) + line_indent(sql, finding.line));
        let allow = allows.iter_mut().find(|a| {
            a.rule == finding.rule
                && !a.reason.is_empty()
                && starts.iter().position(|&s| s > a.offset) == at
        });
        match allow {
            Some(allow) => {
                allow.used = true;
                report.allowed.push((finding, allow.reason.clone()));
            }
            None => report.findings.push(finding),
        }
    }
    let known = |rule: &str| {
        SQLITE_RULES.contains(&rule)
            || rule == "syntax-error"
            || squawk_linter::Rule::try_from(rule).is_ok()
    };
    for allow in allows {
        let problem = if allow.reason.is_empty() {
            Some(
                "an allow comment must give a reason after the rule: `-- lint: allow RULE: REASON`",
            )
        } else if !known(&allow.rule) {
            Some("this allow comment names no known rule")
        } else if !allow.used {
            Some("this allow comment silences nothing: no such finding in the next statement")
        } else {
            None
        };
        if let Some(message) = problem {
            report.findings.push(Finding {
                file: file.to_path_buf(),
                line: allow.line,
                rule: "invalid-allow".into(),
                message: format!("{message} (rule {:?})", allow.rule),
                help: "put `-- lint: allow RULE: REASON` on the line before the statement, or remove it"
                    .into(),
                lock: None,
            });
        }
    }
}

/// The offset of the first non-blank character of `line` within it.
fn line_indent(sql: &str, line: usize) -> usize {
    sql.lines()
        .nth(line - 1)
        .map_or(0, |l| l.len() - l.trim_start().len())
}

/// One SQLite statement: where its code starts and ends (after its `;`),
/// and its words, upper-cased, with quoted identifiers unquoted.
#[derive(Debug)]
struct Statement {
    start: usize,
    end: usize,
    words: Vec<String>,
}

fn sqlite_statements(sql: &str) -> Vec<Statement> {
    let mut out = Vec::new();
    let mut current: Option<Statement> = None;
    let mut in_trigger = false;
    for token in tokens(sql, false) {
        let text = &sql[token.start..token.end];
        let statement = current.get_or_insert_with(|| Statement {
            start: token.start,
            end: token.end,
            words: Vec::new(),
        });
        statement.end = token.end;
        match token.kind {
            Kind::Word => statement.words.push(text.to_ascii_uppercase()),
            Kind::Quoted => statement.words.push(unquote(text).to_ascii_uppercase()),
            _ => {}
        }
        if statement.words.len() >= 2 && statement.words[0] == "CREATE" {
            in_trigger = statement.words[1..].iter().take(2).any(|w| w == "TRIGGER");
        }
        // A trigger's body holds statements of its own, up to END.
        let ends =
            text == ";" && (!in_trigger || statement.words.last().is_some_and(|w| w == "END"));
        if ends {
            out.extend(current.take());
            in_trigger = false;
        }
    }
    out.extend(current);
    out
}

/// The schema the migrations before the one being linted build, in memory.
struct SqliteReplay {
    conn: SqliteConnection,
}

impl SqliteReplay {
    fn new() -> Result<SqliteReplay, Error> {
        let conn = SqliteConnection::establish(":memory:")
            .map_err(|e| Error::Target(format!("cannot open an in-memory SQLite: {e}")))?;
        Ok(SqliteReplay { conn })
    }

    fn count(&mut self, query: &str) -> i64 {
        diesel::select(diesel::dsl::sql::<BigInt>(&format!("({query})")))
            .get_result(&mut self.conn)
            .unwrap_or(0)
    }

    /// Lints one up.sql (when `report`), then applies it, so that the next
    /// migration is checked against the schema this one leaves.
    fn lint(&mut self, file: &Path, sql: &str, in_transaction: bool, report: bool) -> Vec<Finding> {
        let statements = sqlite_statements(sql);
        let mut findings = Vec::new();
        let mut found = |statement: &Statement, rule: &str, message: String, help: &str| {
            findings.push(Finding {
                file: file.to_path_buf(),
                line: line_of(sql, statement.start),
                rule: rule.into(),
                message,
                help: help.into(),
                lock: None,
            })
        };
        let mut own_transaction = false;
        let mut replaying = true;
        if in_transaction {
            let _ = self.conn.batch_execute("BEGIN");
        }
        for (i, statement) in statements.iter().enumerate() {
            let words: Vec<&str> = statement.words.iter().map(String::as_str).collect();
            match words.as_slice() {
                ["BEGIN", ..] => own_transaction = true,
                ["COMMIT", ..] | ["END", ..] | ["ROLLBACK", ..] => own_transaction = false,
                ["PRAGMA", "FOREIGN_KEYS", ..] if in_transaction || own_transaction => found(
                    statement,
                    "foreign-keys-pragma-in-transaction",
                    "PRAGMA foreign_keys does nothing inside a transaction: foreign keys stay as \
                     they were, so a table rebuild may delete or check child rows"
                        .into(),
                    "set `run_in_transaction = false` in metadata.toml and put the PRAGMA \
                     before BEGIN (or after COMMIT)",
                ),
                ["DROP", "TABLE", rest @ ..] => {
                    let table = rest
                        .iter()
                        .rfind(|w| !matches!(**w, "IF" | "EXISTS"))
                        .copied();
                    let rebuilt = table.is_some_and(|t| {
                        statements[i + 1..].iter().any(|later| {
                            let w = &later.words;
                            w.len() >= 6
                                && w[0] == "ALTER"
                                && w[3] == "RENAME"
                                && w[4] == "TO"
                                && w[5] == t
                        })
                    });
                    let created_here = table.is_some_and(|t| {
                        statements[..i].iter().any(|before| {
                            let w: Vec<&str> = before.words.iter().map(String::as_str).collect();
                            let name = match w.as_slice() {
                                ["CREATE", "TABLE", "IF", "NOT", "EXISTS", name, ..]
                                | ["CREATE", "TEMP" | "TEMPORARY", "TABLE", "IF", "NOT", "EXISTS", name, ..]
                                | ["CREATE", "TEMP" | "TEMPORARY", "TABLE", name, ..]
                                | ["CREATE", "TABLE", name, ..] => Some(*name),
                                _ => None,
                            };
                            name == Some(t)
                        })
                    });
                    if created_here {
                        // A scratch table of this migration: nothing is lost.
                    } else if rebuilt {
                        found(
                            statement,
                            "table-rebuild",
                            format!(
                                "rebuilds table {}: every row is copied while SQLite's write lock is \
                                 held, so every write of every process waits (or fails after \
                                 busy_timeout) for the whole copy",
                                table.unwrap_or("?").to_lowercase()
                            ),
                            "prefer a change SQLite makes in place (ADD COLUMN, nullable or with a \
                             constant default); otherwise run it when writes can pause",
                        );
                    } else {
                        found(
                            statement,
                            "ban-drop-table",
                            "dropping a table loses its rows, and the previous binary, still \
                             running during a rolling upgrade, reads it"
                                .into(),
                            "stop using the table in one release, drop it in a later one",
                        );
                    }
                }
                ["ALTER", "TABLE", table, "DROP", rest @ ..] => {
                    let column = match rest {
                        ["COLUMN", column, ..] | [column, ..] => *column,
                        [] => "",
                    };
                    let constraint = self.constraint_on(table, column);
                    match constraint {
                        Some(why) => found(
                            statement,
                            "drop-constrained-column",
                            format!(
                                "column {}.{} is {why}: SQLite refuses to drop it",
                                table.to_lowercase(),
                                column.to_lowercase()
                            ),
                            "drop the index or constraint first (a constraint needs a table \
                             rebuild), then the column",
                        ),
                        None => found(
                            statement,
                            "ban-drop-column",
                            "dropping a column loses its values and rewrites the table under \
                             the write lock; the previous binary, still running during a rolling \
                             upgrade, reads it"
                                .into(),
                            "stop using the column in one release, drop it in a later one",
                        ),
                    }
                }
                ["ALTER", "TABLE", _, "RENAME", "TO", new, ..] => {
                    let is_rebuild = statements[..i].iter().any(|before| {
                        before.words.len() >= 3
                            && before.words[0] == "DROP"
                            && before.words[1] == "TABLE"
                            && before.words.last().map(String::as_str) == Some(*new)
                    });
                    if !is_rebuild {
                        found(
                            statement,
                            "renaming-table",
                            "the previous binary, still running during a rolling upgrade, reads \
                             the table by its old name"
                                .into(),
                            "add a new table and copy, or rename in a release after every \
                             process uses the new name",
                        );
                    }
                }
                ["ALTER", "TABLE", _, "ADD", ..]
                    if words.windows(2).any(|w| w == ["NOT", "NULL"])
                        && !words.contains(&"DEFAULT") =>
                {
                    found(
                        statement,
                        "adding-required-field",
                        "SQLite cannot add a NOT NULL column without a default to a table that \
                         has rows: the migration fails wherever the table is not empty"
                            .into(),
                        "add the column with a DEFAULT, or nullable and fill it, then make it \
                         required in a rebuild (`migrate diff --default` writes that)",
                    )
                }
                ["ALTER", "TABLE", _, "RENAME", ..] => found(
                    statement,
                    "renaming-column",
                    "the previous binary, still running during a rolling upgrade, reads the \
                     column by its old name"
                        .into(),
                    "add a new column, write both, switch reads, then drop the old one",
                ),
                _ => {}
            }
            if replaying {
                let text = &sql[statement.start..statement.end];
                if let Err(e) = self.conn.batch_execute(text) {
                    found(
                        statement,
                        "refused-by-sqlite",
                        format!("SQLite refuses this statement here: {e}"),
                        "fix the statement; the migration would fail and roll back",
                    );
                    // The schema after a failed statement is not the one the
                    // migration means; later statements are not replayed.
                    replaying = false;
                }
            }
        }
        if in_transaction {
            // As diesel would: a migration that fails leaves nothing behind,
            // so the next one is checked against the schema before it.
            let end = if replaying { "COMMIT" } else { "ROLLBACK" };
            let _ = self.conn.batch_execute(end);
        }
        // A file that leaves its own transaction open would hold the lock.
        let _ = self.conn.batch_execute("ROLLBACK");
        if report {
            findings
        } else {
            Vec::new()
        }
    }

    /// Why `table.column` cannot be dropped by SQLite, if it cannot.
    fn constraint_on(&mut self, table: &str, column: &str) -> Option<&'static str> {
        let (t, c) = (literal(table), literal(column));
        let checks: [(&str, String); 4] = [
            (
                "part of the primary key",
                format!("SELECT count(*) FROM pragma_table_info({t}) WHERE upper(name) = {c} AND pk > 0"),
            ),
            (
                "indexed (or UNIQUE)",
                format!(
                    "SELECT count(*) FROM pragma_index_list({t}) AS il, pragma_index_info(il.name) AS ii \
                     WHERE upper(ii.name) = {c}"
                ),
            ),
            (
                "a foreign key",
                format!("SELECT count(*) FROM pragma_foreign_key_list({t}) WHERE upper(\"from\") = {c}"),
            ),
            (
                "referenced by another table's foreign key",
                format!(
                    "SELECT count(*) FROM sqlite_schema AS m, pragma_foreign_key_list(m.name) AS f \
                     WHERE m.type = 'table' AND upper(f.\"table\") = {t} AND upper(f.\"to\") = {c}"
                ),
            ),
        ];
        checks
            .into_iter()
            .find(|(_, query)| self.count(query) > 0)
            .map(|(why, _)| why)
    }
}

/// An upper-cased SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.to_ascii_uppercase().replace('\'', "''"))
}

/// Rules and their findings, counted, for the summary line.
pub fn summary(report: &Report) -> String {
    let mut by_rule: BTreeMap<&str, usize> = BTreeMap::new();
    for finding in &report.findings {
        *by_rule.entry(&finding.rule).or_default() += 1;
    }
    let rules: Vec<String> = by_rule.iter().map(|(r, n)| format!("{r} ×{n}")).collect();
    let files: HashSet<&Path> = report.findings.iter().map(|f| f.file.as_path()).collect();
    format!(
        "{} finding(s) in {} of {} file(s){}; {} allowed with a reason",
        report.findings.len(),
        files.len(),
        report.files,
        if rules.is_empty() {
            String::new()
        } else {
            format!(" ({})", rules.join(", "))
        },
        report.allowed.len()
    )
}
