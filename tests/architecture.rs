//! The architecture test, in the manner of rust-analyzer's tidy tests: it reads every
//! `src/**/*.rs`, collects the paths each file names through `crate::` (in `use` lines,
//! grouped `use crate::{a::x, b}` ones included, and inline in code) and `super::`, maps
//! each file and each path to a module of the layer table in ARCHITECTURE.md, and fails,
//! naming the file, the line and both modules, on
//!
//! - an import up a layer,
//! - a cycle between modules (imports within a layer are allowed when they form none),
//! - a command (`src/cmd/X.rs`) importing another command,
//! - a module missing from the table (or a table entry naming no module).
//!
//! Comments, string literals and `#[cfg(test)]` modules are left out: a test may use
//! whatever it tests with. `src/lib.rs` (which only declares the modules) and
//! `src/main.rs` (the binary, which names the library as `dosesim::`) are not read.
//! A path relative to the file's own module (`child::x`, `self::x`) stays inside it and
//! is not followed.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

/// The layer table: each unit (a module path such as `forecast::plan`, or `cmd::*` for
/// every file of `src/cmd/` not named elsewhere) with its layer, lowest first.
struct Table {
    layers: Vec<String>,
    /// (module path, layer index, a wildcard: one module per file, none importing another)
    entries: Vec<(String, usize, bool)>,
}

/// Reads the layer table of ARCHITECTURE.md: the markdown table whose header is
/// `| Layer | Modules |`, one row a layer from the bottom up, the modules in backticks.
fn parse_table(markdown: &str) -> Result<Table, String> {
    let mut lines = markdown.lines().skip_while(|l| {
        let cells = cells(l);
        !(cells.len() == 2 && cells[0].eq_ignore_ascii_case("layer"))
    });
    if lines.next().is_none() {
        return Err("no `| Layer | Modules |` table".into());
    }
    let mut table = Table {
        layers: Vec::new(),
        entries: Vec::new(),
    };
    for line in lines.skip(1) {
        let cells = cells(line);
        if cells.len() != 2 {
            break;
        }
        let layer = table.layers.len();
        table
            .layers
            .push(cells[0].trim_matches(|c| c == '*').to_string());
        for m in cells[1].split('`').skip(1).step_by(2) {
            match m.strip_suffix("::*") {
                Some(base) => table.entries.push((base.to_string(), layer, true)),
                None => table.entries.push((m.to_string(), layer, false)),
            }
        }
    }
    if table.layers.is_empty() {
        return Err("the layer table has no rows".into());
    }
    Ok(table)
}

fn cells(line: &str) -> Vec<&str> {
    let t = line.trim();
    if !t.starts_with('|') || !t.ends_with('|') || t.len() < 2 {
        return Vec::new();
    }
    t[1..t.len() - 1].split('|').map(str::trim).collect()
}

/// The module a file is: `src/a.rs` and `src/a/mod.rs` are `a`, `src/a/b.rs` is `a::b`.
fn module_of(rel: &str) -> String {
    let rel = rel.trim_end_matches(".rs");
    let mut parts: Vec<&str> = rel.split('/').collect();
    if parts.last() == Some(&"mod") {
        parts.pop();
    }
    parts.join("::")
}

