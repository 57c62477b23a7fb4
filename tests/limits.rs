//! Every chart copes with every scenario `validate` accepts: a scenario at all the limits
//! of `dosesim::limits` (20 arms of 10 components, 2,000 events an arm, 100 visits, names
//! of 300 characters, ids of 64, study days up to 36,500) passes `validate`, and `chart`,
//! `timeline`, `compare` (with the bundled trials, and with 30 copies of it) and `cohort`
//! all succeed and write readable PNGs of a bounded size.

use std::path::{Path, PathBuf};

use crate::common::*;

/// The largest chart side any chart command draws on its own (the chart code refuses
/// more than 8,000 pixels).
const MAX_SIDE: u32 = 2000;

/// A folder holding the scenario at the limits, as `limits.toml`.
fn limits_file() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(
        dir.path(),
        "limits.toml",
        &limits_scenario(&padded("LIMITS-", 64)),
    );
    (dir, path)
}

/// The size of a PNG file, which must decode whole, and is within [`MAX_SIDE`].
fn bounded_png(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (w, h) = png_size(&bytes);
    assert!(
        (320..=MAX_SIDE).contains(&w) && (150..=MAX_SIDE).contains(&h),
        "{}: {w}x{h} px",
        path.display()
    );
    (w, h)
}

#[test]
fn the_scenario_at_the_limits_is_valid() {
    let (_dir, scenario) = limits_file();
    let text = std::fs::read_to_string(&scenario).unwrap();
    assert!(
        text.len() <= dosesim::limits::MAX_SCENARIO_BYTES,
        "{} bytes",
        text.len()
    );
    run(["validate".as_ref(), scenario.as_os_str()]).expect_code(0);
    // Each arm holds as many events as allowed: the calendar of one patient says so.
    let arm = padded("arm07-", 64);
    let out = calendar(
        scenario.to_str().unwrap(),
        &arm,
        "60",
        "2027-01-04",
        &["--format", "csv"],
    );
    out.expect_code(0);
    let (_, rows) = parse_csv(&out.stdout);
    assert_eq!(rows.len(), dosesim::limits::MAX_EVENTS_PER_ARM);
    let last_day = rows
        .iter()
        .map(|r| r.study_day.parse::<usize>().unwrap())
        .max();
    assert_eq!(last_day, Some(dosesim::limits::MAX_DAY));
}

#[test]
fn chart_and_timeline_draw_every_arm_at_the_limits() {
    let (dir, scenario) = limits_file();
    for (cmd, file) in [
        ("chart", "chart.png"),
        ("timeline", "timeline.png"),
        ("chart", "chart.svg"),
        ("timeline", "timeline.svg"),
    ] {
        let out = dir.path().join(file);
        run([
            cmd.as_ref(),
            scenario.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ])
        .expect_code(0);
        if file.ends_with(".png") {
            bounded_png(&out);
            continue;
        }
        let texts = svg_texts(&std::fs::read_to_string(&out).unwrap());
        // Every arm is named: on the legend or as a lane, shortened to fit.
        for a in 0..dosesim::limits::MAX_ARMS {
            let prefix = format!("arm{a:02}-");
            assert!(
                texts.iter().any(|t| t.starts_with(&prefix)),
                "{cmd}: no {prefix} in {texts:?}"
            );
        }
        assert!(
            texts.iter().all(|t| t.chars().count() < 200),
            "{cmd}: an unshortened label"
        );
    }
    let (_, h) = bounded_png(&dir.path().join("timeline.png"));
    assert_eq!(h, 120 + 70 * 20, "20 lanes of 70 pixels");
    // A chart of one arm, per kg, on dates: the day axis runs 100 years.
    let out = dir.path().join("one.png");
    run([
        "chart".as_ref(),
        scenario.as_os_str(),
        "--arm".as_ref(),
        padded("arm19-", 64).as_ref(),
        "--per-kg".as_ref(),
        "--start".as_ref(),
        "2027-01-04".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ])
    .expect_code(0);
    assert_eq!(bounded_png(&out), (1000, 600));
}

