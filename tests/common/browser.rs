//! Printing a page as a reader prints it: headless Chromium renders an HTML file to an A4 PDF
//! (and to a screenshot), and poppler's pdftotext reads the PDF back, page by page and word by
//! word with positions. The print tests check what is on paper, not what is in the HTML.
//!
//! Needs Debian's `chromium` and `poppler-utils`; `.ci/run` installs them. Without them a test
//! fails saying so (it does not pass without looking).

use std::path::{Path, PathBuf};
use std::process::Command;

/// One word of a printed page, with its box in points (1/72 inch) from the page's top left.
#[derive(Debug, Clone)]
pub struct Word {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
    pub text: String,
}

/// One printed page: its size in points, its text laid out as printed, and its words.
#[derive(Debug, Clone)]
pub struct Page {
    pub width: f64,
    pub height: f64,
    pub text: String,
    pub words: Vec<Word>,
}

fn need(tool: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "the print tests need {tool}: apt-get install -y chromium poppler-utils (bash .ci/run installs them)"
    );
}

fn chromium(args: &[&str]) {
    need("chromium");
    let profile = tempfile::tempdir().expect("a scratch Chromium profile");
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .output()
        .expect("chromium runs");
    assert!(
        out.status.success(),
        "chromium {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn file_url(html: &Path) -> String {
    let abs = std::fs::canonicalize(html).expect("the page exists");
    format!("file://{}", abs.display())
}

/// Prints `html` to `<html>.pdf` beside it, as Chromium's print dialog would on A4 paper
/// without header and footer lines, and returns the PDF's path.
pub fn print_to_pdf(html: &Path) -> PathBuf {
    let pdf = html.with_extension("pdf");
    chromium(&[
        &format!("--print-to-pdf={}", pdf.display()),
        "--no-pdf-header-footer",
        &file_url(html),
    ]);
    assert!(
        pdf.is_file(),
        "chromium wrote no PDF for {}",
        html.display()
    );
    pdf
}

/// A screenshot of `html` in a window `width` x `height` px, written to `<html>.png` beside it.
pub fn screenshot(html: &Path, width: u32, height: u32) -> PathBuf {
    let png = html.with_extension("png");
    chromium(&[
        &format!("--screenshot={}", png.display()),
        &format!("--window-size={width},{height}"),
        &file_url(html),
    ]);
    png
}

/// The pages of a PDF: each one's text as printed (pdftotext -layout) and its words with boxes.
pub fn pages(pdf: &Path) -> Vec<Page> {
    need("pdftotext");
    let bbox = pdf.with_extension("words.html");
    let status = Command::new("pdftotext")
        .arg("-bbox")
        .arg(pdf)
        .arg(&bbox)
        .status()
        .expect("pdftotext runs");
    assert!(
        status.success(),
        "pdftotext -bbox failed on {}",
        pdf.display()
    );
    let words = std::fs::read_to_string(&bbox).expect("pdftotext's word list");
    let page_re =
        regex_lite::Regex::new(r#"(?s)<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>"#)
            .unwrap();
    let word_re = regex_lite::Regex::new(
        r#"<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>"#,
    )
    .unwrap();
    let mut out = Vec::new();
    for (k, page) in page_re.captures_iter(&words).enumerate() {
        let text_file = pdf.with_extension(format!("page-{}.txt", k + 1));
        let status = Command::new("pdftotext")
            .args([
                "-layout",
                "-f",
                &(k + 1).to_string(),
                "-l",
                &(k + 1).to_string(),
            ])
            .arg(pdf)
            .arg(&text_file)
            .status()
            .expect("pdftotext runs");
        assert!(
            status.success(),
            "pdftotext -layout failed on {}",
            pdf.display()
        );
        let text = std::fs::read_to_string(&text_file).expect("a page's text");
        let words = word_re
            .captures_iter(&page[3])
            .map(|w| Word {
                x0: w[1].parse().unwrap(),
                y0: w[2].parse().unwrap(),
                x1: w[3].parse().unwrap(),
                y1: w[4].parse().unwrap(),
                text: unescape(&w[5]),
            })
            .collect();
        out.push(Page {
            width: page[1].parse().unwrap(),
            height: page[2].parse().unwrap(),
            text,
            words,
        });
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Words printed outside the page's margins (`margin` points from each side, less 2 points for
/// rounding), as "page K: 'word' at x0-x1": text a printer would cut off.
pub fn outside_margins(pages: &[Page], margin: f64) -> Vec<String> {
    let mut found = Vec::new();
    for (k, p) in pages.iter().enumerate() {
        for w in &p.words {
            if w.x0 < margin - 2.0 || w.x1 > p.width - margin + 2.0 {
                found.push(format!(
                    "page {}: '{}' at x {:.1}-{:.1} pt of a {:.1} pt page",
                    k + 1,
                    w.text,
                    w.x0,
                    w.x1,
                    p.width
                ));
            }
        }
    }
    found
}
