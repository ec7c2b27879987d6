//! The OpenAPI document describes every route the server mounts.

use rocket::http::Status;

use crate::helpers::TestApp;

#[test]
fn every_mounted_route_is_in_the_openapi_document() {
    let app = TestApp::new();
    let reply = app.get("/openapi.json");
    assert_eq!(reply.status, Status::Ok);
    let paths = reply.body["paths"].as_object().expect("paths");
    let mut checked = 0;
    for route in app.client.rocket().routes() {
        let path = route.uri.path().to_string();
        if path.starts_with("/docs") || path == "/openapi.json" {
            continue;
        }
        // Rocket writes `<id>` where OpenAPI writes `{id}`.
        let openapi_path = path.replace('<', "{").replace('>', "}");
        let method = route.method.as_str().to_lowercase();
        assert!(
            paths
                .get(&openapi_path)
                .and_then(|p| p.get(&method))
                .is_some(),
            "{method} {openapi_path} is mounted but not in the OpenAPI document"
        );
        checked += 1;
    }
    assert_eq!(checked, 14);
}

#[test]
fn swagger_ui_is_served_from_the_binary() {
    let app = TestApp::new();
    let reply = app.get("/docs/");
    assert_eq!(reply.status, Status::Ok);
    assert!(reply.text.contains("swagger"), "{}", reply.text);
    let script = app.get("/docs/swagger-ui-bundle.js");
    assert_eq!(script.status, Status::Ok);
}

/// The OpenAPI document as committed (tests/api/snapshots/openapi.snap):
/// any change to the API's contract shows up in review as a change to that
/// file. To accept a change, run `INSTA_UPDATE=always cargo test openapi`
/// (or `cargo insta review`) and commit the file.
#[test]
fn the_openapi_document_matches_its_snapshot() {
    let generated = bookshelf::openapi::document()
        .to_pretty_json()
        .expect("the document serializes");
    insta::with_settings!({snapshot_path => "snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!("openapi", generated);
    });
}

/// Every string value under `key`, anywhere in `value`.
fn strings_under(value: &serde_json::Value, key: &str, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match v {
                    serde_json::Value::String(s) if k == key => out.push(s.clone()),
                    _ => strings_under(v, key, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| strings_under(v, key, out)),
        _ => {}
    }
}

fn spec() -> serde_json::Value {
    serde_json::to_value(bookshelf::openapi::document()).unwrap()
}

#[test]
fn every_reference_in_the_openapi_document_resolves() {
    let spec = spec();
    let mut found = Vec::new();
    strings_under(&spec, "$ref", &mut found);
    assert!(found.len() > 20, "{found:?}");
    for reference in found {
        let pointer = reference.strip_prefix('#').expect("a local reference");
        assert!(
            spec.pointer(pointer).is_some(),
            "{reference} does not resolve"
        );
    }
}

/// Every text schema (five body fields, the author filter, the page cursor
/// and `Bookshelf-Lsn`) carries a pattern, and it is one of the four that
/// the server's checks implement.
#[test]
fn every_pattern_in_the_openapi_document_is_one_of_the_documented_ones() {
    use bookshelf::db::LSN_PATTERN;
    use bookshelf::models::{CURSOR_PATTERN, NO_NUL_PATTERN, TEXT_PATTERN};
    let mut patterns = Vec::new();
    strings_under(&spec(), "pattern", &mut patterns);
    assert!(patterns.len() >= 6, "{patterns:?}");
    for pattern in patterns {
        assert!(
            [TEXT_PATTERN, NO_NUL_PATTERN, CURSOR_PATTERN, LSN_PATTERN].contains(&pattern.as_str()),
            "undocumented pattern {pattern}"
        );
    }
}

/// A generated client gets one type per thing: a page's items are the item
/// schema itself, by reference, not a copy.
#[test]
fn every_page_refers_to_its_item_schema() {
    let spec = spec();
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    let pages: Vec<&String> = schemas.keys().filter(|n| n.starts_with("Page_")).collect();
    assert_eq!(pages.len(), 2, "{pages:?}");
    for page in pages {
        let item = page.strip_prefix("Page_").unwrap();
        assert_eq!(
            schemas[page]["properties"]["items"]["items"],
            serde_json::json!({"$ref": format!("#/components/schemas/{item}")}),
            "{page}"
        );
        assert!(schemas.contains_key(item), "{item} is not a component");
    }
}
