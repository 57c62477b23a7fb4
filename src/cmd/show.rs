//! `dosesim show`: each arm of a scenario in words: components, doses, number of doses,
//! totals, visits, background treatment, and which values are assumed and why.

use std::fmt::Write as _;

use anyhow::Result;

use crate::cli::ShowArgs;
use dosesim::describe;
use dosesim::format::sci;
use dosesim::model::{Arm, Component, Trial};
use dosesim::scenario;
use dosesim::schedule::component_totals;

pub fn run(args: ShowArgs) -> Result<()> {
    let trial = scenario::load_named(&args.scenario)?;
    super::warn_assumptions(&trial, &trial.assumptions());
    dosesim::write::stdout(render(&trial).as_bytes())
}

/// The whole description, as printed.
pub fn render(t: &Trial) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}: {}", t.id, t.title);
    let _ = writeln!(s, "Condition: {}", t.condition);
    let _ = writeln!(s, "Registry record: {}", t.seed);
    if let Some(u) = &t.registry_url {
        let _ = writeln!(s, "Registry: {u}");
    }
    let _ = writeln!(
        s,
        "Usual weight: {}-{} kg ({})",
        t.weight.usual_min_kg,
        t.weight.usual_max_kg,
        describe::provenance(&t.weight.provenance)
    );
    if let Some(f) = &t.follow_up {
        let _ = writeln!(
            s,
            "Follow-up: {} after study day 1 ({})",
            f.words(),
            describe::provenance(&f.provenance)
        );
    }
    for p in &t.products {
        let _ = writeln!(
            s,
            "Product {}: {} [{}]  ({})",
            p.id,
            p.name,
            p.unit.as_str(),
            describe::provenance(&p.provenance)
        );
    }
    for arm in &t.arms {
        render_arm(&mut s, t, arm);
    }
    s
}

/// One arm: its components, visits, background treatment and assumed values.
fn render_arm(s: &mut String, t: &Trial, arm: &Arm) {
    let _ = writeln!(s, "\nArm {}: {}", arm.id, arm.name);
    let _ = writeln!(s, "  {}", describe::provenance(&arm.provenance));
    for n in &arm.notes {
        let _ = writeln!(s, "  Note: {n}");
    }
    if arm.components.is_empty() {
        let _ = writeln!(s, "  No dosing components.");
    }
    for c in &arm.components {
        component(s, t, arm, c);
    }
    for v in &arm.visits {
        let _ = writeln!(
            s,
            "  Visit {}: {}  ({})",
            v.id,
            describe::visit(v),
            describe::provenance(&v.provenance)
        );
    }
    for b in &arm.background {
        let _ = writeln!(
            s,
            "  Background {} (not a dose): {}  ({})",
            b.id,
            describe::background(b),
            describe::provenance(&b.provenance)
        );
    }
    let assumed = arm.assumptions(t);
    if assumed.is_empty() {
        let _ = writeln!(s, "  Assumed values: none");
    } else {
        let _ = writeln!(s, "  Assumed values:");
        for a in assumed {
            let _ = writeln!(s, "    - {}: {}", a.what, a.reason);
        }
    }
}

/// One dosing component: its dose, weight basis, timing, moves, doses, route, duration,
/// concentration and note.
fn component(s: &mut String, t: &Trial, arm: &Arm, c: &Component) {
    let p = &t.products[c.product];
    let (n, _) = component_totals(c);
    let _ = writeln!(
        s,
        "  {} [{}] ({}: {})",
        c.name,
        c.kind.as_str(),
        p.id,
        p.name
    );
    let _ = writeln!(
        s,
        "    dose:     {}  ({})",
        describe::dose(&c.dose, p.unit),
        describe::provenance(&c.dose.provenance)
    );
    if matches!(c.dose.amount, dosesim::model::DoseAmount::PerKg(_)) {
        let b = &c.dose.weight_basis;
        let _ = writeln!(
            s,
            "    weight:   {}  ({})",
            match b.value {
                dosesim::model::WeightBasis::Current =>
                    "current: each dose at the weight in force on its date (a weight recorded re-doses what is not given yet)",
                dosesim::model::WeightBasis::Screening =>
                    "screening: every dose at the roster's weight (a weight recorded changes no dose)",
            },
            describe::provenance(&b.provenance)
        );
    }
    let _ = writeln!(
        s,
        "    timing:   {}  ({})",
        describe::timing(&c.timing, &arm.components),
        describe::provenance(&c.timing.provenance)
    );
    moves(s, &c.timing.closed_days);
    let _ = writeln!(
        s,
        "    doses:    {n}, total {}",
        describe::component_total(c, p.unit)
    );
    if let Some(r) = &c.route {
        let _ = writeln!(
            s,
            "    route:    {}  ({})",
            r.value,
            describe::provenance(&r.provenance)
        );
    }
    if let Some(d) = &c.duration_min {
        let _ = writeln!(
            s,
            "    duration: {} min  ({})",
            d.value,
            describe::provenance(&d.provenance)
        );
    }
    if let Some(conc) = p.concentration_cells_per_ml {
        let _ = writeln!(
            s,
            "    concentration: {} cells/mL  ({})",
            sci(conc),
            describe::provenance(&p.provenance)
        );
    }
    if let Some(n) = &c.note {
        let _ = writeln!(s, "    note:     {n}");
    }
}

/// A component's closed-day rules, a line each.
fn moves(s: &mut String, rules: &dosesim::model::ClosedDayRules) {
    let mut moves: Vec<String> = Vec::new();
    let mut said = |what: String, p: &dosesim::model::Provenance| {
        moves.push(format!("{what} ({})", describe::provenance(p)));
    };
    if let Some(o) = &rules.on_closed {
        said(
            format!("on a closed day: {}", o.value.as_str()),
            &o.provenance,
        );
    }
    if let Some(w) = &rules.window {
        said(
            format!(
                "window: {} days before, {} after its planned date",
                w.days_before, w.days_after
            ),
            &w.provenance,
        );
    }
    if let Some(g) = &rules.min_gap_days {
        said(format!("at least {} days apart", g.value), &g.provenance);
    }
    if let Some(a) = &rules.anchor {
        said(format!("anchor: {}", a.value.as_str()), &a.provenance);
    }
    for m in moves {
        let _ = writeln!(s, "    moves:    {m}");
    }
}
