//! Many requests at once: writers wait for each other (SQLite takes its write
//! lock up front), so none fails and none is lost.

use rocket::futures::future::join_all;
use rocket::http::{ContentType, Status};
use rocket::local::asynchronous::Client;
use serde_json::{json, Value};

use crate::helpers::{figment, TestDb};

#[rocket::async_test]
async fn concurrent_writers_and_readers_all_succeed_and_every_write_is_stored() {
    let db = TestDb::new();
    let client = Client::tracked(bookshelf::rocket(figment(&db)))
        .await
        .expect("the application starts");
    let book: Value = client
        .post("/books")
        .header(ContentType::JSON)
        .body(json!({"title": "Reviewed", "author": "Many", "price": 1, "rating": 3}).to_string())
        .dispatch()
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
            let write = client
                .post("/books")
                .header(ContentType::JSON)
                .body(
                    json!({"title": format!("Book {i}"), "author": "Many", "price": i, "rating": 3})
                        .to_string(),
                )
                .dispatch()
                .await;
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
