//! Optional API keys: writes need one when keys are configured; reads too
//! with protect_reads; health, readiness and the docs stay open.

use rocket::http::{Header, Status};
use serde_json::json;

use crate::helpers::{valid_book, Reply, TestApp};

fn with_keys(protect_reads: bool) -> TestApp {
    TestApp::with_config(|f| {
        f.merge(("api_keys", "k1, second-key"))
            .merge(("protect_reads", protect_reads))
    })
}

fn send(app: &TestApp, method: rocket::http::Method, uri: &str, key: Option<&str>) -> Reply {
    let mut request = app
        .client
        .req(method, uri.to_string())
        .header(rocket::http::ContentType::JSON)
        .body(valid_book().to_string());
    if let Some(key) = key {
        request = request.header(Header::new("Authorization", format!("Bearer {key}")));
    }
    Reply::from(request.dispatch())
}

#[test]
fn with_keys_configured_writes_need_a_valid_key() {
    use rocket::http::Method::*;
    let app = with_keys(false);
    for key in [None, Some("wrong"), Some(""), Some("k1x")] {
        let reply = send(&app, Post, "/books", key);
        reply.assert_error(Status::Unauthorized);
        assert_eq!(
            reply.header("WWW-Authenticate"),
            Some("Bearer realm=\"bookshelf\"")
        );
    }
    assert_eq!(
        app.get("/books").body["total"],
        json!(0),
        "nothing was stored"
    );
    let created = send(&app, Post, "/books", Some("second-key"));
    assert_eq!(created.status, Status::Created, "{}", created.text);
    let uri = format!("/books/{}", created.body["id"]);
    send(&app, Put, &uri, None).assert_error(Status::Unauthorized);
    send(&app, Patch, &uri, Some("nope")).assert_error(Status::Unauthorized);
    send(&app, Delete, &uri, None).assert_error(Status::Unauthorized);
    send(&app, Post, &format!("{uri}/reviews"), None).assert_error(Status::Unauthorized);
    // Reads stay open.
    assert_eq!(app.get(&uri).status, Status::Ok);
    assert_eq!(app.get("/books").status, Status::Ok);
    assert_eq!(
        send(&app, Delete, &uri, Some("k1")).status,
        Status::NoContent
    );
}

#[test]
fn protect_reads_closes_reads_but_not_health_or_docs() {
    let app = with_keys(true);
    app.get("/books").assert_error(Status::Unauthorized);
    app.get("/books/1").assert_error(Status::Unauthorized);
    app.get("/reviews/1").assert_error(Status::Unauthorized);
    let reply = send(&app, rocket::http::Method::Get, "/books", Some("k1"));
    assert_eq!(reply.status, Status::Ok);
    for open in ["/health", "/ready", "/openapi.json", "/docs/"] {
        assert_eq!(app.get(open).status, Status::Ok, "{open}");
    }
}

#[test]
fn without_keys_the_api_is_open() {
    let app = TestApp::new();
    let reply = send(&app, rocket::http::Method::Post, "/books", None);
    assert_eq!(reply.status, Status::Created);
}

#[test]
fn keys_may_be_a_comma_separated_string_or_a_list() {
    use bookshelf::config::Settings;
    let from = |value: rocket::figment::value::Value| -> Vec<String> {
        rocket::figment::Figment::from(rocket::figment::providers::Serialized::defaults(
            Settings::default(),
        ))
        .merge(("api_keys", value))
        .extract::<Settings>()
        .unwrap()
        .api_keys
    };
    assert_eq!(from(" a, b ,,".into()), ["a", "b"]);
    assert_eq!(from(vec!["x", "y"].into()), ["x", "y"]);
    assert!(from("".into()).is_empty());
}
