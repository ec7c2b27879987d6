//! Every setting bookshelf reads, where it comes from, and its default.
//!
//! Settings are read with Rocket's figment, lowest precedence first:
//!
//! 1. the defaults below;
//! 2. `Rocket.toml` (or the file named by `ROCKET_CONFIG`), in its `[default]`
//!    section or the section of the active profile (`ROCKET_PROFILE`);
//! 3. `DATABASE_URL` from the environment (or `.env`, loaded by the binary with
//!    dotenvy), the variable diesel CLI reads too, `DATABASE_REPLICA_URLS` and
//!    `BOOKSHELF_API_KEYS`;
//! 4. `ROCKET_<KEY>` environment variables, e.g. `ROCKET_DATABASE_URL`,
//!    `ROCKET_PORT`, `ROCKET_DATABASE_POOL_SIZE`.
//!
//! | key                    | default          | meaning                                                   |
//! |------------------------|------------------|-----------------------------------------------------------|
//! | `database_url`         | `bookshelf.db`   | SQLite file path or `sqlite://path`, or `postgres://…`    |
//! | `database_pool_size`   | `8`              | connections in the pool                                   |
//! | `database_timeout`     | `3`              | seconds to wait for a pooled connection before a 503, and for PostgreSQL to accept a connection |
//! | `database_lock_timeout`| `5000`           | milliseconds a statement waits for a lock (SQLite `busy_timeout`, PostgreSQL `lock_timeout`), then a 503 |
//! | `database_statement_timeout` | `5000`     | milliseconds a request's statement may run on PostgreSQL (`statement_timeout`; not migrations), then a 503 |
//! | `database_statement_cache` | `auto`    | PostgreSQL: keep prepared statements per connection (diesel's statement cache). `auto` keeps them on a direct connection and not through a connection pooler, told apart once at start-up (crates/bookshelf_migrate/src/pooler.rs): off, each query is one unnamed round trip, which PgBouncer in `pool_mode = transaction` can route. `true` or `false` decides without asking (cost measured in bench/results.md) |
//! | `database_inline`      | `true`           | a query or write whose request is alone (no other in flight, none overlapping for 100 ms: src/db/in_flight.rs) runs on the request's own worker instead of being handed to a thread and back: two thread wake-ups less per lone request (issue 24, bench/results.md); under load the threads and their batches serve as before. `false` always hands over |
//! | `database_replica_urls` | none           | PostgreSQL hot standbys for reads (`GET` by id and the lists), a list or one comma-separated string; also `DATABASE_REPLICA_URLS`. See src/db/standbys.rs and docs/scaling.md |
//! | `replica_max_lag`      | `5`              | seconds a standby may lag (measured every 250 ms) before its reads go to the primary |
//! | `database_synchronous` | `full`           | SQLite: `full` (an acknowledged write survives a power loss) or `normal` (faster; in WAL mode the last writes before a power loss may be lost) |
//! | `migrate`              | `auto`           | at start-up: `auto` applies pending migrations, `check` refuses to start while any are pending, `off` does neither |
//! | `migration_lock_timeout` | `60`           | seconds start-up waits for another process's migrations   |
//! | `api_keys`             | none             | keys that writes need as `Authorization: Bearer <key>`; also `BOOKSHELF_API_KEYS=k1,k2` |
//! | `protect_reads`        | `false`          | with `api_keys`, reads need a key too                     |
//! | `require_if_match`     | `false`          | PUT, PATCH and DELETE need `If-Match` (else 428), so no client can overwrite a change it has not seen |
//! | `log_format`           | `text`           | `text` (Rocket's lines) or `json` (one object per line: time, level, message, and for requests their id, method, route, status, duration) |
//!
//! Rocket's own keys (`address`, `port`, `log_level`, `limits.json`, …) are
//! read from the same sources; see `Rocket.toml`.

use std::time::Duration;

use rocket::figment::providers::{Env, Format, Serialized, Toml};
use rocket::figment::{Figment, Profile};
use serde::{Deserialize, Serialize};

/// The database URL used when none is configured: a SQLite file in the
/// working directory.
pub const DEFAULT_DATABASE_URL: &str = "bookshelf.db";

