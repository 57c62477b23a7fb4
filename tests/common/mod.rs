//! Helpers shared by the integration tests: running the real binary from the crate root,
//! parsing its CSV, and writing broken copies of the bundled scenarios.
//!
//! Every test module uses only part of it.
#![allow(dead_code)]

pub mod browser;
pub mod mutate;
pub mod postgres;
pub mod web;
pub mod webdriver;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde::Deserialize;

/// The crate root: the binary runs from here, so `scenarios/...` paths resolve.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The bundled scenario files, as the binary sees them (relative to the crate root).
pub const SCENARIOS: [&str; 5] = [
    "scenarios/nct01573923.toml",
    "scenarios/nct01724398.toml",
    "scenarios/nct02812121.toml",
    "scenarios/nct04822922.toml",
    "scenarios/nct05106972.toml",
];

/// The first twenty calendar CSV columns: a fixed contract.
pub const HEADER20: [&str; 20] = [
    "patient_id",
    "trial_id",
    "arm_id",
    "date",
    "study_day",
    "weekday",
    "order_in_day",
    "kind",
    "event",
    "occurrence",
    "occurrences",
    "weight_kg",
    "dose_per_kg",
    "dose",
    "dose_unit",
    "cumulative_dose",
    "volume_ml",
    "window_start",
    "window_end",
    "note",
];

/// `dosesim` built by cargo, run from the crate root.
pub fn dosesim() -> Command {
    let mut c = Command::cargo_bin("dosesim").expect("the dosesim binary is built");
    c.current_dir(root());
    c
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Run {
    pub fn err(&self) -> String {
        self.stderr.clone()
    }

    pub fn out(&self) -> String {
        String::from_utf8(self.stdout.clone()).expect("stdout is UTF-8")
    }

    /// Panics with the whole run when the exit status is not `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "exit status; stdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&self.stdout),
            self.stderr
        );
        self
    }

    /// The `warning:` and `assumed:` lines of stderr.
    pub fn warnings(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("warning: ") || l.starts_with("assumed: "))
            .collect()
    }
}

pub fn run<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = dosesim().args(args).output().expect("dosesim runs");
    Run {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

/// `dosesim calendar SCENARIO --arm ARM --weight W --start START` plus `extra`.
pub fn calendar(scenario: &str, arm: &str, weight: &str, start: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "calendar", scenario, "--arm", arm, "--weight", weight, "--start", start,
    ];
    args.extend_from_slice(extra);
    run(args)
}

/// One calendar CSV row, every column as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CsvRow {
    pub patient_id: String,
    pub trial_id: String,
    pub arm_id: String,
    pub date: String,
    pub study_day: String,
    pub weekday: String,
    pub order_in_day: String,
    pub kind: String,
    pub event: String,
    pub occurrence: String,
    pub occurrences: String,
    pub weight_kg: String,
    pub dose_per_kg: String,
    pub dose: String,
    pub dose_unit: String,
    pub cumulative_dose: String,
    pub volume_ml: String,
    pub window_start: String,
    pub window_end: String,
    pub note: String,
    pub product: String,
    pub assumed: String,
    pub site: String,
    pub planned_date: String,
    pub shift_days: String,
    pub flags: String,
    pub status: String,
    pub planned_amount: String,
    pub deviation: String,
}

/// The header and rows of a calendar CSV.
pub fn parse_csv(bytes: &[u8]) -> (Vec<String>, Vec<CsvRow>) {
    let mut r = csv::Reader::from_reader(bytes);
    let header: Vec<String> = r
        .headers()
        .expect("a CSV header")
        .iter()
        .map(str::to_string)
        .collect();
    let rows = r
        .deserialize()
        .collect::<Result<Vec<CsvRow>, _>>()
        .expect("every CSV row parses");
    (header, rows)
}

/// Whether a patient's calendar CSV has an infusion, exchange or visit: only those go in
/// a calendar file, so a patient of background treatment only has no `.ics`.
pub fn has_appointment(csv: &[u8]) -> bool {
    parse_csv(csv).1.iter().any(|r| r.kind != "background")
}

/// The 1-based number of the only line of `text` containing `needle`.
pub fn line_of(text: &str, needle: &str) -> usize {
    let hits: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(hits.len(), 1, "'{needle}' should be on exactly one line");
    hits[0]
}

