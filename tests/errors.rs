//! Bad input, end to end: exit status 2, a message on stderr naming the file (with line and
//! field where there is one) or the flag at fault, and nothing on stdout; with `--out`, no
//! file written and an existing file left byte for byte. Also `validate`, `show` and usage
//! errors.

use crate::common::*;

const HIGH: &str = "scenarios/nct04822922.toml";

/// Asserts a bad-input outcome: status 2, empty stdout, an `error:` on stderr containing
/// every one of `needles`.
fn assert_bad_input(run: &Run, needles: &[&str]) {
    run.expect_code(2);
    assert!(
        run.stdout.is_empty(),
        "nothing on stdout, got: {}",
        String::from_utf8_lossy(&run.stdout)
    );
    assert!(
        run.stderr.starts_with("error: "),
        "stderr should start with 'error: ': {}",
        run.stderr
    );
    for n in needles {
        assert!(
            run.stderr.contains(n),
            "stderr should contain {n:?}:\n{}",
            run.stderr
        );
    }
}

// ---------------------------------------------------------------------------------------
// Flags
// ---------------------------------------------------------------------------------------

#[test]
fn weight_zero_is_refused() {
    let run = calendar(HIGH, "high", "0", "2026-12-30", &["--format", "csv"]);
    assert_bad_input(
        &run,
        &["--weight", "weight 0 kg", "not a usable body weight"],
    );
}

#[test]
fn negative_weight_is_refused() {
    let run = calendar(HIGH, "high", "-5", "2026-12-30", &["--format", "csv"]);
    assert_bad_input(
        &run,
        &["--weight", "weight -5 kg", "not a usable body weight"],
    );
}

#[test]
fn non_numeric_weight_is_refused() {
    for w in ["abc", "", "NaN", "inf", "70kg"] {
        let run = calendar(HIGH, "high", w, "2026-12-30", &["--format", "csv"]);
        assert_bad_input(&run, &["--weight", &format!("'{w}' is not a weight in kg")]);
    }
}

#[test]
fn absurd_weight_is_refused() {
    let run = calendar(HIGH, "high", "1000", "2026-12-30", &["--format", "csv"]);
    assert_bad_input(
        &run,
        &["--weight", "weight 1000 kg", "not a usable body weight"],
    );
}

#[test]
fn impossible_date_is_refused() {
    for d in ["2026-02-30", "2027-02-29", "2026-13-01", "2026-04-31"] {
        let run = calendar(HIGH, "high", "70", d, &["--format", "csv"]);
        assert_bad_input(
            &run,
            &["--start", &format!("'{d}' is not a real calendar date")],
        );
    }
}

#[test]
fn malformed_date_is_refused() {
    for d in [
        "2026-2-3",
        "26-02-03",
        "2026/02/03",
        "03.02.2026",
        "",
        "tomorrow",
    ] {
        let run = calendar(HIGH, "high", "70", d, &["--format", "csv"]);
        assert_bad_input(
            &run,
            &[
                "--start",
                &format!("'{d}' is not a date in the form YYYY-MM-DD"),
            ],
        );
    }
}

#[test]
fn unknown_arm_lists_the_valid_arms() {
    let run = calendar(HIGH, "medium", "70", "2026-12-30", &["--format", "csv"]);
    let trial = dosesim::scenario::load(&root().join(HIGH)).unwrap();
    let arms = trial.arm_ids().join(", ");
    assert_eq!(arms, "low, middle, high");
    assert_bad_input(
        &run,
        &[
            &format!("{HIGH}: --arm: unknown arm 'medium'"),
            &format!("the arms of NCT04822922 are: {arms}"),
        ],
    );
}

#[test]
fn invalid_patient_id_is_refused() {
    for p in ["../etc", "a b", "-x", "", "é"] {
        let flag = format!("--patient={p}");
        let run = calendar(HIGH, "high", "70", "2026-12-30", &[&flag]);
        assert_bad_input(&run, &["--patient", "is not a valid patient id"]);
    }
}

#[test]
fn weight_and_patient_problems_are_reported_together() {
    let run = calendar(HIGH, "high", "0", "2026-12-30", &["--patient", "../x"]);
    assert_bad_input(&run, &["2 problems:", "--patient", "--weight"]);
}

// ---------------------------------------------------------------------------------------
// Scenario files
// ---------------------------------------------------------------------------------------

#[test]
fn missing_scenario_file() {
    let run = calendar(
        "scenarios/nct99999999.toml",
        "high",
        "70",
        "2026-12-30",
        &[],
    );
    assert_bad_input(
        &run,
        &["scenarios/nct99999999.toml: cannot read scenario file"],
    );
}

#[test]
fn malformed_toml_names_file_and_line() {
    let text = broken_text(
        HIGH,
        &[("[[arms]]\nid = \"high\"", "[[arms]\nid = \"high\"")],
    );
    let line = text.lines().position(|l| l == "[[arms]").unwrap() + 1;
    let (_dir, path) = temp_scenario("bad.toml", &text);
    let p = path.to_str().unwrap();
    let run = calendar(p, "high", "70", "2026-12-30", &[]);
    assert_bad_input(&run, &[&format!("{p}:{line}: ")]);
}

/// A TOML syntax error on line N names line N, also where the parser notices it only on a
/// later line: an array or inline table left open on one line is found at the next token,
/// a missing comma in a multi-line array at the next element, and a multi-line string never
/// closed at the end of the file. An error that is the first token of its line stays there.
#[test]
fn toml_syntax_errors_name_the_line_of_the_mistake() {
    let days = "timing.days = [1, 4, 7, 10]";
    /// What is broken, the edits, a text appended at the end, a text only on the broken line.
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str, &'a str);
    let cases: [Case; 6] = [
        (
            "array without ]",
            &[(days, "timing.days = [1, 4, 7, 11")],
            "",
            "7, 11",
        ),
        (
            "inline table without }",
            &[("dose.cells_per_kg = 4e5", "dose = { cells_per_kg = 4e5")],
            "",
            "dose = {",
        ),
        (
            "array of strings without ], a blank line before the next table",
            &[
                ("notes = [{", "notes = [\"unclosed\", {"),
                ("terminated.'\" }]", "terminated.'\" }"),
            ],
            "",
            "unclosed",
        ),
        (
            "missing comma in a multi-line array",
            &[(days, "timing.days = [\n  1,\n  44\n  7,\n]")],
            "",
            "  44",
        ),
        (
            "duplicate key, the first token of its line",
            &[("id = \"high\"", "id = \"high\"\nid = \"again\"")],
            "",
            "again",
        ),
        (
            "multi-line string never closed",
            &[],
            "route.note = \"\"\"never closed\n",
            "never closed",
        ),
    ];
    for (what, edits, tail, needle) in cases {
        let text = broken_text(HIGH, edits) + tail;
        let line = line_of(&text, needle);
        let (_dir, path) = temp_scenario("bad.toml", &text);
        let p = path.to_str().unwrap();
        let run = calendar(p, "high", "70", "2026-12-30", &[]);
        assert!(
            run.stderr.contains(&format!("{p}:{line}: ")),
            "{what}: the error should name line {line}:\n{}",
            run.stderr
        );
        assert_bad_input(&run, &[]);
    }
}

/// Writes the broken scenario, runs `calendar` on `arm` and checks that exactly
/// `problems` are reported, each as `file:line: field: message-fragment`, where the line
/// is the one containing the given needle in the broken text.
fn assert_scenario_problems(
    scenario: &str,
    edits: &[(&str, &str)],
    arm: &str,
    problems: &[(&str, &str, &str)],
) {
    let text = broken_text(scenario, edits);
    let (_dir, path) = temp_scenario("broken.toml", &text);
    let p = path.to_str().unwrap();
    let run = calendar(p, arm, "70", "2026-12-30", &["--format", "csv"]);
    let mut needles = Vec::new();
    for (needle, field, message) in problems {
        let line = line_of(&text, needle);
        needles.push(format!("{p}:{line}: {field}: {message}"));
    }
    let refs: Vec<&str> = needles.iter().map(String::as_str).collect();
    assert_bad_input(&run, &refs);
    let reported = run.stderr.matches(p).count();
    assert_eq!(reported, problems.len(), "problem count:\n{}", run.stderr);
    if problems.len() > 1 {
        assert!(
            run.stderr
                .starts_with(&format!("error: {} problems:\n", problems.len())),
            "{}",
            run.stderr
        );
    }
    // `validate` reports the same problems, also with status 2.
    let v = run_validate(&[p]);
    v.expect_code(2);
    for n in &refs {
        assert!(
            v.stderr.contains(n),
            "validate should report {n:?}:\n{}",
            v.stderr
        );
    }
    assert_eq!(
        v.out(),
        format!(
            "BAD {p}  ({} problem{})\n",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        )
    );
}

