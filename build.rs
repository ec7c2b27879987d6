//! The migrations are compiled into the binary twice: by diesel's
//! `embed_migrations!` (to run them) and here, as text (for `bookshelf
//! migrate sql` and the checksums). src/schema.rs is read here too, into a
//! table of columns that `bookshelf migrate verify` compares with the live
//! database. Cargo rebuilds when either changes.

use std::fmt::Write;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=src/schema.rs");
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
            writeln!(
                code,
                "    MigrationSql {{ name: {name:?}, up: include_str!({:?}), down: include_str!({:?}) }},",
                path.join("up.sql"),
                path.join("down.sql")
            )
            .unwrap();
        }
        code.push_str("];\n");
    }
    code.push_str(&schema_columns(&Path::new(&root).join("src/schema.rs")));
    let out =
        Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("migration_sql.rs");
    std::fs::write(out, code).expect("write migration_sql.rs");
}

/// `pub const SCHEMA: &[SchemaColumn]`: every column of every `table!` in
/// the generated schema file, in order.
fn schema_columns(path: &Path) -> String {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut code = String::from("pub const SCHEMA: &[SchemaColumn] = &[\n");
    let mut table = None;
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_suffix('{').and_then(|l| l.split_once(" (")) {
            table = Some(name.0.to_string());
        } else if let (Some(table), Some((column, ty))) = (&table, line.split_once(" -> ")) {
            let ty = ty.trim_end_matches(',');
            let (ty, nullable) = match ty.strip_prefix("Nullable<") {
                Some(inner) => (inner.trim_end_matches('>'), true),
                None => (ty, false),
            };
            writeln!(
                code,
                "    SchemaColumn {{ table: {table:?}, column: {column:?}, sql_type: {ty:?}, nullable: {nullable} }},"
            )
            .unwrap();
        } else if line == "}" {
            table = None;
        }
    }
    code.push_str("];\n");
    code
}