#[test]
fn compare_draws_the_limits_with_the_bundled_trials() {
    let (dir, scenario) = limits_file();
    let out = dir.path().join("compare.svg");
    let mut args: Vec<&std::ffi::OsStr> = vec!["compare".as_ref(), scenario.as_os_str()];
    args.extend(SCENARIOS.iter().map(std::ffi::OsStr::new));
    args.extend(["--log".as_ref(), "--out".as_ref(), out.as_os_str()]);
    run(&args).expect_code(0);
    let texts = svg_texts(&std::fs::read_to_string(&out).unwrap());
    // 20 arms of the limits (all give cells) and the bundled trials' 9 with cells.
    assert!(
        texts.iter().any(|t| t.contains("29 arms of 6 trials")),
        "{texts:?}"
    );
    let png = out.with_extension("png");
    *args.last_mut().unwrap() = png.as_os_str();
    run(&args).expect_code(0);
    assert_eq!(bounded_png(&png), (1000, 600));
}

/// `compare` takes any number of files: 30 trials of 20 arms each are 600 curves, all
/// drawn, with a legend that lists what fits and says how many it leaves out.
#[test]
fn compare_draws_thirty_trials_at_the_limits() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = (0..30)
        .map(|k| {
            let id = padded(&format!("L{k:02}-"), 64);
            write_file(dir.path(), &format!("l{k:02}.toml"), &limits_scenario(&id))
        })
        .collect();
    for out in ["compare.png", "compare.svg"] {
        let out = dir.path().join(out);
        let mut args: Vec<&std::ffi::OsStr> = vec!["compare".as_ref()];
        args.extend(files.iter().map(|f| f.as_os_str()));
        args.extend(["--out".as_ref(), out.as_os_str()]);
        run(&args).expect_code(0);
        if out.extension().unwrap() == "png" {
            assert_eq!(bounded_png(&out), (1000, 600));
            continue;
        }
        let texts = svg_texts(&std::fs::read_to_string(&out).unwrap());
        assert!(
            texts.iter().any(|t| t.contains("600 arms of 30 trials")),
            "{texts:?}"
        );
        let more = texts
            .iter()
            .find(|t| t.contains("more series not listed"))
            .unwrap_or_else(|| panic!("no note of the series left out: {texts:?}"));
        let listed = texts.iter().filter(|t| t.starts_with('L')).count();
        assert!(
            more.starts_with(&format!("+{} more", 600 - listed)),
            "{more}"
        );
    }
}

#[test]
fn cohort_at_the_limits_writes_every_chart() {
    let (dir, scenario) = limits_file();
    let arm = |a: usize| padded(&format!("arm{a:02}-"), 64);
    let roster = write_roster(
        dir.path(),
        "roster.csv",
        &[
            &format!("P-1,{},60,2027-01-04", arm(0)),
            &format!("P-2,{},3.5,2027-06-30", arm(9)),
            &format!("P-3,{},349,2026-02-28", arm(19)),
        ],
    );
    let out = dir.path().join("out");
    cohort(&scenario, &roster, &out).expect_code(0);
    let trial = out.join(padded("LIMITS-", 64));
    for p in ["P-1", "P-2", "P-3"] {
        assert_eq!(
            bounded_png(&trial.join("patients").join(format!("{p}.png"))),
            (800, 450)
        );
    }
    let html = std::fs::read_to_string(trial.join("report.html")).unwrap();
    let svgs = inline_svgs(&html);
    assert_eq!(
        svgs.len(),
        2 + 3,
        "timeline, cumulative and a chart per patient"
    );
    for svg in svgs {
        svg_texts(svg);
    }
    // Each patient's own page holds their chart too.
    let page = std::fs::read_to_string(trial.join("patients/P-3.html")).unwrap();
    assert_eq!(inline_svgs(&page).len(), 1);
}