/// The source with comments, string and character literals blanked (newlines kept, so
/// that line numbers stay right).
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, c: u8| out.push(if c == b'\n' { b'\n' } else { b' ' });
    while i < b.len() {
        let c = b[i];
        if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                out.push(b' ');
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let end = block_comment_end(b, i);
            for &x in &b[i..end] {
                blank(&mut out, x);
            }
            i = end;
        } else if c == b'r'
            && (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
            && (i == 0
                || !is_ident(b[i - 1])
                || (b[i - 1] == b'b' && (i < 2 || !is_ident(b[i - 2]))))
        {
            // A raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            while b.get(j) == Some(&b'#') {
                j += 1;
            }
            if b.get(j) != Some(&b'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let hashes = j - i - 1;
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            let end = src[j + 1..]
                .find(std::str::from_utf8(&close).unwrap())
                .map_or(b.len(), |k| j + 1 + k + close.len());
            for &x in &b[i..end] {
                blank(&mut out, x);
            }
            i = end;
        } else if c == b'"' {
            out.push(b' ');
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    blank(&mut out, b[i]);
                    i += 1;
                }
                if i < b.len() {
                    blank(&mut out, b[i]);
                    i += 1;
                }
            }
            out.push(b' ');
            i += 1;
        } else if c == b'\'' && b.get(i + 1) == Some(&b'\\') {
            // '\n', '\'', '\u{..}'
            let end = src[i + 3..].find('\'').map_or(b.len(), |k| i + 3 + k + 1);
            out.extend(std::iter::repeat_n(b' ', end - i));
            i = end;
        } else if c == b'\'' && b.get(i + 2) == Some(&b'\'') {
            out.extend_from_slice(b"   ");
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where the block comment opening at `i` ends (nested ones included).
fn block_comment_end(b: &[u8], mut i: usize) -> usize {
    let mut depth = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            depth += 1;
            i += 2;
        } else if b[i] == b'*' && b.get(i + 1) == Some(&b'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The code without its `#[cfg(test)]` modules (rustfmt's layout: the module ends at the
/// first `}` line indented as its `mod` line), blank lines in their place.
fn without_tests(code: &str) -> String {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if l.trim() == "#[cfg(test)]" {
            let indent = &l[..l.len() - l.trim_start().len()];
            let mut j = i + 1;
            while j < lines.len() && lines[j].trim_start().starts_with("#[") {
                j += 1;
            }
            let item = lines.get(j).map_or("", |s| s.trim_start());
            if (item.starts_with("mod ") || item.starts_with("pub mod ")) && item.ends_with('{') {
                let close = format!("{indent}}}");
                let end = (j + 1..lines.len())
                    .find(|&k| lines[k] == close)
                    .unwrap_or(lines.len() - 1);
                out.extend(std::iter::repeat_n("", end + 1 - i));
                i = end + 1;
                continue;
            }
        }
        out.push(l);
        i += 1;
    }
    out.join("\n")
}

/// Every path a file names from the crate: (path segments from the crate root, line).
fn crate_paths(module: &str, src: &str) -> Vec<(Vec<String>, usize)> {
    let code = without_tests(&code_only(src));
    let b = code.as_bytes();
    // The crate-root path `super::` stands for in this file.
    let mut parent: Vec<String> = module.split("::").map(String::from).collect();
    parent.pop();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts_path = i == 0 || !(is_ident(b[i - 1]) || b[i - 1] == b':');
        let (prefix, len) = if starts_path && b[i..].starts_with(b"crate::") {
            (Vec::new(), "crate::".len())
        } else if starts_path && b[i..].starts_with(b"super::") {
            (parent.clone(), "super::".len())
        } else {
            i += 1;
            continue;
        };
        let mut j = i + len;
        tree(&code, &mut j, prefix, &mut out);
        i = j.max(i + 1);
    }
    out
}

/// Parses a use tree at `*at` (`a::b`, `a::{b, c::d}`, `a as x`, `*`), pushing each full
/// path with the line of its last segment.
fn tree(code: &str, at: &mut usize, prefix: Vec<String>, out: &mut Vec<(Vec<String>, usize)>) {
    let b = code.as_bytes();
    let skip_ws = |at: &mut usize| {
        while *at < b.len() && b[*at].is_ascii_whitespace() {
            *at += 1;
        }
    };
    let line_at = |at: usize| code[..at].matches('\n').count() + 1;
    skip_ws(at);
    if *at < b.len() && b[*at] == b'{' {
        *at += 1;
        loop {
            skip_ws(at);
            if *at >= b.len() {
                return;
            }
            if b[*at] == b'}' {
                *at += 1;
                return;
            }
            if b[*at] == b',' {
                *at += 1;
                continue;
            }
            let before = *at;
            tree(code, at, prefix.clone(), out);
            if *at == before {
                *at += 1;
            }
        }
    }
    let start = *at;
    while *at < b.len() && is_ident(b[*at]) {
        *at += 1;
    }
    if start == *at {
        // `*` or nothing: the prefix itself.
        if *at < b.len() && b[*at] == b'*' {
            *at += 1;
        }
        if !prefix.is_empty() {
            out.push((prefix, line_at(start)));
        }
        return;
    }
    let seg = &code[start..*at];
    let mut path = prefix;
    if seg != "self" {
        path.push(seg.to_string());
    }
    if code[*at..].starts_with("::") {
        *at += 2;
        tree(code, at, path, out);
        return;
    }
    if !path.is_empty() {
        out.push((path, line_at(start)));
    }
    // `a as b`: the new name is no path.
    let mut k = *at;
    skip_ws(&mut k);
    if code[k..].starts_with("as") && b.get(k + 2).is_some_and(|c| c.is_ascii_whitespace()) {
        k += 2;
        skip_ws(&mut k);
        while k < b.len() && is_ident(b[k]) {
            k += 1;
        }
        *at = k;
    }
}

