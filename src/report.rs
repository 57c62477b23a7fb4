//! The HTML report of a cohort, and the index linking the trials' reports.
//!
//! A report is one self-contained file: styles inline, charts inline as SVG, no script,
//! font, style sheet or image from anywhere else, so it opens from a file on a machine
//! without internet and prints legibly. The only link out is the registry record.

use std::fmt::Write as _;

use crate::describe;
use crate::export::{self, Row, sci, trim_decimals};
use crate::model::{DoseAmount, Trial};
use crate::schedule::component_totals;

/// Escapes text for HTML element content and double-quoted attributes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body { font-family: 'DejaVu Sans', Verdana, Arial, sans-serif; margin: 2em auto; max-width: 72em; color: #111; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #999; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.2em 0.5em; text-align: left; vertical-align: top; }
th { background: #eee; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
.meta { color: #444; } .assumed { background: #fff3cd; border: 1px solid #e0c060; padding: 0.5em 1em; }
details { margin: 0.3em 0; border: 1px solid #ddd; padding: 0.3em 0.6em; }
summary { cursor: pointer; font-weight: bold; }
svg { max-width: 100%; height: auto; }
@media print { body { max-width: none; margin: 0; } details { border: none; } details::details-content { content-visibility: visible; display: block; } a { color: #000; } svg { max-height: 45vh; } }
";

/// What the report shows of one patient: their calendar rows and chart.
pub struct PatientSection<'a> {
    pub id: &'a str,
    pub arm_id: &'a str,
    pub weight_kg: f64,
    pub rows: &'a [Row<'a>],
    pub chart_svg: &'a str,
}

/// The whole trial report.
pub struct Report<'a> {
    pub trial: &'a Trial,
    pub timeline_svg: &'a str,
    pub cumulative_svg: &'a str,
    pub cumulative_caption: &'a str,
    pub prep: &'a export::prep::Prep,
    pub patients: &'a [PatientSection<'a>],
}

pub fn render(r: &Report) -> String {
    let t = r.trial;
    let mut s = String::with_capacity(1 << 20);
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{id}: dosing report</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        id = esc(&t.id)
    );
    let _ = writeln!(s, "<h1>{}: {}</h1>", esc(&t.id), esc(&t.title));
    let _ = write!(
        s,
        "<p class=\"meta\">Condition: {}.<br>Registry record: ",
        esc(&t.condition)
    );
    match &t.registry_url {
        Some(u) => {
            let _ = write!(s, "<a href=\"{}\">{}</a>", esc(u), esc(&t.id));
        }
        None => s.push_str(&esc(&t.id)),
    }
    let _ = writeln!(
        s,
        ", encoded from <code>{}</code> (scenario <code>{}</code>).<br>Study day 1 is each patient's start date; day N is start + (N - 1) days.</p>",
        esc(&t.seed),
        esc(&t.file.display().to_string())
    );

    s.push_str("<h2>Regimens</h2>\n");
    for arm in &t.arms {
        let _ = writeln!(
            s,
            "<h3>Arm <code>{}</code>: {}</h3>",
            esc(&arm.id),
            esc(&arm.name)
        );
        for n in &arm.notes {
            let _ = writeln!(s, "<p><strong>Note:</strong> {}</p>", esc(n));
        }
        if arm.components.is_empty() {
            s.push_str("<p>No cell infusions or exchanges.</p>\n");
        } else {
            let words: Vec<String> = arm
                .components
                .iter()
                .map(|c| {
                    let p = &t.products[c.product];
                    format!(
                        "{} of {}, {}",
                        c.name,
                        describe::dose(&c.dose, p.unit),
                        describe::timing(&c.timing, &arm.components)
                    )
                })
                .collect();
            let _ = writeln!(s, "<p>{}.</p>", esc(&words.join("; ")));
            s.push_str("<table><tr><th>Component</th><th>Product</th><th>Dose per administration</th><th>Number of doses</th><th>Total (per kg or fixed)</th><th>Route</th><th>Source</th></tr>\n");
            for c in &arm.components {
                let p = &t.products[c.product];
                let (n, total) = component_totals(c);
                let total = match (c.dose.amount, total) {
                    (DoseAmount::PerKg(_), Some(x)) => format!("{} {}/kg", sci(x), p.unit.as_str()),
                    (DoseAmount::Fixed(_), Some(x)) => export::Amount {
                        value: x,
                        unit: p.unit,
                    }
                    .readable(),
                    _ => "none".into(),
                };
                let _ = writeln!(
                    s,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{n}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&c.name),
                    esc(&p.name),
                    esc(&describe::dose(&c.dose, p.unit)),
                    esc(&total),
                    esc(c.route.as_ref().map_or("", |r| r.value.as_str())),
                    esc(&describe::provenance(&c.dose.provenance)),
                );
            }
            s.push_str("</table>\n");
        }
        if !arm.visits.is_empty() || !arm.background.is_empty() {
            s.push_str("<ul>\n");
            for v in &arm.visits {
                let _ = writeln!(s, "<li>Visit: {}</li>", esc(&describe::visit(v)));
            }
            for b in &arm.background {
                let _ = writeln!(
                    s,
                    "<li>Background (not a dose): {}</li>",
                    esc(&describe::background(b))
                );
            }
            s.push_str("</ul>\n");
        }
        let assumed = arm.assumptions(t);
        if !assumed.is_empty() {
            s.push_str("<div class=\"assumed\"><strong>Assumed, not stated in the registry record:</strong><ul>\n");
            for a in assumed {
                let _ = writeln!(s, "<li>{}: {}</li>", esc(&a.what), esc(&a.reason));
            }
            s.push_str("</ul></div>\n");
        }
    }

    s.push_str("<h2>Timeline</h2>\n");
    s.push_str(r.timeline_svg);
    s.push_str("\n<h2>Cumulative dose by arm</h2>\n");
    let _ = writeln!(s, "<p class=\"meta\">{}</p>", esc(r.cumulative_caption));
    s.push_str(r.cumulative_svg);

    s.push_str("\n<h2>Preparation list by date</h2>\n<details><summary>Doses to prepare each day</summary>\n<table><tr><th>Date</th><th>Product</th><th>Doses</th><th>Total dose</th><th>Total volume (mL)</th><th>Patients</th><th>Assumed</th></tr>\n");
    for l in r.prep.lines() {
        let p = &t.products[l.product];
        let total = export::Amount {
            value: l.total,
            unit: p.unit,
        };
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
            l.date,
            esc(&p.id),
            l.doses,
            esc(&total.readable()),
            l.volume_ml.map(|v| trim_decimals(v, 2)).unwrap_or_default(),
            esc(&l.patients.join(" ")),
            esc(&l.assumed.iter().copied().collect::<Vec<_>>().join("; "))
        );
    }
    s.push_str("</table></details>\n");

    let _ = writeln!(s, "<h2>Patients ({})</h2>", r.patients.len());
    for p in r.patients {
        let doses = p.rows.iter().filter(|row| row.is_dose()).count();
        let _ = writeln!(
            s,
            "<details id=\"patient-{id}\"><summary>{id}: arm {arm}, {w} kg, {doses} doses</summary>",
            id = esc(p.id),
            arm = esc(p.arm_id),
            w = p.weight_kg
        );
        s.push_str(p.chart_svg);
        s.push_str("\n<table><tr><th>Date</th><th>Study day</th><th>#</th><th>Event</th><th>Dose n/N</th><th>Dose</th><th>Per kg (cells/kg)</th><th>Cumulative</th><th>Volume (mL)</th><th>Window</th><th>Assumed</th></tr>\n");
        for row in p.rows {
            let _ = writeln!(
                s,
                "<tr><td>{} {}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                row.date,
                row.weekday,
                row.study_day,
                row.order_in_day,
                esc(&row.note),
                if row.is_dose() {
                    format!("{}/{}", row.occurrence, row.occurrences)
                } else {
                    String::new()
                },
                esc(&row.dose.map(|a| a.readable()).unwrap_or_default()),
                row.dose_per_kg.map(sci).unwrap_or_default(),
                esc(&row
                    .cumulative_dose
                    .map(|a| a.readable())
                    .unwrap_or_default()),
                row.volume_ml
                    .map(|v| trim_decimals(v, 2))
                    .unwrap_or_default(),
                match (row.window_start, row.window_end) {
                    (Some(a), Some(b)) => format!("{a} to {b}"),
                    _ => String::new(),
                }
            );
        }
        s.push_str("</table></details>\n");
    }
    s.push_str("<p class=\"meta\">Made by dosesim from the scenario file and roster named above; the same inputs give the same report.</p>\n</body>\n</html>\n");
    s
}

