//! Migration folders on disk: their versions, and new ones.

use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;

use crate::error::Error;

/// The time a migration folder's version names.
pub fn version_time(folder: &str) -> Option<NaiveDateTime> {
    let version = folder.split('_').next()?;
    NaiveDateTime::parse_from_str(version, "%Y-%m-%d-%H%M%S").ok()
}

/// The folder name of a new migration in `dir`: `<version>_<name>`, the
/// version from `now` (as diesel CLI writes it), or one second after the
/// newest migration there if that is later, so versions stay unique and in
/// order.
pub fn folder_name(dir: &Path, name: &str, now: NaiveDateTime) -> Result<String, Error> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        return Err(Error::Target(format!(
            "invalid migration name {name:?}: use lowercase letters, digits and _"
        )));
    }
    let newest = ["sqlite", "postgres"]
        .iter()
        .filter_map(|backend| std::fs::read_dir(dir.join(backend)).ok())
        .flatten()
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let version = name.split('_').next()?.to_string();
            NaiveDateTime::parse_from_str(&version, "%Y-%m-%d-%H%M%S").ok()
        })
        .max();
    // Versions name whole seconds.
    let now = chrono::Timelike::with_nanosecond(&now, 0).unwrap_or(now);
    let version = match newest {
        Some(newest) if newest >= now => newest + chrono::Duration::seconds(1),
        _ => now,
    };
    Ok(format!("{}_{name}", version.format("%Y-%m-%d-%H%M%S")))
}

/// Creates `<version>_<name>/{up.sql,down.sql}` in every backend's folder
/// under `dir` (normally `migrations`), with one version for all, and returns
/// the folders created.
pub fn new(dir: &Path, name: &str, now: NaiveDateTime) -> Result<Vec<PathBuf>, Error> {
    let folder = folder_name(dir, name, now)?;
    let mut created = Vec::new();
    for backend in ["sqlite", "postgres"] {
        let parent = dir.join(backend);
        if !parent.is_dir() {
            return Err(Error::Target(format!(
                "{} is not a folder: run this from the project's root or give --dir",
                parent.display()
            )));
        }
        created.push(parent.join(&folder));
    }
    for path in &created {
        let write_file = |file: &str, text: String| {
            std::fs::create_dir_all(path)
                .and_then(|()| std::fs::write(path.join(file), text))
                .map_err(|e| {
                    Error::Target(format!("cannot write {}: {e}", path.join(file).display()))
                })
        };
        write_file("up.sql", format!("-- {folder}: the change.\n"))?;
        write_file("down.sql", format!("-- {folder}: undo up.sql exactly.\n"))?;
    }
    Ok(created)
}
