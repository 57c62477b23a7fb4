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
    let assumed = trial.assumptions().len()
        + trial.closed_day_assumptions_of(&trial.arms).len()
        + trial.record_assumptions_of(&trial.arms, true).len();
    if assumed > 0 {
        // Each is on stdout with its reason; stderr says only how many.
        eprintln!(
            "assumed: {}: {}, not stated in the registry record (each marked ASSUMED, with its reason)",
            trial.id,
            dosesim::format::plural(assumed as u64, "value")
        );
    }
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
        visit_rules(s, v);
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
    let mut rules = arm.closed_day_assumptions();
    rules.extend(arm.record_assumptions(true));
    if !rules.is_empty() {
        let named: Vec<&str> = rules.iter().map(|a| a.what.as_str()).collect();
        let _ = writeln!(
            s,
            "  Assumed rules, used with a site calendar or a record: {} (each marked ASSUMED above, with its reason)",
            named.join(", ")
        );
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
    if c.dose.amount != dosesim::model::DoseAmount::None {
        let t = &c.dose.tolerance_pct;
        let _ = writeln!(
            s,
            "    tolerance: a dose given more than {}% from the planned one is flagged dose_low or dose_high  ({})",
            dosesim::format::shown(t.value),
            describe::provenance(&t.provenance)
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

/// A component's closed-day rules, each in a line with where it comes from: what happens
/// on a closed day, the window a move stays in, the minimum gap, the anchor of the later
/// doses. A rule the scenario does not give is said with what dosesim does without it.
fn moves(s: &mut String, rules: &dosesim::model::ClosedDayRules) {
    use dosesim::moves::{Anchor, DEFAULT_REACH_DAYS, OnClosed};
    let _ = writeln!(s, "    on a day its site is closed (with a site calendar):");
    let mut rule = |name: &str, what: String, p: Option<&dosesim::model::Provenance>| {
        let from = match p {
            Some(p) => describe::provenance(p),
            None => "not in the scenario: dosesim's default".to_string(),
        };
        let _ = writeln!(s, "      {name:<9} {what}  ({from})");
    };
    let on = rules.on_closed.as_ref();
    rule(
        "rule:",
        on_closed_words(on.map_or_else(OnClosed::default, |o| o.value)),
        on.map(|o| &o.provenance),
    );
    let w = rules.window.as_ref();
    rule(
        "window:",
        match w {
            Some(w) => format!(
                "{} before to {} after its planned date",
                dosesim::format::plural(w.days_before.into(), "day"),
                w.days_after
            ),
            None => format!("none: a move goes at most {DEFAULT_REACH_DAYS} days either way"),
        },
        w.map(|w| &w.provenance),
    );
    let g = rules.min_gap_days.as_ref();
    rule(
        "min gap:",
        match g {
            Some(g) => format!("at least {} days between two doses after a move", g.value),
            None => "none: two doses may not share a day".to_string(),
        },
        g.map(|g| &g.provenance),
    );
    let a = rules.anchor.as_ref();
    rule(
        "anchor:",
        match a.map_or_else(Anchor::default, |a| a.value) {
            Anchor::Plan => "plan: the later doses keep their planned dates".to_string(),
            Anchor::Previous => {
                "previous: a dose moved or given late moves the later ones as many days".to_string()
            }
        },
        a.map(|a| &a.provenance),
    );
}

/// An `on_closed_day` rule in words.
fn on_closed_words(o: dosesim::moves::OnClosed) -> String {
    use dosesim::moves::OnClosed;
    let words = match o {
        OnClosed::Keep => "stays on its planned date, flagged closed_day",
        OnClosed::Next => "moves to the first open day after",
        OnClosed::Previous => "moves to the last open day before",
        OnClosed::Nearest => "moves to the closest open day, the later one on a tie",
    };
    format!("{}: {words}", o.as_str())
}

/// A visit's window (where it has one) and its rule for a day its site is closed.
fn visit_rules(s: &mut String, v: &dosesim::model::Visit) {
    if let Some(w) = &v.window {
        let _ = writeln!(
            s,
            "    window:   {}  ({})",
            describe::window(w),
            describe::provenance(&w.provenance)
        );
    }
    let (what, from) = match &v.on_closed {
        Some(o) => (
            on_closed_words(o.value),
            describe::provenance(&o.provenance),
        ),
        None => (
            on_closed_words(dosesim::moves::OnClosed::default()),
            "not in the scenario: dosesim's default".to_string(),
        ),
    };
    let _ = writeln!(s, "    on a day its site is closed: {what}  ({from})");
}