/// A bundled scenario's text with each `(from, to)` applied to its first occurrence.
/// Panics if a `from` is not found, so a test never silently tests the unbroken file.
pub fn broken_text(scenario: &str, edits: &[(&str, &str)]) -> String {
    let mut text = std::fs::read_to_string(root().join(scenario)).expect("scenario readable");
    for (from, to) in edits {
        assert!(text.contains(from), "{scenario} should contain {from:?}");
        text = text.replacen(from, to, 1);
    }
    text
}

/// Writes `text` as `name` in a fresh temporary folder; keep the folder alive while used.
pub fn temp_scenario(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write temporary scenario");
    (dir, path)
}

/// Names of the entries of a folder, sorted.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("folder readable")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Runs the binary with its stdout a pipe nobody reads (as in `dosesim ... | head -0`).
pub fn run_with_closed_stdout(args: &[&str]) -> std::process::Output {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    std::process::Command::new(assert_cmd::cargo::cargo_bin("dosesim"))
        .current_dir(root())
        .args(args)
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("dosesim runs")
}

// ---------------------------------------------------------------------------------------
// Cohorts, rosters and output folders
// ---------------------------------------------------------------------------------------

/// The bundled trials: (trial id, scenario file as the binary sees it).
pub const TRIALS: [(&str, &str); 5] = [
    ("NCT01724398", "scenarios/nct01724398.toml"),
    ("NCT02812121", "scenarios/nct02812121.toml"),
    ("NCT01573923", "scenarios/nct01573923.toml"),
    ("NCT05106972", "scenarios/nct05106972.toml"),
    ("NCT04822922", "scenarios/nct04822922.toml"),
];

/// The header every roster in the tests starts with.
pub const ROSTER_HEADER: &str = "patient_id,arm,weight_kg,start_date";

/// Writes `text` as `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write test file");
    path
}

/// Writes a roster: [`ROSTER_HEADER`], then each of `rows` on its own line.
pub fn write_roster(dir: &Path, name: &str, rows: &[&str]) -> PathBuf {
    let mut text = format!("{ROSTER_HEADER}\n");
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    write_file(dir, name, &text)
}

/// `dosesim cohort SCENARIO --roster ROSTER --out OUT`.
pub fn cohort(scenario: &Path, roster: &Path, out: &Path) -> Run {
    run([
        "cohort".as_ref(),
        scenario.as_os_str(),
        "--roster".as_ref(),
        roster.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ])
}

/// `dosesim pharmacy SCENARIO --roster ROSTER` plus `extra`.
pub fn pharmacy(scenario: &Path, roster: &Path, extra: &[&std::ffi::OsStr]) -> Run {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "pharmacy".as_ref(),
        scenario.as_os_str(),
        "--roster".as_ref(),
        roster.as_os_str(),
    ];
    args.extend_from_slice(extra);
    run(args)
}

/// Every file under `dir`, keyed by its path relative to `dir` ('/'-separated), with its
/// bytes. Folders appear only through their files; an empty folder is keyed `path/`.
pub fn tree(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut std::collections::BTreeMap<String, Vec<u8>>) {
        let mut any = false;
        for e in std::fs::read_dir(dir).expect("folder readable") {
            any = true;
            let path = e.expect("folder entry").path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let rel = path.strip_prefix(base).unwrap();
                let key = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                out.insert(key, std::fs::read(&path).expect("file readable"));
            }
        }
        if !any && dir != base {
            let rel = dir.strip_prefix(base).unwrap().to_string_lossy();
            out.insert(format!("{}/", rel.replace('\\', "/")), Vec::new());
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Asserts two trees from [`tree`] are equal, naming the first file that differs.
pub fn assert_same_tree(
    a: &std::collections::BTreeMap<String, Vec<u8>>,
    b: &std::collections::BTreeMap<String, Vec<u8>>,
    what: &str,
) {
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "{what}: the same files"
    );
    for (name, bytes) in a {
        assert!(bytes == &b[name], "{what}: {name} differs");
    }
}

/// One CSV record as parsed, and its exact bytes in the file (without the line end).
#[derive(Debug, Clone, PartialEq)]
pub struct RawRecord {
    pub fields: Vec<String>,
    pub bytes: Vec<u8>,
}

impl RawRecord {
    pub fn get(&self, i: usize) -> &str {
        &self.fields[i]
    }
}

