//! Properties of scheduling on a site calendar, over the library API: random regimens
//! (every arm of every bundled scenario, and arms whose days, closed-day rules, windows,
//! minimum gaps and anchors are drawn at random), random calendars and random start dates.

use std::path::Path;
use std::sync::LazyLock;

use chrono::{Days, NaiveDate};
use proptest::prelude::*;

use dosesim::model::{
    Anchor, ClosedDayRules, Kg, OnClosed, Provenance, Sourced, TimingRule, Trial, Window,
};
use dosesim::moves::{DEFAULT_REACH_DAYS, Flags};
use dosesim::scenario;
use dosesim::schedule::{Event, EventKind, Expand, Origin, Patient, Plan};
use dosesim::site::{self, SiteCalendar};

static TRIALS: LazyLock<Vec<Trial>> = LazyLock::new(|| {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    scenario::files_in(&dir)
        .expect("bundled scenarios")
        .iter()
        .map(|f| scenario::load(f).expect("bundled scenario"))
        .collect()
});

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn assumed<T>(value: T) -> Sourced<T> {
    Sourced {
        value,
        provenance: Provenance {
            source: None,
            assumed: Some("test".into()),
        },
    }
}

/// A calendar: some weekdays closed, some single dates closed, some opened, covering a
/// random range.
fn calendar(
    weekdays: &[bool],
    closed: &[u16],
    open: &[u16],
    covers_days: u16,
    base: NaiveDate,
) -> SiteCalendar {
    let names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let closed_weekdays: Vec<String> = names
        .iter()
        .zip(weekdays)
        .filter(|(_, c)| **c)
        .map(|(n, _)| format!("\"{n}\""))
        .collect();
    let date = |k: &u16| base + Days::new(u64::from(*k));
    let mut closed_dates: Vec<NaiveDate> = closed.iter().map(date).collect();
    let open_dates: Vec<NaiveDate> = open.iter().map(date).collect();
    closed_dates.retain(|c| !open_dates.contains(c));
    let list = |v: &[NaiveDate], name: &str| {
        let mut v = v.to_vec();
        v.sort();
        v.dedup();
        v.iter()
            .map(|x| format!("{{ date = \"{x}\", name = \"{name}\" }}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let text = format!(
        "name = \"Random\"\nclosed_weekdays = [{}]\nclosed = [{}]\nopen = [{}]\ncovers = \"{}..{}\"\n",
        closed_weekdays.join(", "),
        list(&closed_dates, "Closure"),
        list(&open_dates, "Make-up day"),
        base,
        base + Days::new(u64::from(covers_days))
    );
    site::parse(Path::new("random.toml"), &text).expect("a valid random calendar")
}

/// Every day open, and every date covered.
fn all_open() -> SiteCalendar {
    site::parse(
        Path::new("open.toml"),
        "name = \"Open\"\ncovers = \"0001-01-01..9999-12-31\"\n",
    )
    .unwrap()
}

/// Random closed-day rules.
fn rules() -> impl Strategy<Value = ClosedDayRules> {
    (
        prop::option::of(0..4usize),
        prop::option::of((0..5u32, 0..5u32)),
        prop::option::of(1..6u32),
        any::<bool>(),
    )
        .prop_map(|(on, window, gap, previous)| ClosedDayRules {
            on_closed: on.map(|k| assumed(OnClosed::ALL[k].0)),
            window: window.map(|(b, a)| Window {
                days_before: b,
                days_after: a,
                provenance: Provenance {
                    source: None,
                    assumed: Some("test".into()),
                },
            }),
            min_gap_days: gap.map(assumed),
            anchor: previous.then(|| assumed(Anchor::Previous)),
        })
}

/// A bundled arm, with random rules for each component and visit and, for some, random
/// study days for each component.
fn regimen() -> impl Strategy<
    Value = (
        usize,
        usize,
        Vec<ClosedDayRules>,
        Vec<usize>,
        Option<Vec<u32>>,
    ),
> {
    (0..TRIALS.len())
        .prop_flat_map(|t| (Just(t), 0..TRIALS[t].arms.len()))
        .prop_flat_map(|(t, a)| {
            let comps = TRIALS[t].arms[a].components.len();
            let visits = TRIALS[t].arms[a].visits.len();
            (
                Just(t),
                Just(a),
                prop::collection::vec(rules(), comps),
                prop::collection::vec(0..4usize, visits),
                prop::option::of(
                    prop::collection::btree_set(1..60u32, 1..8)
                        .prop_map(|s| s.into_iter().collect::<Vec<u32>>()),
                ),
            )
        })
}

/// The trial with arm `a` given the rules (and, for components without `after`, the days).
fn with_rules(
    t: usize,
    a: usize,
    rules: &[ClosedDayRules],
    visit_rules: &[usize],
    days: &Option<Vec<u32>>,
) -> Trial {
    let mut trial = TRIALS[t].clone();
    let arm = &mut trial.arms[a];
    let has_followers = arm.components.iter().any(|c| c.timing.after.is_some());
    for (c, r) in arm.components.iter_mut().zip(rules) {
        c.timing.closed_days = r.clone();
        if let Some(days) = days
            && !has_followers
        {
            c.timing.rule = TimingRule::Days(days.clone());
        }
    }
    for (v, k) in arm.visits.iter_mut().zip(visit_rules) {
        v.on_closed = Some(assumed(OnClosed::ALL[*k].0));
    }
    trial
}

fn is_open(cal: &SiteCalendar, start: NaiveDate, date: NaiveDate) -> bool {
    date >= start && cal.is_open(date)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(300)
    ))]

    #[test]
    fn placed_calendars_keep_every_rule(
        (t, a, rules, visit_rules, days) in regimen(),
        weekdays in prop::collection::vec(prop::bool::weighted(0.3), 7),
        closed in prop::collection::vec(0..400u16, 0..60),
        open in prop::collection::vec(0..400u16, 0..10),
        covers in 0..400u16,
        offset in 0..3000u64,
        weight in 40.0f64..110.0,
    ) {
        let trial = with_rules(t, a, &rules, &visit_rules, &days);
        let arm = &trial.arms[a];
        let base = d("2024-01-01");
        let start = base + Days::new(offset % 300);
        let cal = calendar(&weekdays, &closed, &open, covers, base);
        let patient = Patient { id: "P".into(), weight_kg: Kg::from_f64(weight), start, site: Some("S".into()) };
        let plan = Plan::new(&trial, arm);
        let plain = plan.schedule_at(&patient, None).unwrap();
        let placed = plan.schedule_at(&patient, Some(&cal)).unwrap();
        let ctx = format!("{} {} from {start}", trial.id, arm.id);

        // Nothing dropped or added: the same events, the same doses.
        prop_assert_eq!(placed.len(), plain.len(), "{}", ctx);
        let key = |e: &Event| (format!("{:?}", e.origin), e.occurrence);
        let mut a_keys: Vec<_> = plain.iter().map(|e| (key(e), e.planned, e.dose)).collect();
        let mut b_keys: Vec<_> = placed.iter().map(|e| (key(e), e.planned, e.dose)).collect();
        a_keys.sort_by(|x, y| x.0.cmp(&y.0));
        b_keys.sort_by(|x, y| x.0.cmp(&y.0));
        prop_assert_eq!(a_keys, b_keys, "{}", ctx);

        // Calendar order, days numbered from 1, study days following the dates, and
        // running totals that add up in that order.
        let mut totals = std::collections::HashMap::new();
        for (i, e) in placed.iter().enumerate() {
            if i > 0 {
                let p = &placed[i - 1];
                prop_assert!(p.date <= e.date, "{}: out of order", ctx);
                let expect = if p.date == e.date { p.order_in_day + 1 } else { 1 };
                prop_assert_eq!(e.order_in_day, expect, "{}", ctx);
            }
            prop_assert_eq!(e.study_day, (e.date - start).num_days() + 1, "{}", ctx);
            if let (Some(dose), Some(prod)) = (e.dose, e.product(arm)) {
                let t = totals.entry(prod).or_insert(0.0);
                *t += dose;
                prop_assert_eq!(e.cumulative_dose, Some(*t), "{}", ctx);
            }
        }

        for e in placed.iter().filter(|e| e.kind != EventKind::Background) {
            // No event on a closed day unless it is flagged.
            prop_assert!(
                is_open(&cal, start, e.date) || e.flags.contains(Flags::CLOSED_DAY),
                "{}: {:?} on a closed day, unflagged", ctx, e
            );
            prop_assert_eq!(e.flags.contains(Flags::PROVISIONAL), !cal.covers(e.date), "{}", ctx);
            prop_assert!(e.date >= start, "{}: before study day 1", ctx);
            // Shifted exactly when the date differs from the plan's.
            prop_assert_eq!(e.flags.contains(Flags::SHIFTED), e.date != e.planned, "{}: {:?}", ctx, e);
            // A move stays in the window (under anchor = plan; under "previous" the
            // planned dates themselves shift).
            let (policy, anchored) = match e.origin {
                Origin::Component(c) => {
                    let leader = arm.components[c].timing.after.as_ref().filter(|x| x.applies_to(e.occurrence));
                    if leader.is_some() {
                        continue; // a follower goes where its leader goes (checked below)
                    }
                    let p = arm.components[c].timing.closed_days.policy();
                    (p, p.anchor == Anchor::Plan)
                }
                Origin::Visit(v) => (arm.visits[v].policy(), true),
                Origin::Background(_) => unreachable!(),
            };
            // (Unless the order of the doses forced it past its rules: flagged min_gap.)
            if anchored && e.date != e.planned && !e.flags.contains(Flags::MIN_GAP) {
                let (before, after) = policy.window.unwrap_or((DEFAULT_REACH_DAYS, DEFAULT_REACH_DAYS));
                let k = (e.date - e.planned).num_days();
                prop_assert!(k <= i64::from(after) && -k <= i64::from(before), "{}: {:?} outside its window", ctx, e);
                prop_assert!(e.flags.contains(Flags::SHIFTED), "{}", ctx);
                prop_assert!(policy.on_closed != OnClosed::Keep, "{}", ctx);
            }
            // Under anchor = plan a move never lands on a closed day: an event left on
            // one is on its planned date.
            if anchored && !is_open(&cal, start, e.date) && !e.flags.contains(Flags::MIN_GAP) {
                prop_assert_eq!(e.date, e.planned, "{}: moved onto a closed day: {:?}", ctx, e);
            }
        }

        // Occurrences of a component never share a day or change places; where one moved
        // (under anchor = plan), consecutive ones keep the minimum gap.
        for (c, comp) in arm.components.iter().enumerate() {
            let occ: Vec<&Event> = {
                let mut v: Vec<&Event> = placed.iter().filter(|e| e.origin == Origin::Component(c)).collect();
                v.sort_by_key(|e| e.occurrence);
                v
            };
            let policy = comp.timing.closed_days.policy();
            for w in occ.windows(2) {
                prop_assert!(w[1].date > w[0].date, "{}: {:?}", ctx, w);
                let moved = w[0].flags.contains(Flags::SHIFTED) || w[1].flags.contains(Flags::SHIFTED);
                // The gap asked never exceeds the plan's own interval between the two.
                let need = |g: u32| i64::from(g).min((w[1].planned - w[0].planned).num_days().max(1));
                let flagged = w[0].flags.contains(Flags::MIN_GAP) || w[1].flags.contains(Flags::MIN_GAP);
                if let (Some(g), true, Anchor::Plan) = (policy.min_gap_days, moved, policy.anchor) {
                    // A follower too (it moves with its leader only where its gap holds).
                    prop_assert!((w[1].date - w[0].date).num_days() >= need(g) || flagged, "{}: {:?}", ctx, w);
                }
            }
            // A component given after another stays on its leader's day, after it.
            if let Some(after) = &comp.timing.after {
                for f in &occ {
                    if !after.applies_to(f.occurrence) {
                        continue;
                    }
                    let leader = placed.iter().find(|l| l.origin == Origin::Component(after.component) && l.planned == f.planned);
                    let leader = leader.expect("every follower has its leader");
                    prop_assert_eq!(leader.date, f.date, "{}", ctx);
                    prop_assert!(leader.order_in_day < f.order_in_day, "{}", ctx);
                    // Flagged together, but for each one's own window (an anchor's drift
                    // can take one beyond its window and not the other).
                    prop_assert_eq!(
                        leader.flags.without(Flags::OUTSIDE_WINDOW),
                        f.flags.without(Flags::OUTSIDE_WINDOW),
                        "{}: flagged together", ctx
                    );
                }
            }
        }

        // Every day open: exactly the calendar without a site.
        let open = plan.schedule_at(&patient, Some(&all_open())).unwrap();
        prop_assert_eq!(&open, &plain, "{}", ctx);
        prop_assert!(plain.iter().all(|e| e.flags.is_empty() && e.planned == e.date));
    }
}

