//! Many requests at once: writers wait for each other (SQLite takes its write
//! lock up front), so none fails and none is lost.

use std::future::Future;
use std::sync::Arc;

use rocket::futures::future::join_all;
use rocket::http::{ContentType, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use serde_json::{json, Value};

use crate::helpers::{async_client, TestDb};
use crate::metrics::sample;

#[rocket::async_test]
async fn concurrent_writers_and_readers_all_succeed_and_every_write_is_stored() {
    let db = TestDb::new();
    let client = Arc::new(async_client(&db).await);
    let book: Value = post_book(&client, "Reviewed", 1)
        .await
        .into_json()
        .await
        .unwrap();
    let reviews_uri = format!("/books/{}/reviews", book["id"]);
    let writes = 200;
    let statuses = each_in_a_task(&client, writes, |client, i| {
        let reviews_uri = reviews_uri.clone();
        async move {
            let i = i as i32;
            // Creating a review reads (does the book exist?) and then writes:
            // the case where a deferred SQLite transaction fails with "locked".
            let review = client
                .post(reviews_uri.as_str())
                .header(ContentType::JSON)
                .body(json!({"author": "Ada", "content": format!("Review {i}")}).to_string())
                .dispatch()
                .await;
            let write = post_book(&client, &format!("Book {i}"), i).await;
            let read = client.get("/books?limit=5&sort=-id").dispatch().await;
            (review.status(), write.status(), read.status())
        }
    })
    .await;
    for (review, write, read) in &statuses {
        assert_eq!(*review, Status::Created);
        assert_eq!(*write, Status::Created);
        assert_eq!(*read, Status::Ok);
    }
    let page: Value = client
        .get("/books?limit=1")
        .dispatch()
        .await
        .into_json()
        .await
        .unwrap();
    assert_eq!(page["total"], json!(writes + 1));
    let reviews: Value = client
        .get(format!("{reviews_uri}?limit=1"))
        .dispatch()
        .await
        .into_json()
        .await
        .unwrap();
    assert_eq!(reviews["total"], json!(writes));
}

/// The value of one series of /metrics now.
async fn metric(client: &Client, series: &str) -> f64 {
    let text = client
        .get("/metrics")
        .dispatch()
        .await
        .into_string()
        .await
        .unwrap();
    sample(&text, series).unwrap_or_else(|| panic!("no {series} in {text}"))
}

/// The jobs of the query threads so far (a batch of merged GETs or POSTs is
/// one): those they took from their queue, and those that found them idle
/// and ran on their request's worker.
async fn reader_jobs(client: &Client) -> f64 {
    metric(
        client,
        r#"bookshelf_db_queue_wait_seconds_count{queue="readers"}"#,
    )
    .await
        + metric(client, r#"bookshelf_db_inline_total{queue="readers"}"#).await
}

/// Runs `request(client, i)` for each `i` below `n`, each in a task of its
/// own, as the server runs each connection: a request whose query runs on
/// its own worker (`database_inline`) holds up only itself, and the others
/// queue for the database threads meanwhile, as under load.
async fn each_in_a_task<T, F>(
    client: &Arc<Client>,
    n: usize,
    request: impl Fn(Arc<Client>, usize) -> F,
) -> Vec<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let tasks: Vec<_> = (0..n)
        .map(|i| rocket::tokio::spawn(request(Arc::clone(client), i)))
        .collect();
    join_all(tasks)
        .await
        .into_iter()
        .map(|task| task.expect("a request's task panicked"))
        .collect()
}

/// `POST /books` of a valid book with this title and price.
async fn post_book<'c>(client: &'c Client, title: &str, price: i32) -> LocalResponse<'c> {
    client
        .post("/books")
        .header(ContentType::JSON)
        .body(json!({"title": title, "author": "Many", "price": price, "rating": 3}).to_string())
        .dispatch()
        .await
}

#[rocket::async_test]
async fn concurrent_gets_by_id_are_read_in_batches_and_each_gets_its_own_row() {
    let db = TestDb::new();
    let client = Arc::new(async_client(&db).await);
    let mut ids = Vec::new();
    for i in 0..20 {
        let book: Value = post_book(&client, &format!("Book {i}"), i)
            .await
            .into_json()
            .await
            .unwrap();
        ids.push(book["id"].as_i64().unwrap());
    }
    let before = reader_jobs(&client).await;
    // Each known id several times, and ids that do not exist.
    let asked: Vec<i64> = (0..200)
        .map(|n| {
            if n % 10 == 9 {
                1_000_000 + n
            } else {
                ids[n as usize % ids.len()]
            }
        })
        .collect();
    let replies = each_in_a_task(&client, asked.len(), |client, i| {
        let id = asked[i];
        async move {
            let reply = client.get(format!("/books/{id}")).dispatch().await;
            let status = reply.status();
            let etag = reply.headers().get_one("ETag").map(str::to_string);
            (status, etag, reply.into_json::<Value>().await.unwrap())
        }
    })
    .await;
    for (&id, (status, etag, body)) in asked.iter().zip(&replies) {
        if id >= 1_000_000 {
            assert_eq!(*status, Status::NotFound, "{id}: {body}");
            assert_eq!(body["message"], format!("no book with id {id}"));
        } else {
            assert_eq!(*status, Status::Ok, "{id}: {body}");
            assert_eq!(body["id"], id, "each request gets the row it asked for");
            let i = ids.iter().position(|&known| known == id).unwrap();
            assert_eq!(body["title"], format!("Book {i}"));
            assert_eq!(etag.as_deref(), Some("\"1\""));
        }
    }
    let jobs = reader_jobs(&client).await - before;
    assert!(
        jobs < asked.len() as f64,
        "{} GETs by id ran as {jobs} queries: none were merged",
        asked.len()
    );
}

