//! The HTML report of a cohort and the index of `run`, end to end: self-contained (no
//! script, style sheet, font, image or frame from anywhere; the only link out is the
//! registry record), with the trial's title, registry id, seed file, arms and assumed
//! values, a section per patient, and inline SVG charts that parse as XML and name their
//! axes with units. Each patient's PNG and SVG chart in patients/ is checked as well.

use std::path::{Path, PathBuf};

use crate::common::*;

/// A trial's expectations, worked out from its scenario file by hand.
struct Expect {
    trial: &'static str,
    scenario: &'static str,
    title: &'static str,
    seed: &'static str,
    arms: &'static [&'static str],
    /// `<li>` lines of the assumed-values boxes, and how many boxes (one per arm that
    /// uses an assumed value).
    assumed: &'static [&'static str],
    /// The arms' assumed values, and the site calendars' closed-day rules (the demo rows
    /// have sites).
    assumed_boxes: usize,
}

const EXPECT: [Expect; 5] = [
    Expect {
        trial: "NCT01724398",
        scenario: "scenarios/nct01724398.toml",
        title: "Umbilical Cord Mesenchymal Stem Cells Transplantation Combined With Plasma Exchange for Patients With Liver Failure",
        seed: "000_741b8ba2a7ffbf8b.txt",
        arms: &["conventional", "msc", "pe", "msc-pe"],
        assumed: &["<li>uc_msc timing: The record does not give the days."],
        assumed_boxes: 2,
    },
    Expect {
        trial: "NCT02812121",
        scenario: "scenarios/nct02812121.toml",
        title: "UC-MSC Infusion for HBV-Related Acute-on-Chronic Liver Failure",
        seed: "001_aca47ec262779fdb.txt",
        arms: &["msc-8w", "msc-4w", "control"],
        assumed: &["<li>ucb_msc dose: The record states no cell dose."],
        assumed_boxes: 3,
    },
    Expect {
        trial: "NCT01573923",
        scenario: "scenarios/nct01573923.toml",
        title: "Safety and Efficacy Study of Umbilical Mesenchymal Stem Cells for Liver Cirrhosis",
        seed: "002_ef3309a9267e01cd.txt",
        arms: &["conventional", "msc"],
        assumed: &[],
        assumed_boxes: 1,
    },
    Expect {
        trial: "NCT05106972",
        scenario: "scenarios/nct05106972.toml",
        title: "Umbilical Cord Mesenchymal Stem Cell Transplantation for Decompensated Hepatitis B Cirrhosis",
        seed: "003_ef846d20b6c950fd.txt",
        arms: &["msc"],
        assumed: &["<li>visit week72 day: The record gives outcome time frames"],
        assumed_boxes: 2,
    },
    Expect {
        trial: "NCT04822922",
        scenario: "scenarios/nct04822922.toml",
        title: "Safety of UC-MSC Transfusion for ACLF Patients",
        seed: "004_d4c7e1b11f621d26.txt",
        arms: &["low", "middle", "high"],
        assumed: &[
            "<li>visit day30 day: The record gives an outcome time frame, '1 month since intervention start'",
            "<li>visit day90 day: The record gives an outcome time frame, '90 days'",
        ],
        assumed_boxes: 4,
    },
];

/// The first `n` rows of a trial's demo roster (they cycle through the arms).
fn demo_rows(trial: &str, n: usize) -> Vec<String> {
    roster_lines(&root().join(format!("scenarios/rosters/{trial}.csv")))
        .into_iter()
        .take(n)
        .collect()
}

fn registry_link(h: &str) -> bool {
    h.starts_with("https://clinicaltrials.gov/")
}

/// Runs `cohort` for `rows` (demo roster lines, site column and all) into a fresh
/// folder: the folder and the trial's output folder.
fn report_of(scenario: &Path, trial: &str, rows: &[String]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let mut text = format!("{ROSTER_HEADER},site\n");
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    let roster = write_file(dir.path(), "roster.csv", &text);
    let out = dir.path().join("out");
    cohort(scenario, &roster, &out).expect_code(0);
    let trial_dir = out.join(trial);
    (dir, trial_dir)
}