/// The header and the data records of a CSV file, each with its exact bytes.
pub fn raw_records(bytes: &[u8]) -> (RawRecord, Vec<RawRecord>) {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes);
    let mut all = Vec::new();
    let mut rec = csv::StringRecord::new();
    loop {
        let start = r.position().byte() as usize;
        if !r.read_record(&mut rec).expect("CSV parses") {
            break;
        }
        let end = r.position().byte() as usize;
        let raw = &bytes[start..end];
        let raw = raw
            .strip_suffix(b"\n")
            .map(|s| s.strip_suffix(b"\r").unwrap_or(s))
            .unwrap_or(raw);
        all.push(RawRecord {
            fields: rec.iter().map(str::to_string).collect(),
            bytes: raw.to_vec(),
        });
    }
    assert!(!all.is_empty(), "a CSV header");
    let header = all.remove(0);
    (header, all)
}

/// Checks iCalendar line ends: every physical line ends with CRLF, and no CR stands alone.
pub fn assert_ics_crlf(bytes: &[u8], what: &str) {
    assert!(bytes.ends_with(b"\r\n"), "{what}: the last line ends CRLF");
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    assert_eq!(
        lines.pop(),
        Some(&b""[..]),
        "{what}: nothing after the last line end"
    );
    for (i, line) in lines.into_iter().enumerate() {
        let content = line
            .strip_suffix(b"\r")
            .unwrap_or_else(|| panic!("{what}: line {} does not end CRLF", i + 1));
        assert!(
            !content.contains(&b'\r'),
            "{what}: stray CR on line {}",
            i + 1
        );
    }
}

/// Checks iCalendar line structure: every physical line ends with CRLF and is at most 75
/// octets without it (RFC 5545 3.1).
pub fn assert_ics_lines(bytes: &[u8], what: &str) {
    assert!(bytes.ends_with(b"\r\n"), "{what}: the last line ends CRLF");
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    assert_eq!(
        lines.pop(),
        Some(&b""[..]),
        "{what}: nothing after the last line end"
    );
    for (i, line) in lines.into_iter().enumerate() {
        let content = line
            .strip_suffix(b"\r")
            .unwrap_or_else(|| panic!("{what}: line {} does not end CRLF", i + 1));
        assert!(
            !content.contains(&b'\r'),
            "{what}: stray CR on line {}",
            i + 1
        );
        assert!(
            content.len() <= 75,
            "{what}: line {} is {} octets: {}",
            i + 1,
            content.len(),
            String::from_utf8_lossy(content)
        );
    }
}

/// The `<svg ...>...</svg>` elements inlined in an HTML page (they do not nest).
pub fn inline_svgs(html: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<svg") {
        let tail = &rest[start..];
        let end = tail.find("</svg>").expect("every <svg> is closed") + "</svg>".len();
        out.push(&tail[..end]);
        rest = &tail[end..];
    }
    out
}

/// The trimmed text of every `<text>` element of an SVG document, which must parse as XML.
pub fn svg_texts(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg)
        .unwrap_or_else(|e| panic!("SVG parses as XML: {e}\n{}", &svg[..svg.len().min(300)]));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| {
            n.descendants()
                .filter(|t| t.is_text())
                .filter_map(|t| t.text())
                .collect::<String>()
                .trim()
                .to_string()
        })
        .collect()
}

/// Width and height of a PNG image, decoding it whole.
pub fn png_size(bytes: &[u8]) -> (u32, u32) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .expect("a PNG header");
    let mut buf = vec![
        0;
        reader
            .output_buffer_size()
            .expect("a buffer size that fits")
    ];
    let info = reader.next_frame(&mut buf).expect("PNG image data decodes");
    (info.width, info.height)
}

