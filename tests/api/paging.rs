//! Pages whose cost does not grow with the table: cursors (`next` and
//! `after`) in every sort order, a total counted up to a cap, a bounded
//! offset, and statements prepared once per connection.

use diesel::connection::SimpleConnection;
use diesel::RunQueryDsl;
use rocket::http::Status;
use serde_json::{json, Value};

use crate::helpers::{connect, ids, postgres_or_skip, TestApp, TestDb};
use bookshelf::models::{
    Book, BookFilter, BookSort, Cursor, NewBook, NewReview, PageRequest, Review, TOTAL_CAP,
};

const SORTS: [&str; 12] = [
    "id",
    "-id",
    "title",
    "-title",
    "author",
    "-author",
    "price",
    "-price",
    "rating",
    "-rating",
    "created_at",
    "-created_at",
];

/// Every page of `uri` (which has a query string), following `next`.
fn walk(app: &TestApp, uri: &str) -> Vec<Vec<i64>> {
    let mut pages = vec![];
    let mut next: Option<String> = None;
    loop {
        let page_uri = match &next {
            Some(cursor) => format!("{uri}&after={cursor}"),
            None => uri.to_string(),
        };
        let page = app.get(&page_uri);
        assert_eq!(page.status, Status::Ok, "{page_uri}: {}", page.text);
        pages.push(ids(&page.body));
        match page.body["next"].as_str() {
            Some(cursor) => next = Some(cursor.to_string()),
            None => return pages,
        }
        assert!(pages.len() < 100, "{uri}: the cursor does not move on");
    }
}

/// Inserts `count` books by author `Bulk` with SQL, faster than the API.
fn insert_books(db: &TestDb, count: usize) {
    connect(db)
        .batch_execute(&format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count}) \
             INSERT INTO books (title, author, price, rating) \
             SELECT 'Bulk ' || i, 'Bulk', i % 7, 1 + i % 5 FROM n"
        ))
        .expect("insert books");
}

#[test]
fn following_next_walks_every_book_once_in_every_sort_order() {
    let app = TestApp::new();
    // Ties in every field but the id, so the id must break them.
    let mut books: Vec<Value> = (0..28)
        .map(|i| {
            let (title, author) = (["B", "A", "C"][i % 3], ["Y", "X"][i % 2]);
            let price = [2.5, 1.25, 2.5, 0.0][i % 4];
            let rating = 1 + (i % 5) as i64;
            app.create_book(
                json!({"title": title, "author": author, "price": price, "rating": rating}),
            )
        })
        .collect();
    books.sort_by_key(|book| book["id"].as_i64());

    for sort in SORTS {
        let (field, descending) = match sort.strip_prefix('-') {
            Some(field) => (field, true),
            None => (sort, false),
        };
        let all = app.get(&format!("/books?sort={sort}&limit=100"));
        assert_eq!(all.body["next"], Value::Null, "one page holds all: {sort}");
        let expected = ids(&all.body);
        if field != "created_at" {
            let mut sorted = books.clone();
            sorted.sort_by(|a, b| {
                let order = match field {
                    "id" => std::cmp::Ordering::Equal,
                    "price" => a[field].as_f64().partial_cmp(&b[field].as_f64()).unwrap(),
                    _ => a[field].to_string().cmp(&b[field].to_string()),
                };
                order.then(a["id"].as_i64().cmp(&b["id"].as_i64()))
            });
            if descending {
                sorted.reverse();
            }
            let sorted: Vec<i64> = sorted.iter().map(|b| b["id"].as_i64().unwrap()).collect();
            assert_eq!(expected, sorted, "sort={sort}");
        }

        let pages = walk(&app, &format!("/books?sort={sort}&limit=7"));
        assert_eq!(
            pages.iter().map(Vec::len).collect::<Vec<_>>(),
            [7, 7, 7, 7],
            "sort={sort}: full pages, and no empty one after the last"
        );
        assert_eq!(pages.concat(), expected, "sort={sort}");

        // Filtered: only author X's books, in the same order.
        let of_x = ids(&app
            .get(&format!("/books?sort={sort}&author=X&limit=100"))
            .body);
        assert_eq!(of_x.len(), 14);
        let pages = walk(&app, &format!("/books?sort={sort}&author=X&limit=5"));
        assert_eq!(pages.concat(), of_x, "sort={sort}, author=X");
    }
}

