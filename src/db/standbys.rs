//! Reads on hot standbys (PostgreSQL streaming replicas, named by
//! `database_replica_urls`), and the one place that decides where a read
//! goes: [`Standbys::checkout`].
//!
//! - **What may go to a standby.** Routes that only read call
//!   [`Database::read`] or [`Database::batched_read`]: `GET /books`,
//!   `GET /books/<id>`, `GET /books/<id>/reviews`, `GET /reviews/<id>`.
//!   Everything else (writes, and the reads a write makes, `/ready`,
//!   `/metrics`) uses the primary.
//! - **Which standby.** One that replays and lags no more than
//!   `replica_max_lag`, taken in turn. A standby that is down, does not
//!   replay (promoted, or not a standby), lags, or has not replayed the
//!   client's `Bookshelf-Lsn` is skipped, and the read goes to the primary;
//!   each skip is counted with its reason, each read with its target.
//! - **Lag, measured.** A prober thread samples the primary's WAL position
//!   (`pg_current_wal_lsn()`) and each standby's replayed position
//!   (`pg_last_wal_replay_lsn()`) every `PROBE_INTERVAL`. A standby's lag is
//!   the age of the oldest primary sample it has not replayed: 0 when it
//!   has replayed everything the primary had written at the last sample,
//!   however long ago the last write was (the replay timestamp would call
//!   an idle standby late).
//! - **Read-your-writes.** Each successful write answers with the primary's
//!   WAL insert position read after its commit (`Bookshelf-Lsn`, see
//!   src/consistency.rs). A read that sends it back goes only to a standby
//!   whose replayed position is at least that, else to the primary: it sees
//!   the write. A standby only moves forward, so a position probed a moment
//!   ago is a safe lower bound.
//! - **Read-only.** Standby connections set `default_transaction_read_only`,
//!   so a promoted standby still in the list is never written through it.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use diesel::sql_types::{Bool, Nullable, Text};
use diesel::{QueryableByName, RunQueryDsl};
use log::{info, warn};
use prometheus::core::Collector;
use prometheus::{IntCounterVec, IntGaugeVec};

use bookshelf_migrate::connection::{connect, DatabaseUrl, DbConn};

use super::error::DbError;
use super::metrics::opts;
use super::pool::{Manager, Pool, JOB_UNAVAILABLE};
use super::queue::lock;

/// How often the prober samples the primary and every standby.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(250);

/// A standby whose last probe is older than this is treated as down (a
/// probe that hangs on one standby must not keep another's state fresh).
const STALE_AFTER: Duration = Duration::from_secs(2);

/// How long a read waits for a standby's pooled connection before it goes
/// to the primary instead.
const STANDBY_CHECKOUT: Duration = Duration::from_millis(250);

/// What [`Lsn`]'s parser accepts (after trimming), for the OpenAPI document.
pub const LSN_PATTERN: &str = "^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$";

/// A position in PostgreSQL's write-ahead log, as `pg_lsn` prints it
/// (`16/B374D848`): what a standby has replayed, or where a write ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Lsn(pub u64);

impl FromStr for Lsn {
    type Err = String;

    fn from_str(text: &str) -> Result<Lsn, String> {
        let invalid = || format!("`{text}` is not a WAL position such as 0/16B3748");
        let (high, low) = text.trim().split_once('/').ok_or_else(invalid)?;
        let part = |hex: &str| {
            (!hex.is_empty() && hex.len() <= 8)
                .then(|| u32::from_str_radix(hex, 16).ok())
                .flatten()
                .ok_or_else(invalid)
        };
        Ok(Lsn((u64::from(part(high)?) << 32) | u64::from(part(low)?)))
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

/// What the prober last found of a standby.
#[derive(Debug, Clone, PartialEq)]
pub enum Health {
    /// Not probed yet.
    Unknown,
    /// It could not be reached or queried: why.
    Down(String),
    /// It answers but replays nothing: promoted, or never a standby.
    NotStandby,
    /// It replays the primary's WAL: up to `replayed`, `lag` behind.
    Replaying { replayed: Lsn, lag: Duration },
}

impl Health {
    /// Down, for `error`, told on one line (libpq's messages span several).
    fn down(error: &dyn std::error::Error) -> Health {
        Health::Down(
            error
                .to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        )
    }

    /// One word for `/ready`, `migrate status` and the logs.
    pub fn state(&self, max_lag: Duration) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Down(_) => "down",
            Health::NotStandby => "not_standby",
            Health::Replaying { lag, .. } if *lag > max_lag => "lagging",
            Health::Replaying { .. } => "streaming",
        }
    }
}