#[rocket::async_test]
async fn concurrent_posts_are_stored_together_and_each_gets_its_own_book() {
    let db = TestDb::new();
    let client = Arc::new(async_client(&db).await);
    // On PostgreSQL the POSTs go to the readers (their queue, or the
    // request's worker when they are idle) as batches of inserts; on a
    // SQLite file to the writer's group commit.
    let jobs = |client: Arc<Client>| async move {
        match crate::helpers::backend() {
            bookshelf::db::Backend::Postgres => reader_jobs(&client).await,
            bookshelf::db::Backend::Sqlite => {
                metric(
                    &client,
                    r#"bookshelf_db_writer_batches_total{outcome="committed"}"#,
                )
                .await
            }
        }
    };
    let before = jobs(Arc::clone(&client)).await;
    let posts = 100;
    let replies = each_in_a_task(&client, posts, |client, i| {
        let i = i as i32;
        async move {
            let reply = post_book(&client, &format!("Post {i}"), i).await;
            let status = reply.status();
            let location = reply.headers().get_one("Location").map(str::to_string);
            (
                i,
                status,
                location,
                reply.into_json::<Value>().await.unwrap(),
            )
        }
    })
    .await;
    let statements = jobs(Arc::clone(&client)).await - before;
    let mut ids = Vec::new();
    for (i, status, location, body) in &replies {
        assert_eq!(*status, Status::Created, "{body}");
        assert_eq!(
            body["title"],
            format!("Post {i}"),
            "each request gets its own book"
        );
        assert_eq!(body["price"], json!(*i as f64));
        assert_eq!(
            location.as_deref(),
            Some(format!("/books/{}", body["id"]).as_str())
        );
        let stored: Value = client
            .get(format!("/books/{}", body["id"]))
            .dispatch()
            .await
            .into_json()
            .await
            .unwrap();
        assert_eq!(stored["title"], body["title"]);
        ids.push(body["id"].as_i64().unwrap());
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), posts, "one row per request");
    assert!(
        statements < posts as f64,
        "{posts} POSTs took {statements} jobs: none were stored together"
    );
}

/// One row of a multi-row INSERT that the database refuses fails the whole
/// statement: each book is then stored alone, so the others are kept and
/// only the refused one gets an error.
#[test]
fn a_refused_book_in_a_batch_of_inserts_fails_alone() {
    use diesel::connection::SimpleConnection;
    let db = TestDb::new();
    let mut conn = crate::helpers::connect(&db);
    {
        use diesel_migrations::MigrationHarness;
        conn.run_pending_migrations(bookshelf::migrations::embedded(crate::helpers::backend()))
            .unwrap();
    }
    conn.batch_execute(match crate::helpers::backend() {
        bookshelf::db::Backend::Postgres => {
            "ALTER TABLE books ADD CONSTRAINT not_refused CHECK (title <> 'Refused')"
        }
        // SQLite cannot add a CHECK to a table; a trigger refuses as well.
        bookshelf::db::Backend::Sqlite => {
            "CREATE TRIGGER not_refused BEFORE INSERT ON books WHEN NEW.title = 'Refused' \
             BEGIN SELECT RAISE(ABORT, 'refused'); END"
        }
    })
    .unwrap();
    let new = |title: &str| -> bookshelf::models::NewBook {
        serde_json::from_value(json!({"title": title, "author": "A", "price": 1, "rating": 2}))
            .unwrap()
    };
    let answers = bookshelf::models::Book::create_each(
        &mut conn,
        &[new("Kept 1"), new("Refused"), new("Kept 2")],
    )
    .unwrap();
    assert_eq!(answers.len(), 3);
    assert_eq!(answers[0].as_ref().unwrap().title, "Kept 1");
    assert!(answers[1].is_err(), "{:?}", answers[1]);
    assert_eq!(answers[2].as_ref().unwrap().title, "Kept 2");
    use bookshelf::schema::books;
    use diesel::prelude::*;
    let titles: Vec<String> = books::table
        .select(books::title)
        .order(books::id)
        .load(&mut conn)
        .unwrap();
    assert_eq!(titles, ["Kept 1", "Kept 2"]);
}
