//! ARCHITECTURE.md's import invariants, checked so the document cannot
//! silently become false.

use std::fs;
use std::path::{Path, PathBuf};

/// The pure core: plain functions and types over plain data.
/// Every core module ARCHITECTURE.md lists must be here (checked below).
const CORE: &[&str] = &[
    "model.rs",
    "money.rs",
    "program.rs",
    "code",
    "link",
    "share",
    "text.rs",
    "attribution",
    "reward.rs",
    "incentive",
    "ledger",
    "fraud",
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
/// inline unit-test module: tests may use what library code must not
/// (floats to check fixed-point accuracy, say). A test item of one line
/// (`#[cfg(test)] mod tests;`, whose file is not listed as core code) is
/// skipped and the rest of the file still read.
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    let text = fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.trim() == "#[cfg(test)]" {
            match lines.get(i + 1) {
                Some(next) if next.trim_end().ends_with(';') => {
                    i += 2;
                    continue;
                }
                _ => break,
            }
        }
        if !line.trim_start().starts_with("//") {
            out.push((i + 1, line.to_owned()));
        }
        i += 1;
    }
    out
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
fn the_store_imports_nothing_from_the_engine() {
    // No arrow upward: the store's records and outcomes are a schema of
    // their own; the engine builds on them, never the other way round.
    let mut violations = Vec::new();
    let store = files(&["store"]);
    assert!(store.len() >= 4, "store files not found: {store:?}");
    for file in store {
        for (n, line) in code_lines(&file) {
            for forbidden in ["crate::engine", "crate::error", "super::super::engine"] {
                if line.contains(forbidden) {
                    violations.push(format!("{}:{n}: {}", file.display(), line.trim()));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "the store imports the engine:\n{}",
        violations.join("\n")
    );
}

#[test]
fn every_core_module_the_architecture_lists_is_checked() {
    let doc =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md")).unwrap();
    let start = doc
        .find("**Architecture Invariant:** core modules")
        .expect("ARCHITECTURE.md states the core-module invariant");
    let paragraph = &doc[start..];
    let paragraph = &paragraph[..paragraph.find("\n\n").unwrap_or(paragraph.len())];
    // The list is the parenthesis after "core modules".
    let open = paragraph.find('(').expect("a parenthesised list");
    let line = &paragraph[open..open + paragraph[open..].find(')').expect("closing parenthesis")];
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut listed = 0;
    for module in line.split('`').skip(1).step_by(2) {
        if ["store", "engine", "error"].contains(&module) {
            continue;
        }
        listed += 1;
        let (file, dir) = (format!("{module}.rs"), module.to_owned());
        assert!(
            src.join(&file).exists() || src.join(&dir).exists(),
            "ARCHITECTURE.md lists core module `{module}`, which does not exist"
        );
        assert!(
            CORE.contains(&file.as_str()) || CORE.contains(&dir.as_str()),
            "core module `{module}` is listed in ARCHITECTURE.md but not checked by CORE"
        );
    }
    assert!(listed >= 7, "found only {listed} core modules in: {line}");
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

/// The one module allowed to write `unsafe` (ARCHITECTURE.md, "Unsafe
/// code"); the channel module denies it everywhere else.
const UNSAFE_MODULE: &str = "attribution/channel/unsafe_ops.rs";

#[test]
fn unsafe_code_lives_in_one_module() {
    // Every line, tests included, comments left out; `unsafe_code` and
    // `unsafe_ops` are names, not the keyword.
    let is_keyword = |line: &str| {
        line.match_indices("unsafe").any(|(i, _)| {
            let before = line[..i].chars().next_back();
            let after = line[i + "unsafe".len()..].chars().next();
            !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
    };
    assert!(is_keyword("    unsafe { f() }") && is_keyword("unsafe impl Send for X {}"));
    assert!(!is_keyword("#[allow(unsafe_code)] mod unsafe_ops;"));
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    assert!(src.join(UNSAFE_MODULE).exists(), "{UNSAFE_MODULE} moved");
    let mut violations = Vec::new();
    for file in files(&["."]) {
        if file.ends_with(UNSAFE_MODULE) {
            continue;
        }
        let text = fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if is_keyword(code) {
                violations.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "`unsafe` outside {UNSAFE_MODULE}:\n{}",
        violations.join("\n")
    );
}