/// One standby: its URL, its pool of read-only connections, and its health.
pub struct Standby {
    pub url: DatabaseUrl,
    pool: Pool,
    health: Mutex<(Health, Instant)>,
    /// Its series of `replica_reads_total`, looked up once.
    reads: prometheus::IntCounter,
}

impl Standby {
    /// What the prober last found, or [`Health::Unknown`] when that is
    /// older than a few probes.
    pub fn health(&self) -> Health {
        let (health, at) = lock(&self.health).clone();
        match at.elapsed() > STALE_AFTER {
            true => Health::Unknown,
            false => health,
        }
    }

    fn set(&self, health: Health) {
        *lock(&self.health) = (health, Instant::now());
    }
}

/// What a read needs of a standby: nothing, or to have replayed a position.
pub type ReadAfter = Option<Lsn>;

/// Where a read is served: the primary, or a standby (once it confirms it
/// has replayed the position given, when one is).
pub enum Target<'a> {
    Primary,
    Standby(&'a Standby, ReadAfter),
}

/// Set to stop the prober, which waits on it between probes.
type Stop = (Mutex<bool>, Condvar);

/// The configured standbys, their prober, and the per-target counts.
pub struct Standbys {
    shared: Arc<Shared>,
    prober: Option<(JoinHandle<()>, Arc<Stop>)>,
}

struct Shared {
    list: Vec<Standby>,
    max_lag: Duration,
    /// The next standby to try first, so that reads take turns.
    turn: AtomicUsize,
    /// Reads served, by target (`primary` or a standby's URL).
    reads: IntCounterVec,
    primary_reads: prometheus::IntCounter,
    /// Standbys passed over for a read, by standby and reason.
    skipped: IntCounterVec,
    /// Each standby's measured lag, in milliseconds (-1: unknown).
    lag: IntGaugeVec,
}

impl Standbys {
    /// Pools for each standby URL (read-only connections, made when first
    /// needed, so a standby that is down does not stop start-up) and the
    /// prober that measures them against `primary`.
    pub fn start(
        primary: &DatabaseUrl,
        urls: Vec<DatabaseUrl>,
        manager: &Manager,
        pool_size: u32,
        timeout: Duration,
        max_lag: Duration,
    ) -> std::io::Result<Standbys> {
        let list = urls
            .into_iter()
            .map(|url| {
                let manager = Manager {
                    url: url.clone(),
                    read_only: true,
                    ..manager.clone()
                };
                let pool = r2d2::Pool::builder()
                    .max_size(pool_size)
                    .min_idle(Some(0))
                    .test_on_check_out(false)
                    .connection_timeout(timeout)
                    .build_unchecked(manager);
                (url, pool)
            })
            .collect();
        let mut standbys = Standbys::build(list, max_lag);
        if standbys.shared.list.is_empty() {
            return Ok(standbys);
        }
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let (shared, flag, primary) = (
            Arc::clone(&standbys.shared),
            Arc::clone(&stop),
            primary.clone(),
        );
        let handle = std::thread::Builder::new()
            .name("standby-probe".into())
            .spawn(move || probe_until_stopped(&shared, &primary, timeout, &flag))?;
        standbys.prober = Some((handle, stop));
        Ok(standbys)
    }