fn run_validate(files: &[&str]) -> Run {
    let mut args = vec!["validate"];
    args.extend_from_slice(files);
    run(args)
}

#[test]
fn unknown_product() {
    assert_scenario_problems(
        "scenarios/nct05106972.toml",
        &[("product = \"uc_msc\"", "product = \"uc-msc\"")],
        "msc",
        &[(
            "product = \"uc-msc\"",
            "arm 'msc' components[0].product",
            "unknown product 'uc-msc' (products: uc_msc)",
        )],
    );
}

#[test]
fn day_zero_in_timing_days() {
    // Only the first arm (low) is broken.
    assert_scenario_problems(
        HIGH,
        &[("timing.days = [1, 4, 7, 10]", "timing.days = [0, 4, 7, 10]")],
        "high",
        &[(
            "[0, 4, 7, 10]",
            "arm 'low' components[0].timing.days[0]",
            "there is no day 0: study day 1 is the start date",
        )],
    );
}

#[test]
fn negative_count() {
    assert_scenario_problems(
        "scenarios/nct01573923.toml",
        &[("timing.count = 4", "timing.count = -4")],
        "msc",
        &[(
            "timing.count = -4",
            "arm 'msc' components[0].timing.count",
            "-4 is out of range (1 to 1000)",
        )],
    );
}

#[test]
fn after_a_component_not_given_that_day() {
    // The plain weekly reading (days 1, 8, 15, 22) puts dose 2 on day 8, when there is no
    // exchange (days 1, 4, 7): exactly the ambiguity the scenario resolves.
    assert_scenario_problems(
        "scenarios/nct01724398.toml",
        &[(
            "timing.days = [1, 7, 14, 21]",
            "timing.days = [1, 8, 15, 22]",
        )],
        "msc-pe",
        &[(
            "timing.after = \"pe\"",
            "arm 'msc-pe' components[1].timing.after",
            "occurrence 2 (study day 8) is to follow 'pe', which is not given on that day",
        )],
    );
    assert_scenario_problems(
        "scenarios/nct01724398.toml",
        &[(
            "timing.after_occurrences = [1, 2]",
            "timing.after_occurrences = [1, 2, 3]",
        )],
        "msc-pe",
        &[(
            "timing.after = \"pe\"",
            "arm 'msc-pe' components[1].timing.after",
            "occurrence 3 (study day 14) is to follow 'pe', which is not given on that day",
        )],
    );
}

#[test]
fn after_an_unknown_component() {
    assert_scenario_problems(
        "scenarios/nct01724398.toml",
        &[("timing.after = \"pe\"", "timing.after = \"plasma\"")],
        "msc-pe",
        &[(
            "timing.after = \"plasma\"",
            "arm 'msc-pe' components[1].timing.after",
            "'plasma' is not a component of arm 'msc-pe' (components: pe, uc_msc)",
        )],
    );
}

#[test]
fn unknown_key_is_a_typo_not_a_missing_dose() {
    let text = broken_text(
        HIGH,
        &[("dose.cells_per_kg = 4e5", "dose.cell_per_kg = 4e5")],
    );
    let line = line_of(&text, "dose.cell_per_kg");
    let (_dir, path) = temp_scenario("typo.toml", &text);
    let p = path.to_str().unwrap();
    let run = calendar(p, "low", "70", "2026-12-30", &["--format", "csv"]);
    assert_bad_input(
        &run,
        &[
            &format!("{p}:{line}: "),
            "unknown key 'cell_per_kg': did you mean 'cells_per_kg'?",
        ],
    );
}

#[test]
fn missing_provenance() {
    // The dose of NCT05106972 without its `dose.source` quote: neither source nor assumed.
    let text = broken_text(
        "scenarios/nct05106972.toml",
        &[(
            "dose.source = \"UC-MSC infusion by intravenus, 1*10^8 cells/dose, 2 doses (apart from 24weeks)\"\n",
            "",
        )],
    );
    assert!(!text.contains("dose.source") && !text.contains("dose.assumed"));
    let (_dir, path) = temp_scenario("noprov.toml", &text);
    let p = path.to_str().unwrap();
    let run = calendar(p, "msc", "70", "2026-12-30", &[]);
    // Reported at the component's [[arms.components]] header.
    let header = text
        .lines()
        .position(|l| l == "[[arms.components]]")
        .unwrap()
        + 1;
    assert_bad_input(
        &run,
        &[&format!(
            "{p}:{header}: arm 'msc' components[0].dose: needs provenance: `source` quoting the registry record, or `assumed` with the reason"
        )],
    );
    // A product without provenance, too.
    assert_scenario_problems(
        "scenarios/nct05106972.toml",
        &[("source = \"Experimental: UC-MSC infusion\"\n", "")],
        "msc",
        &[("[[products]]", "products[0]", "needs provenance")],
    );
}

#[test]
fn several_problems_are_reported_together() {
    assert_scenario_problems(
        "scenarios/nct05106972.toml",
        &[
            ("day = 505", "day = 0"),
            ("product = \"uc_msc\"", "product = \"nope\""),
            ("timing.count = 2", "timing.count = -1"),
            ("timing.every_weeks = 24", "timing.every_weeks = 0"),
        ],
        "msc",
        &[
            (
                "day = 0",
                "visits[0].day",
                "there is no day 0: study day 1 is the start date",
            ),
            (
                "product = \"nope\"",
                "arm 'msc' components[0].product",
                "unknown product 'nope' (products: uc_msc)",
            ),
            (
                "timing.every_weeks = 0",
                "arm 'msc' components[0].timing.every_weeks",
                "0 is out of range (1 to 1000)",
            ),
            (
                "timing.count = -1",
                "arm 'msc' components[0].timing.count",
                "-1 is out of range (1 to 1000)",
            ),
        ],
    );
}

// ---------------------------------------------------------------------------------------
// --out on error
// ---------------------------------------------------------------------------------------

/// Every kind of bad input, as calendar arguments after `--out` is added.
fn bad_calendars(broken: &str) -> Vec<Vec<String>> {
    let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<String>>();
    vec![
        v(&[
            HIGH,
            "--arm",
            "high",
            "--weight",
            "0",
            "--start",
            "2026-12-30",
        ]),
        v(&[
            HIGH,
            "--arm",
            "high",
            "--weight",
            "abc",
            "--start",
            "2026-12-30",
        ]),
        v(&[
            HIGH,
            "--arm",
            "high",
            "--weight",
            "70",
            "--start",
            "2026-02-30",
        ]),
        v(&[
            HIGH,
            "--arm",
            "nope",
            "--weight",
            "70",
            "--start",
            "2026-12-30",
        ]),
        v(&[
            "scenarios/missing.toml",
            "--arm",
            "high",
            "--weight",
            "70",
            "--start",
            "2026-12-30",
        ]),
        v(&[
            broken,
            "--arm",
            "msc",
            "--weight",
            "70",
            "--start",
            "2026-12-30",
        ]),
    ]
}

#[test]
fn an_error_with_out_writes_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let broken = broken_text("scenarios/nct05106972.toml", &[("day = 505", "day = 0")]);
    let (_sdir, bpath) = temp_scenario("broken.toml", &broken);
    let out = dir.path().join("cal.csv");
    for args in bad_calendars(bpath.to_str().unwrap()) {
        let run = run(["calendar"]
            .into_iter()
            .map(String::from)
            .chain(args.iter().cloned())
            .chain(["--format", "csv", "--out"].map(String::from))
            .chain([out.to_str().unwrap().to_string()]));
        assert_bad_input(&run, &[]);
        assert!(!out.exists(), "{args:?} left {}", out.display());
        assert!(
            entries(dir.path()).is_empty(),
            "{args:?} left a file behind"
        );
    }
}