#[test]
fn an_offset_page_also_gives_the_cursor_of_the_next_page() {
    let app = TestApp::new();
    for i in 0..5 {
        app.create_book(json!({ "title": format!("Book {i}") }));
    }
    let all = ids(&app.get("/books?limit=100").body);
    let second = app.get("/books?offset=2&limit=2");
    assert_eq!(ids(&second.body), all[2..4]);
    let cursor = second.body["next"].as_str().expect("a next cursor");
    let third = app.get(&format!("/books?limit=2&after={cursor}"));
    assert_eq!(ids(&third.body), all[4..]);
    assert_eq!(third.body["offset"], json!(0));
    assert_eq!(third.body["next"], Value::Null);
}

#[test]
fn the_total_is_exact_up_to_the_cap_and_flagged_above_it() {
    let app = TestApp::new();
    app.create_book(json!({"author": "Ann"}));
    assert_eq!(TOTAL_CAP, 1000, "the OpenAPI descriptions say 1000");
    insert_books(&app.db, TOTAL_CAP as usize);

    let all = app.get("/books");
    assert_eq!(all.status, Status::Ok, "{}", all.text);
    assert_eq!(all.body["total"], json!(TOTAL_CAP));
    assert_eq!(all.body["total_exact"], json!(false));

    let bulk = app.get("/books?author=Bulk");
    assert_eq!(bulk.body["total"], json!(TOTAL_CAP));
    assert_eq!(
        bulk.body["total_exact"],
        json!(true),
        "exactly 1000 is exact"
    );

    let ann = app.get("/books?author=Ann");
    assert_eq!(
        (&ann.body["total"], &ann.body["total_exact"]),
        (&json!(1), &json!(true))
    );

    // The deepest offset still answers; deeper pages follow the cursor.
    let deepest = app.get("/books?offset=10000");
    assert_eq!(deepest.status, Status::Ok);
    let last = app.get("/books?sort=-id&limit=1");
    let cursor = last.body["next"].as_str().unwrap();
    let after = app.get(&format!("/books?sort=-id&limit=1&after={cursor}"));
    assert_eq!(
        ids(&after.body)[0],
        ids(&last.body)[0] - 1,
        "the next page in descending order"
    );
}

