//! The engine on a Diesel project that is not bookshelf: a `diesel.toml`, a
//! `src/schema.rs` with one table and migration folders for both backends,
//! made here in a temporary directory. diff, lint and verify run on it
//! through the engine alone, so nothing of bookshelf's (a path, a table, a
//! compiled-in migration) is wired into them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bookshelf_migrate::diff::Options;
use bookshelf_migrate::generate::{self, Request};
use bookshelf_migrate::{lint, Backend, DatabaseUrl, DbConn, Problem, UpTo};
use bookshelf_test_db::{postgres_or_skip, TestDb};
use diesel::connection::SimpleConnection;
use diesel_migrations::FileBasedMigrations;

const SCHEMA: &str = "// @generated automatically by Diesel CLI.

diesel::table! {
    shelves (id) {
        id -> Integer,
        label -> Text,
    }
}
";

/// The project: its files in a temporary directory.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(
            root.join("diesel.toml"),
            "[print_schema]\nfile = \"src/schema.rs\"\n\n[migrations_directory]\ndir = \"migrations/sqlite\"\n",
        )
        .unwrap();
        std::fs::write(root.join("src/schema.rs"), SCHEMA).unwrap();
        let create = [
            (
                "sqlite",
                "CREATE TABLE shelves (id INTEGER PRIMARY KEY NOT NULL, label TEXT NOT NULL);\n",
            ),
            (
                "postgres",
                "CREATE TABLE shelves (id INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY, label TEXT NOT NULL);\n",
            ),
        ];
        for (backend, up) in create {
            let folder = root
                .join("migrations")
                .join(backend)
                .join("2025-01-01-000000_create_shelves");
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(folder.join("up.sql"), up).unwrap();
            std::fs::write(folder.join("down.sql"), "DROP TABLE shelves;\n").unwrap();
        }
        Project { dir }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    fn request(&self, name: &str, postgres: Option<&str>) -> Request {
        let mut backends = vec![Backend::Sqlite];
        if postgres.is_some() {
            backends.push(Backend::Postgres);
        }
        Request {
            dir: self.path("migrations"),
            schema: self.path("src/schema.rs"),
            constraints: self.path("src/constraints.rs"),
            name: name.to_string(),
            options: Options::default(),
            postgres: postgres.map(str::to_string),
            backends,
        }
    }

    fn migrations(&self, backend: Backend) -> FileBasedMigrations {
        FileBasedMigrations::from_path(self.path("migrations").join(backend.name())).unwrap()
    }

    fn model(&self) -> bookshelf_migrate::model::Schema {
        let schema = std::fs::read_to_string(self.path("src/schema.rs")).unwrap();
        let constraints =
            std::fs::read_to_string(self.path("src/constraints.rs")).unwrap_or_default();
        bookshelf_migrate::parse_model(&schema, &constraints).unwrap()
    }
}

/// A database of its own on `backend`, and the engine's connection to it.
fn database(backend: Backend, server: Option<&str>) -> (TestDb, DatabaseUrl, DbConn) {
    let db = match backend {
        Backend::Sqlite => TestDb::sqlite(),
        Backend::Postgres => TestDb::postgres(server.expect("a PostgreSQL server")),
    };
    let url = DatabaseUrl::parse(&db.url(), Duration::from_secs(3)).unwrap();
    let conn = bookshelf_migrate::open(&url, Duration::from_secs(3)).unwrap();
    (db, url, conn)
}

