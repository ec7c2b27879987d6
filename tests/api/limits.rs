//! Every range src/constraints.rs declares (a length, a number's bounds) is
//! enforced three times from that one declaration, and the three agree: the
//! API answers 422 just past it and 201 at it, /openapi.json gives the same
//! bound, and the database (built by the migrations) refuses a value just
//! past it written directly. A declared range with no field of the API here
//! fails the test, so a new one cannot go unchecked.

use diesel::connection::SimpleConnection;
use rocket::http::Status;
use serde_json::{json, Value};

use bookshelf_migrate::model::Rule;

use crate::helpers::{connect, valid_book, TestApp};

/// The API field and OpenAPI schema of a declared (table, column).
fn field_of(table: &str, column: &str) -> Option<(&'static str, &'static str)> {
    Some(match (table, column) {
        ("books", "title") => ("title", "Title"),
        ("books", "author") => ("author", "AuthorName"),
        ("books", "description") => ("description", "Description"),
        ("books", "price") => ("price", "Price"),
        ("books", "rating") => ("rating", "Rating"),
        ("reviews", "author") => ("author", "ReviewerName"),
        ("reviews", "content") => ("content", "ReviewContent"),
        _ => return None,
    })
}

/// A value for `column` of the kind a rule bounds: `bound` characters, or
/// the number `bound`.
fn value(length: bool, bound: f64) -> Value {
    if length {
        json!("x".repeat(bound as usize))
    } else if bound.fract() == 0.0 {
        json!(bound as i64)
    } else {
        json!(bound)
    }
}

/// POSTs a book, or a review of book 1, with `field` set to `value`.
fn post(app: &TestApp, table: &str, field: &str, value: &Value) -> Status {
    let mut body = match table {
        "books" => valid_book(),
        _ => json!({"author": "Ada", "content": "Fine."}),
    };
    body[field] = value.clone();
    let uri = if table == "books" {
        "/books"
    } else {
        "/books/1/reviews"
    };
    app.post(uri, &body).status
}

/// An SQL literal for `value`.
fn literal(value: &Value) -> String {
    match value {
        Value::String(s) => format!("'{s}'"),
        other => other.to_string(),
    }
}

#[test]
fn the_api_openapi_json_and_the_database_agree_on_every_declared_limit() {
    let model = bookshelf::migrations::built_model().unwrap();
    let app = TestApp::new();
    app.create_book(valid_book());
    let spec = app.get("/openapi.json").body;
    let mut conn = connect(&app.db);
    let mut checked = 0;
    for table in &model.tables {
        for check in &table.checks {
            let Rule::Range {
                column,
                length,
                min,
                max,
            } = &check.rule
            else {
                continue;
            };
            let at = format!("{}.{column}", table.name);
            let (field, schema) = field_of(&table.name, column)
                .unwrap_or_else(|| panic!("{at} has a declared range and no API field here"));
            let schema = &spec["components"]["schemas"][schema];
            let (min_key, max_key) = if *length {
                ("minLength", "maxLength")
            } else {
                ("minimum", "maximum")
            };
            let bounds = [(min, min_key, -1.0), (max, max_key, 1.0)];
            for (bound, key, step) in bounds {
                let Some(bound) = bound.as_deref() else {
                    continue;
                };
                let bound: f64 = bound.parse().unwrap();
                if *length && bound == 0.0 {
                    continue;
                }
                assert_eq!(schema[key].as_f64(), Some(bound), "{at}: {key} in {schema}");
                let inside = value(*length, bound);
                assert_eq!(
                    post(&app, &table.name, field, &inside),
                    Status::Created,
                    "{at} = {inside}"
                );
                let outside = value(*length, bound + step);
                assert_eq!(
                    post(&app, &table.name, field, &outside),
                    Status::UnprocessableEntity,
                    "{at} = {outside}"
                );
                // The same value past the bound, written directly.
                let (columns, values) = match table.name.as_str() {
                    "books" => (
                        "title, author, price, rating, published",
                        "'T', 'A', 1, 3, FALSE",
                    ),
                    _ => ("book_id, author, content", "1, 'A', 'C'"),
                };
                let list: Vec<&str> = columns.split(", ").collect();
                let mut vals: Vec<String> = values.split(", ").map(str::to_string).collect();
                match list.iter().position(|c| c == column) {
                    Some(i) => vals[i] = literal(&outside),
                    None => vals.push(literal(&outside)),
                }
                let columns = if list.contains(&column.as_str()) {
                    columns.to_string()
                } else {
                    format!("{columns}, {column}")
                };
                let insert = format!(
                    "INSERT INTO {} ({columns}) VALUES ({})",
                    table.name,
                    vals.join(", ")
                );
                assert!(
                    conn.batch_execute(&insert).is_err(),
                    "{at}: the database took {outside}: {insert}"
                );
                checked += 1;
            }
        }
    }
    // title, author, price and rating (both ends each), description's
    // maximum, and the reviewer's and the review's lengths (both ends).
    assert_eq!(checked, 13);
}
