//! The trial design datasets, from the scenario: TE (elements), TA (arms), TV (planned
//! visits) and TS (trial summary).

use super::dataset::{Column, Dataset, Value, int, key, text};
use super::{CT_VERSION, Row, VisitPlan, When, armcd, code, frequency, route, t};
use crate::exchange::Export;
use crate::model::{ComponentKind, Trial, Unit};

const TE: &[Column] = &[
    key(text("STUDYID", "Study Identifier"), 1),
    text("DOMAIN", "Domain Abbreviation"),
    key(text("ETCD", "Element Code"), 2),
    text("ELEMENT", "Description of Element"),
    text("TESTRL", "Rule for Start of Element"),
    text("TEENRL", "Rule for End of Element"),
];

const TA: &[Column] = &[
    key(text("STUDYID", "Study Identifier"), 1),
    text("DOMAIN", "Domain Abbreviation"),
    key(text("ARMCD", "Planned Arm Code"), 2),
    text("ARM", "Description of Planned Arm"),
    key(int("TAETORD", "Planned Order of Element within Arm"), 3),
    text("ETCD", "Element Code"),
    text("ELEMENT", "Description of Element"),
    text("TABRANCH", "Branch"),
    text("TATRANS", "Transition Rule"),
    text("EPOCH", "Epoch"),
];

const TV: &[Column] = &[
    key(text("STUDYID", "Study Identifier"), 1),
    text("DOMAIN", "Domain Abbreviation"),
    key(int("VISITNUM", "Visit Number"), 2),
    text("VISIT", "Visit Name"),
    int("VISITDY", "Planned Study Day of Visit"),
    key(text("ARMCD", "Planned Arm Code"), 3),
    text("ARM", "Description of Planned Arm"),
    text("TVSTRL", "Visit Start Rule"),
    text("TVENRL", "Visit End Rule"),
];

const TS: &[Column] = &[
    key(text("STUDYID", "Study Identifier"), 1),
    text("DOMAIN", "Domain Abbreviation"),
    key(int("TSSEQ", "Sequence Number"), 3),
    key(text("TSPARMCD", "Trial Summary Parameter Short Name"), 2),
    text("TSPARM", "Trial Summary Parameter"),
    text("TSVAL", "Parameter Value"),
    text("TSVALNF", "Parameter Value Null Flavor"),
    text("TSVALCD", "Parameter Value Code"),
    text("TSVCDREF", "Name of the Reference Terminology"),
    text("TSVCDVER", "Version of the Reference Terminology"),
];

/// TE, TA, TV and TS.
pub fn datasets(export: &Export, plan: &VisitPlan) -> anyhow::Result<Vec<Dataset>> {
    let trial = export.trial;
    Ok(vec![
        elements(trial),
        arms(trial),
        visits(trial, plan),
        summary(export)?,
    ])
}

/// An arm's treatment element code: "TRT1", "TRT2", ... in trial order.
pub fn treatment_etcd(arm: usize) -> String {
    format!("TRT{}", arm + 1)
}

/// The follow-up element, after the last dose of an arm that has doses.
pub const FOLLOW_UP: &str = "FU";

fn has_follow_up(trial: &Trial) -> bool {
    trial.arms.iter().any(|a| !a.components.is_empty())
}

fn elements(trial: &Trial) -> Dataset {
    let mut d = Dataset::new("TE", "Trial Elements", TE);
    for (i, arm) in trial.arms.iter().enumerate() {
        let names: Vec<&str> = arm.components.iter().map(|c| c.name.as_str()).collect();
        let (start, end) = if names.is_empty() {
            (
                "Study day 1 (the patient's start date)".to_string(),
                "The end of the patient's participation".to_string(),
            )
        } else {
            (
                format!(
                    "Study day 1 (the patient's start date): {}",
                    names.join(", ")
                ),
                "The day of the last planned dose of the arm".to_string(),
            )
        };
        d.push(vec![
            t(&trial.id),
            t("TE"),
            t(treatment_etcd(i)),
            t(&arm.name),
            t(start),
            t(end),
        ]);
    }
    if has_follow_up(trial) {
        d.push(vec![
            t(&trial.id),
            t("TE"),
            t(FOLLOW_UP),
            t("Follow-up"),
            t("The day after the last planned dose of the arm"),
            t("The end of the patient's participation"),
        ]);
    }
    d
}

fn arms(trial: &Trial) -> Dataset {
    let mut d = Dataset::new("TA", "Trial Arms", TA);
    for (i, arm) in trial.arms.iter().enumerate() {
        let row = |order: i64, etcd: String, element: &str, epoch: &str| -> Row {
            vec![
                t(&trial.id),
                t("TA"),
                t(armcd(arm)),
                t(&arm.name),
                Value::Int(order),
                t(etcd),
                t(element),
                Value::Null,
                Value::Null,
                t(epoch),
            ]
        };
        let first = row(1, treatment_etcd(i), &arm.name, "TREATMENT");
        let fu = (!arm.components.is_empty())
            .then(|| row(2, FOLLOW_UP.to_string(), "Follow-up", "FOLLOW-UP"));
        d.push(first);
        if let Some(fu) = fu {
            d.push(fu);
        }
    }
    d
}

