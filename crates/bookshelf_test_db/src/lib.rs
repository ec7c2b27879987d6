//! A database of its own for each test: a SQLite file in a temporary
//! directory, or, when `TEST_DATABASE_URL` names a PostgreSQL server, a new
//! database there, dropped after the test. The app's suite and the engine's
//! use it alike.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use diesel::{Connection, PgConnection, RunQueryDsl};

/// The PostgreSQL server to test against, if any.
pub fn postgres_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

/// Says plainly that a PostgreSQL test was skipped, and returns its URL otherwise.
pub fn postgres_or_skip(test: &str) -> Option<String> {
    let url = postgres_url();
    if url.is_none() {
        eprintln!("SKIPPED {test}: TEST_DATABASE_URL is not set (see README: Tests)");
    }
    url
}

/// A database that exists for one test and is removed after it.
pub enum TestDb {
    Sqlite {
        dir: tempfile::TempDir,
    },
    Postgres {
        server_url: String,
        name: String,
        url: String,
    },
}

impl Default for TestDb {
    fn default() -> Self {
        TestDb::new()
    }
}

impl TestDb {
    /// A fresh, empty database on the suite's backend.
    pub fn new() -> TestDb {
        match postgres_url() {
            Some(server_url) => TestDb::postgres(&server_url),
            None => TestDb::sqlite(),
        }
    }

    /// A fresh SQLite database in a directory of its own.
    pub fn sqlite() -> TestDb {
        TestDb::Sqlite {
            dir: tempfile::tempdir().expect("create a temporary directory"),
        }
    }

    /// A fresh database on the PostgreSQL server at `server_url`.
    pub fn postgres(server_url: &str) -> TestDb {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "bookshelf_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        let mut admin = PgConnection::establish(server_url)
            .unwrap_or_else(|e| panic!("TEST_DATABASE_URL is set but unreachable: {e}"));
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .expect("create the test database");
        let mut url = url::Url::parse(server_url).expect("TEST_DATABASE_URL is a URL");
        url.set_path(&name);
        TestDb::Postgres {
            server_url: server_url.to_string(),
            name,
            url: url.to_string(),
        }
    }

    /// The database URL to give bookshelf.
    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite { dir } => dir.path().join("test.db").display().to_string(),
            TestDb::Postgres { url, .. } => url.clone(),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres {
            server_url, name, ..
        } = self
        {
            if let Ok(mut admin) = PgConnection::establish(server_url) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin);
            }
        }
    }
}

/// A copy of a Diesel project, to change in a test: its migrations/,
/// src/schema.rs and src/constraints.rs, in a temporary directory. The
/// app's suite copies the repository's project (the tree `bookshelf migrate
/// diff` runs in), the engine's a fixture of its own.
pub struct ProjectCopy {
    pub dir: tempfile::TempDir,
}

impl ProjectCopy {
    /// Copies the project whose root is `root`.
    pub fn of(root: &Path) -> ProjectCopy {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(&root.join("migrations"), &dir.path().join("migrations"));
        std::fs::create_dir_all(dir.path().join("src")).unwrap();
        for file in ["src/schema.rs", "src/constraints.rs"] {
            std::fs::copy(root.join(file), dir.path().join(file)).unwrap();
        }
        ProjectCopy { dir }
    }

    /// The project's folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn schema_path(&self) -> PathBuf {
        self.path().join("src/schema.rs")
    }

    pub fn constraints_path(&self) -> PathBuf {
        self.path().join("src/constraints.rs")
    }

    pub fn schema(&self) -> String {
        std::fs::read_to_string(self.schema_path()).unwrap()
    }

    pub fn constraints(&self) -> String {
        std::fs::read_to_string(self.constraints_path()).unwrap()
    }

    /// Replaces `from` with `to` in src/constraints.rs (which must contain it).
    pub fn constrain(&self, from: &str, to: &str) {
        let text = self.constraints();
        assert!(text.contains(from), "src/constraints.rs has no {from:?}");
        std::fs::write(self.constraints_path(), text.replacen(from, to, 1)).unwrap();
    }

    /// Adds declarations for `table` to src/constraints.rs.
    pub fn declare(&self, table: &str, declarations: &str) {
        let text = self.constraints();
        let end = text.rfind('}').expect("the macro's closing brace");
        let text = format!(
            "{}    {table} {{ {declarations} }}\n{}",
            &text[..end],
            &text[end..]
        );
        std::fs::write(self.constraints_path(), text).unwrap();
    }

    /// Replaces `from` with `to` in src/schema.rs, or else in
    /// src/constraints.rs (one of them must contain it).
    pub fn edit(&self, from: &str, to: &str) {
        let text = self.schema();
        if !text.contains(from) {
            return self.constrain(from, to);
        }
        std::fs::write(self.schema_path(), text.replacen(from, to, 1)).unwrap();
    }

    /// A hand-written migration (the same SQL on both backends) and the
    /// src/schema.rs edit that matches it.
    pub fn migration(&self, folder: &str, up: &str, down: &str, edit: (&str, &str)) {
        for backend in ["sqlite", "postgres"] {
            let path = self.path().join("migrations").join(backend).join(folder);
            std::fs::create_dir_all(&path).unwrap();
            std::fs::write(path.join("up.sql"), up).unwrap();
            std::fs::write(path.join("down.sql"), down).unwrap();
        }
        self.edit(edit.0, edit.1);
    }

    /// The migration folders of a backend (`sqlite`, `postgres`), by name.
    pub fn folders(&self, backend: &str) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(self.path().join("migrations").join(backend))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
        names.sort();
        names
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