fn check_report(e: &Expect) {
    let rows = demo_rows(e.trial, 8);
    let (_dir, trial_dir) = report_of(Path::new(e.scenario), e.trial, &rows);
    let html = std::fs::read_to_string(trial_dir.join("report.html")).unwrap();
    let what = format!("{} report.html", e.trial);

    assert!(html.starts_with("<!DOCTYPE html>"), "{what}");
    assert!(html.trim_end().ends_with("</html>"), "{what}");
    assert_self_contained(&html, &what, &registry_link);
    assert_http_only_in_links(&html, &what, &registry_link);
    let record = format!("https://clinicaltrials.gov/study/{}", e.trial);
    assert!(
        html.contains(&format!("<a href=\"{record}\">{}</a>", e.trial)),
        "{what}: links the registry record"
    );

    // What the report says.
    assert!(
        html.contains(&format!("<h1>{}: {}</h1>", e.trial, html_escape(e.title))),
        "{what}: title"
    );
    assert!(html.contains(&format!("<title>{}: ", e.trial)), "{what}");
    assert!(
        html.contains(&format!("<code>{}</code>", e.seed)),
        "{what}: seed file"
    );
    assert!(
        html.contains(&format!("<code>{}</code>", e.scenario)),
        "{what}: scenario file"
    );
    for arm in e.arms {
        assert!(
            html.contains(&format!("<h3>Arm <code>{arm}</code>: ")),
            "{what}: arm {arm}"
        );
    }
    assert_eq!(
        html.matches("<div class=\"assumed\">").count(),
        e.assumed_boxes,
        "{what}: assumed-values boxes"
    );
    for a in e.assumed {
        assert!(html.contains(a), "{what}: {a}");
    }
    // The demo rows have sites: the site calendars section names each, and counts moves.
    for needle in [
        "<h2>Site calendars</h2>",
        "Closed-day rules assumed, not stated in the registry record:",
        "<h3>Moved and flagged events per arm</h3>",
        "<th><code>shifted</code></th>",
    ] {
        assert!(html.contains(needle), "{what}: {needle}");
    }

    // A section per patient, with their chart inline.
    assert_eq!(
        html.matches("<details class=\"patient\" id=\"patient-")
            .count(),
        rows.len(),
        "{what}"
    );
    for r in &rows {
        let f: Vec<&str> = r.split(',').collect();
        // The weight as the roster wrote it.
        let (id, arm, weight) = (f[0], f[1], f[2]);
        let summary = format!(
            "<details class=\"patient\" id=\"patient-{id}\"><summary>{id}: arm {arm}, {weight} kg, "
        );
        assert!(html.contains(&summary), "{what}: {summary}");

        // patients/<id>.svg is the chart of the section; patients/<id>.png its image.
        let svg = std::fs::read_to_string(trial_dir.join(format!("patients/{id}.svg"))).unwrap();
        assert!(html.contains(svg.trim()), "{what}: {id}'s chart inline");
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let root = doc.root_element();
        assert_eq!(
            (root.attribute("width"), root.attribute("height")),
            (Some("800"), Some("450")),
            "{id}.svg"
        );
        let texts = svg_texts(&svg);
        // A patient given no cells is charted by the plasma exchanged.
        assert!(
            texts.contains(&"Cumulative dose (cells)".to_string())
                || texts.contains(&"Cumulative plasma exchanged (mL)".to_string()),
            "{id}.svg: {texts:?}"
        );
        let start = chrono::NaiveDate::parse_from_str(f[3], "%Y-%m-%d").unwrap();
        assert!(
            texts.contains(&format!(
                "Date (study day 1 = {} {})",
                start.format("%a"),
                f[3]
            )),
            "{id}.svg: {texts:?}"
        );
        let png = std::fs::read(trial_dir.join(format!("patients/{id}.png"))).unwrap();
        assert_eq!(png_size(&png), (800, 450), "{id}.png");
    }

    // Inline SVG: the timeline, the cumulative chart, one per patient; all parse.
    let svgs = inline_svgs(&html);
    assert_eq!(svgs.len(), 2 + rows.len(), "{what}: inline charts");
    for (i, svg) in svgs.iter().enumerate() {
        let texts = svg_texts(svg);
        assert!(texts.len() > 5, "{what}: chart {i} has text");
    }
    let timeline = svg_texts(svgs[0]);
    // Month-based schedules read dates, from the day 1 they assume.
    assert!(
        timeline.contains(&"Study day".to_string())
            || timeline.contains(&"Date (study day 1 taken as Thu 2026-01-01)".to_string()),
        "{what}: {timeline:?}"
    );
    assert!(
        timeline.iter().any(|t| t.contains("dosing timeline")),
        "{timeline:?}"
    );
    for arm in e.arms {
        assert!(
            timeline.contains(&arm.to_string()),
            "{what}: lane {arm}: {timeline:?}"
        );
    }
    let cumulative = svg_texts(svgs[1]);
    // Month-based schedules read dates, from the day 1 they assume.
    for axis in [
        "Study day|Date (study day 1 taken as",
        "Cumulative dose (cells)",
    ] {
        assert!(
            cumulative
                .iter()
                .any(|t| axis.split('|').any(|a| t.starts_with(a))),
            "{what}: {axis}: {cumulative:?}"
        );
    }
    assert_tables_are_rectangular(&html, &what);
    let html_pos = |s: &str| html.find(s).unwrap();
    assert!(html_pos("<h2>Timeline</h2>") < html_pos(svgs[0]));
    assert!(html_pos("<h2>Cumulative dose by arm</h2>") < html_pos(svgs[1]));
}