#[test]
fn an_error_with_out_leaves_an_existing_file_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let broken = broken_text("scenarios/nct05106972.toml", &[("day = 505", "day = 0")]);
    let (_sdir, bpath) = temp_scenario("broken.toml", &broken);
    let out = dir.path().join("cal.csv");
    let before: Vec<u8> = b"keep me\r\nbyte for byte \xff\n".to_vec();
    std::fs::write(&out, &before).unwrap();
    for args in bad_calendars(bpath.to_str().unwrap()) {
        for format in ["csv", "json", "ics", "table"] {
            let run = run(["calendar"]
                .into_iter()
                .map(String::from)
                .chain(args.iter().cloned())
                .chain(["--format", format, "--out"].map(String::from))
                .chain([out.to_str().unwrap().to_string()]));
            assert_bad_input(&run, &[]);
            assert_eq!(std::fs::read(&out).unwrap(), before, "{args:?} {format}");
            assert_eq!(entries(dir.path()), ["cal.csv"], "{args:?} {format}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// validate, show, usage
// ---------------------------------------------------------------------------------------

#[test]
fn validate_without_arguments_passes_every_bundled_scenario() {
    let run = run_validate(&[]);
    run.expect_code(0);
    let out = run.out();
    let lines: Vec<&str> = out.lines().collect();
    let mut files: Vec<String> = entries(&root().join("scenarios"))
        .into_iter()
        .filter(|f| f.ends_with(".toml"))
        .collect();
    files.sort();
    assert_eq!(lines.len(), files.len(), "one line per scenario:\n{out}");
    assert_eq!(files.len(), SCENARIOS.len());
    for (line, file) in lines.iter().zip(&files) {
        let path = root().join("scenarios").join(file);
        let trial = dosesim::scenario::load(&path).unwrap();
        let n = trial.arms.len();
        let want = format!(
            "OK  scenarios/{file}  {} ({n} arm{}: {};",
            trial.id,
            if n == 1 { "" } else { "s" },
            trial.arm_ids().join(", ")
        );
        assert!(line.starts_with(&want), "{line:?} should start {want:?}");
    }
    assert!(!run.stderr.contains("error"), "{}", run.stderr);
}

#[test]
fn validate_named_files_reports_ok_and_bad() {
    let broken = broken_text(HIGH, &[("day = 91", "day = 0")]);
    let (_dir, path) = temp_scenario("b.toml", &broken);
    let p = path.to_str().unwrap();
    let run = run_validate(&["scenarios/nct05106972.toml", p]);
    run.expect_code(2);
    let out = run.out();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("OK  scenarios/nct05106972.toml  NCT05106972"));
    assert_eq!(lines[1], format!("BAD {p}  (1 problem)"));
    let line = line_of(&broken, "day = 0");
    assert!(
        run.stderr
            .contains(&format!("{p}:{line}: visits[1].day: there is no day 0")),
        "{}",
        run.stderr
    );
}

#[test]
fn validate_a_missing_file_fails() {
    let run = run_validate(&["scenarios/none.toml"]);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("scenarios/none.toml: cannot read scenario file")
    );
}

/// Number of doses of each component of each arm, from the registry records:
/// NCT01724398 "once a week, 4 times", "every 3 days, 3 times"; NCT02812121 "once a week
/// for 8 weeks" / "for 4 weeks"; NCT01573923 "four times in one year"; NCT05106972 "2
/// doses"; NCT04822922 "on the 1, 4, 7 and 10 days".
/// (scenario, arm, [doses per component], [assumed values])
type ShowArm = (
    &'static str,
    &'static str,
    &'static [u32],
    &'static [&'static str],
);

const SHOW: &[ShowArm] = &[
    ("scenarios/nct01724398.toml", "conventional", &[], &[]),
    ("scenarios/nct01724398.toml", "msc", &[4], &[]),
    ("scenarios/nct01724398.toml", "pe", &[3], &[]),
    (
        "scenarios/nct01724398.toml",
        "msc-pe",
        &[3, 4],
        &["uc_msc timing"],
    ),
    (
        "scenarios/nct02812121.toml",
        "msc-8w",
        &[8],
        &[
            "product ucb_msc",
            "ucb_msc dose",
            "background smt",
            "background albumin",
            "background plasma",
        ],
    ),
    (
        "scenarios/nct02812121.toml",
        "msc-4w",
        &[4],
        &[
            "product ucb_msc",
            "ucb_msc dose",
            "background smt",
            "background albumin",
            "background plasma",
        ],
    ),
    ("scenarios/nct02812121.toml", "control", &[], &[]),
    ("scenarios/nct01573923.toml", "conventional", &[], &[]),
    ("scenarios/nct01573923.toml", "msc", &[4], &[]),
    (
        "scenarios/nct05106972.toml",
        "msc",
        &[2],
        &["visit week72 day"],
    ),
    (
        "scenarios/nct04822922.toml",
        "low",
        &[4],
        &["visit day30 day", "visit day90 day"],
    ),
    (
        "scenarios/nct04822922.toml",
        "middle",
        &[4],
        &["visit day30 day", "visit day90 day"],
    ),
    (
        "scenarios/nct04822922.toml",
        "high",
        &[4],
        &["visit day30 day", "visit day90 day"],
    ),
];

#[test]
fn show_lists_arms_dose_counts_and_assumed_values() {
    for file in SCENARIOS {
        let run = run(["show", file]);
        run.expect_code(0);
        let out = run.out();
        let arms: Vec<&ShowArm> = SHOW.iter().filter(|a| a.0 == file).collect();
        assert!(!arms.is_empty());
        // Split the output into one section per arm.
        let sections: Vec<&str> = out.split("\nArm ").skip(1).collect();
        assert_eq!(sections.len(), arms.len(), "{file}:\n{out}");
        for ((_, arm, doses, assumed), section) in arms.iter().zip(&sections) {
            assert!(
                section.starts_with(&format!("{arm}: ")),
                "{file} {arm}:\n{section}"
            );
            let counts: Vec<u32> = section
                .lines()
                .filter_map(|l| l.trim().strip_prefix("doses:"))
                .map(|l| l.trim().split(',').next().unwrap().parse().unwrap())
                .collect();
            assert_eq!(&counts, doses, "{file} {arm}:\n{section}");
            if doses.is_empty() {
                assert!(section.contains("No dosing components."), "{section}");
            }
            if assumed.is_empty() {
                assert!(
                    section.contains("Assumed values: none"),
                    "{file} {arm}:\n{section}"
                );
            } else {
                let listed: Vec<&str> = section
                    .lines()
                    .filter_map(|l| l.trim().strip_prefix("- "))
                    .map(|l| l.split(": ").next().unwrap())
                    .collect();
                assert_eq!(&listed, assumed, "{file} {arm}:\n{section}");
                // stdout gives each with its reason; stderr only how many.
                assert!(
                    run.stderr.starts_with("assumed: ")
                        && run
                            .stderr
                            .contains(" values, not stated in the registry record"),
                    "{file}:\n{}",
                    run.stderr
                );
            }
        }
    }
}

#[test]
fn show_quotes_the_record_and_marks_assumptions() {
    let run = run(["show", "scenarios/nct02812121.toml"]);
    run.expect_code(0);
    let out = run.out();
    assert!(
        out.starts_with("NCT02812121: UC-MSC Infusion for HBV-Related"),
        "{out}"
    );
    assert!(
        out.contains("Registry record: 001_aca47ec262779fdb.txt"),
        "{out}"
    );
    assert!(
        out.contains("dose:     1.00 x 10⁵ cells/kg  (ASSUMED: The record states no cell dose."),
        "{out}"
    );
    assert!(
        out.contains("record: \"infusions of umbilical cord blood mesenchymal stem cells via peripheral veins once a week for 8 weeks.\""),
        "{out}"
    );
}

#[test]
fn show_on_a_broken_scenario_fails() {
    let broken = broken_text(HIGH, &[("day = 91", "day = 0")]);
    let (_dir, path) = temp_scenario("b.toml", &broken);
    let p = path.to_str().unwrap();
    let run = run(["show", p]);
    assert_bad_input(
        &run,
        &[&format!(
            "{p}:{}: visits[1].day",
            line_of(&broken, "day = 0")
        )],
    );
}