#[test]
fn bad_paging_parameters_are_a_422_naming_them() {
    let app = TestApp::new();
    let book = app.create_book(json!({}));
    app.create_book(json!({}));
    let cursor = |sort: &str| {
        app.get(&format!("/books?sort={sort}&limit=1")).body["next"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let title_cursor = cursor("title");

    let reply = app.get("/books?offset=10001");
    reply.assert_invalid_field("offset");
    assert!(
        reply.text.contains("after"),
        "points to the cursor: {}",
        reply.text
    );
    let skipped = app.get(&format!("/books?offset=1&after={title_cursor}&sort=title"));
    assert_eq!(
        ids(&skipped.body),
        Vec::<i64>::new(),
        "one skipped after the cursor"
    );
    assert_eq!(skipped.body["offset"], json!(1));
    let reply = app.get(&format!("/books?sort=price&after={title_cursor}"));
    reply.assert_invalid_field("after");
    assert!(reply.text.contains("title"), "{}", reply.text);

    use base64::Engine as _;
    let forged =
        |json: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json.to_string());
    for (sort, after) in [
        ("price", "x".to_string()),
        ("price", "!".to_string()),
        ("price", "A".repeat(5000)),
        (
            "price",
            forged(json!({"s": "price", "k": "cheap", "id": 1})),
        ),
        ("rating", forged(json!({"s": "rating", "k": 1e12, "id": 1}))),
        (
            "created_at",
            forged(json!({"s": "created_at", "k": "yesterday", "id": 1})),
        ),
        (
            "price",
            forged(json!({"s": "price", "k": 1.0, "id": 1, "extra": true})),
        ),
        ("id", forged(json!({"s": "id", "k": "x", "id": 1}))),
    ] {
        let reply = app.get(&format!("/books?sort={sort}&after={after}"));
        assert_eq!(
            reply.status,
            Status::UnprocessableEntity,
            "{after}: {}",
            reply.text
        );
        reply.assert_invalid_field("after");
    }

    let reviews = format!("/books/{}/reviews", book["id"]);
    app.get(&format!("{reviews}?after={title_cursor}"))
        .assert_invalid_field("after");
    let by_id = app.get(&format!("{reviews}?after={}", cursor("id")));
    assert_eq!(by_id.status, Status::Ok, "{}", by_id.text);
}

#[test]
fn a_books_reviews_page_by_cursor() {
    let app = TestApp::new();
    let book = app.create_book(json!({}))["id"].as_i64().unwrap();
    let reviews: Vec<i64> = (0..5)
        .map(|i| {
            app.create_review(book, "Ada", &format!("Review {i}"))["id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    let pages = walk(&app, &format!("/books/{book}/reviews?limit=2"));
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
    assert_eq!(pages.concat(), reviews);
}

#[test]
fn statements_are_prepared_once_per_postgres_connection() {
    if crate::helpers::skipped_through_a_pooler(
        "statements_are_prepared_once_per_postgres_connection",
    ) {
        return;
    }
    let Some(server) = postgres_or_skip("statements_are_prepared_once_per_postgres_connection")
    else {
        return;
    };
    let app = TestApp::new();
    assert!(server.starts_with("postgres"), "TestApp uses {server}");
    // A connection with diesel's statement cache (database_statement_cache = true).
    let url = bookshelf::db::DatabaseUrl::parse(&app.db.url(), std::time::Duration::from_secs(3))
        .unwrap()
        .with_statement_cache(true);
    let mut conn = bookshelf::db::connect(&url, std::time::Duration::from_secs(5)).unwrap();
    let prepared = |conn: &mut bookshelf::db::DbConn| -> Vec<String> {
        #[derive(diesel::QueryableByName)]
        struct Statement {
            #[diesel(sql_type = diesel::sql_types::Text)]
            statement: String,
        }
        diesel::sql_query("SELECT statement FROM pg_prepared_statements ORDER BY statement")
            .load::<Statement>(conn)
            .expect("read pg_prepared_statements")
            .into_iter()
            .map(|s| s.statement)
            .collect()
    };
    let requests = |conn: &mut bookshelf::db::DbConn| {
        for id in 1..4 {
            Book::find(conn, id).expect("find");
        }
        let page = PageRequest {
            offset: 0,
            limit: 20,
        };
        Book::list(conn, &BookFilter::default(), BookSort::Title, page, None).expect("list");
        let new: NewBook = serde_json::from_value(
            json!({"title": "Prepared", "author": "A", "price": 1, "rating": 2, "description": null}),
        )
        .unwrap();
        let book = Book::create(conn, &new).expect("create a book");
        for _ in 0..2 {
            Book::create(conn, &new).expect("create a book");
        }
        // The page after a cursor, and an author's books in another order.
        let cursor = |sort: BookSort, page: &bookshelf::models::Page<Book>| {
            let next = page.next.as_deref().expect("a next page");
            sort.after(&Cursor::decode(next).expect("a cursor"))
                .expect("a cursor of this sort")
        };
        let two = PageRequest {
            offset: 0,
            limit: 2,
        };
        let all = BookFilter::default();
        let first = Book::list(conn, &all, BookSort::PriceDesc, two, None).expect("a page");
        let after = cursor(BookSort::PriceDesc, &first);
        Book::list(conn, &all, BookSort::PriceDesc, two, Some(after)).expect("the next page");
        let by_author = BookFilter {
            author: Some("A".into()),
            ..BookFilter::default()
        };
        Book::list(conn, &by_author, BookSort::Title, two, None).expect("an author's page");
        let review: NewReview =
            serde_json::from_value(json!({"author": "R", "content": "Fine."})).unwrap();
        Review::create(conn, book.id, &review)
            .expect("create a review")
            .expect("its book exists");
    };
    requests(&mut conn);
    let first = prepared(&mut conn);
    assert!(
        first.iter().any(|s| s.contains(") < (")),
        "the page after a cursor (a row value comparison) is a prepared statement: {first:#?}"
    );
    assert!(
        first
            .iter()
            .any(|s| s.contains("ORDER BY COALESCE(\"books\".\"title\"")),
        "an author's page in another order is a prepared statement: {first:#?}"
    );
    for table in ["books", "reviews"] {
        assert!(
            first
                .iter()
                .any(|s| s.starts_with(&format!("INSERT INTO \"{table}\""))),
            "POST's INSERT into {table} is a prepared statement: {first:#?}"
        );
    }
    assert!(
        first
            .iter()
            .any(|s| s.contains("WHERE (\"books\".\"id\" = $1)")),
        "GET /books/{{id}}'s query is a prepared statement: {first:#?}"
    );
    assert!(
        first
            .iter()
            .any(|s| s.contains(", (SELECT count(*) FROM (") && s.contains("ORDER BY")),
        "the page, with its total among its columns, is one prepared statement: {first:#?}"
    );
    assert!(
        !first.iter().any(|s| s.starts_with("SELECT count(*)")),
        "a page with rows needs no count of its own: {first:#?}"
    );
    requests(&mut conn);
    assert_eq!(
        prepared(&mut conn),
        first,
        "the same statements, not prepared again"
    );
}

/// Runs `work` on one of `app`'s pooled connections (its database threads).
fn on_a_pooled_connection<T: Send + 'static>(
    app: &TestApp,
    work: impl FnOnce(&mut bookshelf::db::DbConn) -> diesel::QueryResult<T> + Send + 'static,
) -> T {
    let db = app
        .client
        .rocket()
        .state::<bookshelf::db::Database>()
        .expect("the application manages its database");
    let runtime = rocket::tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime
        .block_on(db.run(work))
        .expect("work on a pooled connection")
}

/// What a pooled connection of `app` has prepared, after a list of books.
fn prepared_by_the_pool(app: &TestApp) -> Vec<String> {
    on_a_pooled_connection(app, |conn| {
        #[derive(diesel::QueryableByName)]
        struct Statement {
            #[diesel(sql_type = diesel::sql_types::Text)]
            statement: String,
        }
        let page = PageRequest {
            offset: 0,
            limit: 20,
        };
        Book::list(conn, &BookFilter::default(), BookSort::Price, page, None)?;
        diesel::sql_query("SELECT statement FROM pg_prepared_statements")
            .load::<Statement>(conn)
            .map(|rows| rows.into_iter().map(|s| s.statement).collect())
    })
}

#[test]
fn by_default_a_direct_connection_keeps_its_prepared_statements_and_false_keeps_none() {
    if crate::helpers::skipped_through_a_pooler(
        "by_default_a_direct_connection_keeps_its_prepared_statements",
    ) {
        return;
    }
    let test = "by_default_a_direct_connection_keeps_its_prepared_statements_and_false_keeps_none";
    let Some(_) = postgres_or_skip(test) else {
        return;
    };
    // `auto`, on a direct connection (tests/api/pooler.rs: through one).
    assert!(
        prepared_by_the_pool(&TestApp::new())
            .iter()
            .any(|s| s.contains("(SELECT count(*) FROM (")),
        "database_statement_cache = auto keeps the list's statement on a direct connection"
    );
    let uncached = TestApp::with_config(|f| f.merge(("database_statement_cache", false)));
    assert_eq!(prepared_by_the_pool(&uncached), Vec::<String>::new());
}

#[test]
fn pooled_postgres_connections_plan_each_statement_once() {
    if crate::helpers::skipped_through_a_pooler(
        "pooled_postgres_connections_plan_each_statement_once",
    ) {
        return;
    }
    let Some(_) = postgres_or_skip("pooled_postgres_connections_plan_each_statement_once") else {
        return;
    };
    // With diesel's statement cache, which a direct connection may turn on.
    let app = TestApp::with_config(|f| f.merge(("database_statement_cache", true)));
    // Seven runs: PostgreSQL's default plans the first five for their values
    // and may go on doing so; planned once, all seven use the generic plan.
    let (generic, custom) = on_a_pooled_connection(&app, |conn| {
        #[derive(diesel::QueryableByName)]
        struct Plans {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            generic_plans: i64,
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            custom_plans: i64,
        }
        let page = PageRequest {
            offset: 0,
            limit: 20,
        };
        for _ in 0..7 {
            Book::list(conn, &BookFilter::default(), BookSort::Price, page, None)?;
        }
        diesel::sql_query(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements \
                 WHERE statement LIKE '%(SELECT count(*) FROM (%'",
        )
        .get_result::<Plans>(conn)
        .map(|p| (p.generic_plans, p.custom_plans))
    });
    assert_eq!((generic, custom), (7, 0), "(generic plans, custom plans)");
}