    fn build(list: Vec<(DatabaseUrl, Pool)>, max_lag: Duration) -> Standbys {
        let reads = IntCounterVec::new(
            opts(
                "replica_reads_total",
                "Reads that may use a standby, by the target that served them: `primary` or the standby's URL.",
            ),
            &["target"],
        )
        .expect("valid metric");
        let skipped = IntCounterVec::new(
            opts(
                "replica_skipped_total",
                "Times a standby was passed over for a read (which then went to another or the primary), by standby and reason: down, not_standby, lagging, behind (not yet at the client's Bookshelf-Lsn), unknown, failed.",
            ),
            &["replica", "reason"],
        )
        .expect("valid metric");
        let lag = IntGaugeVec::new(
            opts(
                "replica_lag_milliseconds",
                "Each standby's replay lag as last measured (see src/db/standbys.rs); -1 when it is not replaying.",
            ),
            &["replica"],
        )
        .expect("valid metric");
        let list = list
            .into_iter()
            .map(|(url, pool)| Standby {
                reads: reads.with_label_values(&[&url.to_string()]),
                url,
                pool,
                health: Mutex::new((Health::Unknown, Instant::now())),
            })
            .collect();
        Standbys {
            shared: Arc::new(Shared {
                primary_reads: reads.with_label_values(&["primary"]),
                list,
                max_lag,
                turn: AtomicUsize::new(0),
                reads,
                skipped,
                lag,
            }),
            prober: None,
        }
    }

    /// The standbys, in the order configured.
    pub fn list(&self) -> &[Standby] {
        &self.shared.list
    }

    /// The lag past which a standby is skipped.
    pub fn max_lag(&self) -> Duration {
        self.shared.max_lag
    }

    /// Where a read that needs `after` goes: the first standby, in turn,
    /// that replays, lags no more than `replica_max_lag` and was last seen
    /// past `after`; else the first such standby last seen short of `after`,
    /// to be asked again (its position probed up to [`PROBE_INTERVAL`] ago
    /// may be behind a write just made); else the primary. Every standby
    /// passed over is counted.
    pub fn route(&self, after: ReadAfter) -> Target<'_> {
        let shared = &self.shared;
        let n = shared.list.len();
        let first = shared.turn.fetch_add(1, Ordering::Relaxed);
        let mut behind = None;
        for i in 0..n {
            let standby = &shared.list[(first + i) % n];
            let skip = match standby.health() {
                Health::Unknown => "unknown",
                Health::Down(_) => "down",
                Health::NotStandby => "not_standby",
                Health::Replaying { lag, .. } if lag > shared.max_lag => "lagging",
                Health::Replaying { replayed, .. } => match after {
                    Some(after) if replayed < after => {
                        behind = behind.or(Some((standby, after)));
                        continue;
                    }
                    _ => return Target::Standby(standby, None),
                },
            };
            shared.skip(standby, skip);
        }
        match behind {
            Some((standby, after)) => Target::Standby(standby, Some(after)),
            None => Target::Primary,
        }
    }

    /// Runs `read` on a connection of the target [`Standbys::route`] picks;
    /// when the standby's connection cannot be had in time, has not replayed
    /// `after` yet, or fails the read (other than by not finding a row), it
    /// runs on the primary. Called on a database thread.
    pub fn read<T>(
        &self,
        after: ReadAfter,
        primary: &Pool,
        read: impl Fn(&mut DbConn) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        if let Target::Standby(standby, confirm) = self.route(after) {
            match standby.pool.get_timeout(STANDBY_CHECKOUT) {
                Ok(mut conn) => {
                    let ready = match confirm {
                        None => true,
                        Some(after) => {
                            replayed(&mut conn).is_ok_and(|r| r.is_some_and(|r| r >= after))
                        }
                    };
                    if !ready {
                        self.shared.skip(standby, "behind");
                    } else {
                        match read(&mut conn) {
                            Ok(found) => {
                                standby.reads.inc();
                                return Ok(found);
                            }
                            Err(e) if e.is_refusal() => {
                                standby.reads.inc();
                                return Err(e);
                            }
                            Err(e) => {
                                warn!(
                                    "a read on standby {} failed, so it goes to the primary: {e}",
                                    standby.url
                                );
                                // Its connection is pinged as it goes back, and dropped if dead.
                                if matches!(e, DbError::Unavailable(_)) {
                                    JOB_UNAVAILABLE.set(true);
                                }
                                self.shared.skip(standby, "failed");
                            }
                        }
                    }
                }
                Err(e) => {
                    warn!(
                        "standby {} gave no connection in time ({e}); the read goes to the primary",
                        standby.url
                    );
                    standby.set(Health::down(&e));
                    self.shared.skip(standby, "down");
                }
            }
        }
        let mut conn = primary.get()?;
        let found = read(&mut conn);
        self.shared.primary_reads.inc();
        if let Err(DbError::Unavailable(_)) = &found {
            JOB_UNAVAILABLE.set(true);
        }
        found
    }

    /// The counts and lags, for `/metrics`.
    pub fn gather(&self) -> Vec<prometheus::proto::MetricFamily> {
        if self.shared.list.is_empty() {
            return Vec::new();
        }
        let mut families = self.shared.reads.collect();
        families.extend(self.shared.skipped.collect());
        families.extend(self.shared.lag.collect());
        // The text format refuses a family without a series (no read yet).
        families.retain(|family| !family.get_metric().is_empty());
        families
    }
}

