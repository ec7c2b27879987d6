//! `GET /metrics`: requests counted by method, route pattern and status, the
//! database's gauges, the migrations, and the key it needs with
//! `protect_reads`. (CI reads it with the reference Prometheus parser too:
//! scripts/metrics/check.py.)

use rocket::http::{Header, Status};
use serde_json::json;

use crate::helpers::{backend, TestApp};
use bookshelf::db::Backend;

/// The value of the sample written exactly `series` (name and labels, as
/// the text format spells them), if there is one.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (name, value) = line.rsplit_once(' ')?;
            (name == series).then(|| value.parse().expect("a number"))
        })
}

fn scrape(app: &TestApp) -> String {
    let reply = app.get("/metrics");
    assert_eq!(reply.status, Status::Ok, "{}", reply.text);
    assert_eq!(
        reply.header("Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    reply.text
}

#[test]
fn requests_are_counted_by_method_route_pattern_and_status() {
    let app = TestApp::new();
    let id = app.create_book(json!({}))["id"].as_i64().unwrap();
    for _ in 0..3 {
        assert_eq!(app.get(&format!("/books/{id}")).status, Status::Ok);
    }
    app.get("/books/999999").assert_error(Status::NotFound);
    app.get("/no/such/path").assert_error(Status::NotFound);
    app.get("/a/path/of/its/own").assert_error(Status::NotFound);
    let text = scrape(&app);
    let requests =
        |labels: &str| sample(&text, &format!("bookshelf_http_requests_total{{{labels}}}"));
    assert_eq!(
        requests(r#"method="POST",route="/books",status="201""#),
        Some(1.0)
    );
    assert_eq!(
        requests(r#"method="GET",route="/books/<id>",status="200""#),
        Some(3.0)
    );
    assert_eq!(
        requests(r#"method="GET",route="/books/<id>",status="404""#),
        Some(1.0)
    );
    // Paths no route matched are one series: a client cannot add series.
    assert_eq!(
        requests(r#"method="GET",route="unmatched",status="404""#),
        Some(2.0)
    );
    assert!(!text.contains("/no/such/path"), "{text}");
    let latency = |suffix: &str| {
        sample(
            &text,
            &format!(
                r#"bookshelf_http_request_duration_seconds_{suffix}{{method="GET",route="/books/<id>"}}"#
            ),
        )
    };
    assert_eq!(latency("count"), Some(4.0));
    assert!(latency("sum").unwrap() > 0.0);
    assert_eq!(
        sample(
            &text,
            r#"bookshelf_http_request_duration_seconds_bucket{method="GET",route="/books/<id>",le="+Inf"}"#
        ),
        Some(4.0)
    );
    // The scrape itself is counted once it is answered.
    let again = scrape(&app);
    assert_eq!(
        sample(
            &again,
            r#"bookshelf_http_requests_total{method="GET",route="/metrics",status="200"}"#
        ),
        Some(1.0)
    );
}

#[test]
fn the_database_queues_pool_migrations_and_build_are_reported() {
    let app = TestApp::new();
    for _ in 0..4 {
        app.create_book(json!({}));
    }
    app.get("/books");
    let text = scrape(&app);
    let migrations = bookshelf::migrations::scripts(backend()).len() as f64;
    assert_eq!(
        sample(&text, r#"bookshelf_migrations{state="applied"}"#),
        Some(migrations)
    );
    assert_eq!(
        sample(&text, r#"bookshelf_migrations{state="pending"}"#),
        Some(0.0)
    );
    let newest = &bookshelf::migrations::scripts(backend())
        .last()
        .unwrap()
        .name;
    let digits: String = newest[..17].chars().filter(char::is_ascii_digit).collect();
    assert_eq!(
        sample(&text, "bookshelf_migration_version"),
        Some(digits.parse().unwrap())
    );
    assert_eq!(sample(&text, "bookshelf_database_up"), Some(1.0));
    let build = format!(
        r#"bookshelf_build_info{{backend="{}",version="{}"}}"#,
        backend().name(),
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(sample(&text, &build), Some(1.0), "{text}");
    let in_use = sample(&text, r#"bookshelf_db_connections{state="in_use"}"#).unwrap();
    let idle = sample(&text, r#"bookshelf_db_connections{state="idle"}"#).unwrap();
    assert!(
        in_use >= 0.0 && idle >= 0.0 && in_use + idle >= 1.0,
        "{in_use} {idle}"
    );
    assert_eq!(
        sample(&text, r#"bookshelf_db_queue_depth{queue="readers"}"#),
        Some(0.0)
    );
    assert_eq!(
        sample(&text, r#"bookshelf_db_queue_depth{queue="writer"}"#),
        Some(0.0)
    );
    let waits = |queue: &str| {
        sample(
            &text,
            &format!(r#"bookshelf_db_queue_wait_seconds_count{{queue="{queue}"}}"#),
        )
        .unwrap()
    };
    // A job that found its threads idle ran on its request's worker
    // (database_inline) and waited in no queue.
    let inline = |queue: &str| {
        sample(
            &text,
            &format!(r#"bookshelf_db_inline_total{{queue="{queue}"}}"#),
        )
        .unwrap()
    };
    let jobs = |queue: &str| waits(queue) + inline(queue);
    let batches = sample(
        &text,
        r#"bookshelf_db_writer_batches_total{outcome="committed"}"#,
    )
    .unwrap();
    let batched = sample(&text, "bookshelf_db_writer_batch_size_sum").unwrap();
    match backend() {
        // Writes go to the writer thread, in batches; the list and the
        // migration query to the readers.
        Backend::Sqlite => {
            assert_eq!(jobs("writer"), 4.0);
            assert_eq!(batched, 4.0);
            assert!((1.0..=4.0).contains(&batches), "{batches}");
            assert!(jobs("readers") >= 2.0);
        }
        // Every job runs on the readers: the list's, the migration query's
        // and the POSTs' batches. Those run one at a time, so a POST sent
        // before the job that answered the one before it ended is served by
        // that job: one job or up to four.
        Backend::Postgres => {
            assert_eq!(jobs("writer"), 0.0);
            assert_eq!(batches, 0.0);
            let readers = jobs("readers");
            assert!((3.0..=6.0).contains(&readers), "{readers}");
        }
    }
    // The test client's runtime has one worker, so nothing runs inline
    // (tests/api/startup.rs checks that a served binary does).
    assert_eq!(inline("readers") + inline("writer"), 0.0, "{text}");
    assert_eq!(
        sample(
            &text,
            r#"bookshelf_db_writer_batches_total{outcome="failed"}"#
        ),
        Some(0.0)
    );
}

#[test]
fn with_protect_reads_metrics_need_a_key() {
    let app = TestApp::with_config(|f| f.merge(("api_keys", "k1")).merge(("protect_reads", true)));
    app.get("/metrics").assert_error(Status::Unauthorized);
    let reply = app
        .client
        .get("/metrics")
        .header(Header::new("Authorization", "Bearer k1"))
        .dispatch();
    assert_eq!(reply.status(), Status::Ok);
    assert!(reply
        .into_string()
        .unwrap()
        .contains("bookshelf_http_requests_total"));
}