#[test]
fn unknown_subcommand_is_a_usage_error() {
    let run = run(["frobnicate"]);
    assert_bad_input(&run, &["unrecognized subcommand 'frobnicate'", "Usage:"]);
}

#[test]
fn missing_arguments_are_a_usage_error() {
    let partial = run(["calendar", HIGH, "--arm", "high"]);
    assert_bad_input(
        &partial,
        &["--weight <KG>", "--start <YYYY-MM-DD>", "Usage:"],
    );
    let none = run(Vec::<&str>::new());
    none.expect_code(2);
    assert!(none.stdout.is_empty());
    assert!(
        none.stderr.contains("Usage: dosesim [OPTIONS] <COMMAND>"),
        "{}",
        none.stderr
    );
}

#[test]
fn unknown_format_is_a_usage_error() {
    let run = calendar(HIGH, "high", "70", "2026-12-30", &["--format", "xlsx"]);
    assert_bad_input(&run, &["invalid value 'xlsx' for '--format"]);
}

// ---------------------------------------------------------------------------------------
// Closed output pipe (`dosesim ... | head`) and out-of-range starts
// ---------------------------------------------------------------------------------------

#[test]
fn a_closed_stdout_is_not_an_error_for_calendar_and_show() {
    for args in [
        &[
            "calendar",
            HIGH,
            "--arm",
            "high",
            "--weight",
            "62.5",
            "--start",
            "2026-12-30",
        ][..],
        &["show", "scenarios/nct01724398.toml"][..],
    ] {
        let out = run_with_closed_stdout(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
}

/// Regression: `validate` printed with `println!`, which panicked (exit 101) on a closed
/// pipe, where `show` and `calendar` go through `write::stdout`.
#[test]
fn a_closed_stdout_is_not_an_error_for_validate() {
    let out = run_with_closed_stdout(&["validate"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Regression: `--start 9999-12-31` was accepted and the dates after it came out as
/// `+10000-06-16` in the CSV and `DTSTART;VALUE=DATE:+100000616` in the iCalendar file.
/// A schedule past year 9999 is now refused (status 2, naming --start).
#[test]
fn a_start_near_year_9999_is_refused_or_stays_in_format() {
    let csv = calendar(
        "scenarios/nct05106972.toml",
        "msc",
        "60",
        "9999-12-31",
        &["--format", "csv"],
    );
    if csv.code == Some(2) {
        assert!(csv.stderr.contains("--start"), "{}", csv.stderr);
        return;
    }
    csv.expect_code(0);
    let (_, rows) = parse_csv(&csv.stdout);
    for r in &rows {
        let ok = r.date.len() == 10
            && r.date.bytes().enumerate().all(|(i, b)| match i {
                4 | 7 => b == b'-',
                _ => b.is_ascii_digit(),
            });
        assert!(ok, "date {:?} is not YYYY-MM-DD", r.date);
    }
}

/// Regression: `--format json --out x.csv` wrote JSON into a .csv file, and a missing
/// folder in `--out` was created silently.
#[test]
fn out_must_fit_the_format_and_its_folder_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let clash = dir.path().join("x.csv");
    let missing = dir.path().join("no/such/folder/x.csv");
    let run = high(&["--format", "json", "--out", clash.to_str().unwrap()]);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("--format: json output does not fit a file named"),
        "{}",
        run.stderr
    );
    assert!(!clash.exists());
    let run = high(&["--out", missing.to_str().unwrap()]);
    run.expect_code(2);
    assert!(run.stderr.contains("--out: the folder"), "{}", run.stderr);
    assert!(!dir.path().join("no").exists(), "no folder created");
}

/// Calendar files need a named patient: event ids are built from it, so two files for the
/// default `patient` would replace each other's events in a calendar app.
#[test]
fn a_calendar_file_needs_a_named_patient() {
    let run = high(&["--format", "ics"]);
    run.expect_code(2);
    assert!(
        run.stderr.contains("--patient: name the patient"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
    let ok = high(&["--format", "ics", "--patient", "P7"]);
    ok.expect_code(0);
    assert!(ok.out().contains("UID:NCT04822922-P7-uc_msc-1@dosesim"));
}

/// Regression: a per-kg dose typed as 12e-5 instead of 12e5 passed validation and
/// scheduled infusions of 0 cells.
#[test]
fn an_implausible_dose_is_refused() {
    let broken = broken_text(
        HIGH,
        &[("dose.cells_per_kg = 12e5", "dose.cells_per_kg = 12e-5")],
    );
    let (_dir, path) = temp_scenario("typo.toml", &broken);
    let run = run(["validate", path.to_str().unwrap()]);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("dose.cells_per_kg: 0.00012 cells/kg is outside the doses dosesim accepts"),
        "{}",
        run.stderr
    );
}

/// The high arm of NCT04822922, 62.5 kg from 2026-12-30, plus `extra`.
fn high(extra: &[&str]) -> Run {
    calendar(HIGH, "high", "62.5", "2026-12-30", extra)
}

/// Hardening 5: a carriage return (or any control character) in scenario text would reach
/// .ics SUMMARY and DESCRIPTION lines; it is refused with its line and key, every one at
/// once.
#[test]
fn control_characters_in_scenario_text_are_refused() {
    let text = broken_text(
        HIGH,
        &[
            (
                "name = \"Low dose: 4 x 10^5 cells/kg each time\"",
                "name = \"Low dose\\r\\nBEGIN:VEVENT\"",
            ),
            ("title = \"Safety of UC-MSC", "title = \"Safety\\tof UC-MSC"),
        ],
    );
    let (_dir, path) = temp_scenario("x.toml", &text);
    let run = run(["validate", path.to_str().unwrap()]);
    run.expect_code(2);
    let name_line = line_of(&text, "Low dose\\r\\nBEGIN");
    let title_line = line_of(&text, "Safety\\tof");
    assert!(
        run.stderr.contains(&format!(
            "x.toml:{name_line}: arms[0].name: contains the control character U+000D"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!(
            "x.toml:{title_line}: trial.title: contains the control character U+0009"
        )),
        "{}",
        run.stderr
    );
}

/// Hardening 4: `registry_url = "javascript:..."` became a live link in report.html.
#[test]
fn registry_links_must_be_web_addresses() {
    let text = broken_text(
        HIGH,
        &[(
            "registry_url = \"https://clinicaltrials.gov/study/NCT04822922\"",
            "registry_url = \"javascript:alert(1)\"",
        )],
    );
    let (_dir, path) = temp_scenario("x.toml", &text);
    let run = run(["validate", path.to_str().unwrap()]);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("trial.registry_url: 'javascript:alert(1)' is not a web address"),
        "{}",
        run.stderr
    );
}

/// Hardening 10: Windows device names (`CON`, `NUL`, `COM1`, ...) would be unusable file
/// names there; they are refused as patient ids, with the line.
#[test]
fn windows_device_names_are_refused_as_patient_ids() {
    let dir = tempfile::tempdir().unwrap();
    let roster = write_roster(
        dir.path(),
        "r.csv",
        &[
            "P1,high,60,2027-01-04",
            "NUL,high,60,2027-01-04",
            "com1,high,60,2027-01-04",
        ],
    );
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let run = cohort(std::path::Path::new(HIGH), &roster, &out);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("r.csv:3: patient_id: 'NUL' is not a safe id"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("r.csv:4: patient_id: 'com1' is not a safe id"),
        "{}",
        run.stderr
    );
    assert!(entries(&out).is_empty(), "nothing written");
}

/// Hardening 1: `dose.round_to = 1e8` (a typo for 1e6) passed `validate` and scheduled
/// infusions of 0 cells. A step larger than the smallest dose it applies to (the per-kg
/// dose at the lowest weight accepted, 3 kg) is refused with its key and line.
#[test]
fn a_rounding_step_that_rounds_doses_to_zero_is_refused() {
    let text = broken_text(
        HIGH,
        &[(
            "dose.cells_per_kg = 4e5\n",
            "dose.cells_per_kg = 4e5\ndose.round_to = 1e8\n",
        )],
    );
    let (_dir, path) = temp_scenario("x.toml", &text);
    let run = run(["validate", path.to_str().unwrap()]);
    run.expect_code(2);
    let line = line_of(&text, "dose.round_to = 1e8");
    assert!(
        run.stderr.contains(&format!(
            "x.toml:{line}: arm 'low' components[0].dose.round_to: a rounding step of 1e8 is larger than the smallest dose"
        )),
        "{}",
        run.stderr
    );
    // A step that fits (1e4 cells) still validates.
    let ok = broken_text(
        HIGH,
        &[(
            "dose.cells_per_kg = 4e5\n",
            "dose.cells_per_kg = 4e5\ndose.round_to = 1e4\n",
        )],
    );
    let (_dir2, ok_path) = temp_scenario("ok.toml", &ok);
    crate::common::run(["validate", ok_path.to_str().unwrap()]).expect_code(0);
}

/// Hardening 7: a month interval running past the calendar passed `validate`, then every
/// roster row was blamed with a wrong study day. `validate` finds it, with the months.
#[test]
fn a_month_interval_past_the_calendar_is_refused_by_validate() {
    let path = "scenarios/nct01573923.toml";
    let text = std::fs::read_to_string(root().join(path)).unwrap();
    let every = text
        .lines()
        .find(|l| l.contains("every_months"))
        .expect("NCT01573923 doses every 3 months")
        .to_string();
    let broken = text.replacen(&every, &every.replace("= 3", "= 500"), 1);
    assert_ne!(broken, text);
    let (_dir, tmp) = temp_scenario("x.toml", &broken);
    let run = crate::common::run(["validate", tmp.to_str().unwrap()]);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("1500 calendar months after study day 1, past study day 36500"),
        "{}",
        run.stderr
    );
}

/// Runs `validate` on `text` saved as x.toml and returns the run (status 2 expected).
fn validate_text(text: &str) -> (tempfile::TempDir, Run) {
    let (dir, path) = temp_scenario("x.toml", text);
    let run = crate::common::run(["validate", path.to_str().unwrap()]);
    (dir, run)
}

/// The [[arms]] block of the low arm of NCT04822922, with its component, as text.
fn low_arm_block() -> String {
    let text = std::fs::read_to_string(root().join(HIGH)).unwrap();
    let start = text.find("[[arms]]\nid = \"low\"").unwrap();
    let end = text[start + 1..].find("[[arms]]").unwrap() + start + 1;
    text[start..end].to_string()
}

/// Hardening 6: about 110 arms validated and then broke `cohort` half-way; 65,537 wrapped
/// the arm index. Arms, components, days and events per arm have limits `validate`
/// enforces, each reported with the first item past the limit.
#[test]
fn counts_past_the_limits_are_refused_by_validate() {
    let base = std::fs::read_to_string(root().join(HIGH)).unwrap();
    let block = low_arm_block();
    // 21 arms: the 18 added are copies of the low arm under new ids.
    let mut text = base.clone();
    for k in 0..18 {
        text.push_str(&block.replace("id = \"low\"", &format!("id = \"extra{k}\"")));
    }
    let (_d, run) = validate_text(&text);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("arms: 21 arms; a scenario may have at most 20"),
        "{}",
        run.stderr
    );

    // 11 components in one arm.
    let comp_start = block.find("[[arms.components]]").unwrap();
    let comp = &block[comp_start..];
    let mut text = base.clone();
    let mut extra = String::new();
    for k in 1..=10 {
        extra.push_str(&comp.replace("id = \"uc_msc\"\nname", &format!("id = \"c{k}\"\nname")));
    }
    let at = text.find("[[arms]]\nid = \"middle\"").unwrap();
    text.insert_str(at, &extra);
    let (_d, run) = validate_text(&text);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("arm 'low' has 11 components; an arm may have at most 10"),
        "{}",
        run.stderr
    );

    // 1,001 days in one list, and 2,001 events in one arm (2 x 1,000 doses + 3 visits
    // and background).
    let days: Vec<String> = (1..=1001).map(|d| d.to_string()).collect();
    let text = base.replacen(
        "timing.days = [1, 4, 7, 10]",
        &format!("timing.days = [{}]", days.join(", ")),
        1,
    );
    let (_d, run) = validate_text(&text);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("lists 1001 days; a component may occur at most 1000 times"),
        "{}",
        run.stderr
    );
    let mut text = base.replacen(
        "timing.days = [1, 4, 7, 10]",
        "timing.every_days = 1\ntiming.count = 1000",
        1,
    );
    let at = text.find("[[arms]]\nid = \"middle\"").unwrap();
    text.insert_str(
        at,
        &comp
            .replace("id = \"uc_msc\"\nname", "id = \"again\"\nname")
            .replace(
                "timing.days = [1, 4, 7, 10]",
                "timing.every_days = 1\ntiming.count = 1000",
            ),
    );
    let (_d, run) = validate_text(&text);
    run.expect_code(2);
    assert!(
        run.stderr.contains(
            "arm 'low' gives each patient 2003 events (doses, visits and background treatments); an arm may give at most 2000"
        ),
        "{}",
        run.stderr
    );
}

