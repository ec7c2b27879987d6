//! The order migrations arrived in a folder, from git: a migration that
//! arrived after one with a newer version (a branch merged late) is out of
//! order on every database that applied the newer one first.
//!
//! The order is that of the checkout's first-parent history, the line of
//! commits the branch itself went through (a merge's first parent is the
//! branch merged into): each migration arrived with the first of those
//! commits that added an up.sql of its version, and a migration not
//! committed yet arrives last. Versions only say when a migration was written; this says when the
//! branch, and so each database deployed from it, got it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::scripts::version_of;

/// A migration that arrived in its folder after one with a newer version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateArrival {
    /// The backend's folder (`migrations/sqlite`).
    pub folder: PathBuf,
    pub migration: String,
    /// The newest migration that was there before it.
    pub newer: String,
}

impl fmt::Display for LateArrival {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} arrived after {}, whose version is newer (a branch merged late): a database that \
             applied {} first finds it out of order, and `migrate up` refuses it there. Give it a \
             version after the newest (rename its folder in every backend) if no database has \
             applied it yet; else apply it where it is with `bookshelf migrate up --out-of-order`",
            self.folder.display(),
            self.migration,
            self.newer,
            self.newer
        )
    }
}

/// The migrations of `folder` (the names of its subfolders, `present`) that
/// arrived after a newer one, or `None` when git cannot tell: `folder` is
/// not in a git checkout, git is not installed, or the history is shallow.
pub fn late_arrivals(folder: &Path, present: &[String]) -> Option<Vec<LateArrival>> {
    let git = |args: &[&str]| -> Option<String> {
        let output = Command::new("git")
            .arg("-C")
            .arg(folder)
            .args(args)
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    };
    if git(&["rev-parse", "--is-inside-work-tree"])?.trim() != "true" {
        return None;
    }
    if git(&["rev-parse", "--is-shallow-repository"])?.trim() == "true" {
        return None;
    }
    // A repository without a commit yet has no log: everything arrives now.
    let log = match git(&["rev-parse", "--verify", "--quiet", "HEAD"]) {
        None => String::new(),
        Some(_) => git(&[
            "log",
            "--first-parent",
            "--diff-merges=first-parent",
            "--reverse",
            "--diff-filter=A",
            "--relative",
            "--name-only",
            "--format=tformat:@commit",
            "--",
            ".",
        ])?,
    };
    // The versions each commit added; a folder renamed to another name with
    // the same version (a typo fixed) arrived with its first name.
    let mut added: Vec<Vec<String>> = Vec::new();
    for line in log.lines() {
        if line == "@commit" {
            added.push(Vec::new());
        } else if let Some(name) = line.strip_suffix("/up.sql") {
            if let (false, Some(commit)) = (name.contains('/'), added.last_mut()) {
                commit.push(version_of(name));
            }
        }
    }
    let mut batches: Vec<Vec<String>> = vec![Vec::new(); added.len() + 1];
    for name in present {
        let version = version_of(name);
        let arrived = added
            .iter()
            .position(|versions| versions.contains(&version))
            .unwrap_or(added.len());
        batches[arrived].push(name.clone());
    }
    Some(late_in(folder, batches))
}

/// The late ones of `batches`, the migrations in the order they arrived
/// (those of one batch together, in any order).
fn late_in(folder: &Path, batches: Vec<Vec<String>>) -> Vec<LateArrival> {
    let mut seen: Vec<String> = Vec::new();
    let mut late = Vec::new();
    for mut batch in batches {
        batch.sort();
        let newest = seen.iter().max_by_key(|name| version_of(name)).cloned();
        for migration in batch {
            if seen.contains(&migration) {
                continue;
            }
            if let Some(newer) = newest
                .as_ref()
                .filter(|newer| version_of(&migration) < version_of(newer))
            {
                late.push(LateArrival {
                    folder: folder.to_path_buf(),
                    migration: migration.clone(),
                    newer: newer.clone(),
                });
            }
            seen.push(migration);
        }
    }
    late
}

#[cfg(test)]
mod tests {
    use super::*;

    fn late(batches: &[&[&str]]) -> Vec<(String, String)> {
        let batches = batches
            .iter()
            .map(|b| b.iter().map(|s| s.to_string()).collect())
            .collect();
        late_in(Path::new("m"), batches)
            .into_iter()
            .map(|l| (l.migration, l.newer))
            .collect()
    }

    #[test]
    fn a_migration_is_late_when_a_newer_one_arrived_before_it() {
        let (a, b, c) = (
            "2025-01-01-000000_a",
            "2025-01-02-000000_b",
            "2025-01-03-000000_c",
        );
        assert_eq!(late(&[&[a], &[b], &[c]]), []);
        // Arrivals of one commit (or the uncommitted ones) keep version order.
        assert_eq!(late(&[&[c, a, b]]), []);
        assert_eq!(late(&[&[a], &[c], &[b]]), [(b.to_string(), c.to_string())]);
        assert_eq!(
            late(&[&[c], &[a, b]]),
            [
                (a.to_string(), c.to_string()),
                (b.to_string(), c.to_string())
            ]
        );
    }
}