/// The administration record against the placement rules: random regimens and calendars
/// as above, and a random course recorded dose by dose (given on the day scheduled, late
/// or early; missed; left unrecorded; a weight), perhaps ending in a death or withdrawal.
mod records {
    use super::*;
    use dosesim::record::{Code, Status};
    use dosesim::roster::{Entry, Roster};

    const HEADER: &str = "patient_id,date,record,component,occurrence,amount,note";

    fn roster(arm: usize, start: NaiveDate) -> Roster {
        Roster {
            entries: vec![Entry {
                id: "P1".into(),
                weight_kg: "60".parse().unwrap(),
                start,
                line: 2,
                arm: arm as u16,
                site: None,
            }],
            by_id: vec![0],
            warnings: Vec::new(),
            id_warnings: Vec::new(),
            date_warnings: Vec::new(),
            sites: Vec::new(),
            site_warnings: Vec::new(),
        }
    }

    /// The patient's calendar with `rows` applied (as of `as_of`, else the latest row),
    /// or `None` when the record refuses the rows.
    fn actual(
        trial: &Trial,
        a: usize,
        cal: &SiteCalendar,
        start: NaiveDate,
        rows: &[String],
        as_of: Option<NaiveDate>,
    ) -> Option<Vec<Event>> {
        let roster = roster(a, start);
        let text = format!("{HEADER}\n{}", rows.join("\n"));
        let log = dosesim::record::parse(
            Path::new("log.csv"),
            text.into_bytes(),
            trial,
            &roster,
            as_of,
            false,
        )
        .ok()?;
        let plan = Plan::new(trial, &trial.arms[a]);
        let pl = log.patient(0);
        let shared = plan.placement(start, cal).unwrap();
        let fixes = plan.fixes(start, Some(shared.slots()), &pl);
        let placement = if fixes.is_empty() {
            shared
        } else {
            plan.place_on(start, Some(cal), &fixes).unwrap()
        };
        let mut events = Vec::new();
        let how = Expand::new(Kg::from_f64(60.0), start)
            .placed(Some(placement.slots()))
            .record(&pl, log.as_of);
        plan.expand(&how, &mut events).ok()?;
        Some(events)
    }

