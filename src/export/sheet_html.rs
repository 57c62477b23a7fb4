//! The preparation sheet ([`crate::sheet`]) as a printable HTML page, the way a
//! cell-processing lab's batch record reads: one printed page (or more) per date and
//! site, each with the trial, the site, per product the lot and concentration lines to
//! fill in, the doses with a box to tick, the day's totals, and the "prepared by" and
//! "checked by" lines with their time, to sign.
//!
//! Print layout: each day starts a new page; a row is never split across pages, and a
//! day's table repeats its header on the next page. The day's last dose row, its total,
//! its rules, the signature lines and the page's footer are one block that is never split
//! (Chromium keeps a `tbody` with `break-inside: avoid` whole): the signatures print on the
//! page of the last dose they sign for, and no page holds only a footer.

use maud::{Markup, html};

use super::sheet::{
    HELD_HEADING, all_trials_totals, arm_rules, closed_words, combined_scope, day_heading,
    exact_parts, flags, held_words, per_kg_header, per_kg_words, total_words, unit_headers, volume,
};
use crate::format::sci;
use crate::manifest::Input;
use crate::sheet::{Block, Combined, Concentration, Day, Line, Sheet, SiteDay};

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
th, td { border: 1px solid #333; padding: 1.2mm 1mm; text-align: left; vertical-align: top; }
th { background: #eee; font-weight: 600; }
tr.caption th { background: #fff; font-weight: 400; border: none; border-bottom: 1px solid #333; padding-left: 0; }
td.pid { white-space: nowrap; }
td.trial { font-size: 7.5pt; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.doses { table-layout: fixed; font-size: 9pt; }
table.doses th, table.doses td { overflow-wrap: break-word; }
table.doses th { font-size: 7.5pt; overflow-wrap: normal; padding: 1mm 0.8mm; }
.sci { font-size: 8pt; color: #333; }
tr { break-inside: avoid; page-break-inside: avoid; }
thead { display: table-header-group; }
tbody.end { break-inside: avoid; page-break-inside: avoid; }
tr.total td { font-weight: 600; }
td.tail { border: none; padding: 0; }
table.fill { break-inside: avoid; page-break-inside: avoid; }
.wdate { font-size: 7pt; color: #333; }
.closed { font-family: 'DejaVu Sans', 'Noto Sans CJK SC', 'WenQuanYi Zen Hei', sans-serif; border: 3px solid #000; background: #ddd; font-size: 12pt; font-weight: 700; padding: 2mm 3mm; margin: 2mm 0; }
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

/// The doses table's columns, in per cent of the page's width.
const WIDTHS: [u32; 10] = [11, 11, 6, 7, 9, 12, 9, 12, 14, 9];

/// The same with a Trial column first, on a site's sheet across trials.
const WIDTHS_TRIAL: [u32; 11] = [12, 8, 9, 5, 7, 8, 11, 10, 11, 10, 9];

/// The footer: what the sheet is made from.
fn made_footer(inputs: &[Input]) -> Markup {
    html! {
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
    }
}

pub fn render(s: &Sheet, inputs: &[Input]) -> String {
    let t = s.trial;
    let scope = super::sheet::scope_words(s);
    let made = made_footer(inputs);
    let body = html! {
        @if s.days.is_empty() {
            section.day {
                h1 { "Preparation sheet" }
                @for line in &scope { p { (line) } }
                p.warn { "No dose to prepare." }
                (made)
            }
        }
        @for d in &s.days { (day_page(s, &scope, d, &made)) }
    };
    let title = format!("{} preparation sheet, {}", t.id, s.range_words());
    crate::report::styled_page(&title, STYLE, body)
}

/// One date and site's page (or pages).
fn day_page(s: &Sheet, scope: &[String], d: &Day, made: &Markup) -> Markup {
    let t = s.trial;
    let tail = day_tail(s, d, made);
    html! {
        section.day {
            h1 { "Preparation sheet: " (day_heading(d)) }
            @if let Some(c) = closed_words(d) { p.closed { (c) } }
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
            @for (k, b) in d.blocks.iter().enumerate() {
                @let last = k + 1 == d.blocks.len();
                (block(s, d, b, last.then_some(&tail), false))
            }
            @if d.blocks.is_empty() { (tail) }
        }
    }
}

/// What ends a day's page: its rules, its held doses, the signatures and the footer.
fn day_tail(s: &Sheet, d: &Day, made: &Markup) -> Markup {
    html! {
        (rules_and_held(s, d))
        @if !d.blocks.is_empty() { (signatures()) }
        (made)
    }
}

/// A trial's rules and held doses of a day.
fn rules_and_held(s: &Sheet, d: &Day) -> Markup {
    html! {
        @for r in arm_rules(s.trial, d) { p.warn { "Rule: " (r) } }
        @if !d.held.is_empty() {
            h2 { (HELD_HEADING) }
            ul.held {
                @for (product, l) in &d.held {
                    li { (held_words(&s.trial.products[*product], l)) }
                }
            }
        }
    }
}

/// Several trials' sheets for one site as one printable page per date: every trial's
/// doses (a Trial column on each row), the day's totals across the trials, one pair of
/// signature lines.
pub fn render_combined(c: &Combined, inputs: &[Input]) -> String {
    let scope = combined_scope(c);
    let made = made_footer(inputs);
    let days = c.days();
    let body = html! {
        @if days.is_empty() {
            section.day {
                h1 { "Preparation sheet" }
                @for line in &scope { p { (line) } }
                p.warn { "No dose to prepare." }
                (made)
            }
        }
        @for day in &days { (site_day_page(&scope, day, &made)) }
    };
    let ids: Vec<&str> = c.sheets.iter().map(|s| s.trial.id.as_str()).collect();
    let range = c.sheets.first().map(Sheet::range_words).unwrap_or_default();
    let title = format!("{} preparation sheet, {range}", ids.join(", "));
    crate::report::styled_page(&title, STYLE, body)
}

/// One date and site's page (or pages) across the trials: each trial's blocks in turn;
/// the last one's last dose keeps the day's totals, the signatures and the footer with it.
fn site_day_page(scope: &[String], day: &SiteDay, made: &Markup) -> Markup {
    let (_, first) = day.parts[0];
    let n = day.parts.len();
    let tail = html! {
        (rules_and_held(day.parts[n - 1].0, day.parts[n - 1].1))
        @for t in all_trials_totals(day) { p { b { (t) } } }
        @if day.has_doses() { (signatures()) }
        (made)
    };
    html! {
        section.day {
            h1 { "Preparation sheet: " (day_heading(first)) }
            @if let Some(c) = day.parts.iter().find_map(|(_, d)| closed_words(d)) {
                p.closed { (c) }
            }
            p {
                "Trials: "
                @for (k, (s, _)) in day.parts.iter().enumerate() {
                    @if k > 0 { "; " }
                    b { (s.trial.id) } ": " (s.trial.title)
                }
                br; "Site: " b { (first.site) }
                @for line in scope.iter().filter(|l| l.contains(": Overdue: ") || l.contains(": Held: ") || l.contains(": Administration record")) {
                    br; span.warn { (line) }
                }
            }
            @for (k, (s, d)) in day.parts.iter().enumerate() {
                @let last_part = k + 1 == n;
                @for (j, b) in d.blocks.iter().enumerate() {
                    @let last = last_part && j + 1 == d.blocks.len();
                    (block(s, d, b, last.then_some(&tail), true))
                }
                @if !last_part { (rules_and_held(s, d)) }
                @if last_part && d.blocks.is_empty() { (tail) }
            }
        }
    }
}

/// One product's doses of a day: its lot and concentration lines, then its table; the
/// day's last block ends with `tail`, kept on one page with its last dose.
/// With `with_trial`, a Trial column first (a site's sheet across trials).
fn block(s: &Sheet, d: &Day, b: &Block, tail: Option<&Markup>, with_trial: bool) -> Markup {
    let p = &s.trial.products[b.product];
    let [dose_h, _, cum_h] = unit_headers(p, b.concentration);
    let widths: &[u32] = if with_trial { &WIDTHS_TRIAL } else { &WIDTHS };
    let cols = widths.len();
    let trial = with_trial.then_some(s.trial.id.as_str());
    let (rest, last) = b.lines.split_at(b.lines.len().saturating_sub(1));
    html! {
        h2 {
            @if let Some(t) = trial { "Trial " (t) ": " }
            "Product: " (p.name) " (" code { (p.id) } ")"
        }
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
                @for w in widths { col style={ "width:" (w) "%" }; }
            }
            thead {
                // Repeated on a page a long day runs on to, with the day and product.
                tr.caption {
                    th colspan=(cols) {
                        (day_heading(d)) ": "
                        @if let Some(t) = trial { (t) " " }
                        (p.id)
                    }
                }
                tr {
                    @if with_trial { th { "Trial" } }
                    th { "Patient" } th { "Arm, component" } th { "Dose n/N" }
                    th { "Weight (kg)" } th { (per_kg_header(p)) }
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
            @if !rest.is_empty() { tbody { @for l in rest { (dose_row(p, l, trial)) } } }
            // The last dose, the total and the day's tail: never split across pages.
            tbody.end {
                @for l in last { (dose_row(p, l, trial)) }
                tr.total { td colspan=(cols) { "Day total: " (total_words(p, b)) } }
                @if let Some(tail) = tail {
                    tr { td.tail colspan=(cols) { (tail) } }
                }
            }
        }
    }
}

/// A dose's row, with its trial first when given.
fn dose_row(p: &crate::model::Product, l: &Line, trial: Option<&str>) -> Markup {
    html! {
        tr {
            @if let Some(t) = trial { td.trial { (t) } }
            td.pid { b { (l.patient_id) } }
            td { (l.arm_id) br; (l.component) }
            td.num { (l.occurrence) "/" (l.occurrences) }
            td.num {
                (l.weight_kg)
                @if let Some(d) = l.weight_date { br; span.wdate { "recorded" br; (d) } }
            }
            td.num { (per_kg_words(l)) }
            td.num { (amount(p, Some(l.dose))) }
            td.num { (volume(l.volume_ml, "unknown")) }
            td.num { (amount(p, l.cumulative)) }
            td { (flags(l)) }
            td.tick {}
        }
    }
}
