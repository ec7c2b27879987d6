//! The SQLite writer thread, with group commit.
//!
//! [`Writer`] (SQLite files only): one thread with its own connection runs
//! every write. SQLite lets one connection write at a time, so writers on
//! several connections only queue inside SQLite's busy handler, which
//! sleeps in steps of milliseconds. The writer instead takes the write lock
//! once (`BEGIN IMMEDIATE`) for all the writes waiting in its queue, runs
//! each in its own savepoint (one failing or panicking write does not undo
//! the others), commits once, and only then answers them: group commit.
//! After each write it checks that the transaction is still open: when
//! SQLite has rolled it back (disk full, I/O error), the batch ends there,
//! the writes run in it are answered 503, and those still queued run in
//! the next batch, so nothing answered 2xx is lost and nothing answered
//! otherwise is stored.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, PoisonError, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::R2D2Connection;
use log::{error, warn};
use rocket::tokio::sync::{mpsc, oneshot};

use bookshelf_migrate::connection::{connect, is_lock_wait, DatabaseUrl, DbConn};

use super::checkpoints::{checkpoint_loop, Checkpoints};
use super::error::DbError;
use super::metrics::DbMetrics;
use super::queue::{answer, lock, other_workers, Claim, Queued};
use crate::config::Synchronous;

/// The most writes the writer commits in one transaction; a longer queue is
/// committed in several, each answered as soon as it commits.
///
/// Not more: the writes of a batch are answered only once it commits, and
/// while the writer runs the next one, the workers send those answers and
/// read the requests that follow. A batch as long as the whole queue left
/// them nothing to do meanwhile: at 64 connections of `POST /books` the
/// writer was busy half the time, with batches of up to 64 writes, and a
/// third of the machine was idle. Measured with bench/ab.sh (one binary,
/// the cap set by a variable, alternated rounds; bench/results.md), against
/// a cap of 128: 8 writes 0.85x, 16 1.06x, 24 1.21x, 32 1.23-1.26x, 48
/// 1.10x, 64 0.98x the req/s at 64 connections; 32 gave 1.13x at 128
/// connections and 1.01x at 16, where batches are shorter anyway. Not much
/// fewer: each commit writes the pages the batch changed to the WAL again.
const MAX_BATCH: usize = 32;

/// The WAL size (pages) at which the writer checkpoints after all, should the
/// checkpoint thread fall behind. SQLite's default is 1000.
const WRITER_CHECKPOINT_PAGES: u32 = 2_000;

/// The writer's queue: a tokio channel, whose sleeping receiver is woken
/// through a condition variable (crossbeam's channels, behind std's, spin
/// and then yield the CPU first: on two cores a yielded writer lost its turn
/// for a whole time slice, about 4 ms, while writes queued behind it). The
/// receiving end sits behind a mutex that the writer thread holds while it
/// runs, so that a thread started after one died takes over what is queued.
type Jobs = Arc<Mutex<mpsc::UnboundedReceiver<Queued<WriteJob>>>>;

/// How a batch of writes ended.
enum Outcome<'a> {
    /// Committed: each write's own result stands.
    Committed,
    /// The commit failed with this error.
    Failed(&'a diesel::result::Error),
    /// Not committed: SQLite ended the transaction, or its state is unknown.
    RolledBack,
}

/// What a write does once its batch has ended: answer its request.
type Finish = Box<dyn for<'a> FnOnce(Outcome<'a>) + Send>;
/// A write: given the batch's connection (or why there is none), it runs in a
/// savepoint and returns how to finish.
type WriteJob = Box<dyn FnOnce(Result<&mut DbConn, DbError>) -> Finish + Send>;

/// The one thread that writes to a SQLite file, with group commit.
///
/// With an empty queue, a write runs on its request's own worker instead
/// (`database_inline`, bounded as src/db/readers.rs says), as a batch of
/// one, when it can take the file's write lock at once: the
/// batch code and the connection are the writer's, held under one mutex,
/// so writes still commit one batch at a time, on one connection, in the
/// order they took it. This saves the hand-off to the writer thread and
/// back that a lone write otherwise waits for (issue 24).
pub struct Writer {
    /// `None` once the `Writer` is dropped: the thread drains the queue and stops.
    sender: Option<mpsc::UnboundedSender<Queued<WriteJob>>>,
    jobs: Jobs,
    batches: Arc<Batches>,
    /// Whether a write that finds the queue empty may run on its caller.
    inline: bool,
    thread: Mutex<Option<JoinHandle<()>>>,
    checkpointer: Option<JoinHandle<()>>,
}

/// What runs a batch: the connection (held by whoever runs one), and what a
/// batch reports to.
struct Batches {
    /// The write connection, opened by the first batch; its mutex is the
    /// right to run a batch.
    connection: Mutex<Option<DbConn>>,
    health: Health,
    url: DatabaseUrl,
    lock_timeout: Duration,
    synchronous: Synchronous,
    checkpoints: Arc<Checkpoints>,
    metrics: DbMetrics,
}