/// Every table row has as many cells as its table's header (review findings 1: the
/// per-patient table had 11 header cells and 10 cells a row, so its "Assumed" column was
/// never filled). Counts `<th>` in each table's first row and `<td>` in every other row.
fn assert_tables_are_rectangular(html: &str, what: &str) {
    let mut tables = 0;
    for table in html.split("<table>").skip(1) {
        let table = table.split("</table>").next().unwrap();
        let rows: Vec<&str> = table
            .split("<tr")
            .skip(1)
            .map(|r| r.split("</tr>").next().unwrap())
            .collect();
        let header = rows[0].matches("<th").count();
        assert!(header > 0, "{what}: table {tables} has a header row");
        for (i, r) in rows.iter().enumerate().skip(1) {
            // A line below an event's row spans the whole table.
            let spanned = r
                .split("<td colspan=\"")
                .skip(1)
                .map(|c| c.split('"').next().unwrap().parse::<usize>().unwrap() - 1)
                .sum::<usize>();
            assert_eq!(
                r.matches("<td").count() + spanned,
                header,
                "{what}: table {tables} row {i}: {r}"
            );
        }
        tables += 1;
    }
    assert!(tables >= 2, "{what}: regimen, prep and patient tables");
}

/// The assumed values of each patient's calendar are in the report's Assumed column.
#[test]
fn the_patient_table_marks_assumed_values() {
    let rows = demo_rows("NCT02812121", 2);
    let (_dir, trial_dir) = report_of(
        Path::new("scenarios/nct02812121.toml"),
        "NCT02812121",
        &rows,
    );
    let html = std::fs::read_to_string(trial_dir.join("report.html")).unwrap();
    assert_tables_are_rectangular(&html, "NCT02812121");
    assert!(
        html.contains("<span class=\"flag\">Assumed: dose; product</span>"),
        "the assumed dose is marked in the patient table"
    );
    // A total that sums an assumed dose says so.
    assert!(html.contains("(includes assumed doses)"));
}

#[test]
fn nct01724398_report() {
    check_report(&EXPECT[0]);
}

#[test]
fn nct02812121_report() {
    check_report(&EXPECT[1]);
}

#[test]
fn nct01573923_report() {
    check_report(&EXPECT[2]);
}

#[test]
fn nct05106972_report() {
    check_report(&EXPECT[3]);
}

#[test]
fn nct04822922_report() {
    check_report(&EXPECT[4]);
}

#[test]
fn every_bundled_trial_is_covered_above() {
    let mut covered: Vec<&str> = EXPECT.iter().map(|e| e.scenario).collect();
    covered.sort();
    assert_eq!(covered, SCENARIOS);
    for e in &EXPECT {
        let trial = dosesim::scenario::load(&root().join(e.scenario)).unwrap();
        assert_eq!(trial.id, e.trial);
        assert_eq!(trial.arm_ids(), e.arms, "{}", e.trial);
    }
}