/// One import: the file and line it is on, from one unit to another.
#[derive(Clone)]
struct Edge {
    file: String,
    line: usize,
}

/// Checks `files` (path relative to src/, source) against the layer table; every
/// complaint, in file order.
fn check(table_md: &str, files: &[(String, String)]) -> Vec<String> {
    let table = match parse_table(table_md) {
        Ok(t) => t,
        Err(e) => return vec![format!("ARCHITECTURE.md: {e}")],
    };
    let modules: Vec<(String, &str, &str)> = files
        .iter()
        .filter(|(rel, _)| rel != "lib.rs" && rel != "main.rs")
        .map(|(rel, src)| (module_of(rel), rel.as_str(), src.as_str()))
        .collect();
    let units = units(&table, &modules);
    let unit_of = |path: &[String]| -> Option<String> {
        (1..=path.len())
            .rev()
            .map(|n| path[..n].join("::"))
            .find(|p| units.contains_key(p))
    };
    let mut complaints = stale_entries(&table, &modules, &unit_of);
    let layer_name = |u: &str| &table.layers[units[u].0];
    let mut edges: BTreeMap<(String, String), Edge> = BTreeMap::new();
    for (module, rel, src) in &modules {
        let segs: Vec<String> = module.split("::").map(String::from).collect();
        let Some(from) = unit_of(&segs) else {
            complaints.push(format!(
                "src/{rel}: module `{module}` is missing from the layer table in ARCHITECTURE.md"
            ));
            continue;
        };
        for (path, line) in crate_paths(module, src) {
            let Some(to) = unit_of(&path) else {
                complaints.push(format!(
                    "src/{rel}:{line}: `{}` names module `{}`, which is missing from the layer table in ARCHITECTURE.md",
                    from, path[0]
                ));
                continue;
            };
            if to == from {
                continue;
            }
            let (fl, fw) = units[&from];
            let (tl, tw) = units[&to];
            if tl > fl {
                complaints.push(format!(
                    "src/{rel}:{line}: `{from}` ({}) imports `{to}` ({}), a layer above it",
                    layer_name(&from),
                    layer_name(&to)
                ));
            } else if fw && tw {
                complaints.push(format!(
                    "src/{rel}:{line}: the command `{from}` imports the command `{to}`: what commands share lives in a shared module of the face layer"
                ));
            }
            edges.entry((from.clone(), to)).or_insert(Edge {
                file: format!("src/{rel}"),
                line,
            });
        }
    }
    complaints.extend(cycles(&edges));
    complaints
}