/// Hardening 3: long text was super-linear in the charts. Names and quotes have limits,
/// each refused with its line and key, every one at once.
#[test]
fn text_past_its_limit_is_refused_with_its_line() {
    let title = "T".repeat(301);
    let quote = "q".repeat(4001);
    let text = broken_text(
        HIGH,
        &[
            (
                "title = \"Safety of UC-MSC Transfusion for ACLF Patients\"",
                &format!("title = \"{title}\""),
            ),
            (
                "dose.source = \"low dose: 4*10^5 cells/kg/each time\"",
                &format!("dose.source = \"{quote}\""),
            ),
        ],
    );
    let (_d, run) = validate_text(&text);
    run.expect_code(2);
    let title_line = line_of(&text, "title = \"TTT");
    let quote_line = line_of(&text, "dose.source = \"qqq");
    for needle in [
        format!(
            "x.toml:{title_line}: trial.title: is 301 characters long; a name or value may have at most 300"
        ),
        format!(
            "x.toml:{quote_line}: arms[0].components[0].dose.source: is 4001 characters long; a quote, reason or note may have at most 4000"
        ),
    ] {
        assert!(run.stderr.contains(&needle), "{needle}\n{}", run.stderr);
    }
}

/// Hardening 6: a file far larger than any scenario is refused before it is parsed.
#[test]
fn a_scenario_file_past_the_size_limit_is_refused() {
    let mut text = std::fs::read_to_string(root().join(HIGH)).unwrap();
    let line = format!("# {}\n", "x".repeat(1000));
    while text.len() <= 1 << 20 {
        text.push_str(&line);
    }
    let (_d, run) = validate_text(&text);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("a scenario file may be at most 1048576 bytes"),
        "{}",
        run.stderr
    );
}

/// Hardening 10: huge numbers were quoted as 300-digit strings.
#[test]
fn huge_numbers_are_quoted_in_exponent_form() {
    let text = broken_text(
        HIGH,
        &[("dose.cells_per_kg = 4e5\n", "dose.cells_per_kg = 4e300\n")],
    );
    let (_d, run) = validate_text(&text);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("dose.cells_per_kg: 4e300 cells/kg is outside the doses dosesim accepts"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("0000000000"), "{}", run.stderr);
}