#[test]
fn the_index_links_each_report_and_loads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    run([
        "run".as_ref(),
        "scenarios/nct04822922.toml".as_ref(),
        "scenarios/nct05106972.toml".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ])
    .expect_code(0);
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    let reports = ["NCT04822922/report.html", "NCT05106972/report.html"];
    let linked = |h: &str| reports.contains(&h);
    assert_self_contained(&index, "index.html", &linked);
    assert_http_only_in_links(&index, "index.html", &linked);
    for r in reports {
        assert!(index.contains(&format!("<a href=\"{r}\">")), "{r}");
        assert!(out.join(r).is_file(), "{r} exists");
        let html = std::fs::read_to_string(out.join(r)).unwrap();
        // Beside the registry record, the forecast section links its own CSV files.
        let folder = out.join(r).parent().unwrap().to_path_buf();
        let own =
            |h: &str| registry_link(h) || (h.starts_with("forecast/") && folder.join(h).is_file());
        assert_self_contained(&html, r, &own);
        assert_http_only_in_links(&html, r, &registry_link);
    }
    for e in &EXPECT[3..] {
        assert!(index.contains(&html_escape(e.title)), "{}", e.trial);
    }
    let svgs = inline_svgs(&index);
    assert_eq!(svgs.len(), 1);
    let texts = svg_texts(svgs[0]);
    assert!(texts.contains(&"Study day".to_string()), "{texts:?}");
    assert!(texts.iter().any(|t| t.contains("cells/kg")), "{texts:?}");
}

#[test]
fn scenario_text_is_escaped_and_loads_nothing() {
    // Hostile text in a scenario copy: markup must come out as text, in the page and in
    // its inline SVG charts, never as elements.
    let text = broken_text(
        "scenarios/nct04822922.toml",
        &[
            (
                "title = \"Safety of UC-MSC Transfusion for ACLF Patients\"",
                "title = \"<script src=\\\"http://evil.example/x.js\\\"></script> & A<B\"",
            ),
            (
                "name = \"Low dose: 4 x 10^5 cells/kg each time\"",
                "name = \"<img src=x onerror=alert(1)>\"",
            ),
            (
                "name = \"hUC-MSC infusion\"",
                "name = \"</svg><link rel=stylesheet href=http://evil.example/s.css>\"",
            ),
            (
                "name = \"90-day efficacy visit\"",
                "name = \"<iframe src='http://evil.example/'>\"",
            ),
        ],
    );
    let (sdir, scenario) = temp_scenario("hostile.toml", &text);
    let rows = vec!["P1,low,60,2027-01-01,SITE-01".to_string()];
    let (_dir, trial_dir) = report_of(&scenario, "NCT04822922", &rows);
    let html = std::fs::read_to_string(trial_dir.join("report.html")).unwrap();
    assert_self_contained(&html, "hostile report.html", &registry_link);
    assert!(html.contains("&lt;script src=&quot;http://evil.example/x.js&quot;&gt;"));
    assert!(html.contains("&amp; A&lt;B"));
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    let svgs = inline_svgs(&html);
    assert_eq!(svgs.len(), 3);
    for svg in svgs {
        svg_texts(svg);
    }
    drop(sdir);
}

#[test]
fn the_self_contained_checks_catch_external_resources() {
    // The checks above would pass on anything if they were too lax: each of these pages
    // must fail them.
    let page = |body: &str| {
        format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>t</title></head><body><h1>t</h1><p>a</p><p>b</p><p>c</p><p>d</p><p>e</p>{body}</body></html>"
        )
    };
    let fine = page(
        "<a href=\"https://clinicaltrials.gov/study/X\">X</a><svg xmlns=\"http://www.w3.org/2000/svg\"></svg>",
    );
    assert_self_contained(&fine, "fine", &registry_link);
    assert_http_only_in_links(&fine, "fine", &registry_link);
    for bad in [
        "<script src=\"x.js\"></script>",
        "<script>alert(1)</script>",
        "<link rel=\"stylesheet\" href=\"s.css\">",
        "<style>@import 'x.css';</style>",
        "<div style=\"background: url(x.png)\"></div>",
        "<img src=\"chart.png\">",
        "<svg><image href=\"x.png\"/></svg>",
        "<svg><use xlink:href=\"other.svg#a\"/></svg>",
        "<iframe src=\"https://clinicaltrials.gov/\"></iframe>",
        "<a href=\"https://example.org/\">elsewhere</a>",
        "<a href=\"report.html\">a file</a>",
    ] {
        let html = page(bad);
        let caught = std::panic::catch_unwind(|| {
            assert_self_contained(&html, "bad", &registry_link);
        });
        assert!(caught.is_err(), "not caught: {bad}");
    }
    let http_text = page("<p>see http://example.org/</p>");
    assert_self_contained(&http_text, "text", &registry_link);
    let caught = std::panic::catch_unwind(|| {
        assert_http_only_in_links(&http_text, "text", &registry_link);
    });
    assert!(caught.is_err(), "http in text not caught");
}