impl Shared {
    fn skip(&self, standby: &Standby, reason: &str) {
        self.skipped
            .with_label_values(&[&standby.url.to_string(), reason])
            .inc();
    }
}

impl Drop for Standbys {
    fn drop(&mut self) {
        if let Some((handle, stop)) = self.prober.take() {
            *lock(&stop.0) = true;
            stop.1.notify_all();
            let _ = handle.join();
        }
    }
}

#[derive(QueryableByName)]
struct Replay {
    #[diesel(sql_type = Bool)]
    in_recovery: bool,
    #[diesel(sql_type = Nullable<Text>)]
    replayed: Option<String>,
}

#[derive(QueryableByName)]
struct Position {
    #[diesel(sql_type = Text)]
    lsn: String,
}

/// The primary's WAL insert position now: past the end of every
/// transaction committed before it was read.
pub fn wal_position(conn: &mut DbConn) -> Result<Lsn, DbError> {
    let DbConn::Postgres(pg) = conn else {
        return Err(DbError::Failed("WAL positions are PostgreSQL's".into()));
    };
    let row: Position =
        diesel::sql_query("SELECT pg_current_wal_insert_lsn()::text AS lsn").get_result(pg)?;
    row.lsn
        .parse()
        .map_err(|e: String| DbError::Failed(e.into()))
}

/// [`wal_position`] for a batch ([`super::Batches`]): one query answers
/// every request waiting, each of which joined the queue after its write
/// committed, so the position is past each of their commits.
pub fn wal_positions(
    conn: &mut DbConn,
    waiting: &[()],
) -> Result<Vec<Result<Lsn, DbError>>, DbError> {
    let lsn = wal_position(conn)?;
    Ok(waiting.iter().map(|()| Ok(lsn)).collect())
}

/// Whether a standby replays, and up to where.
fn replayed(conn: &mut DbConn) -> Result<Option<Lsn>, DbError> {
    let DbConn::Postgres(pg) = conn else {
        return Err(DbError::Failed("standbys are PostgreSQL's".into()));
    };
    let row: Replay = diesel::sql_query(
        "SELECT pg_is_in_recovery() AS in_recovery, pg_last_wal_replay_lsn()::text AS replayed",
    )
    .get_result(pg)?;
    match (row.in_recovery, row.replayed) {
        (true, Some(lsn)) => Ok(Some(
            lsn.parse().map_err(|e: String| DbError::Failed(e.into()))?,
        )),
        _ => Ok(None),
    }
}

/// The primary's positions over the last while, oldest first.
#[derive(Default)]
pub struct Samples(VecDeque<(Instant, Lsn)>);

impl Samples {
    /// How many samples are kept: a standby further behind than all of
    /// them is given the oldest one's age, already past any sensible
    /// `replica_max_lag`.
    const KEPT: usize = 240;

    pub fn push(&mut self, at: Instant, lsn: Lsn) {
        if self.0.len() == Samples::KEPT {
            self.0.pop_front();
        }
        self.0.push_back((at, lsn));
    }

    /// How far behind a standby that has replayed up to `replayed` is, at
    /// `now`: the age of the oldest sample past it, or zero when it has
    /// everything sampled.
    pub fn lag(&self, replayed: Lsn, now: Instant) -> Duration {
        self.0
            .iter()
            .find(|(_, lsn)| *lsn > replayed)
            .map_or(Duration::ZERO, |(at, _)| now.saturating_duration_since(*at))
    }
}

