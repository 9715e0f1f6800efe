//! House rules checked on the source tree: every Rust file opens with a `//!` line saying what
//! it is for, and the workspace keeps the `unreachable_pub` lint on (what is `pub` is reachable
//! from its crate's root; everything else says `pub(crate)`).

use std::path::{Path, PathBuf};

use evidence_tests::repo_root;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.file_type().unwrap().is_dir() {
            if !name.starts_with('.') && name != "target" && name != "node_modules" {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_opens_with_a_module_doc_line() {
    let root = repo_root();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.len() > 100, "found {} .rs files", files.len());
    let missing: Vec<String> = files
        .iter()
        .filter(|f| {
            !std::fs::read_to_string(f)
                .unwrap_or_default()
                .starts_with("//!")
        })
        .map(|f| f.strip_prefix(&root).unwrap_or(f).display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "files without a `//!` first line: {missing:#?}"
    );
}

#[test]
fn the_workspace_keeps_the_unreachable_pub_lint() {
    let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
    let lints = manifest
        .split("[workspace.lints.rust]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .expect("a [workspace.lints.rust] table");
    assert!(
        lints.contains("unreachable_pub = \"warn\""),
        "[workspace.lints.rust] lacks unreachable_pub: {lints}"
    );
}