/// Asserts an HTML page needs nothing from anywhere else: no script, style sheet, image,
/// frame or embedded object element, no `src`, `srcset` or `xlink:href` attribute, no
/// `@import` or `url(...)`, and no `href` but on `<a>` elements whose target
/// `allowed_href` accepts. Text is escaped in the pages, so every `<` starts a tag.
pub fn assert_self_contained(html: &str, what: &str, allowed_href: &dyn Fn(&str) -> bool) {
    let lower = html.to_ascii_lowercase();
    for bad in ["@import", "url("] {
        assert!(
            !lower.contains(bad),
            "{what}: contains {bad:?} near: {}",
            context(html, lower.find(bad).unwrap())
        );
    }
    let mut tags = 0;
    let mut from = 0;
    while let Some(i) = lower[from..].find('<') {
        let at = from + i;
        let end = at + lower[at..].find('>').expect("every tag is closed");
        let tag = &lower[at..=end];
        let name: String = tag[1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '!' | '/' | '-' | ':'))
            .collect();
        tags += 1;
        assert!(
            ![
                "script", "link", "img", "iframe", "frame", "object", "embed", "image", "video",
                "audio", "source", "use", "base", "portal", "feimage",
            ]
            .contains(&name.as_str()),
            "{what}: <{name}> element: {}",
            context(html, at)
        );
        for attr in [
            "src=",
            "srcset=",
            "xlink:href",
            "http-equiv",
            "poster=",
            "data=",
        ] {
            assert!(
                !tag.contains(attr),
                "{what}: {attr} attribute: {}",
                context(html, at)
            );
        }
        if let Some(h) = tag.find("href=") {
            assert_eq!(name, "a", "{what}: href outside an <a> element: {tag}");
            let value = attr_value(&html[at + h + "href=".len()..]);
            assert!(allowed_href(value), "{what}: link to {value:?}");
        }
        from = end + 1;
    }
    assert!(tags > 10, "{what}: an HTML page");
}

/// Asserts the only `http` text of a page is the SVG namespace name (an identifier, never
/// fetched) or the target of an `<a href="...">` that `allowed_href` accepts.
pub fn assert_http_only_in_links(html: &str, what: &str, allowed_href: &dyn Fn(&str) -> bool) {
    const SVG_NS: &str = "xmlns=\"http://www.w3.org/2000/svg\"";
    let lower = html.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find("http") {
        let at = from + i;
        let namespace = html[..at].ends_with("xmlns=\"") && html[at - 7..].starts_with(SVG_NS);
        let link = html[..at].ends_with("<a href=\"") && allowed_href(attr_value(&html[at - 1..]));
        assert!(
            namespace || link,
            "{what}: 'http' outside an allowed link: {}",
            context(html, at)
        );
        from = at + 4;
    }
}

/// The value of a double-quoted attribute whose opening quote starts `s`.
fn attr_value(s: &str) -> &str {
    let s = s
        .strip_prefix('"')
        .expect("attribute values are double-quoted");
    &s[..s.find('"').expect("a closing quote")]
}

/// Up to 60 characters either side of byte `at` (for messages).
fn context(text: &str, at: usize) -> &str {
    let mut a = at.saturating_sub(60);
    while !text.is_char_boundary(a) {
        a -= 1;
    }
    let mut b = (at + 60).min(text.len());
    while !text.is_char_boundary(b) {
        b += 1;
    }
    &text[a..b]
}

/// Escapes text as the report does for element content and attributes.
pub fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The data rows of a roster file (non-blank lines after the header).
pub fn roster_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("roster readable")
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------------------------------
// Scenarios at the limits validate enforces
// ---------------------------------------------------------------------------------------

/// `prefix` made `len` characters long with letters: an id or a name at its limit.
pub fn padded(prefix: &str, len: usize) -> String {
    let mut s = prefix.to_string();
    let filler = "abcdefghijklmnopqrstuvwxyz";
    while s.len() < len {
        let need = len - s.len();
        s.push_str(&filler[..need.min(filler.len())]);
    }
    s.truncate(len);
    s
}

/// Words making `prefix` up to `len` characters: a name at its limit that can wrap.
pub fn words(prefix: &str, len: usize) -> String {
    let filler = [
        "umbilical",
        "cord",
        "mesenchymal",
        "stromal",
        "cells",
        "given",
        "by",
        "vein",
    ];
    let mut s = prefix.to_string();
    for k in 0.. {
        if s.len() >= len {
            break;
        }
        s.push(' ');
        s.push_str(filler[k % filler.len()]);
    }
    s.truncate(len);
    if s.ends_with(' ') {
        s.pop();
        s.push('x');
    }
    s
}

/// Occurrences of each component in [`limits_scenario`]: with its 100 visits and 10
/// background treatments, an arm has 10 x 189 + 110 = 2,000 events, the most allowed.
pub const LIMITS_OCCURRENCES: usize = 189;