/// The prober's loop: sample the primary, then each standby, every
/// [`PROBE_INTERVAL`], on connections of its own (not the pools', so a busy
/// pool does not delay it), reopened after a failure.
fn probe_until_stopped(shared: &Shared, primary: &DatabaseUrl, timeout: Duration, stop: &Stop) {
    let mut primary_conn: Option<DbConn> = None;
    let mut conns: Vec<Option<DbConn>> = shared.list.iter().map(|_| None).collect();
    let mut samples = Samples::default();
    loop {
        match sample(&mut primary_conn, primary, timeout, wal_position) {
            Ok(lsn) => samples.push(Instant::now(), lsn),
            Err(e) => warn!("cannot read the primary's WAL position for the standbys' lag: {e}"),
        }
        for (standby, conn) in shared.list.iter().zip(conns.iter_mut()) {
            let before = standby.health();
            let health = probe(conn, &standby.url, timeout, &samples);
            let url = standby.url.to_string();
            let lag = match &health {
                Health::Replaying { lag, .. } => i64::try_from(lag.as_millis()).unwrap_or(i64::MAX),
                _ => -1,
            };
            shared.lag.with_label_values(&[&url]).set(lag);
            let (was, now) = (before.state(shared.max_lag), health.state(shared.max_lag));
            if was != now {
                match &health {
                    Health::Down(why) => warn!("standby {url} is down ({why}); its reads go to the primary"),
                    Health::NotStandby => warn!("standby {url} answers but replays nothing (promoted?); its reads go to the primary"),
                    Health::Replaying { lag, .. } if now == "lagging" => warn!(
                        "standby {url} lags {:.1} s, more than replica_max_lag; its reads go to the primary",
                        lag.as_secs_f64()
                    ),
                    _ => info!("standby {url} is {now}"),
                }
            }
            standby.set(health);
        }
        let stopped = lock(&stop.0);
        let (stopped, _) = stop
            .1
            .wait_timeout_while(stopped, PROBE_INTERVAL, |stopped| !*stopped)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *stopped {
            return;
        }
    }
}

/// A standby's health now, on `conn` (opened if need be), its lag measured
/// against the primary's `samples`.
fn probe(
    conn: &mut Option<DbConn>,
    url: &DatabaseUrl,
    timeout: Duration,
    samples: &Samples,
) -> Health {
    match sample(conn, url, timeout, replayed) {
        Ok(Some(lsn)) => Health::Replaying {
            replayed: lsn,
            lag: samples.lag(lsn, Instant::now()),
        },
        Ok(None) => Health::NotStandby,
        Err(e) => Health::down(&e),
    }
}

/// Runs `query` on `conn`, opening it first if need be; a failure closes it
/// so the next sample reconnects.
fn sample<T>(
    conn: &mut Option<DbConn>,
    url: &DatabaseUrl,
    timeout: Duration,
    query: fn(&mut DbConn) -> Result<T, DbError>,
) -> Result<T, DbError> {
    if conn.is_none() {
        let mut opened = connect(url, timeout).map_err(|e| DbError::Unavailable(Box::new(e)))?;
        if let DbConn::Postgres(pg) = &mut opened {
            use diesel::connection::SimpleConnection;
            let ms = timeout.as_millis();
            pg.batch_execute(&format!("SET statement_timeout = {ms}"))?;
        }
        *conn = Some(opened);
    }
    let result = query(conn.as_mut().expect("opened above"));
    if result.is_err() {
        *conn = None;
    }
    result
}