impl Writer {
    /// Starts the writer thread; it opens its connection when the first write
    /// comes, and finishes what is queued and stops when the `Writer` is
    /// dropped, which waits for it.
    pub fn start(
        url: DatabaseUrl,
        lock_timeout: Duration,
        synchronous: Synchronous,
        metrics: DbMetrics,
        inline: bool,
    ) -> std::io::Result<Writer> {
        let checkpoints = Arc::new(Checkpoints::default());
        let due = Arc::clone(&checkpoints);
        let checkpoint_url = url.clone();
        let checkpointer = std::thread::Builder::new()
            .name("db-checkpoint".into())
            .spawn(move || checkpoint_loop(&due, &checkpoint_url, lock_timeout))?;
        let (sender, receiver) = mpsc::unbounded_channel();
        let writer = Writer {
            sender: Some(sender),
            jobs: Arc::new(Mutex::new(receiver)),
            batches: Arc::new(Batches {
                connection: Mutex::new(None),
                health: Health::default(),
                url,
                lock_timeout,
                synchronous,
                checkpoints,
                metrics,
            }),
            inline,
            thread: Mutex::new(None),
            checkpointer: Some(checkpointer),
        };
        *writer.thread.lock().unwrap_or_else(PoisonError::into_inner) = Some(writer.spawn()?);
        Ok(writer)
    }

    fn spawn(&self) -> std::io::Result<JoinHandle<()>> {
        let jobs = Arc::clone(&self.jobs);
        let batches = Arc::clone(&self.batches);
        std::thread::Builder::new()
            .name("db-writer".into())
            .spawn(move || {
                write_loop(&mut lock(&jobs), &batches);
                batches.checkpoints.close();
            })
    }

    /// Starts a new writer thread if the last one died (a bug: it stops only
    /// when its queue is closed), so that writes do not all time out.
    fn revive(&self) {
        let mut thread = self.thread.lock().unwrap_or_else(PoisonError::into_inner);
        if !thread.as_ref().is_some_and(JoinHandle::is_finished) {
            return;
        }
        error!("the database writer thread died; starting a new one");
        match self.spawn() {
            Ok(new) => *thread = Some(new),
            Err(e) => error!("cannot start a new database writer thread: {e}"),
        }
    }

    /// Why the last batch of writes failed, until one commits again or
    /// [`TROUBLE_LASTS`] has passed (so that a service that gets no more
    /// writes, because `/ready` turned traffic away, is tried again).
    pub fn trouble(&self) -> Option<WriteTrouble> {
        lock(&self.batches.health.trouble)
            .filter(|(_, at)| at.elapsed() < TROUBLE_LASTS)
            .map(|(trouble, _)| trouble)
    }

    /// Whether the writer thread runs, after starting a new one if it had
    /// died (for `/ready`).
    pub fn is_alive(&self) -> bool {
        self.revive();
        self.thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|t| !t.is_finished())
    }

    /// Runs `f` in the writer's next transaction, in a savepoint of its own,
    /// and answers once that transaction has committed. When its request is
    /// `alone` (src/db/in_flight.rs), it may run here instead ([`Writer::here`]).
    pub async fn run<T, E, F>(&self, f: F, wait: Duration, alone: bool) -> Result<T, DbError>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Into<DbError>,
    {
        self.revive();
        let batches = Arc::clone(&self.batches);
        let (reply, answered) = oneshot::channel();
        let claim = Claim::default();
        let job: WriteJob = Box::new(move |conn| {
            let result = conn.and_then(|conn| {
                conn.transaction(|conn| {
                    let result = f(conn).map_err(Into::into);
                    // The write's own error, before a failed rollback
                    // can hide it: why writes fail, for /ready.
                    if let Err(error) = &result {
                        if !error.is_refusal() {
                            batches.health.saw(error);
                        }
                    }
                    result
                })
            });
            Box::new(move |outcome| {
                let _ = reply.send(match outcome {
                    Outcome::Committed => result,
                    Outcome::Failed(e) => result.and(Err(uncommitted(e))),
                    // A write's own refusal (4xx) stands; anything else,
                    // even the error that ended the transaction, is a 503.
                    Outcome::RolledBack => match result {
                        Err(refused) if refused.is_refusal() => Err(refused),
                        _ => Err(DbError::Unavailable(
                            "the write was rolled back with its batch".into(),
                        )),
                    },
                });
            })
        });
        let job = match self.here(claim.clone(), job, alone) {
            // Run here, it has answered (or panicked: its answer is gone).
            None => return answered.await.unwrap_or_else(|_| Err(panicked())),
            Some(job) => job,
        };
        if !self.queue(claim.clone(), job) {
            return Err(DbError::Failed("the database writer has stopped".into()));
        }
        answer(claim, answered, wait).await
    }

    /// Runs `job` here, as a batch of its own, when its request is `alone`,
    /// nothing is queued for the writer, no batch runs, the caller is on a
    /// runtime with another worker to serve the rest meanwhile (as
    /// `Readers::here`), and the file's write lock is free
    /// now; gives it back otherwise, for the writer thread (which waits for
    /// the lock as long as the lock timeout).
    fn here(&self, claim: Claim, job: WriteJob, alone: bool) -> Option<WriteJob> {
        if !self.inline || !alone || !other_workers() || self.batches.metrics.writer.waiting() > 0 {
            return Some(job);
        }
        let mut connection = match self.batches.connection.try_lock() {
            Ok(connection) => connection,
            // A writer thread that died holding it (it is replaced): the
            // connection is as sound as the next batch finds it.
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return Some(job),
        };
        let begun = match self.batches.begin(&mut connection, false) {
            Ok(Some(conn)) => Ok(conn),
            // Another process writes: the writer thread waits for it.
            Ok(None) => return Some(job),
            Err(e) => Err(e),
        };
        // Claimed here: no one else knows of it.
        claim.take();
        self.batches.metrics.writer.ran_inline();
        match begun {
            Ok(conn) => {
                let first = Queued {
                    claim,
                    job,
                    since: Instant::now(),
                };
                self.batches
                    .run_begun(&mut connection, conn, first, || None);
            }
            Err(e) => job(Err(e))(Outcome::Committed),
        }
        None
    }

    /// Queues a write for the writer thread; false once the `Writer` is dropped.
    fn queue(&self, claim: Claim, job: WriteJob) -> bool {
        let queued = Queued {
            claim,
            job,
            since: self.batches.metrics.writer.queued(),
        };
        self.sender.as_ref().is_some_and(|s| s.send(queued).is_ok())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.sender = None;
        let thread = self
            .thread
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(thread) = thread.take() {
            let _ = thread.join();
        }
        // A writer that died did not close the checkpoints.
        self.batches.checkpoints.close();
        if let Some(thread) = self.checkpointer.take() {
            let _ = thread.join();
        }
    }
}