/// Hardening 9 and 7: a roster's problems come in one pass, a start date that runs the
/// schedule past the calendar among them, with the study day that would fall there.
#[test]
fn roster_problems_come_in_one_pass_with_the_right_study_day() {
    let dir = tempfile::tempdir().unwrap();
    // NCT01573923 doses every 3 months from day 1, four times: the 4th dose is 9 months on.
    let roster = write_roster(
        dir.path(),
        "r.csv",
        &[
            "P1,msc,0,2027-01-04",
            "P2,msc,60,9999-06-01",
            "P3,conventional,60,2027-01-04",
        ],
    );
    let out = dir.path().join("out");
    let run = cohort(
        std::path::Path::new("scenarios/nct01573923.toml"),
        &roster,
        &out,
    );
    run.expect_code(2);
    assert!(run.stderr.contains("r.csv:2: weight_kg:"), "{}", run.stderr);
    // The 4th dose, 9 months after 9999-06-01, would be 10000-03-01: study day 275 (not
    // day 1, the base of the month steps, as it was).
    assert!(
        run.stderr.contains(
            "r.csv:3: start_date: patient P2: study day 275 falls outside the calendar the outputs can show"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.starts_with("error: 2 problems:"),
        "{}",
        run.stderr
    );
    assert!(!out.exists(), "nothing written");
}

/// Hardening 2: a start date years away from the rest of the roster (0207 for 2027) is
/// warned about with its line, and costs no memory for the years between.
#[test]
fn a_start_date_years_from_the_rest_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let roster = write_roster(
        dir.path(),
        "r.csv",
        &[
            "P1,high,60,2027-03-01",
            "P2,high,61,0207-03-01",
            "P3,high,62,2027-03-08",
        ],
    );
    let run = pharmacy(std::path::Path::new(HIGH), &roster, &[]);
    run.expect_code(0);
    assert!(
        run.stderr.contains(
            "r.csv:3: patient P2: start_date 0207-03-01 is 1820 years before the roster's median start date 2027-03-01: a typo in the year?"
        ),
        "{}",
        run.stderr
    );
    // The schedule is still made, in date order: P2's rows first.
    let out = run.out();
    let first = out.lines().nth(1).unwrap();
    assert!(first.starts_with("P2,"), "{first}");
    assert_eq!(out.lines().count(), 1 + 3 * 7, "{out}");
}

/// Hardening 10: a dangling or looping symbolic link given to `--out` was replaced by a
/// file; it is refused, naming the link.
#[cfg(unix)]
#[test]
fn broken_links_given_to_out_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let dangling = dir.path().join("dangling.csv");
    let looping = dir.path().join("loop.csv");
    std::os::unix::fs::symlink(dir.path().join("nowhere/x.csv"), &dangling).unwrap();
    std::os::unix::fs::symlink(&looping, &looping).unwrap();
    for (link, why) in [
        (&dangling, "which does not exist"),
        (&looping, "a loop of links"),
    ] {
        let run = high(&["--out", link.to_str().unwrap()]);
        assert_bad_input(&run, &["--out:", why]);
        assert!(
            std::fs::symlink_metadata(link)
                .unwrap()
                .file_type()
                .is_symlink(),
            "the link is left as it was"
        );
    }
    let folder = dir.path().join("out-link");
    std::os::unix::fs::symlink(dir.path().join("nowhere"), &folder).unwrap();
    let roster = root().join("scenarios/rosters/NCT04822922.csv");
    let run = cohort(std::path::Path::new(HIGH), &roster, &folder);
    assert_bad_input(&run, &["--out:", "which does not exist"]);
}

/// Hardening 10: `pharmacy > /dev/full` said only "No space left on device".
#[cfg(target_os = "linux")]
#[test]
fn a_full_stdout_is_named_as_standard_output() {
    let roster = root().join("scenarios/rosters/NCT04822922.csv");
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("dosesim"))
        .current_dir(root())
        .args(["pharmacy", HIGH, "--roster", roster.to_str().unwrap()])
        .stdout(
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap(),
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error: cannot write to standard output: No space left on device"),
        "{err}"
    );
}

/// A closed-day rule's problems are reported on the rule's own line, every one at once.
#[test]
fn closed_day_rules_are_checked_on_their_own_lines() {
    let text = broken_text(
        "scenarios/nct04822922.toml",
        &[
            (
                "timing.on_closed_day = { value = \"nearest\"",
                "timing.on_closed_day = { value = \"Nearest\"",
            ),
            (
                "timing.min_gap_days = { value = 2, assumed = \"Assumed: two infusions at least 2 days apart after any move (the record spaces them 3 days apart).\" }",
                "timing.min_gap_days = { value = 2 }\ntiming.anchor = { value = \"last\", assumed = \"t\" }",
            ),
        ],
    );
    let (_dir, path) = temp_scenario("rules.toml", &text);
    let run = run(["validate", path.to_str().unwrap()]);
    let line = |needle: &str| line_of(&text, needle);
    run.expect_code(2);
    assert!(
        run.out().contains("rules.toml  (3 problems)"),
        "{}",
        run.out()
    );
    for needle in [
        &format!(
            "rules.toml:{}: arm 'low' components[0].timing.on_closed_day.value: unknown rule 'Nearest' for a closed day: use keep, next, previous, nearest",
            line("value = \"Nearest\"")
        ),
        &format!(
            "rules.toml:{}: arm 'low' components[0].timing.min_gap_days: needs provenance",
            line("timing.min_gap_days = { value = 2 }")
        ),
        &format!(
            "rules.toml:{}: arm 'low' components[0].timing.anchor.value: unknown anchor 'last': use plan or previous",
            line("value = \"last\"")
        ),
    ] {
        assert!(
            run.stderr.contains(needle.as_str()),
            "{needle}\n{}",
            run.stderr
        );
    }
}

// ---------------------------------------------------------------------------------------
// Negative numbers given to flags that count
// ---------------------------------------------------------------------------------------

/// A negative number given to a flag that counts is read as its value and refused in
/// words naming the flag (not taken for an unknown flag `-1`).
#[test]
fn a_negative_count_is_refused_in_words_not_read_as_a_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    let forecast = |flag: &str, value: &str| {
        run([
            "forecast",
            "scenarios/nct02812121.toml",
            "--out",
            out,
            flag,
            value,
        ])
    };
    for (flag, value, words) in [
        ("--replicates", "-1", "-1 is out of range (1 to 1000000)"),
        ("--seed", "-1", "-1 is not a seed"),
        ("--threads", "-2", "give 1 to 1024 threads"),
    ] {
        let r = forecast(flag, value);
        r.expect_code(2);
        assert!(
            r.err().contains(flag) && r.err().contains(words),
            "{flag} {value}:\n{}",
            r.err()
        );
        assert!(!r.err().contains("unexpected argument"), "{}", r.err());
    }
    let roster = "scenarios/rosters/NCT04822922.csv";
    for args in [
        vec![
            "calendar",
            HIGH,
            "--arm",
            "low",
            "--weight",
            "60",
            "--start",
            "2027-01-04",
            "--remind-days",
            "-1",
        ],
        vec![
            "cohort",
            HIGH,
            "--roster",
            roster,
            "--out",
            out,
            "--remind-days",
            "-1",
        ],
        vec!["run", HIGH, "--out", out, "--remind-days", "-1"],
    ] {
        let r = run(&args);
        r.expect_code(2);
        assert!(
            r.err().contains("--remind-days")
                && r.err().contains("-1 is out of range: a reminder comes 0"),
            "{args:?}:\n{}",
            r.err()
        );
        assert!(!r.err().contains("unexpected argument"), "{}", r.err());
    }
    assert!(!std::path::Path::new(out).exists(), "nothing written");
}

// ---------------------------------------------------------------------------------------
// Input files past their size limit
// ---------------------------------------------------------------------------------------