/// The units of the table, each with its layer and whether it is one of a wildcard's:
/// the named modules, and one per file under a wildcard's folder not named itself.
fn units(table: &Table, modules: &[(String, &str, &str)]) -> BTreeMap<String, (usize, bool)> {
    let named: Vec<&str> = table
        .entries
        .iter()
        .filter(|e| !e.2)
        .map(|e| e.0.as_str())
        .collect();
    let mut units: BTreeMap<String, (usize, bool)> = table
        .entries
        .iter()
        .filter(|e| !e.2)
        .map(|e| (e.0.clone(), (e.1, false)))
        .collect();
    for (base, layer, _) in table.entries.iter().filter(|e| e.2) {
        for (m, _, _) in modules {
            if let Some(rest) = m.strip_prefix(&format!("{base}::"))
                && !named.contains(&m.as_str())
            {
                let first = rest.split("::").next().unwrap();
                units.insert(format!("{base}::{first}"), (*layer, true));
            }
        }
    }
    units
}

/// A complaint for each module the table names that is no module of src/.
fn stale_entries(
    table: &Table,
    modules: &[(String, &str, &str)],
    unit_of: &dyn Fn(&[String]) -> Option<String>,
) -> Vec<String> {
    let mut complaints = Vec::new();
    let used: BTreeSet<String> = modules
        .iter()
        .filter_map(|(m, _, _)| unit_of(&m.split("::").map(String::from).collect::<Vec<_>>()))
        .collect();
    for e in table.entries.iter().filter(|e| !e.2) {
        if !used.contains(&e.0) {
            complaints.push(format!(
                "ARCHITECTURE.md: the layer table names `{}`, which is no module of src/",
                e.0
            ));
        }
    }
    complaints
}

/// The cycles among the units: for each module on a cycle that no cycle named so far goes
/// through, the shortest one from it, each import with its file and line.
fn cycles(edges: &BTreeMap<(String, String), Edge>) -> Vec<String> {
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (a, b) in edges.keys() {
        next.entry(a).or_default().push(b);
    }
    // The shortest way from `a` back to `a`, if any.
    let way_back = |a: &str| -> Option<Vec<String>> {
        let mut came: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = VecDeque::from([a]);
        while let Some(x) = queue.pop_front() {
            for &y in next.get(x).into_iter().flatten() {
                if y == a {
                    let mut way = vec![a.to_string(), x.to_string()];
                    let mut z = x;
                    while z != a {
                        z = came[z];
                        way.push(z.to_string());
                    }
                    way.reverse();
                    way.pop();
                    return Some(way);
                }
                if !came.contains_key(y) {
                    came.insert(y, x);
                    queue.push_back(y);
                }
            }
        }
        None
    };
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    for a in next.keys() {
        if seen.contains(*a) {
            continue;
        }
        let Some(way) = way_back(a) else { continue };
        let steps: Vec<String> = way
            .iter()
            .zip(way.iter().skip(1).chain(std::iter::once(&way[0])))
            .map(|(x, y)| {
                let e = &edges[&(x.clone(), y.clone())];
                format!("`{x}` imports `{y}` ({}:{})", e.file, e.line)
            })
            .collect();
        out.push(format!("a cycle between modules: {}", steps.join(", ")));
        seen.extend(way);
    }
    out
}

/// Every `.rs` file under `dir`, relative to it with `/` separators, with its text.
fn sources(dir: &Path) -> Vec<(String, String)> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path: PathBuf = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(base).unwrap().to_string_lossy();
                out.push((
                    rel.replace('\\', "/"),
                    std::fs::read_to_string(&path).unwrap(),
                ));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn every_import_goes_down_the_layers_of_architecture_md() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let table = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let complaints = check(&table, &sources(&root.join("src")));
    assert!(
        complaints.is_empty(),
        "the layers of ARCHITECTURE.md are broken:\n{}",
        complaints.join("\n")
    );
}

/// The checker itself, on small made-up crates: each rule it enforces fails when broken.
mod checker {
    use super::check;

    const TABLE: &str = "\
# Layers

| Layer | Modules |
|---|---|
| **base** | `error`, `write` |
| **core** | `schedule`, `cohort` |
| **face** | `cmd` |
| **commands** | `cmd::*` (one a file) |

After the table.
";

    fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(p, s)| (p.to_string(), s.to_string()))
            .collect()
    }

    /// A small crate that keeps every rule.
    fn good() -> Vec<(&'static str, &'static str)> {
        vec![
            ("lib.rs", "pub mod error;\npub mod write;\n"),
            ("error.rs", "pub struct E;\n"),
            ("write.rs", "use crate::error::E;\n"),
            (
                "schedule.rs",
                "use crate::{error::E, write};\n\nfn f() { crate::write::g(); }\n",
            ),
            ("cohort.rs", "use crate::schedule::Plan;\n"),
            (
                "cmd/mod.rs",
                "pub mod run;\npub fn shared() {}\nuse crate::cohort::Cohort;\n",
            ),
            (
                "cmd/run.rs",
                "use crate::cohort;\nfn run() { super::shared(); crate::cmd::shared(); }\n",
            ),
            ("cmd/show.rs", "use super::shared;\n"),
        ]
    }

    #[test]
    fn a_crate_that_keeps_the_layers_passes() {
        assert_eq!(check(TABLE, &files(&good())), Vec::<String>::new());
    }

    #[test]
    fn an_import_up_a_layer_is_named_with_its_file_line_and_modules() {
        // (`schedule` no longer imports `write`, so that the import closes no cycle.)
        let mut f = good();
        f[2] = (
            "write.rs",
            "use crate::error::E;\n\nuse crate::{\n    cohort::Cohort,\n};\n",
        );
        f[3] = ("schedule.rs", "use crate::error::E;\n");
        assert_eq!(
            check(TABLE, &files(&f)),
            ["src/write.rs:4: `write` (base) imports `cohort` (core), a layer above it"]
        );
        // Inline in code, and through `super::` from a folder's file.
        f = good();
        f[3] = ("schedule.rs", "fn f() { let _ = crate::cmd::shared(); }\n");
        f[5] = ("cmd/mod.rs", "pub mod run;\npub fn shared() {}\n");
        assert_eq!(
            check(TABLE, &files(&f)),
            ["src/schedule.rs:1: `schedule` (core) imports `cmd` (face), a layer above it"]
        );
    }

    #[test]
    fn a_command_importing_another_is_named() {
        let mut f = good();
        f[7] = (
            "cmd/show.rs",
            "use super::shared;\n\nfn g() { super::run::helper(); }\n",
        );
        assert_eq!(
            check(TABLE, &files(&f)),
            [
                "src/cmd/show.rs:3: the command `cmd::show` imports the command `cmd::run`: what commands share lives in a shared module of the face layer"
            ]
        );
    }

    #[test]
    fn a_cycle_within_a_layer_is_named_with_each_import() {
        let mut f = good();
        f[3] = (
            "schedule.rs",
            "use crate::error::E;\n// use crate::cohort; (a comment)\nuse crate::cohort::Tally;\n",
        );
        assert_eq!(
            check(TABLE, &files(&f)),
            [
                "a cycle between modules: `cohort` imports `schedule` (src/cohort.rs:1), `schedule` imports `cohort` (src/schedule.rs:3)"
            ]
        );
    }

    #[test]
    fn a_module_missing_from_the_table_is_named() {
        let mut f = good();
        f.push(("sheet.rs", "use crate::cohort;\n"));
        f[4] = (
            "cohort.rs",
            "use crate::schedule::Plan;\nuse crate::sheet::Sheet;\n",
        );
        assert_eq!(
            check(TABLE, &files(&f)),
            [
                "src/cohort.rs:2: `cohort` names module `sheet`, which is missing from the layer table in ARCHITECTURE.md",
                "src/sheet.rs: module `sheet` is missing from the layer table in ARCHITECTURE.md",
            ]
        );
    }

    #[test]
    fn comments_strings_and_test_modules_are_not_imports() {
        let mut f = good();
        f[1] = (
            "error.rs",
            "/// See [`crate::cohort`].\npub struct E;\nconst S: &str = \"crate::cohort::x\";\nconst R: &str = r#\"crate::cmd\"#;\nconst C: char = '\"';\n/* crate::cmd */\n\n#[cfg(test)]\nmod tests {\n    use crate::cohort;\n    use super::*;\n}\n",
        );
        assert_eq!(check(TABLE, &files(&f)), Vec::<String>::new());
    }
}