fn folders(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn diff_lint_and_verify_work_on_a_project_that_is_not_bookshelf() {
    let server = postgres_or_skip("the PostgreSQL half of the foreign project");
    let project = Project::new();

    // The migrations build the model: nothing to write.
    let request = project.request("unused", server.as_deref());
    assert_eq!(generate::check(&request).unwrap(), Vec::new());

    // A new column in the model: diff writes the migration for each backend.
    let schema = SCHEMA.replace(
        "        label -> Text,\n",
        "        label -> Text,\n        location -> Nullable<Text>,\n",
    );
    std::fs::write(project.path("src/schema.rs"), schema).unwrap();
    let changes = generate::check(&request).unwrap();
    assert_eq!(changes.len(), 1, "{changes:?}");
    let outcome = generate::diff(
        &project.request("add_location", server.as_deref()),
        chrono::NaiveDate::from_ymd_opt(2025, 1, 2)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(outcome.created.len(), request.backends.len(), "{outcome:?}");
    for backend in &request.backends {
        let dir = project.path("migrations").join(backend.name());
        assert_eq!(
            folders(&dir),
            [
                "2025-01-01-000000_create_shelves",
                "2025-01-02-000000_add_location"
            ],
            "{}",
            backend.name()
        );
        let up =
            std::fs::read_to_string(dir.join("2025-01-02-000000_add_location/up.sql")).unwrap();
        assert!(up.contains("ADD COLUMN location"), "{up}");
    }
    assert_eq!(generate::check(&request).unwrap(), Vec::new());

    // lint reads the project's folders: adding a nullable column is safe,
    // a later DROP TABLE is not.
    let report = lint::lint_dir(&project.path("migrations"), &[]).unwrap();
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    // Both folders' first migration, and each backend's new one.
    assert_eq!(report.files, 2 + request.backends.len());
    for backend in ["sqlite", "postgres"] {
        let folder = project
            .path("migrations")
            .join(backend)
            .join("2025-01-03-000000_drop_shelves");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("up.sql"), "DROP TABLE shelves;\n").unwrap();
        std::fs::write(folder.join("down.sql"), "SELECT 1;\n").unwrap();
    }
    let report = lint::lint_dir(&project.path("migrations"), &[]).unwrap();
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.to_string().contains("2025-01-03-000000_drop_shelves")),
        "{:?}",
        report.findings
    );
    for backend in ["sqlite", "postgres"] {
        std::fs::remove_dir_all(
            project
                .path("migrations")
                .join(backend)
                .join("2025-01-03-000000_drop_shelves"),
        )
        .unwrap();
    }

    // verify: the project's migrations applied from its folders, compared
    // with those folders and with its model.
    for backend in request.backends.clone() {
        let (_db, url, mut conn) = database(backend, server.as_deref());
        let source = project.migrations(backend);
        let applied = bookshelf_migrate::up(&mut conn, &url, &source, UpTo::Latest).unwrap();
        assert_eq!(applied.len(), 2, "{}", backend.name());
        let verification = bookshelf_migrate::verify(&mut conn, &url, &source).unwrap();
        assert!(
            verification.problems.is_empty(),
            "{:?}",
            verification.problems
        );
        let model = project.model();
        let drift = bookshelf_migrate::schema_drift(&mut conn, &url, &source, &model).unwrap();
        assert_eq!(drift, Some(Vec::new()), "{}", backend.name());

        // A column added behind the migrations' back is drift.
        conn.batch_execute("ALTER TABLE shelves ADD COLUMN colour TEXT")
            .unwrap();
        let drift = bookshelf_migrate::schema_drift(&mut conn, &url, &source, &model)
            .unwrap()
            .unwrap();
        assert!(
            drift.iter().any(|d| d.contains("colour")),
            "{}: {drift:?}",
            backend.name()
        );
        // An applied migration edited since is a changed checksum.
        let up = project
            .path("migrations")
            .join(backend.name())
            .join("2025-01-01-000000_create_shelves/up.sql");
        let original = std::fs::read_to_string(&up).unwrap();
        std::fs::write(&up, format!("{original}-- edited\nSELECT 1;\n")).unwrap();
        let verification = bookshelf_migrate::verify(&mut conn, &url, &source).unwrap();
        assert!(
            matches!(
                verification.problems.as_slice(),
                [Problem::Changed { name, .. }] if name == "2025-01-01-000000_create_shelves"
            ),
            "{}: {:?}",
            backend.name(),
            verification.problems
        );
        std::fs::write(&up, original).unwrap();
    }
}