/// Bookshelf's own settings (Rocket's are read by Rocket from the same figment).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Settings {
    /// Which database to use; the backend follows from the URL.
    pub database_url: String,
    /// Maximum number of pooled connections.
    pub database_pool_size: u32,
    /// Seconds a query waits for a database thread (then 503), or for a new PostgreSQL connection.
    pub database_timeout: u64,
    /// Milliseconds a statement waits for a lock before it fails (then 503).
    pub database_lock_timeout: u64,
    /// Milliseconds a request's statement may run on PostgreSQL before it is
    /// cancelled (then 503): a hung server or a slow query cannot pin the
    /// database threads. Migrations are not limited.
    pub database_statement_timeout: u64,
    /// PostgreSQL: diesel's per-connection statement cache (named prepared
    /// statements): on a direct connection, off through a pooler by
    /// default, so that a URL through a transaction pooler works as it is.
    pub database_statement_cache: StatementCache,
    /// A query or write whose request is alone runs on its request's worker
    /// (src/db/readers.rs, `Readers::here`; src/db/writer.rs).
    pub database_inline: bool,
    /// PostgreSQL hot standbys that serve reads (src/db/standbys.rs).
    #[serde(deserialize_with = "urls")]
    pub database_replica_urls: Vec<String>,
    /// Seconds a standby may lag before its reads go to the primary.
    pub replica_max_lag: f64,
    /// SQLite's `synchronous` for the connection that commits writes.
    pub database_synchronous: Synchronous,
    /// What start-up does about pending migrations.
    pub migrate: MigrateMode,
    /// Seconds start-up waits while another process applies migrations.
    pub migration_lock_timeout: u64,
    /// Keys that writes (and, with `protect_reads`, reads) need; none: open.
    #[serde(deserialize_with = "keys")]
    pub api_keys: Vec<String>,
    /// With `api_keys`, reads need a key too.
    pub protect_reads: bool,
    /// How `serve` writes its log: lines for people, or JSON objects.
    pub log_format: LogFormat,
    /// PUT, PATCH and DELETE need `If-Match` (else 428).
    pub require_if_match: bool,
}

/// A list, or one comma-separated string (what an environment variable
/// holds) cut into items by `split`; items are trimmed, blanks dropped.
fn list_or_text<'de, D: serde::Deserializer<'de>>(
    d: D,
    split: fn(&str) -> Vec<String>,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrText {
        List(Vec<String>),
        Text(String),
    }
    let items = match ListOrText::deserialize(d)? {
        ListOrText::List(list) => list,
        ListOrText::Text(text) => split(&text),
    };
    Ok(items
        .into_iter()
        .map(|item| item.trim().to_string())
        .filter(|item| !item.is_empty())
        .collect())
}

/// API keys as a list, or as one comma-separated string.
fn keys<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    list_or_text(d, |text| text.split(',').map(str::to_string).collect())
}

/// Database URLs as a list, or as one comma-separated string. A comma
/// inside a URL (libpq's multi-host `postgres://a:5432,b:5432/db`) stays:
/// a new URL starts only where a scheme does.
fn urls<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    list_or_text(d, split_urls)
}

fn split_urls(text: &str) -> Vec<String> {
    let mut urls: Vec<String> = Vec::new();
    for piece in text.split(',') {
        let piece = piece.trim();
        match urls.last_mut() {
            Some(last) if !piece.contains("://") => {
                last.push(',');
                last.push_str(piece);
            }
            _ => urls.push(piece.to_string()),
        }
    }
    urls.retain(|u| !u.is_empty());
    urls
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            database_url: DEFAULT_DATABASE_URL.to_string(),
            database_pool_size: 8,
            database_timeout: 3,
            database_lock_timeout: 5000,
            database_statement_timeout: 5000,
            database_statement_cache: StatementCache::Auto,
            database_inline: true,
            database_replica_urls: Vec::new(),
            replica_max_lag: 5.0,
            database_synchronous: Synchronous::Full,
            migrate: MigrateMode::Auto,
            migration_lock_timeout: 60,
            api_keys: Vec::new(),
            protect_reads: false,
            log_format: LogFormat::Text,
            require_if_match: false,
        }
    }
}

/// `database_statement_cache`: whether PostgreSQL connections keep their
/// prepared statements. Written `"auto"`, `true` or `false`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StatementCache {
    /// On, unless the URL reaches its server through a connection pooler
    /// (src/db/startup.rs asks once).
    #[default]
    Auto,
    On,
    Off,
}

impl Serialize for StatementCache {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            StatementCache::Auto => s.serialize_str("auto"),
            StatementCache::On => s.serialize_bool(true),
            StatementCache::Off => s.serialize_bool(false),
        }
    }
}

impl<'de> Deserialize<'de> for StatementCache {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Flag(bool),
            Word(String),
        }
        match Written::deserialize(d)? {
            Written::Flag(true) => Ok(StatementCache::On),
            Written::Flag(false) => Ok(StatementCache::Off),
            Written::Word(word) => match word.trim().to_ascii_lowercase().as_str() {
                "auto" => Ok(StatementCache::Auto),
                "true" | "on" => Ok(StatementCache::On),
                "false" | "off" => Ok(StatementCache::Off),
                _ => Err(serde::de::Error::custom(format!(
                    "database_statement_cache is \"auto\", true or false, not {word:?}"
                ))),
            },
        }
    }
}

/// How SQLite syncs commits to disk (`PRAGMA synchronous`), in WAL mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// The WAL is synced at every commit: a write answered 201 survives a
    /// power loss or an operating-system crash.
    #[default]
    Full,
    /// The WAL is synced only at checkpoints: still consistent and safe from
    /// a crash of bookshelf itself, but a power loss can undo the last
    /// acknowledged writes.
    Normal,
}

