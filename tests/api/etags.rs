//! No lost updates: every book and review has an `ETag` that changes on
//! each write; PUT, PATCH and DELETE honor `If-Match` (412), GET honors
//! `If-None-Match` (304), and `require_if_match` makes `If-Match` a must (428).

use rocket::futures::future::join;
use rocket::http::{ContentType, Header, Method, Status};
use serde_json::{json, Value};

use crate::helpers::{async_client, Reply, TestApp, TestDb};

/// Sends `body` (if any) with `headers`.
fn send(
    app: &TestApp,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Reply {
    let mut request = app.client.req(method, uri.to_string());
    for (name, value) in headers {
        request.add_header(Header::new(name.to_string(), value.to_string()));
    }
    if let Some(body) = body {
        request = request.header(ContentType::JSON).body(body.to_string());
    }
    Reply::from(request.dispatch())
}

fn etag(reply: &Reply) -> String {
    reply.header("ETag").expect("an ETag").to_string()
}

#[test]
fn every_write_gives_a_book_a_new_etag() {
    let app = TestApp::new();
    let created = app.post("/books", &crate::helpers::valid_book());
    assert_eq!(created.status, Status::Created);
    let id = created.body["id"].as_i64().unwrap();
    let uri = format!("/books/{id}");
    let mut seen = vec![etag(&created)];
    assert_eq!(etag(&app.get(&uri)), seen[0], "GET gives the tag POST gave");
    let replaced = app.put(&uri, &crate::helpers::valid_book());
    assert_eq!(replaced.status, Status::Ok);
    seen.push(etag(&replaced));
    // Even a change to the same value is a write: a new version.
    let patched = app.patch(&uri, &json!({"title": replaced.body["title"]}));
    seen.push(etag(&patched));
    seen.push(etag(&app.patch(&uri, &json!({}))));
    assert_eq!(etag(&app.get(&uri)), *seen.last().unwrap());
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!(unique, seen, "each write gave a new tag: {seen:?}");
    assert!(
        seen.iter().all(|t| t.starts_with('"') && t.ends_with('"')),
        "strong tags: {seen:?}"
    );
    assert!(
        app.get(&uri).body.get("version").is_none(),
        "the version is not in the body"
    );
}

#[test]
fn if_match_lets_through_only_the_current_version() {
    use Method::*;
    let app = TestApp::new();
    let id = app.create_book(json!({"title": "First"}))["id"]
        .as_i64()
        .unwrap();
    let uri = format!("/books/{id}");
    let current = etag(&app.get(&uri));
    let stale = etag(&app.patch(&uri, &json!({"title": "Second"})));
    let now = etag(&app.get(&uri));
    assert_ne!(stale, current);
    for (method, body) in [
        (Put, Some(crate::helpers::valid_book())),
        (Patch, Some(json!({"title": "Lost"}))),
        (Delete, None),
    ] {
        for if_match in [
            current.as_str(),
            "\"999\"",
            "W/\"2\"",
            "\"x\"",
            "garbage",
            "",
        ] {
            let reply = send(&app, method, &uri, &[("If-Match", if_match)], body.clone());
            reply.assert_error(Status::PreconditionFailed);
            assert_eq!(reply.body["error"], "precondition_failed");
        }
    }
    let book = app.get(&uri);
    assert_eq!(book.body["title"], "Second", "nothing changed");
    assert_eq!(etag(&book), now);
    // The current tag, in a list, or `*`: the write goes through.
    let list = format!("\"999\", {now}");
    let patched = send(
        &app,
        Patch,
        &uri,
        &[("If-Match", list.as_str())],
        Some(json!({"title": "Third"})),
    );
    assert_eq!(patched.status, Status::Ok, "{}", patched.text);
    assert_eq!(patched.body["title"], "Third");
    let replaced = send(
        &app,
        Put,
        &uri,
        &[("If-Match", "*")],
        Some(crate::helpers::valid_book()),
    );
    assert_eq!(replaced.status, Status::Ok);
    let deleted = send(&app, Delete, &uri, &[("If-Match", &etag(&replaced))], None);
    assert_eq!(deleted.status, Status::NoContent);
    // No such book: 404, whatever the tag.
    for if_match in ["\"1\"", "*"] {
        send(
            &app,
            Patch,
            &uri,
            &[("If-Match", if_match)],
            Some(json!({"title": "x"})),
        )
        .assert_error(Status::NotFound);
        send(&app, Delete, &uri, &[("If-Match", if_match)], None).assert_error(Status::NotFound);
    }
}

#[test]
fn if_none_match_answers_304_while_the_copy_is_current() {
    let app = TestApp::new();
    let id = app.create_book(json!({}))["id"].as_i64().unwrap();
    let uri = format!("/books/{id}");
    let tag = etag(&app.get(&uri));
    let weak = format!("W/{tag}");
    let list = format!("\"999\", {tag}");
    for held in [tag.as_str(), weak.as_str(), list.as_str(), "*"] {
        let reply = send(&app, Method::Get, &uri, &[("If-None-Match", held)], None);
        assert_eq!(reply.status, Status::NotModified, "{held}");
        assert_eq!(reply.text, "", "no body");
        assert_eq!(etag(&reply), tag);
    }
    app.patch(&uri, &json!({"rating": 1}));
    let reply = send(
        &app,
        Method::Get,
        &uri,
        &[("If-None-Match", tag.as_str())],
        None,
    );
    assert_eq!(reply.status, Status::Ok, "the book changed");
    assert_eq!(reply.body["rating"], 1);
    assert_ne!(etag(&reply), tag);
    send(
        &app,
        Method::Get,
        "/books/999999",
        &[("If-None-Match", "*")],
        None,
    )
    .assert_error(Status::NotFound);
}

#[test]
fn reviews_have_etags_too() {
    use Method::*;
    let app = TestApp::new();
    let book = app.create_book(json!({}))["id"].as_i64().unwrap();
    let created = app.post(
        &format!("/books/{book}/reviews"),
        &json!({"author": "Ada", "content": "Good."}),
    );
    let uri = format!("/reviews/{}", created.body["id"]);
    let first = etag(&created);
    assert_eq!(etag(&app.get(&uri)), first);
    let changed = send(
        &app,
        Patch,
        &uri,
        &[("If-Match", &first)],
        Some(json!({"content": "Better."})),
    );
    assert_eq!(changed.status, Status::Ok);
    let second = etag(&changed);
    assert_ne!(second, first);
    send(
        &app,
        Patch,
        &uri,
        &[("If-Match", &first)],
        Some(json!({"content": "Lost."})),
    )
    .assert_error(Status::PreconditionFailed);
    // An empty change writes nothing, but its If-Match is still checked.
    send(&app, Patch, &uri, &[("If-Match", &first)], Some(json!({})))
        .assert_error(Status::PreconditionFailed);
    assert_eq!(
        etag(&send(
            &app,
            Patch,
            &uri,
            &[("If-Match", &second)],
            Some(json!({}))
        )),
        second
    );
    assert_eq!(
        send(&app, Get, &uri, &[("If-None-Match", &second)], None).status,
        Status::NotModified
    );
    send(&app, Delete, &uri, &[("If-Match", &first)], None)
        .assert_error(Status::PreconditionFailed);
    assert_eq!(app.get(&uri).body["content"], "Better.");
    assert_eq!(
        send(&app, Delete, &uri, &[("If-Match", &second)], None).status,
        Status::NoContent
    );
}

#[test]
fn require_if_match_refuses_changes_without_one_with_428() {
    use Method::*;
    let app = TestApp::with_config(|f| f.merge(("require_if_match", true)));
    // Creating and reading need no tag.
    let created = app.post("/books", &crate::helpers::valid_book());
    assert_eq!(created.status, Status::Created);
    let uri = format!("/books/{}", created.body["id"]);
    let tag = etag(&app.get(&uri));
    for (method, body) in [
        (Put, Some(crate::helpers::valid_book())),
        (Patch, Some(json!({"rating": 2}))),
        (Delete, None),
    ] {
        let reply = send(&app, method, &uri, &[], body);
        reply.assert_error(Status::PreconditionRequired);
        assert_eq!(reply.body["error"], "precondition_required");
    }
    let review = app.post(
        &format!("{uri}/reviews"),
        &json!({"author": "Ada", "content": "Fine."}),
    );
    let review_uri = format!("/reviews/{}", review.body["id"]);
    send(&app, Patch, &review_uri, &[], Some(json!({"content": "x"})))
        .assert_error(Status::PreconditionRequired);
    send(&app, Delete, &review_uri, &[], None).assert_error(Status::PreconditionRequired);
    assert_eq!(
        app.get(&uri).body["rating"],
        created.body["rating"],
        "nothing changed"
    );
    let patched = send(
        &app,
        Patch,
        &uri,
        &[("If-Match", &tag)],
        Some(json!({"rating": 2})),
    );
    assert_eq!(patched.status, Status::Ok);
    assert_eq!(
        send(&app, Delete, &uri, &[("If-Match", "*")], None).status,
        Status::NoContent
    );
}

/// Two editors read the same version and send their changes at the same
/// time: one wins, the other gets 412, and the winner's edit is what stays.
#[rocket::async_test]
async fn of_two_concurrent_editors_one_wins_and_the_other_gets_412() {
    let db = TestDb::new();
    let client = async_client(&db).await;
    let created = client
        .post("/books")
        .header(ContentType::JSON)
        .body(json!({"title": "Draft", "author": "A", "price": 1, "rating": 3}).to_string())
        .dispatch()
        .await;
    let uri = created.headers().get_one("Location").unwrap().to_string();
    for round in 0..20 {
        let read = client.get(uri.as_str()).dispatch().await;
        let tag = read.headers().get_one("ETag").unwrap().to_string();
        let edit = |title: String| {
            client
                .patch(uri.as_str())
                .header(ContentType::JSON)
                .header(Header::new("If-Match", tag.clone()))
                .body(json!({ "title": title }).to_string())
                .dispatch()
        };
        let (first, second) = join(
            edit(format!("first {round}")),
            edit(format!("second {round}")),
        )
        .await;
        let statuses = [first.status(), second.status()];
        let winner = match statuses {
            [Status::Ok, Status::PreconditionFailed] => format!("first {round}"),
            [Status::PreconditionFailed, Status::Ok] => format!("second {round}"),
            other => panic!("round {round}: {other:?}"),
        };
        let loser = if statuses[0] == Status::Ok {
            second
        } else {
            first
        };
        let body: Value = loser.into_json().await.unwrap();
        assert_eq!(body["error"], "precondition_failed");
        let now: Value = client
            .get(uri.as_str())
            .dispatch()
            .await
            .into_json()
            .await
            .unwrap();
        assert_eq!(
            now["title"],
            winner.as_str(),
            "round {round}: the winner's edit stands"
        );
    }
}
