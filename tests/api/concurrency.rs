//! Many requests at once: writers wait for each other (SQLite takes its write
//! lock up front), so none fails and none is lost.

use rocket::futures::future::join_all;
use rocket::http::{ContentType, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use serde_json::{json, Value};

use crate::helpers::{async_client, TestDb};
use crate::metrics::sample;

#[rocket::async_test]
async fn concurrent_writers_and_readers_all_succeed_and_every_write_is_stored() {
    let db = TestDb::new();
    let client = async_client(&db).await;
    let book: Value = post_book(&client, "Reviewed", 1)
        .await
        .into_json()
        .await
        .unwrap();
    let reviews_uri = format!("/books/{}/reviews", book["id"]);
    let writes = 200;
    let requests = (0..writes).map(|i| {
        let client = &client;
        let reviews_uri = &reviews_uri;
        async move {
            // Creating a review reads (does the book exist?) and then writes:
            // the case where a deferred SQLite transaction fails with "locked".
            let review = client
                .post(reviews_uri.as_str())
                .header(ContentType::JSON)
                .body(json!({"author": "Ada", "content": format!("Review {i}")}).to_string())
                .dispatch()
                .await;
            let write = post_book(client, &format!("Book {i}"), i).await;
            let read = client.get("/books?limit=5&sort=-id").dispatch().await;
            (review.status(), write.status(), read.status())
        }
    });
    let statuses = join_all(requests).await;
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

/// The jobs the query threads have taken so far (a batch of merged GETs or
/// POSTs is one).
const READER_JOBS: &str = r#"bookshelf_db_queue_wait_seconds_count{queue="readers"}"#;

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
    let client = async_client(&db).await;
    let mut ids = Vec::new();
    for i in 0..20 {
        let book: Value = post_book(&client, &format!("Book {i}"), i)
            .await
            .into_json()
            .await
            .unwrap();
        ids.push(book["id"].as_i64().unwrap());
    }
    let before = metric(&client, READER_JOBS).await;
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
    let replies = join_all(asked.iter().map(|&id| {
        let client = &client;
        async move {
            let reply = client.get(format!("/books/{id}")).dispatch().await;
            let status = reply.status();
            let etag = reply.headers().get_one("ETag").map(str::to_string);
            (status, etag, reply.into_json::<Value>().await.unwrap())
        }
    }))
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
    let jobs = metric(&client, READER_JOBS).await - before;
    assert!(
        jobs < asked.len() as f64,
        "{} GETs by id ran as {jobs} queries: none were merged",
        asked.len()
    );
}

#[rocket::async_test]
async fn concurrent_posts_are_stored_together_and_each_gets_its_own_book() {
    let db = TestDb::new();
    let client = async_client(&db).await;
    // On PostgreSQL the POSTs go to the readers' queue as batches of
    // inserts; on a SQLite file to the writer's group commit.
    let jobs = match crate::helpers::backend() {
        bookshelf::db::Backend::Postgres => READER_JOBS,
        bookshelf::db::Backend::Sqlite => {
            r#"bookshelf_db_writer_batches_total{outcome="committed"}"#
        }
    };
    let before = metric(&client, jobs).await;
    let posts = 100;
    let replies = join_all((0..posts).map(|i| {
        let client = &client;
        async move {
            let reply = post_book(client, &format!("Post {i}"), i).await;
            let status = reply.status();
            let location = reply.headers().get_one("Location").map(str::to_string);
            (
                i,
                status,
                location,
                reply.into_json::<Value>().await.unwrap(),
            )
        }
    }))
    .await;
    let statements = metric(&client, jobs).await - before;
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
    assert_eq!(ids.len(), posts as usize, "one row per request");
    assert!(
        statements < f64::from(posts),
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