/// What a write's request gets when the write panicked.
fn panicked() -> DbError {
    DbError::Failed("a write panicked".into())
}

/// The error each write of a batch gets when its commit failed: never the
/// client's doing, so a 503 whatever the database said (disk full, I/O
/// error, busy); the cause goes to the log.
fn uncommitted(cause: &diesel::result::Error) -> DbError {
    DbError::Unavailable(format!("the write's batch could not be committed: {cause}").into())
}

type Sqlite = AnsiTransactionManager;

fn begin(conn: &mut DbConn) -> QueryResult<()> {
    match conn {
        DbConn::Sqlite(sqlite) => Sqlite::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE"),
        DbConn::Postgres(_) => unreachable!("the writer is for SQLite only"),
    }
}

/// `BEGIN IMMEDIATE` that does not wait when another process holds the
/// file's write lock: SQLite's busy timeout is 0 for it, then `lock_timeout`
/// again.
fn begin_now(conn: &mut DbConn, lock_timeout: Duration) -> QueryResult<()> {
    conn.batch_execute("PRAGMA busy_timeout = 0")?;
    let begun = begin(conn);
    let restored = conn.batch_execute(&format!(
        "PRAGMA busy_timeout = {}",
        lock_timeout.as_millis()
    ));
    begun.and(restored)
}

fn commit(conn: &mut DbConn) -> QueryResult<()> {
    match conn {
        DbConn::Sqlite(sqlite) => {
            <Sqlite as TransactionManager<SqliteConnection>>::commit_transaction(sqlite)
        }
        DbConn::Postgres(_) => unreachable!("the writer is for SQLite only"),
    }
}

/// How long `/ready` reports a failed batch of writes.
const TROUBLE_LASTS: Duration = Duration::from_secs(10);

/// Why writes are failing, as `/ready` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteTrouble {
    /// SQLite reported a full disk.
    DiskFull,
    /// Another failure (an I/O error, say); the log has it.
    Failing,
}

impl WriteTrouble {
    fn of(error: &str) -> WriteTrouble {
        if error.contains("disk is full") {
            WriteTrouble::DiskFull
        } else {
            WriteTrouble::Failing
        }
    }
}

/// What the writer tells `/ready`: the trouble of its last batch, and the
/// server-side error of the last write that failed in the current one.
#[derive(Default)]
struct Health {
    trouble: Mutex<Option<(WriteTrouble, Instant)>>,
    last_error: Mutex<Option<String>>,
}

impl Health {
    fn saw(&self, error: &DbError) {
        *lock(&self.last_error) = Some(error.to_string());
    }
}

/// Why a batch ended before its commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// SQLite rolled the whole transaction back (disk full, I/O error, out
    /// of memory): the writes run in it are gone.
    Lost,
    /// The transaction's state is not known (a savepoint could not be
    /// rolled back): the batch is rolled back by closing the connection.
    Unknown,
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Ended::Lost => "SQLite rolled back a batch's transaction",
            Ended::Unknown => "a batch's transaction was left in an unknown state",
        })
    }
}

/// After a write: whether the batch's transaction is still open at its own
/// level. A savepoint a panicking write left open is rolled back here.
fn survive(conn: &mut DbConn) -> Option<Ended> {
    let DbConn::Sqlite(sqlite) = conn else {
        unreachable!("the writer is for SQLite only");
    };
    loop {
        match Sqlite::transaction_manager_status_mut(sqlite).transaction_depth() {
            Ok(Some(depth)) if depth.get() == 1 => return None,
            Ok(Some(_)) => {
                if <Sqlite as TransactionManager<SqliteConnection>>::rollback_transaction(sqlite)
                    .is_err()
                {
                    return Some(Ended::Unknown);
                }
            }
            // diesel follows SQLite out of a transaction it ended on an error.
            Ok(None) => return Some(Ended::Lost),
            Err(_) => return Some(Ended::Unknown),
        }
    }
}

/// The writer thread: waits for a write, then runs it and every write queued
/// behind it as one batch ([`Batches::run`]).
fn write_loop(jobs: &mut mpsc::UnboundedReceiver<Queued<WriteJob>>, batches: &Batches) {
    let taken = |queued: Queued<WriteJob>| {
        batches.metrics.writer.taken(queued.since);
        queued
    };
    while let Some(first) = jobs.blocking_recv() {
        // A write running where its request is holds the connection: the
        // job stays queued (its request may still withdraw it) until then.
        let mut connection = lock(&batches.connection);
        let first = taken(first);
        if !first.claim.take() {
            continue;
        }
        // The next write already queued, if any (one withdrawn by its
        // request is skipped). After a batch ends early, the writes still
        // queued run in the next one.
        batches.run(&mut connection, first, || {
            std::iter::from_fn(|| jobs.try_recv().ok().map(taken)).find(|q| q.claim.take())
        });
    }
}

