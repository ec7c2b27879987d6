use rocket::http::Status;
use serde_json::json;

use crate::helpers::TestApp;

#[test]
fn create_review_returns_201_with_location_and_a_timestamp() {
    let app = TestApp::new();
    let book = app.create_book(json!({}))["id"].as_i64().unwrap();
    let reply = app.post(
        &format!("/books/{book}/reviews"),
        &json!({"author": "Ada", "content": "A classic."}),
    );
    assert_eq!(reply.status, Status::Created, "{}", reply.text);
    let id = reply.body["id"].as_i64().unwrap();
    assert_eq!(
        reply.header("Location"),
        Some(format!("/reviews/{id}").as_str())
    );
    assert_eq!(reply.body["book_id"], json!(book));
    assert_eq!(reply.body["author"], json!("Ada"));
    assert_eq!(reply.body["content"], json!("A classic."));
    assert!(reply.body["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(app.get(&format!("/reviews/{id}")).body, reply.body);
}

#[test]
fn create_review_for_an_unknown_book_returns_404_and_stores_nothing() {
    let app = TestApp::new();
    app.post(
        "/books/5/reviews",
        &json!({"author": "Ada", "content": "Hm"}),
    )
    .assert_error(Status::NotFound);
    app.get("/reviews/1").assert_error(Status::NotFound);
}

#[test]
fn create_review_validates_author_and_content() {
    let app = TestApp::new();
    let book = app.create_book(json!({}))["id"].as_i64().unwrap();
    let uri = format!("/books/{book}/reviews");
    let cases = [
        (json!({"author": "a".repeat(51), "content": "ok"}), "author"),
        (json!({"author": "", "content": "ok"}), "author"),
        (
            json!({"author": "Ada", "content": "c".repeat(201)}),
            "content",
        ),
        (json!({"author": "Ada", "content": " "}), "content"),
        (json!({"author": "Ada", "content": "\u{0}x"}), "content"),
        (json!({"author": "A\u{0}", "content": "x"}), "author"),
        (json!(["Ada", "x"]), "body"),
        (json!({"author": "Ada"}), "content"),
        (
            json!({"author": "Ada", "content": "ok", "book_id": 3}),
            "book_id",
        ),
        (
            json!({"author": "Ada", "content": "ok", "created_at": "x"}),
            "created_at",
        ),
    ];
    for (body, field) in cases {
        app.post(&uri, &body).assert_invalid_field(field);
    }
    // The bounds themselves are accepted.
    app.create_review(book, &"a".repeat(50), &"c".repeat(200));
    assert_eq!(app.get(&uri).body["total"], json!(1));
}

#[test]
fn list_reviews_returns_a_books_reviews_oldest_first_with_the_total() {
    let app = TestApp::new();
    let book = app.create_book(json!({}))["id"].as_i64().unwrap();
    let other = app.create_book(json!({}))["id"].as_i64().unwrap();
    for i in 0..3 {
        app.create_review(book, "Ada", &format!("review {i}"));
    }
    app.create_review(other, "Bob", "elsewhere");
    let page = app.get(&format!("/books/{book}/reviews"));
    assert_eq!(page.status, Status::Ok);
    assert_eq!(page.body["total"], json!(3));
    let contents: Vec<&str> = page.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["content"].as_str().unwrap())
        .collect();
    assert_eq!(contents, ["review 0", "review 1", "review 2"]);
    let second = app.get(&format!("/books/{book}/reviews?offset=1&limit=1"));
    assert_eq!(second.body["items"][0]["content"], json!("review 1"));
    assert_eq!(second.body["total"], json!(3));
    app.get(&format!("/books/{book}/reviews?limit=1000"))
        .assert_invalid_field("limit");
    // Empty pages carry no row with the total: it is counted on its own.
    let past_the_end = app.get(&format!("/books/{book}/reviews?offset=5"));
    assert_eq!(past_the_end.status, Status::Ok);
    assert_eq!(past_the_end.body["items"], json!([]));
    assert_eq!(past_the_end.body["total"], json!(3));
    let none_yet = app.create_book(json!({}))["id"].as_i64().unwrap();
    let empty = app.get(&format!("/books/{none_yet}/reviews"));
    assert_eq!(empty.status, Status::Ok);
    assert_eq!(
        (&empty.body["items"], &empty.body["total"]),
        (&json!([]), &json!(0))
    );
}

#[test]
fn list_reviews_of_an_unknown_book_returns_404() {
    let app = TestApp::new();
    app.get("/books/31/reviews").assert_error(Status::NotFound);
    app.get("/books/31/reviews?offset=3")
        .assert_error(Status::NotFound);
}

#[test]
fn update_review_changes_the_given_fields_only() {
    let app = TestApp::new();
    let book = app.create_book(json!({}))["id"].as_i64().unwrap();
    let review = app.create_review(book, "Ada", "First");
    let uri = format!("/reviews/{}", review["id"]);
    let reply = app.patch(&uri, &json!({"content": "Second thoughts"}));
    assert_eq!(reply.status, Status::Ok, "{}", reply.text);
    assert_eq!(reply.body["content"], json!("Second thoughts"));
    assert_eq!(reply.body["author"], json!("Ada"));
    assert_eq!(reply.body["created_at"], review["created_at"]);
    let unchanged = app.patch(&uri, &json!({}));
    assert_eq!(unchanged.status, Status::Ok);
    assert_eq!(unchanged.body, reply.body);
    app.patch(&uri, &json!({"author": "a".repeat(51)}))
        .assert_invalid_field("author");
    app.patch(&uri, &json!({"book_id": 2}))
        .assert_invalid_field("book_id");
    app.patch("/reviews/999", &json!({"content": "x"}))
        .assert_error(Status::NotFound);
    assert_eq!(app.get(&uri).body, reply.body);
}

#[test]
fn delete_review_returns_204_then_404() {
    let app = TestApp::new();
    let book = app.create_book(json!({}))["id"].as_i64().unwrap();
    let review = app.create_review(book, "Ada", "Bye");
    let uri = format!("/reviews/{}", review["id"]);
    assert_eq!(app.delete(&uri).status, Status::NoContent);
    app.get(&uri).assert_error(Status::NotFound);
    app.delete(&uri).assert_error(Status::NotFound);
    assert_eq!(app.get(&format!("/books/{book}")).status, Status::Ok);
}