/// The site calendars section names the closures while a site's patients are treated:
/// past the holiday files, the statutory holidays the calendar expects, as expected and
/// provisional, and says where only those speak for it.
#[test]
fn the_site_section_names_expected_holidays_as_provisional() {
    let rows = vec![
        "P1,high,60,2026-12-28,guangzhou".to_string(),
        "P2,low,60,2027-02-01,guangzhou".to_string(),
    ];
    let (_dir, trial_dir) = report_of(
        Path::new("scenarios/nct04822922.toml"),
        "NCT04822922",
        &rows,
    );
    let html = std::fs::read_to_string(trial_dir.join("report.html")).unwrap();
    for needle in [
        "2024-01-01 to 2026-12-31; expected holidays only (China's statutory public holidays, provisional): 2008-01-01 to 2023-12-31, 2027-01-01 to 9999-12-31",
        "2027-01-01 New Year's Day 元旦 (closed, expected: provisional); 2027-02-05 to 2027-02-08 Spring Festival 春节 (closed, expected: provisional); 2027-04-05 Qingming Festival 清明节 (closed, expected: provisional); 2027-05-01 to 2027-05-02 Labour Day 劳动节 (closed, expected: provisional)",
        "Where a site's holiday files stop, its calendar expects the statutory public holidays the law gives",
    ] {
        // Dates are kept whole in spans; the words read the same without them.
        let text = html
            .replace("<span class=\"d\">", "")
            .replace("</span>", "");
        assert!(text.contains(needle), "{needle}\n{html}");
    }
    assert_tables_are_rectangular(&html, "report.html");
}

// Issue 23, items 5 and 7: what the report, the patient pages and the index look like in a
// 1280 px window and printed on A4, checked in headless Chromium.

use crate::common::browser;

/// The page margin the report's style sheet gives (12 mm), in points.
const MARGIN_PT: f64 = 34.0;

/// `run` of NCT01724398 (with its administration record) and NCT04822922 into a fresh
/// folder.
fn run_two() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    run([
        "run".as_ref(),
        "scenarios/nct01724398.toml".as_ref(),
        "scenarios/nct04822922.toml".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ])
    .expect_code(0);
    (dir, out)
}

