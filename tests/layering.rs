//! ARCHITECTURE.md's import invariants, checked so the document cannot
//! silently become false.

use std::fs;
use std::path::{Path, PathBuf};

/// The pure core: plain functions and types over plain data.
const CORE: &[&str] = &[
    "model.rs",
    "money.rs",
    "program.rs",
    "code",
    "link.rs",
    "share.rs",
    "reward.rs",
    "incentive",
];

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<_> = fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            rust_files(&p, out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

fn files(parts: &[&str]) -> Vec<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    for p in parts {
        let path = src.join(p);
        if path.exists() {
            rust_files(&path, &mut out);
        }
    }
    out
}

/// Code lines (comments and doc comments left out) of a file, up to its
/// unit-test module: tests may use what library code must not (floats to
/// check fixed-point accuracy, say).
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .enumerate()
        .take_while(|(_, l)| l.trim() != "#[cfg(test)]")
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .map(|(i, l)| (i + 1, l.to_owned()))
        .collect()
}

#[test]
fn core_modules_import_no_store_and_no_engine() {
    let mut violations = Vec::new();
    let core = files(CORE);
    assert!(core.len() >= 5, "core files not found: {core:?}");
    for file in core {
        for (n, line) in code_lines(&file) {
            for forbidden in [
                "crate::store",
                "crate::engine",
                "crate::error",
                "super::super::store",
            ] {
                if line.contains(forbidden) {
                    violations.push(format!("{}:{n}: {}", file.display(), line.trim()));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "core modules import the store or engine:\n{}",
        violations.join("\n")
    );
}

#[test]
fn nothing_reads_the_wall_clock() {
    let mut violations = Vec::new();
    for file in files(&["."]) {
        for (n, line) in code_lines(&file) {
            for forbidden in ["Utc::now", "SystemTime::now", "Instant::now", "Local::now"] {
                if line.contains(forbidden) {
                    violations.push(format!("{}:{n}: {}", file.display(), line.trim()));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "time must arrive with events:\n{}",
        violations.join("\n")
    );
}

#[test]
fn no_floating_point_in_amount_paths() {
    let mut violations = Vec::new();
    for file in files(&[
        "money.rs",
        "engine",
        "store",
        "program.rs",
        "attribution/credit.rs",
        "reward.rs",
        "incentive",
    ]) {
        for (n, line) in code_lines(&file) {
            if line.contains("f64") || line.contains("f32") {
                violations.push(format!("{}:{n}: {}", file.display(), line.trim()));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "floats in amount paths:\n{}",
        violations.join("\n")
    );
}

#[test]
fn only_the_engine_calls_the_store() {
    // Modules outside `store` and `engine` must not call store methods:
    // hosts read through the engine.
    let mut violations = Vec::new();
    for file in files(CORE) {
        for (n, line) in code_lines(&file) {
            if line.contains(".commit(") || line.contains("Store for") {
                violations.push(format!("{}:{n}: {}", file.display(), line.trim()));
            }
        }
    }
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}