/// Each standby's state now, measured once (for `migrate status`): the
/// primary's position, then each standby's.
pub fn probe_once(
    primary: &mut DbConn,
    standbys: &[DatabaseUrl],
    timeout: Duration,
) -> Vec<(String, Health)> {
    let mut samples = Samples::default();
    if let Ok(lsn) = wal_position(primary) {
        samples.push(Instant::now(), lsn);
    }
    standbys
        .iter()
        .map(|url| (url.to_string(), probe(&mut None, url, timeout, &samples)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wal_positions_read_and_print_as_postgresql_does() {
        let lsn: Lsn = "16/B374D848".parse().unwrap();
        assert_eq!(lsn.0, (0x16 << 32) | 0xB374_D848);
        assert_eq!(lsn.to_string(), "16/B374D848");
        assert_eq!("0/0".parse::<Lsn>().unwrap(), Lsn(0));
        assert!("0/1".parse::<Lsn>().unwrap() < "1/0".parse::<Lsn>().unwrap());
        for bad in ["", "16", "16/", "/1", "x/1", "1/123456789", "1/2/3"] {
            assert!(bad.parse::<Lsn>().is_err(), "{bad:?} was read");
        }
    }

    #[test]
    fn lag_is_the_age_of_the_oldest_position_not_replayed() {
        let start = Instant::now();
        let mut samples = Samples::default();
        for (ms, lsn) in [(0, 100), (250, 100), (500, 180), (750, 260)] {
            samples.push(start + Duration::from_millis(ms), Lsn(lsn));
        }
        let now = start + Duration::from_millis(1000);
        // Everything sampled is replayed: no lag, however old the writes.
        assert_eq!(samples.lag(Lsn(260), now), Duration::ZERO);
        assert_eq!(samples.lag(Lsn(300), now), Duration::ZERO);
        // Missing what the primary had at 750 ms.
        assert_eq!(samples.lag(Lsn(200), now), Duration::from_millis(250));
        // Missing what it had at 500 ms.
        assert_eq!(samples.lag(Lsn(100), now), Duration::from_millis(500));
        assert_eq!(samples.lag(Lsn(0), now), Duration::from_millis(1000));
    }

    #[test]
    fn samples_keep_a_bounded_window() {
        let start = Instant::now();
        let mut samples = Samples::default();
        for i in 0..1000u64 {
            samples.push(start + Duration::from_millis(i), Lsn(i));
        }
        assert_eq!(samples.0.len(), Samples::KEPT);
        // Behind every kept sample: the oldest kept one's age.
        let now = start + Duration::from_millis(1000);
        assert_eq!(
            samples.lag(Lsn(0), now),
            Duration::from_millis(1000 - (1000 - Samples::KEPT as u64))
        );
    }

    #[test]
    fn reads_skip_standbys_that_are_down_lagging_or_behind_the_client() {
        let url = |port| {
            DatabaseUrl::parse(
                &format!("postgres://u@127.0.0.1:{port}/db"),
                Duration::from_secs(1),
            )
            .unwrap()
        };
        let manager = Manager {
            url: url(1),
            read_only: true,
            lock_timeout: Duration::from_secs(1),
            statement_timeout: Duration::from_secs(1),
        };
        let standby = |port| {
            (
                url(port),
                r2d2::Pool::builder().build_unchecked(manager.clone()),
            )
        };
        let standbys = Standbys::build(vec![standby(2), standby(3)], Duration::from_secs(1));
        let [a, b] = &standbys.shared.list[..] else {
            unreachable!()
        };
        let picked = |after| match standbys.route(after) {
            Target::Primary => "primary".to_string(),
            Target::Standby(s, None) => s.url.to_string(),
            Target::Standby(s, Some(lsn)) => format!("{} once past {lsn}", s.url),
        };
        // Not probed yet: the primary.
        assert_eq!(picked(None), "primary");
        a.set(Health::Down("refused".into()));
        b.set(Health::Replaying {
            replayed: Lsn(500),
            lag: Duration::ZERO,
        });
        for _ in 0..4 {
            assert_eq!(picked(None), b.url.to_string());
        }
        assert_eq!(picked(Some(Lsn(500))), b.url.to_string());
        assert_eq!(picked(Some(Lsn(501))), format!("{} once past 0/1F5", b.url));
        b.set(Health::Replaying {
            replayed: Lsn(900),
            lag: Duration::from_secs(2),
        });
        assert_eq!(picked(None), "primary");
        a.set(Health::Replaying {
            replayed: Lsn(800),
            lag: Duration::ZERO,
        });
        b.set(Health::Replaying {
            replayed: Lsn(900),
            lag: Duration::ZERO,
        });
        let mut seen: Vec<String> = (0..4).map(|_| picked(None)).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 2, "reads take turns: {seen:?}");
        assert_eq!(picked(Some(Lsn(850))), b.url.to_string());
        a.set(Health::NotStandby);
        b.set(Health::NotStandby);
        assert_eq!(picked(None), "primary");
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&standbys.gather())
            .unwrap();
        for reason in ["down", "lagging", "unknown", "not_standby"] {
            assert!(
                text.contains(&format!("reason=\"{reason}\"")),
                "{reason} not counted:\n{text}"
            );
        }
    }
}