/// `/dev/zero` (or any file past its limit) as a scenario, roster, record or plan is
/// refused at once with the limit, not read until memory runs out.
#[cfg(unix)]
#[test]
fn an_endless_scenario_roster_record_or_plan_is_refused_by_its_size_limit() {
    let roster = "scenarios/rosters/NCT04822922.csv";
    let r = run(["show", "/dev/zero"]);
    assert_bad_input(
        &r,
        &["/dev/zero: the file is over 1048576 bytes; a scenario file may be at most"],
    );
    let r = run(["pharmacy", HIGH, "--roster", "/dev/zero"]);
    assert_bad_input(
        &r,
        &[
            "/dev/zero: the file is over 268435456 bytes",
            "a roster may be at most",
        ],
    );
    let r = run(["pharmacy", HIGH, "--roster", roster, "--log", "/dev/zero"]);
    assert_bad_input(
        &r,
        &[
            "/dev/zero: the file is over 536870912 bytes",
            "an administration record may be at most",
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let r = run([
        "forecast",
        HIGH,
        "--plan",
        "/dev/zero",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert_bad_input(
        &r,
        &[
            "/dev/zero: the file is over 1048576 bytes",
            "a plan file may be at most",
        ],
    );
    assert!(entries(dir.path()).is_empty());
}

/// A trial's output folder in the working folder (`cohort ... --out .` makes
/// `./NCT01724398/`) does not hide the trial id: `show NCT01724398` still finds the
/// scenario.
#[cfg(unix)]
#[test]
fn a_folder_named_as_the_trial_does_not_hide_its_id() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        crate::common::root().join("scenarios"),
        dir.path().join("scenarios"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("NCT01724398")).unwrap();
    let out = assert_cmd::Command::cargo_bin("dosesim")
        .unwrap()
        .current_dir(dir.path())
        .args(["show", "NCT01724398"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("NCT01724398"));
}

// ---------------------------------------------------------------------------------------
// Issue 23, item 8: a corpus of bad scenarios and plans, every message in plain words
// ---------------------------------------------------------------------------------------

const PLAIN_SCENARIO: &str = "scenarios/nct01724398.toml";
const PLAIN_PLAN: &str = "scenarios/plans/nct01724398.toml";

/// Words of the code or of serde that no message about a file may hold: Rust type names
/// and serde's phrasing ("invalid type: integer 52, expected struct RawValue").
const CODE_WORDS: &[&str] = &[
    "Raw",
    "struct",
    "enum",
    "invalid type",
    "expected",
    "Option",
    "Vec",
    "map",
    "sequence",
    "String",
    "i64",
    "u32",
    "f64",
    "usize",
    "bool",
    "Spanned",
    "DeValue",
    "variant",
    "unknown field",
    "missing field",
    "serde",
    "Value",
];

/// One bad input: the edits that break it and every problem it must report, each as
/// (a text on the problem's line, the field, words of the message and its fix).
struct Case {
    name: &'static str,
    edits: &'static [(&'static str, &'static str)],
    problems: &'static [(&'static str, &'static str, &'static str)],
}

/// Checks a run on a bad file: status 2, nothing on stdout, exactly `case.problems` (all
/// at once), each as `file:line: field: ...` with its words, in line order, and no word of
/// the code anywhere.
fn assert_corpus_case(case: &Case, file: &str, text: &str, run: &Run) {
    let name = case.name;
    run.expect_code(2);
    // `validate` says BAD on stdout; every other command says nothing there.
    let stdout = run.out();
    assert!(
        stdout.is_empty() || stdout.starts_with("BAD "),
        "{name}: {stdout}"
    );
    let err = run.err();
    let code = regex_lite::Regex::new(&format!(r"\b({})\b", CODE_WORDS.join("|"))).unwrap();
    assert!(!code.is_match(&err), "{name}: a word of the code: {err}");
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains(&format!("{file}:")))
        .collect();
    assert_eq!(
        lines.len(),
        case.problems.len(),
        "{name}: every problem, once each:\n{err}"
    );
    let mut last = 0;
    for (needle, field, words) in case.problems {
        let (line, head) = match needle.split_once('#') {
            // No line: a key missing from the top of the file.
            _ if needle.is_empty() => (0, format!("{file}: {field}: ")),
            // The n-th line holding it (a `[[arms]]` header).
            Some((needle, nth)) => {
                let nth: usize = nth.parse().unwrap();
                let line = text
                    .lines()
                    .enumerate()
                    .filter(|(_, l)| l.contains(needle))
                    .nth(nth - 1)
                    .unwrap()
                    .0
                    + 1;
                (line, format!("{file}:{line}: {field}: "))
            }
            None => {
                let line = line_of(text, needle);
                (line, format!("{file}:{line}: {field}: "))
            }
        };
        let hit = lines
            .iter()
            .find(|l| l.contains(&head) && l.contains(words));
        assert!(hit.is_some(), "{name}: {head}... {words}\n{err}");
        assert!(line >= last, "{name}: problems in line order:\n{err}");
        last = line;
    }
}

/// Scenarios broken as people break them: a value of every kind of the wrong type,
/// missing keys, unknown keys, bare values where the record's quote belongs. Each case is
/// `validate`d; every problem of the file comes at once.
const SCENARIO_CASES: &[Case] = &[
    Case {
        name: "wrong types, one of each kind",
        edits: &[
            ("id = \"NCT01724398\"", "id = 1724398"),
            ("usual_min = 40", "usual_min = \"40\""),
            ("unit = \"cells\"", "unit = [\"cells\"]"),
            ("day = 337", "day = \"337\"\narms = \"msc\""),
            ("dose.cells_per_kg = 1e5", "dose.cells_per_kg = \"1e5\""),
            ("timing.count = 4", "timing.count = 4.0"),
            (
                "timing.window = { days_before = 2, days_after = 2, assumed = \"Assumed: a weekly infusion at most 2 days early or late.\" }",
                "timing.window = 3",
            ),
            ("duration_min.value = 30", "duration_min.value = \"thirty\""),
            ("dose.ml = 2000", "dose.ml = 2000\ndose.none = \"yes\""),
        ],
        problems: &[
            (
                "id = 1724398",
                "trial.id",
                "1724398 where text in quotes belongs: write it as id = \"1724398\"",
            ),
            (
                "usual_min = \"40\"",
                "weight_kg.usual_min",
                "the text \"40\" where a number belongs: write it as usual_min = 40",
            ),
            (
                "unit = [\"cells\"]",
                "products[0].unit",
                "a list where text in quotes belongs: write it as unit = \"cells\"",
            ),
            (
                "day = \"337\"",
                "visits[0].day",
                "the text \"337\" where a whole number belongs: write it as day = 337",
            ),
            (
                "arms = \"msc\"",
                "visits[0].arms",
                "the text \"msc\" where a list in square brackets belongs: write it as arms = [\"msc\"]",
            ),
            (
                "dose.cells_per_kg = \"1e5\"",
                "arms[1].components[0].dose.cells_per_kg",
                "write it as cells_per_kg = 1e5",
            ),
            (
                "timing.count = 4.0",
                "arms[1].components[0].timing.count",
                "4.0 where a whole number belongs: write it as count = 4",
            ),
            (
                "timing.window = 3",
                "arms[1].components[0].timing.window",
                "3 where a window belongs: write it as window = { days_before = 1, days_after = 1, assumed = \"why\" }",
            ),
            (
                "duration_min.value = \"thirty\"",
                "arms[1].components[0].duration_min.value",
                "the text \"thirty\" where a whole number belongs: write it as value = 30",
            ),
            (
                "dose.none = \"yes\"",
                "arms[2].components[0].dose.none",
                "where true or false belongs: write it as none = true",
            ),
        ],
    },
    Case {
        name: "missing keys",
        edits: &[
            ("seed = \"000_741b8ba2a7ffbf8b.txt\"\n", ""),
            ("unit = \"mL\"\n", ""),
            ("name = \"Conventional plus UC-MSC treatment\"\n", ""),
        ],
        problems: &[
            (
                "[trial]",
                "trial.seed",
                "missing: add seed = \"the registry record this file comes from\"",
            ),
            (
                "[[products]]#2",
                "products[1].unit",
                "missing: add unit = \"cells\"",
            ),
            (
                "[[arms]]#2",
                "arms[1].name",
                "missing: add name = \"UC-MSC\"",
            ),
        ],
    },
    Case {
        name: "unknown keys",
        edits: &[
            ("registry_url =", "registry_link ="),
            ("dose.cells_per_kg = 1e5", "dose.cell_per_kg = 1e5"),
            ("route.source =", "route.sauce ="),
        ],
        problems: &[
            (
                "registry_link =",
                "trial.registry_link",
                "unknown key 'registry_link': did you mean 'registry_url'?",
            ),
            (
                "dose.cell_per_kg",
                "arms[1].components[0].dose.cell_per_kg",
                "unknown key 'cell_per_kg': did you mean 'cells_per_kg'? (a dose has the keys cells_per_kg, cells, ml",
            ),
            (
                "route.sauce",
                "arms[1].components[0].route.sauce",
                "unknown key 'sauce': did you mean 'source'?",
            ),
        ],
    },
    Case {
        name: "bare values where the record's quote belongs",
        edits: &[
            (
                "route.value = \"peripheral intravenous\"",
                "route = \"peripheral intravenous\"",
            ),
            (
                "route.source = \"umbilical cord mesenchymal stem cells transplantation by peripheral vein slowly for 30minutes\"\n",
                "",
            ),
            (
                "duration_min.value = 30\nduration_min.source = \"by peripheral vein slowly for 30minutes\"",
                "duration_min = 30",
            ),
            (
                "timing.min_gap_days = { value = 5, assumed = \"Assumed: weekly infusions at least 5 days apart after any move.\" }",
                "timing.min_gap_days = { assumed = \"weekly\" }",
            ),
        ],
        problems: &[
            (
                "timing.min_gap_days = { assumed",
                "arms[1].components[0].timing.min_gap_days",
                "has no value: write it as min_gap_days = { value = 2, source = \"...\" } quoting the registry record, or min_gap_days = { value = 2, assumed = \"why\" }",
            ),
            (
                "route = \"peripheral",
                "arms[1].components[0].route",
                "the text \"peripheral intravenous\" needs its provenance: write it as route = { value = \"peripheral intravenous\", source = \"...\" } quoting the registry record, or route = { value = \"peripheral intravenous\", assumed = \"why\" }",
            ),
            (
                "duration_min = 30",
                "arms[1].components[0].duration_min",
                "30 needs its provenance: write it as duration_min = { value = 30, source = \"...\" }",
            ),
        ],
    },
];

#[test]
fn every_problem_of_a_bad_scenario_is_said_in_plain_words_at_once() {
    for case in SCENARIO_CASES {
        let text = broken_text(PLAIN_SCENARIO, case.edits);
        let (_dir, path) = temp_scenario("x.toml", &text);
        let run = crate::common::run(["validate", path.to_str().unwrap()]);
        assert_corpus_case(case, "x.toml", &text, &run);
    }
}

/// Plans broken as people break them; each is run through `forecast`, which writes
/// nothing.
const PLAN_CASES: &[Case] = &[
    Case {
        name: "wrong types and bad dates",
        edits: &[
            (
                "horizon_weeks = { value = 180,",
                "horizon_weeks = { value = \"180 weeks\",",
            ),
            (
                "start = { value = \"2027-01-04\",",
                "start = { value = 20270104,",
            ),
            ("block_size = 8", "block_size = \"8\""),
            ("msc-pe = 1 }", "msc-pe = \"one\" }"),
            ("day28 = { value = 0.24,", "day28 = { value = \"24%\","),
            ("normal = { mean = 67,", "normal = { mean = \"67 kg\","),
            ("calendar = \"GZ-SYSU3\"", "calendar = 3"),
        ],
        problems: &[
            (
                "start = { value = 20270104",
                "start.value",
                "20270104 where a date belongs: write it as value = \"2027-01-04\"",
            ),
            (
                "horizon_weeks = ",
                "horizon_weeks.value",
                "the text \"180 weeks\" where a whole number belongs: write it as value = 52",
            ),
            (
                "calendar = 3",
                "sites[1].calendar",
                "3 where text in quotes belongs: write it as calendar = \"3\"",
            ),
            (
                "msc-pe = \"one\"",
                "allocation.ratio.msc-pe",
                "the text \"one\" where a whole number belongs: write it as msc-pe = 1",
            ),
            (
                "block_size = \"8\"",
                "allocation.block_size",
                "write it as block_size = 8",
            ),
            (
                "normal = ",
                "weight_kg.normal.mean",
                "the text \"67 kg\" where a number belongs: write it as mean = 67",
            ),
            (
                "day28 = ",
                "mortality.day28.value",
                "the text \"24%\" where a number belongs: write it as value = 0.24",
            ),
        ],
    },
    Case {
        name: "a date that is not a date",
        edits: &[(
            "activation = { value = \"2027-01-04\"",
            "activation = { value = \"2027-02-30\"",
        )],
        problems: &[(
            "activation = ",
            "sites[1].activation",
            "'2027-02-30' is not a real calendar date: write it as YYYY-MM-DD",
        )],
    },
    Case {
        name: "missing keys and tables, unknown keys",
        edits: &[
            (
                "horizon_weeks = { value = 180,",
                "horizon_week = { value = 180,",
            ),
            ("rate_per_month = { value = 5,", "rate = { value = 5,"),
            ("lot_cells = { value = 1e9,", "lot = { value = 1e9,"),
        ],
        problems: &[
            (
                "",
                "horizon_weeks",
                "missing: add horizon_weeks = { value = 52, source = \"...\" }",
            ),
            (
                "horizon_week = ",
                "horizon_week",
                "unknown key 'horizon_week': did you mean 'horizon_weeks'?",
            ),
            (
                "[[sites]]",
                "sites[1].rate_per_month",
                "missing: add rate_per_month = { value = 5, source = \"...\" }",
            ),
            ("rate = ", "sites[1].rate", "unknown key 'rate'"),
            (
                "[product.uc_msc]",
                "product.uc_msc.lot_cells",
                "missing: add lot_cells = { value = 1e9",
            ),
            (
                "lot = ",
                "product.uc_msc.lot",
                "unknown key 'lot': did you mean 'lot_cells'?",
            ),
        ],
    },
];

/// The forecast of NCT01724398 with the plan `text`, into a folder that must stay unmade.
fn forecast_plan(text: &str) -> (tempfile::TempDir, Run) {
    let dir = tempfile::tempdir().unwrap();
    let plan = write_file(dir.path(), "plan.toml", text);
    let out = dir.path().join("out");
    let run = crate::common::run([
        "forecast".as_ref(),
        PLAIN_SCENARIO.as_ref(),
        "--plan".as_ref(),
        plan.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    assert!(!out.exists(), "nothing written");
    (dir, run)
}

#[test]
fn every_problem_of_a_bad_plan_is_said_in_plain_words_at_once() {
    for case in PLAN_CASES {
        let text = broken_text(PLAIN_PLAN, case.edits);
        let (_dir, run) = forecast_plan(&text);
        assert_corpus_case(case, "plan.toml", &text, &run);
    }
}

/// A plan written the obvious way, bare numbers and a weight's mean and SD: one run lists
/// every value that needs its provenance and every key that is not a plan's, each with
/// the fix. (It took six runs, one problem each, in serde's words.)
#[test]
fn a_plan_written_the_obvious_way_gets_every_fix_in_one_run() {
    let text = "\
trial = \"NCT01724398\"
target_patients = 120
start = 2027-01-04
horizon_weeks = 52

[[sites]]
id = \"GZ-SYSU3\"
activation = 2027-01-04
rate_per_month = 5

[allocation]
ratio = { conventional = 1, msc = 1, pe = 1, msc-pe = 1 }
block_size = 8

[weight_kg]
mean = 67
sd = 14

[mortality]
day28 = 0.24
day90 = 0.35
dropout_per_month = 0.01
";
    let case = Case {
        name: "the obvious plan",
        edits: &[],
        problems: &[
            (
                "target_patients = 120",
                "target_patients",
                "120 needs its provenance: write it as target_patients = { value = 120, source = \"...\" } quoting the registry record, or target_patients = { value = 120, assumed = \"why\" }",
            ),
            (
                "start = 2027",
                "start",
                "write it as start = { value = 2027-01-04, source = \"...\" }",
            ),
            (
                "horizon_weeks = 52",
                "horizon_weeks",
                "52 needs its provenance: write it as horizon_weeks = { value = 52, source = \"...\" } quoting the registry record, or horizon_weeks = { value = 52, assumed = \"why\" }",
            ),
            (
                "activation = 2027",
                "sites[1].activation",
                "write it as activation = { value = 2027-01-04, source",
            ),
            (
                "rate_per_month = 5",
                "sites[1].rate_per_month",
                "write it as rate_per_month = { value = 5, source",
            ),
            (
                "mean = 67",
                "weight_kg.mean",
                "unknown key 'mean': it belongs in normal, as in normal = { mean = 67, sd = 14, min = 40, max = 110 } (the [weight_kg] table has the keys normal, roster, source, assumed)",
            ),
            ("sd = 14", "weight_kg.sd", "unknown key 'sd'"),
            (
                "day28 = 0.24",
                "mortality.day28",
                "write it as day28 = { value = 0.24, source",
            ),
            (
                "day90 = 0.35",
                "mortality.day90",
                "write it as day90 = { value = 0.35, source",
            ),
            (
                "dropout_per_month = 0.01",
                "mortality.dropout_per_month",
                "write it as dropout_per_month = { value = 0.01, source",
            ),
        ],
    };
    let (_dir, run) = forecast_plan(text);
    assert_corpus_case(&case, "plan.toml", text, &run);
}