impl Batches {
    /// One batch: takes the write lock, runs `first` and every write `next`
    /// gives (up to [`MAX_BATCH`]), commits, answers. `connection` is the
    /// writer's, opened here when there is none.
    fn run(
        &self,
        connection: &mut Option<DbConn>,
        first: Queued<WriteJob>,
        next_queued: impl FnMut() -> Option<Queued<WriteJob>>,
    ) {
        match self.begin(connection, true) {
            Ok(Some(conn)) => self.run_begun(connection, conn, first, next_queued),
            Ok(None) => unreachable!("a batch that waits for the lock gets it or an error"),
            Err(e) => (first.job)(Err(e))(Outcome::Committed),
        }
    }

    /// Takes the writer's connection (opened here when there is none) and
    /// the file's write lock (`BEGIN IMMEDIATE`), waiting up to the lock
    /// timeout while another process writes or, unless `wait`, not at all:
    /// `Ok(None)` then, the connection left as it was.
    fn begin(
        &self,
        connection: &mut Option<DbConn>,
        wait: bool,
    ) -> Result<Option<DbConn>, DbError> {
        let mut conn = match connection.take() {
            Some(conn) => conn,
            None => connect_writer(&self.url, self.lock_timeout, self.synchronous)
                .map_err(|e| DbError::Unavailable(Box::new(e)))?,
        };
        let begun = match wait {
            true => begin(&mut conn),
            false => begin_now(&mut conn, self.lock_timeout),
        };
        match begun {
            Ok(()) => Ok(Some(conn)),
            Err(e) => {
                if !conn.is_broken() {
                    *connection = Some(conn);
                }
                match !wait && is_lock_wait(&e) {
                    true => Ok(None),
                    false => Err(e.into()),
                }
            }
        }
    }

    /// The batch, once [`Batches::begin`] has taken the lock.
    fn run_begun(
        &self,
        connection: &mut Option<DbConn>,
        mut conn: DbConn,
        first: Queued<WriteJob>,
        mut next_queued: impl FnMut() -> Option<Queued<WriteJob>>,
    ) {
        let mut batch: Vec<Finish> = Vec::new();
        let mut next = Some(first);
        // Why the batch cannot be committed, if it cannot.
        let mut ended: Option<Ended> = None;
        while let Some(queued) = next.take() {
            match catch_unwind(AssertUnwindSafe(|| (queued.job)(Ok(&mut conn)))) {
                Ok(finish) => batch.push(finish),
                // Its request gets a 500 (its answer channel is gone); the
                // savepoint it left open is rolled back below.
                Err(_) => {
                    error!("a write panicked; it is rolled back, the rest of its batch goes on")
                }
            }
            ended = survive(&mut conn);
            if ended.is_some() || batch.len() >= MAX_BATCH {
                break;
            }
            next = next_queued();
        }
        let committed = match ended {
            Some(why) => {
                warn!(
                    "{why}; the {} write(s) run in it are answered 503",
                    batch.len()
                );
                None
            }
            None => Some(commit(&mut conn)),
        };
        if let Some(Err(e)) = &committed {
            warn!(
                "a batch of {} write(s) could not be committed: {e}",
                batch.len()
            );
        }
        self.metrics
            .batch(batch.len(), matches!(committed, Some(Ok(()))));
        let last_error = lock(&self.health.last_error).take();
        *lock(&self.health.trouble) = match (&committed, ended) {
            (Some(Ok(())), _) => None,
            (Some(Err(e)), _) => Some((WriteTrouble::of(&e.to_string()), Instant::now())),
            (None, _) => Some((
                WriteTrouble::of(&last_error.unwrap_or_default()),
                Instant::now(),
            )),
        };
        match (&committed, ended) {
            (Some(Ok(())), _) => {
                *connection = Some(conn);
                self.checkpoints.request();
            }
            // SQLite ended the transaction itself; the connection is usable.
            (None, Some(Ended::Lost)) => *connection = Some(conn),
            // Closing the connection rolls back whatever is left of the
            // transaction; the next batch opens a new one.
            _ => drop(conn),
        }
        for finish in batch {
            finish(match &committed {
                Some(Ok(())) => Outcome::Committed,
                Some(Err(e)) => Outcome::Failed(e),
                None => Outcome::RolledBack,
            });
        }
    }
}