/// A scenario at every limit `validate` enforces (`dosesim::limits`): 20 arms of 10
/// components each, 10 products, 100 visits and 10 background treatments for every arm
/// (so 2,000 events an arm), ids of 64 characters, names, title and condition of 300,
/// notes and a quote of 4,000, and study days up to 36,500. Each arm's doses differ (so
/// its curves do), except the last two arms, which copy the first, as coinciding curves.
/// `trial_id` is used as given (at most 64 characters).
pub fn limits_scenario(trial_id: &str) -> String {
    use dosesim::limits::*;
    use std::fmt::Write;
    const N: usize = LIMITS_OCCURRENCES;
    assert_eq!(
        MAX_COMPONENTS * N + MAX_VISITS + MAX_BACKGROUND,
        MAX_EVENTS_PER_ARM
    );
    let name = |what: &str| words(what, MAX_NAME_CHARS);
    let id = |what: &str| padded(what, 64);
    let q = |s: &str| format!("{s:?}");
    let mut t = String::new();
    let w = &mut t;
    writeln!(w, "[trial]").unwrap();
    writeln!(w, "id = {}", q(trial_id)).unwrap();
    writeln!(w, "title = {}", q(&name("A trial at every limit:"))).unwrap();
    writeln!(w, "condition = {}", q(&name("Liver failure"))).unwrap();
    writeln!(w, "seed = \"generated by the tests\"").unwrap();
    writeln!(w, "registry_url = \"https://example.org/{trial_id}\"").unwrap();
    writeln!(
        w,
        "follow_up = {{ months = 1000, assumed = \"the longest follow-up accepted\" }}"
    )
    .unwrap();
    writeln!(w, "\n[weight_kg]\nusual_min = 40\nusual_max = 110").unwrap();
    writeln!(
        w,
        "assumed = {}",
        q(&words("A range for the tests.", MAX_TEXT_CHARS))
    )
    .unwrap();
    // Six cell products and four plasma products.
    let products: Vec<String> = (0..MAX_PRODUCTS).map(|p| id(&format!("p{p}-"))).collect();
    for (p, pid) in products.iter().enumerate() {
        let unit = if p < 6 { "cells" } else { "mL" };
        writeln!(w, "\n[[products]]\nid = {}", q(pid)).unwrap();
        writeln!(
            w,
            "name = {}\nunit = \"{unit}\"",
            q(&name(&format!("Product {p}")))
        )
        .unwrap();
        if p == 0 {
            writeln!(w, "concentration_cells_per_ml = 1e6").unwrap();
        }
        writeln!(w, "source = \"the tests\"").unwrap();
    }
    // Visits every year from day 1, the last on day 36,500; a few with windows.
    for v in 0..MAX_VISITS {
        let day = if v + 1 == MAX_VISITS {
            MAX_DAY
        } else {
            1 + 365 * v
        };
        writeln!(w, "\n[[visits]]\nid = {}", q(&id(&format!("v{v}-")))).unwrap();
        writeln!(
            w,
            "name = {}\nday = {day}",
            q(&name(&format!("Year {v} visit (a remark in brackets)")))
        )
        .unwrap();
        if v % 10 == 5 {
            writeln!(
                w,
                "window = {{ days_before = 7, days_after = 7, assumed = \"a week\" }}"
            )
            .unwrap();
        }
        writeln!(w, "assumed = \"yearly\"").unwrap();
    }
    for b in 0..MAX_BACKGROUND {
        writeln!(w, "\n[[background]]\nid = {}", q(&id(&format!("b{b}-")))).unwrap();
        writeln!(w, "name = {}", q(&name(&format!("Background {b}")))).unwrap();
        writeln!(w, "detail = {}", q(&name("Detail"))).unwrap();
        writeln!(
            w,
            "start_day = {}\nuntil = {}",
            1 + 3000 * b,
            q(&name("Until"))
        )
        .unwrap();
        writeln!(w, "source = \"the tests\"").unwrap();
    }
    for a in 0..MAX_ARMS {
        // The last two arms copy the first: curves that coincide.
        let k = if a + 2 >= MAX_ARMS { 0 } else { a };
        let scale = (k + 1) as f64;
        writeln!(w, "\n[[arms]]\nid = {}", q(&id(&format!("arm{a:02}-")))).unwrap();
        writeln!(
            w,
            "name = {}",
            q(&padded(&format!("Arm {a} "), MAX_NAME_CHARS))
        )
        .unwrap();
        let notes: Vec<String> = (0..MAX_NOTES)
            .map(|n| q(&name(&format!("Note {n}"))))
            .collect();
        writeln!(w, "notes = [{}]", notes.join(", ")).unwrap();
        writeln!(w, "source = \"the tests\"").unwrap();
        let every3: Vec<String> = (0..N).map(|i| (1 + 3 * i).to_string()).collect();
        let spread: Vec<String> = (0..N)
            .map(|i| (MAX_DAY - 190 * (N - 1 - i)).to_string())
            .collect();
        // (kind, product, dose, timing) of each component.
        let components: [(&str, usize, String, String); MAX_COMPONENTS] = [
            (
                "cell_infusion",
                0,
                format!("dose.cells_per_kg = {}", 1e5 * scale),
                format!("timing.every_days = 1\ntiming.count = {N}"),
            ),
            (
                "cell_infusion",
                1,
                format!("dose.cells = {}", 1e7 * scale),
                format!("timing.every_days = 193\ntiming.count = {N}"),
            ),
            (
                "cell_infusion",
                2,
                format!("dose.cells_per_kg = {}\ndose.round_to = 1000", 2e5 * scale),
                format!("timing.days = [{}]", spread.join(", ")),
            ),
            (
                "cell_infusion",
                3,
                format!("dose.cells = {}", 5e6 * scale),
                format!("timing.every_weeks = 1\ntiming.count = {N}\ntiming.start_day = 400"),
            ),
            (
                "cell_infusion",
                4,
                format!("dose.cells_per_kg = {}", 3e4 * scale),
                format!("timing.every_months = 2\ntiming.count = {N}"),
            ),
            (
                "plasma_exchange",
                6,
                "dose.ml = 2000".to_string(),
                format!("timing.days = [{}]", every3.join(", ")),
            ),
            (
                "plasma_exchange",
                7,
                format!("dose.ml = {}", 100.0 * scale),
                format!("timing.every_days = 11\ntiming.count = {N}\ntiming.start_day = 12000"),
            ),
            (
                "cell_infusion",
                5,
                format!("dose.cells = {}", 2e6 * scale),
                format!(
                    "timing.days = [{}]\ntiming.after = {}",
                    every3.join(", "),
                    q(&id("c5-"))
                ),
            ),
            (
                "cell_infusion",
                0,
                "dose.none = true".to_string(),
                format!("timing.every_days = 7\ntiming.count = {N}\ntiming.start_day = 29000"),
            ),
            (
                "plasma_exchange",
                9,
                "dose.ml = 1500.5".to_string(),
                format!("timing.every_days = 190\ntiming.count = {N}\ntiming.start_day = 500"),
            ),
        ];
        for (c, (kind, product, dose, timing)) in components.iter().enumerate() {
            writeln!(
                w,
                "\n[[arms.components]]\nid = {}",
                q(&id(&format!("c{c}-")))
            )
            .unwrap();
            writeln!(
                w,
                "name = {}",
                q(&name(&format!("Component {c} of arm {a}")))
            )
            .unwrap();
            writeln!(w, "kind = \"{kind}\"\nproduct = {}", q(&products[*product])).unwrap();
            writeln!(w, "{dose}\ndose.source = \"the tests\"").unwrap();
            writeln!(w, "{timing}\ntiming.assumed = \"the tests\"").unwrap();
            writeln!(
                w,
                "route.value = {}\nroute.source = \"the tests\"",
                q(&name("intravenous"))
            )
            .unwrap();
        }
    }
    t
}

/// The processor time (user and system, all threads) one run of the binary takes, from the
/// crate root, with its exit code. The growth-ratio tests compare it between input sizes:
/// unlike the time on the clock, it does not grow when other work (the other tests of this
/// binary, a build) shares the machine. The child is reaped with `wait4`, which gives that
/// child's own usage; output is discarded.
pub fn cpu_time<I, S>(args: I) -> (std::time::Duration, Option<i32>)
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    use std::process::Stdio;
    #[expect(
        clippy::zombie_processes,
        reason = "reaped below by wait4, which std cannot do"
    )]
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_dosesim"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dosesim runs");
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of the plain C struct wait4 fills in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet waited for (std only reaps on `wait`), and
    // both pointers are to live, writable locals.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(
        reaped,
        pid,
        "wait4 failed: {}",
        std::io::Error::last_os_error()
    );
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    let time = |t: libc::timeval| {
        std::time::Duration::from_secs(t.tv_sec as u64)
            + std::time::Duration::from_micros(t.tv_usec as u64)
    };
    (time(usage.ru_utime) + time(usage.ru_stime), code)
}