fn visits(trial: &Trial, plan: &VisitPlan) -> Dataset {
    let mut d = Dataset::new("TV", "Trial Visits", TV);
    for v in &plan.visits {
        let (day, rule) = match v.when {
            When::Day(day) => (
                Value::Int(i64::from(day)),
                format!("Study day {day} (day 1 = the patient's start date)"),
            ),
            When::Months { base, months } => (
                Value::Null,
                format!(
                    "{months} calendar months after study day {base} (clamped to the month's end)"
                ),
            ),
        };
        for &a in &v.arms {
            let arm = &trial.arms[a];
            d.push(vec![
                t(&trial.id),
                t("TV"),
                Value::Int(i64::from(v.num)),
                t(&v.name),
                day.clone(),
                t(armcd(arm)),
                t(&arm.name),
                t(rule.clone()),
                Value::Null,
            ]);
        }
    }
    d
}

/// TS parameters: (code, name, value, value code, its terminology, its version).
type Param = (&'static str, &'static str, String, String, String, String);

fn summary(export: &Export) -> anyhow::Result<Dataset> {
    let trial = export.trial;
    let none = String::new;
    let mut params: Vec<Param> = vec![
        (
            "TITLE",
            "Trial Title",
            trial.title.clone(),
            none(),
            none(),
            none(),
        ),
        (
            "REGID",
            "Registry Identifier",
            trial.id.clone(),
            trial.id.clone(),
            "ClinicalTrials.gov".into(),
            none(),
        ),
        (
            "INDIC",
            "Trial Disease/Condition Indication",
            trial.condition.clone(),
            none(),
            none(),
            none(),
        ),
        (
            "NARMS",
            "Planned Number of Arms",
            trial.arms.len().to_string(),
            none(),
            none(),
            none(),
        ),
        (
            "PLANSUB",
            "Planned Number of Subjects",
            export.subjects.len().to_string(),
            none(),
            none(),
            none(),
        ),
    ];
    if let Some(start) = export.subjects.iter().map(|s| s.patient.start).min() {
        params.push((
            "SSTDTC",
            "Study Start Date",
            start.to_string(),
            none(),
            none(),
            none(),
        ));
    }
    let ct = |list: &str, v: &str| -> Param {
        let (cd, name) = match list {
            "ROUTE" => ("ROUTE", "Route of Administration"),
            "UNIT" => ("DOSU", "Dose Units"),
            _ => ("DOSFRQ", "Dosing Frequency"),
        };
        let c = code(list, v).map(String::from).unwrap_or_default();
        let (r, ver) = if c.is_empty() {
            (String::new(), String::new())
        } else {
            ("CDISC CT".into(), CT_VERSION.into())
        };
        (cd, name, v.to_string(), c, r, ver)
    };
    let mut seen: Vec<(String, String)> = Vec::new();
    for arm in &trial.arms {
        for c in arm
            .components
            .iter()
            .filter(|c| c.kind == ComponentKind::CellInfusion)
        {
            let product = &trial.products[c.product];
            let mut add = |list: &str, v: &str| {
                if !seen.contains(&(list.to_string(), v.to_string())) {
                    seen.push((list.to_string(), v.to_string()));
                }
            };
            add("TRT", &product.name);
            if let Some(r) = &c.route {
                add("ROUTE", route(&r.value)?);
            }
            if product.unit == Unit::Cells {
                add("UNIT", "Therapeutic Cells");
            }
            add("FREQ", frequency(&c.timing.rule));
        }
    }
    for list in ["TRT", "ROUTE", "UNIT", "FREQ"] {
        for (_, v) in seen.iter().filter(|(l, _)| l == list) {
            params.push(if list == "TRT" {
                (
                    "TRT",
                    "Investigational Therapy or Treatment",
                    v.clone(),
                    none(),
                    none(),
                    none(),
                )
            } else {
                ct(list, v)
            });
        }
    }
    Ok(ts_rows(trial, params))
}

fn ts_rows(trial: &Trial, params: Vec<Param>) -> Dataset {
    let mut d = Dataset::new("TS", "Trial Summary", TS);
    let mut seq: Vec<(&str, i64)> = Vec::new();
    for (cd, name, val, vcd, vref, vver) in params {
        let n = match seq.iter_mut().find(|(c, _)| *c == cd) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                seq.push((cd, 1));
                1
            }
        };
        d.push(vec![
            t(&trial.id),
            t("TS"),
            Value::Int(n),
            t(cd),
            t(name),
            t(val),
            Value::Null,
            t(vcd),
            t(vref),
            t(vver),
        ]);
    }
    d
}
