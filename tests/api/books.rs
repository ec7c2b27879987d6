use rocket::http::Status;
use serde_json::{json, Value};

use crate::helpers::{book_with, ids, valid_book, TestApp};

#[test]
fn create_book_returns_201_with_location_and_the_stored_book() {
    let app = TestApp::new();
    let reply = app.post("/books", &valid_book());
    assert_eq!(reply.status, Status::Created, "{}", reply.text);
    let id = reply.body["id"].as_i64().unwrap();
    assert_eq!(
        reply.header("Location"),
        Some(format!("/books/{id}").as_str())
    );
    for field in [
        "title",
        "author",
        "price",
        "rating",
        "published",
        "description",
    ] {
        assert_eq!(reply.body[field], valid_book()[field], "{field}");
    }
    assert!(reply.body["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(reply.body["created_at"], reply.body["updated_at"]);

    let fetched = app.get(&format!("/books/{id}"));
    assert_eq!(fetched.status, Status::Ok);
    assert_eq!(fetched.body, reply.body);
}

#[test]
fn create_book_defaults_published_to_false_and_description_to_null() {
    let app = TestApp::new();
    let book = app.create_book(json!({"published": null, "description": null}));
    assert_eq!(book["published"], json!(false));
    assert_eq!(book["description"], Value::Null);
}

#[test]
fn get_book_returns_404_for_an_unknown_id() {
    let app = TestApp::new();
    let reply = app.get("/books/4242");
    reply.assert_error(Status::NotFound);
    assert!(reply.body["message"].as_str().unwrap().contains("4242"));
}

#[test]
fn list_books_pages_with_a_default_limit_and_the_total() {
    let app = TestApp::new();
    let created: Vec<i64> = (0..25)
        .map(|i| {
            app.create_book(json!({"title": format!("Book {i}")}))["id"]
                .as_i64()
                .unwrap()
        })
        .collect();

    let first = app.get("/books");
    assert_eq!(first.status, Status::Ok);
    assert_eq!(first.body["total"], json!(25));
    assert_eq!(first.body["limit"], json!(20));
    assert_eq!(first.body["offset"], json!(0));
    assert_eq!(ids(&first.body), created[..20]);

    let second = app.get("/books?offset=20&limit=20");
    assert_eq!(ids(&second.body), created[20..]);
    assert_eq!(second.body["total"], json!(25));

    // An empty page carries no row with the total: it is counted on its own.
    let past_the_end = app.get("/books?offset=10000");
    assert_eq!(past_the_end.status, Status::Ok);
    assert_eq!(ids(&past_the_end.body), Vec::<i64>::new());
    assert_eq!(past_the_end.body["total"], json!(25));
    assert_eq!(past_the_end.body["total_exact"], json!(true));
}

#[test]
fn list_books_filters_by_author_and_published() {
    let app = TestApp::new();
    let a = app.create_book(json!({"author": "Ann", "published": true}))["id"].clone();
    app.create_book(json!({"author": "Ann", "published": false}));
    app.create_book(json!({"author": "Bob", "published": true}));

    let by_ann = app.get("/books?author=Ann");
    assert_eq!(by_ann.body["total"], json!(2));
    let published_by_ann = app.get("/books?author=Ann&published=true");
    assert_eq!(published_by_ann.body["total"], json!(1));
    assert_eq!(published_by_ann.body["items"][0]["id"], a);
    let unpublished = app.get("/books?published=false");
    assert_eq!(unpublished.body["total"], json!(1));
    let nobody = app.get("/books?author=Nobody");
    assert_eq!(nobody.body["total"], json!(0));
}

#[test]
fn list_books_sorts_by_the_requested_field() {
    let app = TestApp::new();
    app.create_book(json!({"title": "B", "price": 2.0}));
    app.create_book(json!({"title": "A", "price": 3.0}));
    app.create_book(json!({"title": "C", "price": 1.0}));
    let titles = |uri: &str| -> Vec<String> {
        app.get(uri).body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["title"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(titles("/books?sort=title"), ["A", "B", "C"]);
    assert_eq!(titles("/books?sort=-title"), ["C", "B", "A"]);
    assert_eq!(titles("/books?sort=price"), ["C", "B", "A"]);
    assert_eq!(titles("/books?sort=-price"), ["A", "B", "C"]);
    assert_eq!(titles("/books"), ["B", "A", "C"]);
}

#[test]
fn list_books_rejects_invalid_parameters_with_422_naming_them() {
    let app = TestApp::new();
    for (query, field) in [
        ("limit=101", "limit"),
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("limit=99999999999999999999999", "limit"),
        ("offset=-1", "offset"),
        ("sort=pages", "sort"),
        ("published=maybe", "published"),
        ("author=a%00b", "author"),
    ] {
        app.get(&format!("/books?{query}"))
            .assert_invalid_field(field);
    }
}

#[test]
fn replace_book_replaces_every_field() {
    let app = TestApp::new();
    let book = app.create_book(json!({}));
    let id = book["id"].as_i64().unwrap();
    let replacement = json!({"title": "Emma", "author": "Jane Austen", "price": 4.5, "rating": 4});
    let reply = app.put(&format!("/books/{id}"), &replacement);
    assert_eq!(reply.status, Status::Ok, "{}", reply.text);
    assert_eq!(reply.body["title"], json!("Emma"));
    assert_eq!(reply.body["author"], json!("Jane Austen"));
    assert_eq!(reply.body["price"], json!(4.5));
    assert_eq!(reply.body["rating"], json!(4));
    // A full replace: what the body leaves out goes back to its default.
    assert_eq!(reply.body["published"], json!(false));
    assert_eq!(reply.body["description"], Value::Null);
    assert_eq!(reply.body["created_at"], book["created_at"]);
    assert_ne!(reply.body["updated_at"], book["updated_at"]);
    assert_eq!(app.get(&format!("/books/{id}")).body, reply.body);
}

#[test]
fn replace_book_returns_404_for_an_unknown_id_and_422_for_a_partial_body() {
    let app = TestApp::new();
    app.put("/books/77", &valid_book())
        .assert_error(Status::NotFound);
    let id = app.create_book(json!({}))["id"].as_i64().unwrap();
    app.put(&format!("/books/{id}"), &json!({"title": "Only a title"}))
        .assert_invalid_field("author");
}

#[test]
fn update_book_changes_only_the_given_fields() {
    let app = TestApp::new();
    let book = app.create_book(json!({}));
    let id = book["id"].as_i64().unwrap();
    let reply = app.patch(
        &format!("/books/{id}"),
        &json!({"price": 1.25, "rating": 3}),
    );
    assert_eq!(reply.status, Status::Ok, "{}", reply.text);
    assert_eq!(reply.body["price"], json!(1.25));
    assert_eq!(reply.body["rating"], json!(3));
    for unchanged in ["title", "author", "published", "description", "created_at"] {
        assert_eq!(reply.body[unchanged], book[unchanged], "{unchanged}");
    }
}

#[test]
fn update_book_clears_the_description_with_null_and_keeps_it_when_absent() {
    let app = TestApp::new();
    let id = app.create_book(json!({}))["id"].as_i64().unwrap();
    let uri = format!("/books/{id}");
    let kept = app.patch(&uri, &json!({"title": "Dune Messiah"}));
    assert_eq!(kept.body["description"], valid_book()["description"]);
    let cleared = app.patch(&uri, &json!({"description": null}));
    assert_eq!(cleared.status, Status::Ok);
    assert_eq!(cleared.body["description"], Value::Null);
    assert_eq!(cleared.body["title"], json!("Dune Messiah"));
    let empty = app.patch(&uri, &json!({}));
    assert_eq!(empty.status, Status::Ok);
    assert_eq!(empty.body["title"], json!("Dune Messiah"));
}

#[test]
fn update_book_validates_what_it_is_given() {
    let app = TestApp::new();
    let id = app.create_book(json!({}))["id"].as_i64().unwrap();
    let uri = format!("/books/{id}");
    app.patch(&uri, &json!({"rating": 6}))
        .assert_invalid_field("rating");
    app.patch(&uri, &json!({"title": "  "}))
        .assert_invalid_field("title");
    app.patch(&uri, &json!({"id": 5}))
        .assert_invalid_field("id");
    app.patch(&uri, &json!({"updated_at": "2020-01-01T00:00:00Z"}))
        .assert_invalid_field("updated_at");
    app.patch("/books/999", &json!({"rating": 2}))
        .assert_error(Status::NotFound);
    // Nothing was changed by the rejected requests.
    assert_eq!(app.get(&uri).body["rating"], valid_book()["rating"]);
}

#[test]
fn delete_book_returns_204_then_404() {
    let app = TestApp::new();
    let id = app.create_book(json!({}))["id"].as_i64().unwrap();
    let uri = format!("/books/{id}");
    let reply = app.delete(&uri);
    assert_eq!(reply.status, Status::NoContent);
    assert!(reply.text.is_empty());
    app.get(&uri).assert_error(Status::NotFound);
    app.delete(&uri).assert_error(Status::NotFound);
}

#[test]
fn delete_book_deletes_its_reviews_and_no_others() {
    let app = TestApp::new();
    let doomed = app.create_book(json!({}))["id"].as_i64().unwrap();
    let kept = app.create_book(json!({}))["id"].as_i64().unwrap();
    let review = app.create_review(doomed, "Ada", "Gone soon")["id"]
        .as_i64()
        .unwrap();
    let other = app.create_review(kept, "Ada", "Stays")["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        app.delete(&format!("/books/{doomed}")).status,
        Status::NoContent
    );
    app.get(&format!("/reviews/{review}"))
        .assert_error(Status::NotFound);
    assert_eq!(app.get(&format!("/reviews/{other}")).status, Status::Ok);
}

#[test]
fn create_book_rejects_each_invalid_field_with_422_naming_it() {
    let app = TestApp::new();
    let long = |n: usize| Value::String("x".repeat(n));
    let cases = [
        (json!({"title": ""}), "title"),
        (json!({"title": "   "}), "title"),
        (json!({"title": long(201)}), "title"),
        (json!({"title": 42}), "title"),
        (json!({"title": null}), "title"),
        (json!({"author": ""}), "author"),
        (json!({"author": long(101)}), "author"),
        (json!({"price": -0.01}), "price"),
        (json!({"price": 1_000_000.5}), "price"),
        (json!({"price": "9.99"}), "price"),
        (json!({"rating": 0}), "rating"),
        (json!({"rating": 6}), "rating"),
        (json!({"rating": 2.5}), "rating"),
        (json!({"rating": 4_294_967_296_i64}), "rating"),
        (json!({"published": "yes"}), "published"),
        (json!({"description": long(2001)}), "description"),
        (json!({"title": "a\u{0}b"}), "title"),
        (json!({"title": "\u{feff}\u{1c}"}), "title"),
        (json!({"author": "\u{0}"}), "author"),
        (json!({"description": "nul \u{0}"}), "description"),
        (json!({"id": 7}), "id"),
        (json!({"created_at": "2020-01-01T00:00:00Z"}), "created_at"),
    ];
    for (fields, field) in cases {
        app.post("/books", &book_with(fields.clone()))
            .assert_invalid_field(field);
    }
    // Nothing was stored by the rejected requests.
    assert_eq!(app.get("/books").body["total"], json!(0));
}

#[test]
fn create_book_reports_every_invalid_value_at_once() {
    let app = TestApp::new();
    let reply = app.post(
        "/books",
        &book_with(json!({"title": "", "price": -1, "rating": 9})),
    );
    for field in ["title", "price", "rating"] {
        reply.assert_invalid_field(field);
    }
}

#[test]
fn create_book_accepts_boundary_values() {
    let app = TestApp::new();
    let book = app.create_book(json!({
        "title": "é".repeat(200),
        "author": "a",
        "price": 0,
        "rating": 1,
        "description": "d".repeat(2000)
    }));
    assert_eq!(book["title"].as_str().unwrap().chars().count(), 200);
    let book = app.create_book(json!({"price": 1_000_000, "rating": 5}));
    assert_eq!(book["price"], json!(1_000_000.0));
    // JSON Schema's integer includes numbers written with a zero fraction.
    let book = app.create_book(json!({"rating": 4.0}));
    assert_eq!(book["rating"], json!(4));
}

#[test]
fn strings_that_look_like_sql_are_stored_literally() {
    let app = TestApp::new();
    let title = "Robert'); DROP TABLE books; --";
    let author = "\" OR 1=1 --";
    let book = app.create_book(json!({"title": title, "author": author}));
    let fetched = app.get(&format!("/books/{}", book["id"]));
    assert_eq!(fetched.body["title"], json!(title));
    assert_eq!(fetched.body["author"], json!(author));
    let by_author = app.get("/books?author=%22%20OR%201%3D1%20--");
    assert_eq!(by_author.body["total"], json!(1));
    assert_eq!(app.get("/books").body["total"], json!(1));
}

#[test]
fn a_json_array_in_place_of_an_object_returns_422() {
    let app = TestApp::new();
    let id = app.create_book(json!({}))["id"].as_i64().unwrap();
    let as_array = json!(["Dune", "Frank Herbert", 1.5, 3]);
    app.post("/books", &as_array).assert_invalid_field("body");
    app.put(&format!("/books/{id}"), &as_array)
        .assert_invalid_field("body");
    app.patch(&format!("/books/{id}"), &json!([null, null]))
        .assert_invalid_field("body");
    app.post("/books", &json!("a string"))
        .assert_invalid_field("body");
    assert_eq!(app.get("/books").body["total"], json!(1));
}
