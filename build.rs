//! The migrations are compiled into the binary twice: by diesel's
//! `embed_migrations!` (to run them) and here, as text (for `bookshelf
//! migrate sql`, the checksums and the statement-by-statement runs), as the
//! engine's `MigrationSql` (see src/migrations.rs). Cargo rebuilds when a
//! migration changes.

use std::fmt::Write;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    let root = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let mut code = String::new();
    for backend in ["sqlite", "postgres"] {
        let dir = Path::new(&root).join("migrations").join(backend);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .filter_map(|entry| {
                let entry = entry.ok()?;
                entry.file_type().ok()?.is_dir().then_some(())?;
                entry.file_name().into_string().ok()
            })
            .collect();
        names.sort();
        writeln!(
            code,
            "pub const {}: &[MigrationSql] = &[",
            backend.to_uppercase()
        )
        .unwrap();
        for name in names {
            let path = dir.join(&name);
            let metadata = path.join("metadata.toml");
            let metadata = if metadata.is_file() {
                format!("Some(include_str!({metadata:?}))")
            } else {
                "None".to_string()
            };
            writeln!(
                code,
                "    MigrationSql::compiled({name:?}, include_str!({:?}), include_str!({:?}), {metadata}),",
                path.join("up.sql"),
                path.join("down.sql")
            )
            .unwrap();
        }
        code.push_str("];\n");
    }
    let out =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("migration_sql.rs");
    std::fs::write(out, code).expect("write migration_sql.rs");
}
