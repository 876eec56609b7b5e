//! Checks of the codebase itself, run by `cargo test -p xtask`: every Rust file opens with a
//! `//!` doc that says what it is for; library and binary code has no `unwrap()`, `expect(` or
//! `dbg!` outside its tests; every path and Rust name that ARCHITECTURE.md's code map gives
//! exists; and the README's table of environment variables lists exactly the variables the
//! functions read.

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
    /// Every `.rs` file of the workspace, concatenated: where the code map's names must be.
    fn all_sources() -> String {
        all_files()
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The lines of the section of `doc` headed `heading` (a `## ` line), up to the next one.
    fn section<'d>(doc: &'d str, heading: &str) -> Vec<&'d str> {
        doc.lines()
            .skip_while(|l| l.trim_end() != heading)
            .skip(1)
            .take_while(|l| !l.starts_with("## "))
            .collect()
    }

    /// The text between each pair of backticks.
    fn backticked(text: &str) -> Vec<&str> {
        text.split('`').skip(1).step_by(2).collect()
    }

    /// The bullets (`- ` lines with their continuation lines) of a list.
    fn bullets(lines: &[&str]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for line in lines {
            if let Some(rest) = line.strip_prefix("- ") {
                out.push(rest.to_owned());
            } else if line.starts_with("  ")
                && !line.trim().is_empty()
                && let Some(last) = out.last_mut()
            {
                last.push(' ');
                last.push_str(line.trim());
            }
        }
        out
    }

    /// Whether a backticked word is a path in the repository: a file or folder name with a
    /// `/` in it, or a Rust file.
    fn is_path(s: &str) -> bool {
        !s.starts_with('/')
            && (s.contains('/') || s.ends_with(".rs"))
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-/*".contains(c))
    }

    /// The top-level folders a code-map path may start with; any other path is relative to
    /// the crate (or folder) the bullet is about.
    const ROOTS: &[&str] = &["crates/", "xtask/", "deploy/", "tests/", ".ci/"];

    /// Whether `path` (relative to `root`; `*` allowed in its last component) exists.
    fn exists(root: &Path, path: &str) -> bool {
        let path = path.trim_end_matches('/');
        let Some((dir, pattern)) = path.rsplit_once('/').filter(|(_, last)| last.contains('*'))
        else {
            return root.join(path).exists();
        };
        let (prefix, suffix) = pattern.split_once('*').unwrap_or((pattern, ""));
        std::fs::read_dir(root.join(dir)).is_ok_and(|entries| {
            entries.flatten().any(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.starts_with(prefix) && name.ends_with(suffix)
            })
        })
    }

    /// The folder a bullet is about: `crates/<name>` of its first such path, else the first
    /// component of its first top-level path (`xtask`, `tests`, `deploy`).
    fn bullet_base(spans: &[&str]) -> Option<String> {
        let first = spans
            .iter()
            .find(|s| is_path(s) && ROOTS.iter().any(|r| s.starts_with(r)))?;
        let parts: Vec<&str> = first.split('/').collect();
        Some(match parts.as_slice() {
            ["crates", name, ..] => format!("crates/{name}"),
            [top, ..] => (*top).to_owned(),
            [] => return None,
        })
    }

    /// Words the code map puts in backticks that are names of the databases' own (settings,
    /// plugins, columns), not Rust items.
    const NOT_RUST: &[&str] = &[
        "sql_mode",
        "mysql_native_password",
        "caching_sha2_password",
        "password_encryption",
        "server_version_num",
        "max_identifier_length",
    ];

    /// Whether `sources` holds `keyword name` with `name` ending at a word boundary.
    fn declares(sources: &str, keyword: &str, name: &str) -> bool {
        let needle = format!("{keyword} {name}");
        sources.match_indices(&needle).any(|(at, _)| {
            let before = sources[..at].chars().next_back();
            let after = sources[at + needle.len()..].chars().next();
            let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
            !ident(before) && !ident(after)
        })
    }

    /// The Rust item a backticked word names, and the declarations that would define it:
    /// `None` for words that are not Rust names (prose, paths, SQL, single lower-case words).
    fn rust_name(span: &str) -> Option<(String, &'static [&'static str])> {
        let (path, is_macro) = match span.strip_suffix('!') {
            Some(p) => (p, true),
            None => (span, false),
        };
        let segments: Vec<&str> = path.split("::").collect();
        let ident = |s: &str| {
            !s.is_empty()
                && !s.starts_with(|c: char| c.is_ascii_digit())
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        let crate_like = |s: &str| ident(&s.replace('-', "_"));
        let (last, leading) = segments.split_last()?;
        if !ident(last) || !leading.iter().all(|s| crate_like(s)) {
            return None;
        }
        let name = (*last).to_owned();
        if is_macro {
            return Some((name, &["macro_rules!"]));
        }
        let upper = last.starts_with(|c: char| c.is_ascii_uppercase());
        let has_lower = last.chars().any(|c| c.is_ascii_lowercase());
        if upper && has_lower {
            return Some((name, &["struct", "enum", "trait", "type", "union"]));
        }
        if upper && last.len() > 1 {
            // Constants, and the environment variables and commands the code spells out.
            return Some((name, &["const", "static", "\""]));
        }
        let path_or_compound = !leading.is_empty() || last.contains('_');
        if !upper && path_or_compound && !NOT_RUST.contains(last) {
            return Some((name, &["fn", "macro_rules!", "mod"]));
        }
        None
    }

    /// What the code map of `doc` names that does not exist: paths under `root`, Rust items in
    /// `sources`. Also returns how many paths and names it checked.
    fn code_map_problems(doc: &str, root: &Path, sources: &str) -> (Vec<String>, usize, usize) {
        let mut problems = Vec::new();
        let (mut paths, mut names) = (0, 0);
        for bullet in bullets(&section(doc, "## Code map")) {
            let spans = backticked(&bullet);
            let base = bullet_base(&spans);
            for span in &spans {
                if is_path(span) {
                    paths += 1;
                    let found = if ROOTS.iter().any(|r| span.starts_with(r)) {
                        exists(root, span)
                    } else {
                        base.as_ref().is_some_and(|b| {
                            exists(root, &format!("{b}/{span}"))
                                || exists(root, &format!("{b}/src/{span}"))
                        })
                    };
                    if !found {
                        let shown = match (&base, ROOTS.iter().any(|r| span.starts_with(r))) {
                            (Some(b), false) => format!("path `{span}` (in {b})"),
                            _ => format!("path `{span}`"),
                        };
                        problems.push(shown);
                    }
                } else if let Some((name, keywords)) = rust_name(span) {
                    names += 1;
                    let found = keywords.iter().any(|k| match *k {
                        "\"" => sources.contains(&format!("\"{name}\"")),
                        k => declares(sources, k, &name),
                    });
                    if !found {
                        problems.push(format!("Rust name `{span}`"));
                    }
                }
            }
        }
        (problems, paths, names)
    }

    #[test]
    fn code_map_names_only_what_exists() {
        let root = workspace_root();
        let doc = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap_or_default();
        let (problems, paths, names) = code_map_problems(&doc, &root, &all_sources());
        assert!(
            paths >= 25 && names >= 15,
            "the code map check read only {paths} paths and {names} Rust names: has the \
             `## Code map` heading or its bullet style changed?"
        );
        assert!(
            problems.is_empty(),
            "ARCHITECTURE.md's code map names what does not exist (of {paths} paths and \
             {names} Rust names); fix the map (or, for a database word that is not Rust, add \
             it to NOT_RUST in xtask/src/tidy.rs):\n  {}",
            problems.join("\n  ")
        );
    }

    #[test]
    fn code_map_check_reports_what_is_missing() {
        let root = workspace_root();
        let doc = "## Code map\n\n- `crates/rotation-core/src/protocol.rs`: `Rotator`, \
                   `NoSuchEngineType`, `no_such_function`, `sql_mode`, the `main`.\n- \
                   `crates/rotation-mysql`: `sql.rs`, `nowhere.rs`, `src/bin/*.rs`, \
                   `src/bin/*.py`.\n- `xtask/src/no-such-file.rs`.\n\n## Next\n\n- \
                   `crates/not-in-the-map`\n";
        let sources = "pub struct Rotator;\nfn no_such_function_either() {}\n";
        let (problems, paths, names) = code_map_problems(doc, &root, sources);
        assert_eq!(
            problems,
            [
                "Rust name `NoSuchEngineType`",
                "Rust name `no_such_function`",
                "path `nowhere.rs` (in crates/rotation-mysql)",
                "path `src/bin/*.py` (in crates/rotation-mysql)",
                "path `xtask/src/no-such-file.rs`",
            ]
        );
        assert_eq!((paths, names), (7, 3));
    }

    /// Environment variables that Lambda sets for every function, which the functions read
    /// but nobody configures; the README names them below its table instead.
    const SET_BY_LAMBDA: &[&str] = &[
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ];

    /// Whether a string literal's text looks like an environment variable's name.
    fn is_variable_name(s: &str) -> bool {
        s.contains('_')
            && s.starts_with(|c: char| c.is_ascii_uppercase())
            && s.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    }

    /// The environment variables `code` reads: names in string literals within a statement
    /// that calls `std::env::var`, `var_os` or a lookup (`get(`, `flag(`, `lookup(`, the
    /// closures config.rs and logging.rs read the environment through).
    fn variables_read(code: &str) -> Vec<String> {
        const READS: &[&str] = &["env::var(", "env::var_os(", "get(", "flag(", "lookup("];
        let mut found = Vec::new();
        for statement in code.split([';', '{', '}']) {
            if !READS.iter().any(|r| statement.contains(r)) {
                continue;
            }
            for literal in statement.split('"').skip(1).step_by(2) {
                if is_variable_name(literal) && !found.iter().any(|f| f == literal) {
                    found.push(literal.to_owned());
                }
            }
        }
        found
    }

    #[test]
    fn readme_lists_exactly_the_variables_the_functions_read() {
        let root = workspace_root();
        let mut read: Vec<String> = Vec::new();
        for f in all_files() {
            let path = f.display().to_string();
            // What ships: the rotation crates' sources, without their unit tests.
            if !(path.contains("/crates/rotation-") && path.contains("/src/")) {
                continue;
            }
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            for v in variables_read(code) {
                if !read.contains(&v) {
                    read.push(v);
                }
            }
        }
        let readme = std::fs::read_to_string(root.join("README.md")).unwrap_or_default();
        let lines = section(&readme, "## Environment variables");
        let rows: Vec<&str> = lines
            .iter()
            .filter(|l| l.starts_with('|'))
            .skip(2)
            .filter_map(|l| l.split('|').nth(1))
            .flat_map(backticked)
            .collect();
        let prose: String = lines
            .iter()
            .filter(|l| !l.starts_with('|'))
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            read.len() >= 15 && rows.len() >= 15,
            "found only {} variables in the code and {} rows in README.md's table: has the \
             way config.rs reads them, or the `## Environment variables` heading, changed?",
            read.len(),
            rows.len()
        );
        let mut problems = Vec::new();
        for v in &read {
            let by_lambda = SET_BY_LAMBDA.contains(&v.as_str());
            if by_lambda && !backticked(&prose).contains(&v.as_str()) {
                problems.push(format!(
                    "`{v}` (set by Lambda) is read by the code but not named below the table"
                ));
            } else if !by_lambda && !rows.contains(&v.as_str()) {
                problems.push(format!("`{v}` is read by the code but has no row"));
            }
        }
        for v in rows.iter().chain(SET_BY_LAMBDA) {
            if !read.iter().any(|r| r == v) {
                problems.push(format!("`{v}` is listed but no code reads it"));
            }
        }
        assert!(
            problems.is_empty(),
            "README.md's environment variables and the code (crates/rotation-core/src/config.rs \
             and the engine crates) disagree; fix the table (or SET_BY_LAMBDA in \
             xtask/src/tidy.rs):\n  {}",
            problems.join("\n  ")
        );
    }

    #[test]
    fn variables_are_found_where_the_code_reads_them() {
        let code = r#"
            let a = std::env::var("ONE_VAR").ok();
            let level = ["TWO_VAR", "THREE_VAR"].iter().find_map(|k| get(k));
            let n = flag("FOUR_VAR", false);
            let not_read = "NO_ENGINE_SUBSTITUTION";
            ConfigError { name: "FIVE_VAR", problem }
        "#;
        assert_eq!(
            variables_read(code),
            ["ONE_VAR", "TWO_VAR", "THREE_VAR", "FOUR_VAR"]
        );
    }
}
