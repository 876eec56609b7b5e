//! Checks of the codebase itself, run by `cargo test -p xtask`: every Rust file opens with a
//! `//!` doc that says what it is for, and library and binary code has no `unwrap()`,
//! `expect(` or `dbg!` outside its tests.

#[cfg(test)]
mod tests {
    use crate::tools::workspace_root;
    use std::path::{Path, PathBuf};

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if p.is_dir() && name != "target" && !name.starts_with('.') {
                rust_files(&p, out);
            } else if name.ends_with(".rs") {
                out.push(p);
            }
        }
    }

    fn all_files() -> Vec<PathBuf> {
        let root = workspace_root();
        let mut files = Vec::new();
        for dir in ["crates", "xtask", "tests"] {
            rust_files(&root.join(dir), &mut files);
        }
        assert!(files.len() > 10, "found the sources");
        files
    }

    #[test]
    fn every_rust_file_opens_with_a_doc_comment() {
        let missing: Vec<String> = all_files()
            .into_iter()
            .filter(|f| {
                let text = std::fs::read_to_string(f).unwrap_or_default();
                !text.trim_start().starts_with("//!")
            })
            .map(|f| f.display().to_string())
            .collect();
        assert!(missing.is_empty(), "files without a //! doc: {missing:#?}");
    }

    #[test]
    fn no_unwrap_in_shipped_code() {
        let mut found = Vec::new();
        for f in all_files() {
            let path = f.display().to_string();
            // Only code that ships in the functions: the library crates' src, minus tests.
            let shipped = path.contains("/crates/rotation-") && path.contains("/src/");
            if !shipped {
                continue;
            }
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            // Unit tests sit at the end of a file, after `#[cfg(test)]`.
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for (i, line) in code.lines().enumerate() {
                let l = line.trim_start();
                if l.starts_with("//") {
                    continue;
                }
                if l.contains(".unwrap()") || l.contains(".expect(") || l.contains("dbg!(") {
                    found.push(format!("{path}:{}: {}", i + 1, l));
                }
            }
        }
        assert!(
            found.is_empty(),
            "unwrap/expect/dbg! in shipped code: {found:#?}"
        );
    }
}