/// One trial's line in the index.
pub struct IndexEntry<'a> {
    pub trial: &'a Trial,
    pub patients: usize,
    pub doses: u64,
    pub summary: String,
}

/// The index page linking each trial's report.
pub fn index(entries: &[IndexEntry], compare_svg: &str, reference_weight_kg: f64) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>dosesim: UC-MSC trial dosing reports</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>UC-MSC trial dosing reports</h1>\n"
    );
    s.push_str("<table><tr><th>Trial</th><th>Title</th><th>Condition</th><th>Arms</th><th>Demo patients</th><th>Doses (infusions and exchanges)</th><th>Summary</th></tr>\n");
    for e in entries {
        let _ = writeln!(
            s,
            "<tr><td><a href=\"{id}/report.html\">{id}</a></td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            esc(&e.trial.title),
            esc(&e.trial.condition),
            esc(&e.trial.arm_ids().join(", ")),
            e.patients,
            e.doses,
            esc(&e.summary),
            id = esc(&e.trial.id)
        );
    }
    s.push_str("</table>\n<h2>Dosing intensity of every arm</h2>\n");
    let _ = writeln!(
        s,
        "<p class=\"meta\">Cumulative cells/kg over study days; fixed doses converted at a reference weight of {reference_weight_kg} kg.</p>"
    );
    s.push_str(compare_svg);
    s.push_str(
        "\n<p class=\"meta\">The demo rosters are fictional patients.</p>\n</body>\n</html>\n",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