    fn to_give_or_given(s: Status) -> bool {
        matches!(
            s,
            Status::Given | Status::Planned | Status::Due | Status::Held
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(
            std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(200)
        ))]

        #[test]
        fn a_record_keeps_order_gaps_and_ends(
            (t, a, rules, visit_rules, days) in regimen(),
            weekdays in prop::collection::vec(prop::bool::weighted(0.3), 7),
            closed in prop::collection::vec(0..400u16, 0..40),
            covers in 0..400u16,
            offset in 0..300u64,
            steps in prop::collection::vec((0..6u8, 1..10i64), 0..12),
            end in prop::option::of((any::<bool>(), 0..20u64)),
            later in 0..40u64,
        ) {
            let trial = with_rules(t, a, &rules, &visit_rules, &days);
            let arm = &trial.arms[a];
            let base = d("2024-01-01");
            let start = base + Days::new(offset);
            let cal = calendar(&weekdays, &closed, &[], covers, base);
            let ctx = format!("{} {} from {start}", trial.id, arm.id);
            let mut rows: Vec<String> = Vec::new();
            let mut last = start;
            let mut events = actual(&trial, a, &cal, start, &rows, None).unwrap();
            // Events left unrecorded on purpose, by (origin, occurrence).
            let mut skipped: Vec<(Origin, u32)> = Vec::new();
            let mut given_on: Vec<(usize, NaiveDate)> = Vec::new();
            for (kind, by) in steps {
                // The next dose still to give, in calendar order.
                let Some(next) = events.iter().find(|e| {
                    e.kind.is_dose()
                        && matches!(e.status, Status::Planned | Status::Due | Status::Held)
                        && !skipped.contains(&(e.origin, e.occurrence))
                }).copied() else { break };
                let Origin::Component(c) = next.origin else { unreachable!() };
                let id = &arm.components[c].id;
                // Records come in date order, and a component's doses on days of their own.
                let after_last_given = given_on
                    .iter()
                    .filter(|(k, _)| *k == c)
                    .map(|(_, x)| *x + Days::new(1))
                    .max()
                    .unwrap_or(start);
                let on = |date: NaiveDate| date.max(last).max(after_last_given);
                let row = match kind {
                    // Given on the day scheduled, or `by` days late, or early.
                    0 | 1 => (on(next.date), "given"),
                    2 => (on(next.date + Days::new(by as u64)), "given"),
                    3 => (on(next.date.checked_sub_days(Days::new(by as u64 % 3)).unwrap()), "given"),
                    4 => (on(next.date), "missed"),
                    _ => {
                        skipped.push((next.origin, next.occurrence));
                        continue;
                    }
                };
                let (date, what) = row;
                let mut tried = rows.clone();
                if by == 1 {
                    tried.push(format!("P1,{date},weight,,,{},", 50 + by * 3));
                }
                tried.push(format!("P1,{date},{what},{id},{},,", next.occurrence));
                // A date the record refuses (after the schedule's end) is not recorded.
                let Some(after) = actual(&trial, a, &cal, start, &tried, None) else { continue };
                let e = after
                    .iter()
                    .find(|e| e.origin == next.origin && e.occurrence == next.occurrence)
                    .unwrap();
                if what == "given" {
                    prop_assert_eq!(e.status, Status::Given, "{}: {:?}", ctx, e);
                    // Given on the day the schedule had it: no late or early, and out of
                    // its window only where the schedule said so before.
                    if date == next.date && next.status != Status::Held {
                        prop_assert!(
                            !e.deviation.has(Code::LATE) && !e.deviation.has(Code::EARLY),
                            "{}: given on its scheduled day {}: {:?}", ctx, date, e
                        );
                        prop_assert_eq!(
                            e.deviation.has(Code::OUTSIDE_WINDOW),
                            next.flags.contains(Flags::OUTSIDE_WINDOW),
                            "{}: {:?} was {:?}", ctx, e, next
                        );
                        prop_assert!(!e.deviation.has(Code::DOSE_LOW) && !e.deviation.has(Code::DOSE_HIGH));
                    }
                }
                rows = tried;
                last = date;
                events = after;
                if what == "given" {
                    given_on.push((c, date));
                }
            }
            if let Some((died, k)) = end {
                let date = last + Days::new(k);
                let mut tried = rows.clone();
                tried.push(format!("P1,{date},{},,,,", if died { "died" } else { "withdrawn" }));
                if actual(&trial, a, &cal, start, &tried, None).is_some() {
                    rows = tried;
                    last = date;
                }
            }
            let as_of = last + Days::new(later);
            let events = actual(&trial, a, &cal, start, &rows, Some(as_of)).unwrap();
            let ended = rows.iter().any(|r| r.contains(",died,") || r.contains(",withdrawn,"));

            for (c, comp) in arm.components.iter().enumerate() {
                let mut occ: Vec<&Event> = events
                    .iter()
                    .filter(|e| e.origin == Origin::Component(c) && to_give_or_given(e.status))
                    .collect();
                occ.sort_by_key(|e| e.occurrence);
                let g = i64::from(comp.timing.closed_days.policy().min_gap_days.unwrap_or(1).max(1));
                for w in occ.windows(2) {
                    // Never two on one day, never out of order.
                    prop_assert!(w[1].date > w[0].date, "{}: {:?}", ctx, w);
                    // The minimum gap (never more than the plan's own interval) holds,
                    // or one of the two is flagged; two doses given are facts.
                    let need = g.min((w[1].planned - w[0].planned).num_days().max(1));
                    let flagged = w[0].flags.contains(Flags::MIN_GAP) || w[1].flags.contains(Flags::MIN_GAP);
                    if w[1].status != Status::Given {
                        prop_assert!(
                            (w[1].date - w[0].date).num_days() >= need || flagged,
                            "{}: gap {} < {}: {:?}", ctx, (w[1].date - w[0].date).num_days(), need, w
                        );
                    }
                }
            }
            for e in &events {
                if ended {
                    // Nothing of a patient who died or withdrew is due, planned or held.
                    prop_assert!(
                        matches!(e.status, Status::Given | Status::Missed | Status::Cancelled),
                        "{}: {:?} after the end", ctx, e
                    );
                } else if e.kind != EventKind::Background {
                    prop_assert_eq!(
                        e.status == Status::Due,
                        e.date <= as_of && e.status != Status::Given && e.status != Status::Missed && e.status != Status::Held,
                        "{}: {:?} as of {}", ctx, e, as_of
                    );
                }
                if e.status == Status::Held {
                    prop_assert!(e.flags.contains(Flags::MIN_GAP), "{}: {:?}", ctx, e);
                }
            }
        }
    }
}
