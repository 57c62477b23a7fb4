//! The preparation sheet ([`crate::sheet`]) as a printable HTML page, the way a
//! cell-processing lab's batch record reads: one printed page (or more) per date and
//! site, each with the trial, the site, per product the lot and concentration lines to
//! fill in, the doses with a box to tick, the day's totals, and the "prepared by" and
//! "checked by" lines with their time, to sign.
//!
//! Print layout: each day starts a new page; a row is never split across pages, and a
//! day's table repeats its header on the next page.

use maud::{Markup, html};

use super::sheet::{
    HELD_HEADING, arm_rules, day_heading, exact_parts, flags, held_words, total_words,
    unit_headers, volume,
};
use crate::format::sci;
use crate::manifest::Input;
use crate::sheet::{Concentration, Sheet};

const STYLE: &str = "
@page { size: A4; margin: 12mm; }
* { box-sizing: border-box; }
body { font: 10pt/1.35 'DejaVu Sans', Arial, sans-serif; color: #000; margin: 0 auto; max-width: 186mm; }
h1 { font-size: 15pt; margin: 0 0 2mm; }
h2 { font-size: 11.5pt; margin: 5mm 0 1mm; break-after: avoid; page-break-after: avoid; }
p { margin: 1mm 0; }
.day { break-after: page; page-break-after: always; }
.day:last-of-type { break-after: auto; page-break-after: auto; }
table { border-collapse: collapse; width: 100%; margin: 1mm 0 2mm; }
th, td { border: 1px solid #333; padding: 1.2mm 1.2mm; text-align: left; vertical-align: top; }
th { background: #eee; font-weight: 600; }
tr.caption th { background: #fff; font-weight: 400; border: none; border-bottom: 1px solid #333; padding-left: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.doses { table-layout: fixed; font-size: 9pt; }
table.doses th, table.doses td { overflow-wrap: break-word; }
table.doses th { font-size: 8.5pt; }
.sci { font-size: 8pt; color: #333; }
tr { break-inside: avoid; page-break-inside: avoid; }
thead { display: table-header-group; }
tfoot { display: table-row-group; }
tfoot td { font-weight: 600; }
td.blank { height: 8mm; }
td.tick { width: 16mm; }
.fill th { width: 28mm; }
.sign { margin-top: 5mm; break-inside: avoid; page-break-inside: avoid; }
.sign th { width: 24mm; }
.warn { font-weight: 600; }
.meta, footer { color: #333; font-size: 8.5pt; }
footer { margin-top: 4mm; }
@media screen { body { padding: 8mm; max-width: 1100px; } .day { border-bottom: 2px dashed #999; padding-bottom: 6mm; margin-bottom: 8mm; } }
";

/// An amount's digits, with the figure a clinician reads below them.
fn amount(p: &crate::model::Product, v: Option<f64>) -> Markup {
    let Some(v) = v else { return html! {} };
    let (digits, read) = exact_parts(p, v);
    html! {
        (digits)
        @if let Some(r) = read { br; span.sci { "(" (r) ")" } }
    }
}

/// The page's signature lines.
fn signatures() -> Markup {
    html! {
        table.sign {
            @for who in ["Prepared by", "Checked by"] {
                tr {
                    th { (who) } td.blank {}
                    th { "Signature" } td.blank {}
                    th { "Date and time" } td.blank {}
                }
            }
        }
    }
}

pub fn render(s: &Sheet, inputs: &[Input]) -> String {
    let t = s.trial;
    let scope = super::sheet::scope_words(s);
    let made = html! {
        footer {
            "Made by dosesim " (env!("CARGO_PKG_VERSION")) " from "
            @for (i, input) in inputs.iter().enumerate() {
                @if i > 0 { ", " }
                "the " (input.role) " " code { (input.path) } " (SHA-256 " code { (input.sha256) }
                @if let Some(d) = &input.as_of { ", complete to " (d) }
                ")"
            }
            ". Every dose is computed from the scenario and the roster: check it against the patient's prescription."
        }
    };
    let body = html! {
        @if s.days.is_empty() {
            section.day {
                h1 { "Preparation sheet" }
                @for line in &scope { p { (line) } }
                p.warn { "No dose to prepare." }
                (made)
            }
        }
        @for d in &s.days {
            section.day {
                h1 { "Preparation sheet: " (day_heading(d)) }
                p {
                    "Trial " b { (t.id) } ": " (t.title) br;
                    "Site: " b {
                        @if d.site.is_empty() { "none (every day open)" } @else { (d.site) }
                    }
                    @if let Some(a) = s.as_of {
                        br; "Administration record as of " (a) ": doses recorded as given, missed or cancelled are not listed."
                    }
                    @for line in scope.iter().filter(|l| l.starts_with("Overdue: ") || l.starts_with("Held: ")) {
                        br; span.warn { (line) }
                    }
                }
                @for b in &d.blocks {
                    @let p = &t.products[b.product];
                    @let [dose_h, _, cum_h] = unit_headers(p, b.concentration);
                    h2 { "Product: " (p.name) " (" code { (p.id) } ")" }
                    table.fill {
                        tr { th { "Lot number" } td.blank {} th { "Expiry" } td.blank {} }
                        tr {
                            th { "Concentration" }
                            td colspan="3" {
                                (b.concentration.words(p))
                                @if b.concentration == Concentration::Unknown {
                                    br; "Lot's concentration: ______________ cells/mL"
                                }
                            }
                        }
                    }
                    table.doses {
                        colgroup {
                            @for w in [12, 10, 13, 7, 13, 10, 13, 11, 11] { col style={ "width:" (w) "%" }; }
                        }
                        thead {
                            // Repeated on a page a long day runs on to, with the day and product.
                            tr.caption { th colspan="9" { (day_heading(d)) ": " (p.id) } }
                            tr {
                                th { "Patient" } th { "Arm" } th { "Component" } th { "Dose n/N" }
                                th { (dose_h) }
                                th {
                                    "Volume to draw (mL)"
                                    @if let Some(c) = b.concentration.cells_per_ml() {
                                        br; span.sci { "at " (sci(c)) " cells/mL" }
                                    }
                                }
                                th { (cum_h) } th { "Flags" } th { "Prepared ✓" }
                            }
                        }
                        tbody {
                            @for l in &b.lines {
                                tr {
                                    td { b { (l.patient_id) } } td { (l.arm_id) } td { (l.component) }
                                    td.num { (l.occurrence) "/" (l.occurrences) }
                                    td.num { (amount(p, Some(l.dose))) }
                                    td.num { (volume(l.volume_ml, "unknown")) }
                                    td.num { (amount(p, l.cumulative)) }
                                    td { (flags(l)) }
                                    td.tick {}
                                }
                            }
                        }
                        tfoot {
                            tr { td colspan="9" { "Day total: " (total_words(p, b)) } }
                        }
                    }
                }
                @for r in arm_rules(t, d) { p.warn { "Rule: " (r) } }
                @if !d.held.is_empty() {
                    h2 { (HELD_HEADING) }
                    ul.held {
                        @for (product, l) in &d.held {
                            li { (held_words(&t.products[*product], l)) }
                        }
                    }
                }
                @if !d.blocks.is_empty() { (signatures()) }
                (made)
            }
        }
    };
    let title = format!("{} preparation sheet, {}", t.id, s.range_words());
    crate::report::styled_page(&title, STYLE, body)
}