/// The text pieces of a patient table as the page gives them (each piece between two
/// tags, entities undone, spaces collapsed): its headers and every cell's text.
fn event_table_pieces(html: &str) -> Vec<String> {
    let start = html
        .find("<table class=\"events\">")
        .expect("a patient table");
    let table = &html[start..start + html[start..].find("</table>").unwrap()];
    let tag = regex_lite::Regex::new(r"<[^>]*>").unwrap();
    tag.split(table)
        .map(|t| {
            let t = t
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&quot;", "\"")
                .replace("&amp;", "&");
            t.split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .filter(|t| !t.is_empty())
        .collect()
}

/// All words of a printed PDF in the order printed, one space between each.
fn printed_words(pages: &[browser::Page]) -> String {
    pages
        .iter()
        .flat_map(|p| {
            p.words
                .iter()
                .map(|w| w.text.replace('\u{a0}', " ").replace("&apos;", "'"))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Prints `html` and checks that every piece of its patient table's text is on paper and
/// that nothing is printed outside the margins; returns the pages.
fn assert_table_prints_whole(html_file: &Path) -> Vec<browser::Page> {
    let html = std::fs::read_to_string(html_file).unwrap();
    let pages = browser::pages(&browser::print_to_pdf(html_file));
    let words = printed_words(&pages);
    let what = html_file.display();
    for piece in event_table_pieces(&html) {
        assert!(
            words.contains(&piece),
            "{what}: '{piece}' is not on paper:\n{words}"
        );
    }
    let outside = browser::outside_margins(&pages, MARGIN_PT);
    assert!(outside.is_empty(), "{what}: {outside:?}");
    for p in &pages {
        let a4 = [(595.0, 842.0), (842.0, 595.0)]
            .iter()
            .any(|(w, h)| (p.width - w).abs() < 1.0 && (p.height - h).abs() < 1.0);
        assert!(
            a4,
            "{what}: a page of {} x {} pt is not A4",
            p.width, p.height
        );
    }
    pages
}

/// The patient pages of a trial folder whose table has planned and given side by side,
/// those with a deviation first.
fn recorded_pages(trial_dir: &Path) -> Vec<PathBuf> {
    let mut pages: Vec<(bool, PathBuf)> = std::fs::read_dir(trial_dir.join("patients"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "html"))
        .filter_map(|p| {
            let html = std::fs::read_to_string(&p).unwrap();
            let deviation = html.contains("<td class=\"flag\">") && html.contains("<wbr>");
            html.contains("<th>Given dose</th>")
                .then_some((!deviation, p))
        })
        .collect();
    pages.sort();
    pages.into_iter().map(|(_, p)| p).collect()
}

/// Item 5: a wide patient table prints whole on A4: every header, every cell's full text
/// (the cumulative figure with its "(exactly ...)"), nothing past the margins; a table
/// with planned and given doses prints on a landscape page.
#[test]
fn wide_patient_tables_print_every_column_on_a4() {
    let (_dir, out) = run_two();
    let recorded = recorded_pages(&out.join("NCT01724398"));
    assert!(recorded.len() >= 10, "{recorded:?}");
    for page in recorded.iter().take(3) {
        let pages = assert_table_prints_whole(page);
        let words = printed_words(&pages);
        for header in [
            "Status",
            "Planned dose",
            "Given dose",
            "Deviation",
            "Per kg (cells/kg)",
            "Cumulative",
            "Volume (mL)",
        ] {
            assert!(words.contains(header), "{}: {header}", page.display());
        }
        assert!(
            pages[0].width > pages[0].height,
            "{}: landscape",
            page.display()
        );
    }
    let p2 = out.join("NCT01724398/patients/P4398-002.html");
    let words = printed_words(&assert_table_prints_whole(&p2));
    assert!(
        words.contains("1.83 x 10⁷ cells (exactly 18320000)"),
        "{words}"
    );
    for page in ["P2922-001", "P2922-002"] {
        let file = out.join(format!("NCT04822922/patients/{page}.html"));
        let words = printed_words(&assert_table_prints_whole(&file));
        assert!(
            words.contains("Assumed: closed-day rule"),
            "{page}: {words}"
        );
    }
}

/// The widths a page lays out to in a `width` px Chromium window: the page's scroll width,
/// the window's client width, and the right edge of each table (px). The page is copied
/// with a script that writes them into the page; the copy is what Chromium opens.
fn laid_out_widths(html_file: &Path, width: u32) -> Vec<i64> {
    let html = std::fs::read_to_string(html_file).unwrap();
    let script = "<script>const t=[...document.querySelectorAll('table')].map(x=>Math.ceil(x.getBoundingClientRect().right));document.body.setAttribute('data-widths',[document.documentElement.scrollWidth,document.documentElement.clientWidth,...t].join(' '))</script></body>";
    let copy = html_file.with_extension("widths.html");
    std::fs::write(&copy, html.replace("</body>", script)).unwrap();
    let profile = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
        ])
        .args([
            "--no-first-run",
            "--disable-component-update",
            "--disable-sync",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--window-size={width},900"))
        .arg(format!(
            "file://{}",
            std::fs::canonicalize(&copy).unwrap().display()
        ))
        .output()
        .expect("chromium runs (apt-get install -y chromium)");
    let dom = String::from_utf8_lossy(&out.stdout);
    let at = dom.find("data-widths=\"").expect("the page's widths") + "data-widths=\"".len();
    let widths = &dom[at..at + dom[at..].find('"').unwrap()];
    widths.split(' ').map(|w| w.parse().unwrap()).collect()
}

/// Item 5: on screen, a patient page and the report fit a 1280 px window: no table wider
/// than the window, nothing to scroll sideways.
#[test]
fn patient_pages_and_reports_fit_a_1280_px_window() {
    let (_dir, out) = run_two();
    let files = [
        out.join("NCT01724398/patients/P4398-002.html"),
        recorded_pages(&out.join("NCT01724398"))[0].clone(),
        out.join("NCT04822922/patients/P2922-001.html"),
        out.join("NCT01724398/report.html"),
        out.join("NCT04822922/report.html"),
        out.join("index.html"),
    ];
    for f in files {
        let w = laid_out_widths(&f, 1280);
        let (scroll, client) = (w[0], w[1]);
        assert!(w.len() > 2, "{}: tables measured", f.display());
        assert!(
            scroll <= client,
            "{}: {scroll} px wide in a {client} px window",
            f.display()
        );
        for (k, right) in w[2..].iter().enumerate() {
            assert!(
                *right <= client,
                "{}: table {k} ends at {right} px",
                f.display()
            );
        }
    }
}

/// Item 7: index.html's rows are not stretched by the input paths (the row counts them and
/// links the list below the table), and its summaries keep each date on one line.
#[test]
fn the_index_counts_inputs_and_keeps_dates_whole() {
    let (_dir, out) = run_two();
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    let table = &index[index.find("<table>").unwrap()..index.find("</table>").unwrap()];
    assert!(!table.contains("<code>"), "no paths in the table: {table}");
    assert!(
        table.contains("scenario, roster, site calendar, 3 holiday files, administration record (listed below the table)"),
        "{table}"
    );
    for id in ["NCT01724398", "NCT04822922"] {
        let list = &index[index.find(&format!("<h3 id=\"inputs-{id}\">")).expect(id)..];
        let list = &list[..list.find("</ul>").unwrap()];
        let lowercase = id.to_lowercase();
        assert!(
            list.contains(&format!("scenario <code>scenarios/{lowercase}.toml</code>")),
            "{list}"
        );
        assert!(
            list.contains("holiday file <code>scenarios/calendars/holidays/cn-2026.json</code>"),
            "{list}"
        );
    }
    assert!(index.contains("td.d, span.d, span.num { white-space: nowrap; }"));
    let dates = regex_lite::Regex::new(r"\d{4}-\d{2}-\d{2}").unwrap();
    for row in table.split("<tr>").skip(2) {
        let summary = row.split("<td>").nth(5).unwrap();
        let spanned = summary.matches("<span class=\"d\">").count();
        assert_eq!(
            dates.find_iter(summary).count(),
            spanned,
            "every date kept whole: {summary}"
        );
        assert!(spanned >= 2, "{summary}");
    }
}

/// Item 7: a heading prints on the page of its figure, never alone at a page's foot: the
/// NCT01724398 report's "Timeline" was the last line of page 1, its chart on page 2.
#[test]
fn report_headings_print_with_their_charts() {
    let rows = demo_rows("NCT01724398", 4);
    let (_dir, trial_dir) = report_of(
        Path::new("scenarios/nct01724398.toml"),
        "NCT01724398",
        &rows,
    );
    let html = std::fs::read_to_string(trial_dir.join("report.html")).unwrap();
    assert!(
        html.contains("<div class=\"figure\"><h2>Timeline</h2><svg"),
        "heading and figure kept together"
    );
    let pages = browser::pages(&browser::print_to_pdf(&trial_dir.join("report.html")));
    for (heading, chart) in [
        ("Timeline", "dosing timeline"),
        ("Cumulative dose by arm", "Cumulative dose (cells)"),
    ] {
        let page = pages
            .iter()
            .position(|p| p.text.lines().any(|l| l.trim() == heading))
            .unwrap_or_else(|| panic!("'{heading}' printed"));
        assert!(
            pages[page].text.contains(chart),
            "'{heading}' on page {} without its chart",
            page + 1
        );
    }
}