impl Synchronous {
    /// The PRAGMA's value.
    pub fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

/// How `serve` writes its log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Rocket's lines, for people.
    #[default]
    Text,
    /// One JSON object per line (src/logging.rs), for machines.
    Json,
}

/// What start-up does about pending migrations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum MigrateMode {
    /// Apply pending migrations, then serve.
    #[default]
    Auto,
    /// Refuse to start while any migration is pending, naming them.
    Check,
    /// Neither apply nor check (`/ready` still reports pending migrations).
    Off,
}

impl Settings {
    /// How long to wait for a pooled connection or a new PostgreSQL connection.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.database_timeout.max(1))
    }

    /// How long start-up waits while another process applies migrations.
    pub fn migration_lock_timeout(&self) -> Duration {
        Duration::from_secs(self.migration_lock_timeout)
    }

    /// How long a statement waits for a lock.
    pub fn lock_timeout(&self) -> Duration {
        Duration::from_millis(self.database_lock_timeout)
    }

    /// How long a request's statement may run on PostgreSQL (at least 1 ms:
    /// 0 would turn PostgreSQL's limit off).
    pub fn replica_max_lag(&self) -> Duration {
        Duration::try_from_secs_f64(self.replica_max_lag).unwrap_or(Duration::ZERO)
    }

    pub fn statement_timeout(&self) -> Duration {
        Duration::from_millis(self.database_statement_timeout.max(1))
    }
}

/// The largest JSON body accepted by default (`limits.json`); a larger one is a 413.
pub const JSON_LIMIT: rocket::data::ByteUnit = rocket::data::ByteUnit::Kibibyte(64);

/// The figment the binary reads its configuration from (see the module docs
/// for the order). Tests start from it too and merge their own values on top.
pub fn figment() -> Figment {
    // No `Server:` header by default: it tells clients nothing they need.
    // The JSON body limit is bookshelf's, not Rocket's 1 MiB, even for the
    // binary shipped without Rocket.toml: every documented default is here,
    // and Rocket.toml only overrides.
    let rocket_defaults = rocket::Config {
        ident: rocket::config::Ident::none(),
        limits: rocket::data::Limits::default().limit("json", JSON_LIMIT),
        ..rocket::Config::default()
    };
    Figment::from(rocket_defaults)
        .merge(Serialized::defaults(Settings::default()))
        .merge(Toml::file(Env::var_or("ROCKET_CONFIG", "Rocket.toml")).nested())
        .merge(
            Env::raw()
                .only(&["DATABASE_URL"])
                .map(|_| "database_url".into())
                .global(),
        )
        .merge(
            Env::raw()
                .only(&["DATABASE_REPLICA_URLS"])
                .map(|_| "database_replica_urls".into())
                .global(),
        )
        .merge(
            Env::raw()
                .only(&["BOOKSHELF_API_KEYS"])
                .map(|_| "api_keys".into())
                .global(),
        )
        .merge(Env::prefixed("ROCKET_").ignore(&["PROFILE"]).global())
        .select(Profile::from_env_or(
            "ROCKET_PROFILE",
            rocket::Config::DEFAULT_PROFILE,
        ))
}

#[cfg(test)]
mod tests {
    use super::split_urls;

    #[test]
    fn replica_urls_split_at_commas_that_start_a_url() {
        assert_eq!(
            split_urls("postgres://a:5433/db, postgresql://b/db"),
            ["postgres://a:5433/db", "postgresql://b/db"]
        );
        assert_eq!(
            split_urls("postgres://a:5433,b:5434/db?target_session_attrs=standby,postgres://c/db"),
            [
                "postgres://a:5433,b:5434/db?target_session_attrs=standby",
                "postgres://c/db"
            ]
        );
        assert!(split_urls(" ").is_empty());
    }

    #[test]
    fn the_statement_cache_is_auto_by_default_and_reads_a_flag_or_a_word() {
        use super::{Settings, StatementCache};
        use rocket::figment::Figment;
        let read = |value: &str| {
            Figment::from(rocket::figment::providers::Serialized::defaults(
                Settings::default(),
            ))
            .merge(("database_statement_cache", value))
            .extract::<Settings>()
            .map(|s| s.database_statement_cache)
            .map_err(|e| e.to_string())
        };
        assert_eq!(
            Settings::default().database_statement_cache,
            StatementCache::Auto
        );
        let defaults = Figment::from(rocket::figment::providers::Serialized::defaults(
            Settings::default(),
        ));
        assert_eq!(
            defaults
                .extract::<Settings>()
                .unwrap()
                .database_statement_cache,
            StatementCache::Auto
        );
        for (written, meant) in [
            ("auto", StatementCache::Auto),
            ("true", StatementCache::On),
            ("off", StatementCache::Off),
        ] {
            assert_eq!(read(written).unwrap(), meant, "{written}");
        }
        let flag = defaults
            .clone()
            .merge(("database_statement_cache", false))
            .extract::<Settings>()
            .unwrap();
        assert_eq!(flag.database_statement_cache, StatementCache::Off);
        assert!(read("sometimes").unwrap_err().contains("auto"));
    }
}