/// The writer's connection: as any other, but it syncs as
/// `database_synchronous` says, and it leaves checkpoints to the checkpoint
/// thread. A checkpoint copies the WAL back into the database file
/// and syncs it; SQLite runs one inside the commit that takes the WAL past
/// 1000 pages, and every write queued behind the writer would wait for it.
fn connect_writer(
    url: &DatabaseUrl,
    lock_timeout: Duration,
    synchronous: Synchronous,
) -> ConnectionResult<DbConn> {
    let mut conn = connect(url, lock_timeout)?;
    conn.batch_execute(&format!(
        "PRAGMA wal_autocheckpoint = {WRITER_CHECKPOINT_PAGES}; PRAGMA synchronous = {}",
        synchronous.pragma()
    ))
    .map_err(ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rocket::futures::future::join_all;

    fn rows(conn: &mut DbConn) -> String {
        diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(
            "(SELECT coalesce(group_concat(n, ','), '') FROM (SELECT n FROM t ORDER BY n))",
        ))
        .get_result(conn)
        .unwrap()
    }

    #[rocket::async_test]
    async fn a_failing_write_rolls_back_only_itself_and_the_rest_of_its_batch_commits() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, mut conn) = writer_on_table(&dir);
        // Every fifth write fails after it inserted its row.
        let results = batch_with_fault(&writer, |n, _| match n % 5 {
            3 => Err(DbError::Refused(format!("write {n} refused"))),
            _ => Ok(()),
        })
        .await;
        for (n, result) in results.iter().enumerate() {
            match result {
                Ok(value) => assert_eq!(*value as usize, n),
                Err(DbError::Refused(_)) => assert_eq!(n % 5, 3, "write {n} failed"),
                Err(other) => panic!("write {n}: unexpected {other:?}"),
            }
        }
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 16);
        // Exactly the writes answered Ok are stored: the failed ones left nothing.
        assert_eq!(rows(&mut conn), acknowledged(&results));
    }

    /// A writer on a fresh file with table `t`, and a connection to read it.
    /// Every write goes through the writer thread's queue: its batches are
    /// what these tests are about (the inline path has tests of its own).
    fn writer_on_table(dir: &tempfile::TempDir) -> (Writer, DbConn) {
        writer_on_table_inline(dir, false)
    }

    fn writer_on_table_inline(dir: &tempfile::TempDir, inline: bool) -> (Writer, DbConn) {
        let path = dir.path().join("faults.db");
        let url = DatabaseUrl::parse(path.to_str().unwrap(), Duration::from_secs(3)).unwrap();
        let lock_timeout = Duration::from_secs(5);
        let mut conn = connect(&url, lock_timeout).unwrap();
        conn.batch_execute("PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER NOT NULL)")
            .unwrap();
        (
            Writer::start(
                url,
                lock_timeout,
                Synchronous::Full,
                DbMetrics::new(),
                inline,
            )
            .unwrap(),
            conn,
        )
    }

    /// Twenty writes queued behind a slow first one, so that they run in
    /// one batch; each inserts its number, then `fault` runs with it.
    async fn batch_with_fault(
        writer: &Writer,
        fault: fn(u32, &mut DbConn) -> Result<(), DbError>,
    ) -> Vec<Result<u32, DbError>> {
        let writes = (0..20).map(|n| {
            writer.run(
                move |conn: &mut DbConn| {
                    if n == 0 {
                        std::thread::sleep(Duration::from_millis(300));
                    }
                    conn.batch_execute(&format!("INSERT INTO t (n) VALUES ({n})"))?;
                    fault(n, conn)?;
                    Ok::<u32, DbError>(n)
                },
                Duration::from_secs(5),
                true,
            )
        });
        join_all(writes).await
    }

    /// The rows stored are exactly the writes answered Ok.
    fn acknowledged(results: &[Result<u32, DbError>]) -> String {
        let ok: Vec<String> = results
            .iter()
            .filter_map(|r| r.as_ref().ok().map(u32::to_string))
            .collect();
        ok.join(",")
    }

    #[rocket::async_test]
    async fn a_panicking_write_is_rolled_back_alone_and_the_rest_of_its_batch_commits() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, mut conn) = writer_on_table(&dir);
        let results = batch_with_fault(&writer, |n, _| {
            assert_ne!(n, 7, "a bug in write 7");
            Ok(())
        })
        .await;
        for (n, result) in results.iter().enumerate() {
            if n == 7 {
                assert!(matches!(result, Err(DbError::Failed(_))), "{result:?}");
            } else {
                assert!(result.is_ok(), "write {n}: {result:?}");
            }
        }
        assert_eq!(rows(&mut conn), acknowledged(&results));
        assert!(!rows(&mut conn).split(',').any(|n| n == "7"));
    }

    #[rocket::async_test]
    async fn a_transaction_sqlite_ends_mid_batch_loses_nothing_acknowledged() {
        // As SQLite does on SQLITE_FULL or an I/O error: the whole
        // transaction is rolled back under the batch.
        let dir = tempfile::tempdir().unwrap();
        let (writer, mut conn) = writer_on_table(&dir);
        let results = batch_with_fault(&writer, |n, conn| {
            if n == 7 {
                conn.batch_execute("ROLLBACK")?;
                return Err(DbError::Refused("write 7 failed".into()));
            }
            Ok(())
        })
        .await;
        // The writes run before the fault were in the lost transaction: 503.
        for (n, result) in results.iter().enumerate().take(7) {
            assert!(
                matches!(result, Err(DbError::Unavailable(_))),
                "write {n}: {result:?}"
            );
        }
        assert!(results[7].is_err());
        // The writes queued behind it ran in the next batch.
        for (n, result) in results.iter().enumerate().skip(8) {
            assert!(result.is_ok(), "write {n}: {result:?}");
        }
        // Nothing answered Ok is missing, nothing answered an error is stored.
        assert_eq!(rows(&mut conn), acknowledged(&results));
        // The writer goes on.
        writer
            .run(
                |conn: &mut DbConn| conn.batch_execute("INSERT INTO t (n) VALUES (99)"),
                Duration::from_secs(5),
                true,
            )
            .await
            .unwrap();
        assert!(rows(&mut conn).ends_with(",99"));
    }

    #[rocket::async_test]
    async fn a_full_disk_answers_503_stores_nothing_refused_and_writes_resume_with_space() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, mut conn) = writer_on_table(&dir);
        let write = |n: u32, sql: &'static str| {
            writer.run(
                move |conn: &mut DbConn| {
                    conn.batch_execute(sql)?;
                    conn.batch_execute(&format!("INSERT INTO t (n) VALUES ({n})"))?;
                    // Half a megabyte per write, in a table of its own.
                    conn.batch_execute(
                        "CREATE TABLE IF NOT EXISTS blobs (b BLOB); \
                         INSERT INTO blobs VALUES (zeroblob(500000))",
                    )?;
                    Ok::<u32, DbError>(n)
                },
                Duration::from_secs(5),
                true,
            )
        };
        // The writer's connection may not grow the file past 300 pages (1.2 MB).
        let full = "PRAGMA max_page_count = 300";
        let results = join_all((0..8).map(|n| write(n, full))).await;
        let refused = results.iter().filter(|r| r.is_err()).count();
        assert!(refused > 0, "the disk never filled: {results:?}");
        for result in results.iter().filter(|r| r.is_err()) {
            assert!(matches!(result, Err(DbError::Unavailable(_))), "{result:?}");
        }
        assert_eq!(rows(&mut conn), acknowledged(&results));
        // The last batch may have committed the writes that fitted; one that
        // did not fit, alone, tells /ready why.
        write(50, full).await.unwrap_err();
        assert_eq!(writer.trouble(), Some(WriteTrouble::DiskFull));
        // With space again, writes go through.
        let roomy = "PRAGMA max_page_count = 1073741823";
        write(100, roomy).await.unwrap();
        assert!(rows(&mut conn).ends_with("100"));
        assert_eq!(writer.trouble(), None);
    }

    /// Queues a write of `n` directly, without waiting for it; the receiver
    /// says whether it was run and committed.
    fn enqueue(writer: &Writer, n: u32, pause: Duration) -> oneshot::Receiver<bool> {
        let (reply, answer) = oneshot::channel();
        let job: WriteJob = Box::new(move |conn| {
            std::thread::sleep(pause);
            let done = conn.and_then(|conn| {
                conn.batch_execute(&format!("INSERT INTO t (n) VALUES ({n})"))
                    .map_err(DbError::from)
            });
            Box::new(move |outcome| {
                let _ = reply.send(done.is_ok() && matches!(outcome, Outcome::Committed));
            })
        });
        assert!(writer.queue(Claim::default(), job));
        answer
    }

    #[rocket::async_test]
    async fn a_long_queue_is_committed_and_answered_a_batch_at_a_time() {
        use std::sync::atomic::{AtomicUsize, Ordering};

        let dir = tempfile::tempdir().unwrap();
        let (writer, mut conn) = writer_on_table(&dir);
        // Writes committed and answered so far; each write notes how many
        // there were when it ran.
        let answered = Arc::new(AtomicUsize::new(0));
        let (ran, seen) = std::sync::mpsc::channel();
        // As many as bench/run.sh's 64 connections send at once.
        let total = 64;
        let mut answers = Vec::new();
        for n in 0..total {
            let (reply, answer) = oneshot::channel();
            let answered = Arc::clone(&answered);
            let ran = ran.clone();
            let job: WriteJob = Box::new(move |conn| {
                if n == 0 {
                    // The others queue behind the first.
                    std::thread::sleep(Duration::from_millis(300));
                }
                let _ = ran.send((n, answered.load(Ordering::SeqCst)));
                let done = conn.and_then(|conn| {
                    conn.batch_execute(&format!("INSERT INTO t (n) VALUES ({n})"))
                        .map_err(DbError::from)
                });
                Box::new(move |outcome| {
                    let ok = done.is_ok() && matches!(outcome, Outcome::Committed);
                    if ok {
                        answered.fetch_add(1, Ordering::SeqCst);
                    }
                    let _ = reply.send(ok);
                })
            });
            assert!(writer.queue(Claim::default(), job));
            answers.push(answer);
        }
        for (n, answer) in answers.into_iter().enumerate() {
            assert_eq!(answer.await, Ok(true), "write {n} was committed");
        }
        let seen: std::collections::HashMap<usize, usize> = seen.try_iter().collect();
        assert_eq!(seen.len(), total);
        // They were not one batch: the first MAX_BATCH writes ran in one
        // transaction, answered when it committed, before the next began.
        assert!(
            seen[&(total - 1)] > 0,
            "some of 64 queued writes were answered before the last one ran"
        );
        assert_eq!(seen[&(MAX_BATCH - 1)], 0, "the first batch ran as one");
        assert_eq!(
            seen[&MAX_BATCH], MAX_BATCH,
            "the first batch was answered before the second ran"
        );
        assert_eq!(rows(&mut conn).split(',').count(), total);
    }

    #[rocket::async_test]
    async fn dropping_the_writer_runs_and_commits_what_is_queued_before_it_returns() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, mut conn) = writer_on_table(&dir);
        let mut answers = vec![enqueue(&writer, 0, Duration::from_millis(300))];
        answers.extend((1..20).map(|n| enqueue(&writer, n, Duration::ZERO)));
        drop(writer);
        for (n, mut answer) in answers.into_iter().enumerate() {
            assert_eq!(
                answer.try_recv(),
                Ok(true),
                "write {n} was not done at shutdown"
            );
        }
        assert_eq!(rows(&mut conn).split(',').count(), 20);
    }

    #[rocket::async_test]
    async fn a_dead_writer_thread_is_replaced_and_writes_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, mut conn) = writer_on_table(&dir);
        // A bug outside the write's own catch: its answer panics, and the
        // thread dies.
        let (reply, _answer) = oneshot::channel::<()>();
        let job: WriteJob = Box::new(move |_| {
            Box::new(move |_| {
                drop(reply);
                panic!("a bug in the writer thread");
            })
        });
        assert!(writer.queue(Claim::default(), job));
        for _ in 0..100 {
            let dead = writer
                .thread
                .lock()
                .unwrap()
                .as_ref()
                .is_some_and(JoinHandle::is_finished);
            if dead {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(writer.is_alive(), "a new writer thread was started");
        writer
            .run(
                |conn: &mut DbConn| conn.batch_execute("INSERT INTO t (n) VALUES (1)"),
                Duration::from_millis(500),
                true,
            )
            .await
            .unwrap();
        assert_eq!(rows(&mut conn), "1");
    }

    #[rocket::async_test]
    async fn the_writer_syncs_as_database_synchronous_says_and_fully_by_default() {
        assert_eq!(
            crate::config::Settings::default().database_synchronous,
            Synchronous::Full
        );
        for (mode, pragma) in [(Synchronous::Full, 2), (Synchronous::Normal, 1)] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("sync.db");
            let url = DatabaseUrl::parse(path.to_str().unwrap(), Duration::from_secs(3)).unwrap();
            let writer =
                Writer::start(url, Duration::from_secs(5), mode, DbMetrics::new(), true).unwrap();
            let found = writer
                .run(
                    |conn: &mut DbConn| {
                        diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>(
                            "(SELECT synchronous FROM pragma_synchronous)",
                        ))
                        .get_result::<i32>(conn)
                    },
                    Duration::from_secs(5),
                    true,
                )
                .await
                .unwrap();
            assert_eq!(found, pragma, "{mode:?}");
        }
    }

    #[rocket::async_test]
    async fn a_batch_whose_commit_fails_answers_every_write_503_and_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, mut conn) = writer_on_table(&dir);
        // Checked at COMMIT, not at the INSERT: a deferred foreign key.
        conn.batch_execute(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY); \
             CREATE TABLE child (p INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)",
        )
        .unwrap();
        let write = |sql: &'static str, pause: Duration| {
            writer.run(
                move |conn: &mut DbConn| {
                    std::thread::sleep(pause);
                    conn.batch_execute(sql)
                },
                Duration::from_secs(5),
                true,
            )
        };
        let (first, second) = rocket::tokio::join!(
            write("INSERT INTO t (n) VALUES (1)", Duration::from_millis(300)),
            async {
                rocket::tokio::time::sleep(Duration::from_millis(50)).await;
                write("INSERT INTO child (p) VALUES (99)", Duration::ZERO).await
            }
        );
        for result in [&first, &second] {
            assert!(matches!(result, Err(DbError::Unavailable(_))), "{result:?}");
        }
        assert_eq!(rows(&mut conn), "");
    }

    #[rocket::async_test]
    async fn a_write_still_queued_at_its_timeout_is_answered_503_and_never_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("withdrawn.db");
        let url = DatabaseUrl::parse(path.to_str().unwrap(), Duration::from_secs(3)).unwrap();
        let lock_timeout = Duration::from_secs(5);
        let mut conn = connect(&url, lock_timeout).unwrap();
        conn.batch_execute("PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER NOT NULL)")
            .unwrap();
        // The queue is what is tested: nothing runs inline.
        let writer = Writer::start(
            url,
            lock_timeout,
            Synchronous::Full,
            DbMetrics::new(),
            false,
        )
        .unwrap();

        let insert = |n: u32, pause: Duration| {
            writer.run(
                move |conn: &mut DbConn| {
                    std::thread::sleep(pause);
                    conn.batch_execute(&format!("INSERT INTO t (n) VALUES ({n})"))
                },
                Duration::from_millis(200),
                true,
            )
        };
        // The first write keeps the writer busy for 600 ms; the second may
        // wait 200 ms for it, gives up, and must not be written afterwards.
        let (slow, queued) = rocket::tokio::join!(insert(1, Duration::from_millis(600)), async {
            rocket::tokio::time::sleep(Duration::from_millis(50)).await;
            insert(2, Duration::ZERO).await
        });
        slow.unwrap();
        assert!(matches!(queued, Err(DbError::Unavailable(_))), "{queued:?}");
        // A later write goes through: the writer has gone on.
        insert(3, Duration::ZERO).await.unwrap();
        assert_eq!(rows(&mut conn), "1,3");
    }

    /// Inserts `n` and says which thread ran it.
    fn insert_on(n: u32) -> impl FnOnce(&mut DbConn) -> Result<String, DbError> + Send + 'static {
        move |conn: &mut DbConn| {
            conn.batch_execute(&format!("INSERT INTO t (n) VALUES ({n})"))?;
            Ok(std::thread::current().name().unwrap_or("").to_string())
        }
    }

    use crate::db::queue::workers;

    /// `write` run by a task on one of `workers`, waiting `wait` at most.
    fn on_a_worker<T: Send + 'static>(
        workers: &rocket::tokio::runtime::Runtime,
        writer: &Arc<Writer>,
        write: impl FnOnce(&mut DbConn) -> Result<T, DbError> + Send + 'static,
        wait: Duration,
    ) -> rocket::tokio::task::JoinHandle<Result<T, DbError>> {
        let writer = Arc::clone(writer);
        workers.spawn(async move { writer.run(write, wait, true).await })
    }

    #[test]
    fn a_lone_write_commits_where_its_request_is_and_one_behind_a_batch_goes_to_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, mut conn) = writer_on_table_inline(&dir, true);
        let writer = Arc::new(writer);
        let workers = workers();
        let run = |write, wait| workers.block_on(on_a_worker(&workers, &writer, write, wait));
        let ran_on = run(insert_on(1), Duration::from_secs(5)).unwrap().unwrap();
        assert_eq!(ran_on, "worker", "a lone write runs on its caller");
        assert_eq!(rows(&mut conn), "1", "and it is committed when answered");
        // A write queued for the writer thread: the next one queues behind it.
        let slow = enqueue(&writer, 2, Duration::from_millis(300));
        let ran_on = run(insert_on(3), Duration::from_secs(5)).unwrap().unwrap();
        assert_eq!(
            ran_on, "db-writer",
            "a write behind a queue goes to the writer"
        );
        assert_eq!(workers.block_on(slow), Ok(true));
        assert_eq!(rows(&mut conn), "1,2,3");
        // A write queued while one runs where its request is waits for it
        // in the queue, where its request may still withdraw it: 503 at its
        // timeout, and never written.
        let slow = |conn: &mut DbConn| {
            std::thread::sleep(Duration::from_millis(600));
            insert_on(4)(conn)
        };
        let inline = on_a_worker(&workers, &writer, slow, Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(100));
        let queued = run(insert_on(5), Duration::from_millis(200)).unwrap();
        assert!(matches!(queued, Err(DbError::Unavailable(_))), "{queued:?}");
        assert_eq!(workers.block_on(inline).unwrap().unwrap(), "worker");
        let ran_on = run(insert_on(6), Duration::from_secs(5)).unwrap().unwrap();
        assert_eq!(ran_on, "worker");
        assert_eq!(rows(&mut conn), "1,2,3,4,6");
        // While another connection holds the file's write lock, a write does
        // not wait for it on its worker: the writer thread waits instead.
        conn.batch_execute("BEGIN IMMEDIATE").unwrap();
        let locked = on_a_worker(&workers, &writer, insert_on(7), Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(300));
        conn.batch_execute("COMMIT").unwrap();
        assert_eq!(workers.block_on(locked).unwrap().unwrap(), "db-writer");
        assert_eq!(rows(&mut conn), "1,2,3,4,6,7");
        // Turned off, a lone write goes to the writer thread too.
        let dir = tempfile::tempdir().unwrap();
        let (off, _) = writer_on_table_inline(&dir, false);
        let ran_on = run_on(&workers, off, insert_on(8));
        assert_eq!(ran_on, "db-writer");
        // On a runtime of one worker, none would be left for the rest.
        let dir = tempfile::tempdir().unwrap();
        let (alone, _) = writer_on_table_inline(&dir, true);
        let one = rocket::tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        assert_eq!(run_on(&one, alone, insert_on(9)), "db-writer");
        one.shutdown_background();
        workers.shutdown_background();
    }

    /// The thread that ran `write`, sent from a task on one of `workers`.
    fn run_on(
        workers: &rocket::tokio::runtime::Runtime,
        writer: Writer,
        write: impl FnOnce(&mut DbConn) -> Result<String, DbError> + Send + 'static,
    ) -> String {
        let writer = Arc::new(writer);
        let task = on_a_worker(workers, &writer, write, Duration::from_secs(5));
        workers.block_on(task).unwrap().unwrap()
    }

    #[test]
    fn a_lone_write_that_fails_or_panics_where_its_request_is_stores_nothing_and_the_next_commits()
    {
        let dir = tempfile::tempdir().unwrap();
        let (writer, mut conn) = writer_on_table_inline(&dir, true);
        let writer = Arc::new(writer);
        let workers = workers();
        let refuse = |conn: &mut DbConn| {
            conn.batch_execute("INSERT INTO t (n) VALUES (1)")?;
            Err::<String, _>(DbError::Refused("refused".into()))
        };
        let task = on_a_worker(&workers, &writer, refuse, Duration::from_secs(5));
        let refused = workers.block_on(task).unwrap();
        assert!(matches!(refused, Err(DbError::Refused(_))), "{refused:?}");
        let panic = |conn: &mut DbConn| -> Result<String, DbError> {
            conn.batch_execute("INSERT INTO t (n) VALUES (2)")?;
            panic!("a bug in an inline write")
        };
        let task = on_a_worker(&workers, &writer, panic, Duration::from_secs(5));
        let panicked = workers.block_on(task).unwrap();
        assert!(matches!(panicked, Err(DbError::Failed(_))), "{panicked:?}");
        let task = on_a_worker(&workers, &writer, insert_on(3), Duration::from_secs(5));
        assert_eq!(workers.block_on(task).unwrap().unwrap(), "worker");
        assert_eq!(rows(&mut conn), "3", "only the write answered Ok is stored");
        workers.shutdown_background();
    }
}
