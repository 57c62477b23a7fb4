//! The chart commands end to end, through the real binary: `chart`, `compare` and
//! `timeline` write readable PNG and SVG files, the same twice over, and bad input exits
//! with status 2 without writing anything.

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

fn dosesim() -> Command {
    let mut cmd = Command::cargo_bin("dosesim").unwrap();
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    cmd
}

fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap();
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    (info.width, info.height)
}

/// The text nodes of an SVG file, which must parse as XML.
fn svg_texts(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(|t| t.trim().to_string())
        .collect()
}

#[test]
fn chart_writes_a_png_and_the_same_bytes_twice() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.png");
    let b = dir.path().join("b.png");
    for out in [&a, &b] {
        dosesim()
            .args([
                "chart",
                "scenarios/nct04822922.toml",
                "--weight",
                "62.5",
                "--out",
            ])
            .arg(out)
            .assert()
            .success();
    }
    assert_eq!(png_size(&a), (1000, 600));
    assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap());
}

#[test]
fn chart_writes_an_svg_with_dates_and_per_kg_units() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("high.svg");
    dosesim()
        .args([
            "chart",
            "scenarios/nct01724398.toml",
            "--arm",
            "msc-pe",
            "--arm",
            "msc",
            "--start",
            "2026-12-30",
            "--per-kg",
            "--out",
        ])
        .arg(&out)
        .assert()
        .success()
        // msc-pe's infusion days are an assumption: the chart says so, like the calendar.
        .stderr(contains("uc_msc timing").and(contains("assumed")));
    let texts = svg_texts(&out);
    assert!(texts.contains(&"Cumulative dose (cells/kg)".to_string()));
    assert!(texts.contains(&"Date (study day 1 = Wed 2026-12-30)".to_string()));
    assert!(texts.contains(&"msc-pe".to_string()) && texts.contains(&"msc".to_string()));
    assert!(
        !texts.contains(&"conventional".to_string()),
        "only the chosen arms"
    );
}

#[test]
fn compare_draws_all_scenarios_on_a_log_axis() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("compare.svg");
    dosesim()
        .args(["compare", "--log", "--reference-weight", "70", "--out"])
        .arg(&svg)
        .assert()
        .success();
    let texts = svg_texts(&svg);
    assert!(texts.contains(&"10⁵".to_string()), "{texts:?}");
    assert!(texts.contains(&"NCT05106972 msc *".to_string()));
    assert!(
        texts
            .iter()
            .any(|t| t.contains("reference weight of 70 kg"))
    );

    let png = dir.path().join("compare.png");
    dosesim()
        .args(["compare", "scenarios/nct04822922.toml", "--out"])
        .arg(&png)
        .assert()
        .success();
    assert_eq!(png_size(&png), (1000, 600));
}

#[test]
fn timeline_has_a_lane_height_per_arm() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("timeline.png");
    dosesim()
        .args(["timeline", "scenarios/nct01724398.toml", "--out"])
        .arg(&out)
        .assert()
        .success();
    assert_eq!(png_size(&out), (1000, 120 + 70 * 4));
    let svg = dir.path().join("timeline.svg");
    dosesim()
        .args([
            "timeline",
            "scenarios/nct05106972.toml",
            "--weight",
            "80",
            "--out",
        ])
        .arg(&svg)
        .assert()
        .success();
    assert!(svg_texts(&svg).contains(&"Study day".to_string()));
}

#[test]
fn an_unknown_arm_exits_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.png");
    dosesim()
        .args([
            "chart",
            "scenarios/nct04822922.toml",
            "--arm",
            "huge",
            "--out",
        ])
        .arg(&out)
        .assert()
        .code(2)
        .stderr(contains("unknown arm 'huge'").and(contains("low, middle, high")));
    assert!(!out.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn an_output_that_is_not_png_or_svg_exits_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["chart", "scenarios/nct04822922.toml"],
        vec!["compare"],
        vec!["timeline", "scenarios/nct04822922.toml"],
    ] {
        let out = dir.path().join("chart.pdf");
        dosesim()
            .args(&args)
            .arg("--out")
            .arg(&out)
            .assert()
            .code(2)
            .stderr(contains("--out").and(contains(".png or .svg")));
        assert!(!out.exists());
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn every_problem_is_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.txt");
    dosesim()
        .args([
            "chart",
            "scenarios/nct04822922.toml",
            "--arm",
            "nope",
            "--weight",
            "0",
            "--out",
        ])
        .arg(&out)
        .assert()
        .code(2)
        .stderr(
            contains("3 problems")
                .and(contains("--weight"))
                .and(contains("--out"))
                .and(contains("nope")),
        );
    assert!(!out.exists());
}

#[test]
fn a_missing_scenario_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.svg");
    dosesim()
        .args(["timeline", "scenarios/no-such-trial.toml", "--out"])
        .arg(&out)
        .assert()
        .code(2);
    assert!(!out.exists());
}

/// Regression: charts drawn from an assumed dose or assumed days did not say so.
#[test]
fn charts_name_the_assumed_values_they_draw() {
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("c.svg");
    dosesim()
        .args(["chart", "scenarios/nct02812121.toml", "--out"])
        .arg(&chart)
        .assert()
        .success();
    let texts = svg_texts(&chart);
    assert!(
        texts.contains(&"Assumed, not in the registry record: msc-8w dose, msc-4w dose".into()),
        "{texts:?}"
    );
    let timeline = dir.path().join("t.svg");
    dosesim()
        .args(["timeline", "scenarios/nct01724398.toml", "--out"])
        .arg(&timeline)
        .assert()
        .success();
    let texts = svg_texts(&timeline);
    assert!(
        texts.contains(&"Assumed, not in the registry record: msc-pe days".into()),
        "{texts:?}"
    );
    assert!(
        texts.contains(&"Visits after the axis: Week 48 study visit on day 337".into()),
        "{texts:?}"
    );
    // A trial with nothing assumed in its doses says nothing.
    let plain = dir.path().join("p.svg");
    dosesim()
        .args(["chart", "scenarios/nct05106972.toml", "--out"])
        .arg(&plain)
        .assert()
        .success();
    assert!(!svg_texts(&plain).iter().any(|t| t.starts_with("Assumed")));
}

/// A named pipe `name` in a new temporary folder.
#[cfg(unix)]
fn named_pipe(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let pipe = dir.path().join(name);
    let made = std::process::Command::new("mkfifo")
        .arg(&pipe)
        .status()
        .expect("the mkfifo command runs");
    assert!(made.success(), "mkfifo {}", pipe.display());
    (dir, pipe)
}

/// Regression: `--out /dev/null` replaced the device with a regular file (a rename). A named
/// pipe stands in for the device, so the machine's /dev/null is left alone.
#[cfg(unix)]
#[test]
fn writing_to_a_device_leaves_the_device() {
    use std::os::unix::fs::FileTypeExt;
    use std::time::Duration;
    let is_fifo = |p: &Path| std::fs::metadata(p).unwrap().file_type().is_fifo();

    let (_dir, refused) = named_pipe("timeline");
    dosesim()
        .args(["timeline", "scenarios/nct01724398.toml", "--out"])
        .arg(&refused)
        .timeout(Duration::from_secs(60))
        .assert()
        .code(2); // not a .png or .svg name
    assert!(is_fifo(&refused), "the pipe was replaced");

    let (_dir, pipe) = named_pipe("calendar");
    let (tx, rx) = std::sync::mpsc::channel();
    let reading = pipe.clone();
    std::thread::spawn(move || {
        let _ = tx.send(std::fs::read(reading).unwrap());
    });
    let args = [
        "calendar",
        "scenarios/nct04822922.toml",
        "--arm",
        "low",
        "--weight",
        "60",
        "--start",
        "2027-01-01",
    ];
    dosesim()
        .args(args)
        .arg("--out")
        .arg(&pipe)
        .timeout(Duration::from_secs(60))
        .assert()
        .success();
    assert!(is_fifo(&pipe), "the pipe was replaced");
    let read = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the reader reads the pipe to the end");
    let printed = dosesim().args(args).output().unwrap();
    assert!(printed.status.success());
    assert_eq!(
        String::from_utf8_lossy(&read),
        String::from_utf8_lossy(&printed.stdout)
    );
}

#[test]
fn a_start_past_the_calendar_exits_2_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("late.svg");
    dosesim()
        .args([
            "chart",
            "scenarios/nct04822922.toml",
            "--start",
            "9999-12-01",
            "--out",
        ])
        .arg(&out)
        .assert()
        .code(2)
        .stderr(
            contains("nct04822922.toml: --start: arm low:")
                .and(contains("outside the calendar the outputs can show")),
        );
    assert!(!out.exists());
}

/// The `<circle>` elements of an SVG file: (cx, cy, r, fill).
fn svg_circles(path: &Path) -> Vec<(f64, f64, f64, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let num = |n: &roxmltree::Node, a: &str| n.attribute(a).unwrap().parse::<f64>().unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name("circle"))
        .map(|n| {
            let fill = n.attribute("fill").unwrap_or("").to_string();
            (num(&n, "cx"), num(&n, "cy"), num(&n, "r"), fill)
        })
        .collect()
}

/// Regression (issue 23): the high arm's infusions, three days apart, were drawn as circles
/// overlapping each other.
#[test]
fn timeline_circles_of_one_lane_do_not_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.svg");
    dosesim()
        .args(["timeline", "scenarios/nct04822922.toml", "--out"])
        .arg(&out)
        .assert()
        .success();
    // Each marker is a fill and an outline on the same spot; the legend's sits elsewhere.
    let mut circles: Vec<(f64, f64, f64)> = svg_circles(&out)
        .into_iter()
        .map(|(x, y, r, _)| (x, y, r))
        .collect();
    circles.sort_by(|a, b| a.partial_cmp(b).unwrap());
    circles.dedup();
    let mut pairs = 0;
    for (i, a) in circles.iter().enumerate() {
        for b in &circles[i + 1..] {
            if a.1 == b.1 {
                pairs += 1;
                assert!(
                    (a.0 - b.0).abs() >= a.2 + b.2,
                    "circles at x {} and {} (r {} and {}) overlap",
                    a.0,
                    b.0,
                    a.2,
                    b.2
                );
            }
        }
    }
    assert!(pairs >= 3 * 6, "three lanes of four infusions: {circles:?}");
}

/// The dates of an axis's tick labels, in order.
fn tick_dates(texts: &[String]) -> Vec<chrono::NaiveDate> {
    texts
        .iter()
        .filter_map(|t| chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").ok())
        .collect()
}

/// True when the dates step evenly: a fixed number of days, or a fixed number of months
/// from month start to month start.
fn evenly_spaced(dates: &[chrono::NaiveDate]) -> bool {
    use chrono::Datelike;
    let days: Vec<i64> = dates.windows(2).map(|w| (w[1] - w[0]).num_days()).collect();
    let months: Vec<i32> = dates
        .windows(2)
        .map(|w| (w[1].year() - w[0].year()) * 12 + w[1].month() as i32 - w[0].month() as i32)
        .collect();
    days.windows(2).all(|w| w[0] == w[1])
        || (dates.iter().all(|d| d.day() == 1) && months.windows(2).all(|w| w[0] == w[1]))
}

/// Regression (issue 23): a month-based schedule's axis read "Study day (day 1 =
/// 2026-01-01 ...)", and dated ticks fell at uneven steps from day 1.
#[test]
fn the_day_axis_reads_dates_at_even_steps() {
    let dir = tempfile::tempdir().unwrap();
    let monthly = dir.path().join("m.svg");
    dosesim()
        .args(["chart", "scenarios/nct01573923.toml", "--out"])
        .arg(&monthly)
        .assert()
        .success();
    let texts = svg_texts(&monthly);
    assert!(
        texts.contains(&"Date (study day 1 taken as Thu 2026-01-01)".to_string()),
        "{texts:?}"
    );
    assert!(
        !texts.iter().any(|t| t.contains("day 1 = 2026")),
        "{texts:?}"
    );
    let ticks = tick_dates(&texts);
    assert!(ticks.len() >= 3, "{texts:?}");
    assert!(evenly_spaced(&ticks), "{ticks:?}");

    for (scenario, start) in [
        ("scenarios/nct04822922.toml", "2026-12-30"),
        ("scenarios/nct01724398.toml", "2027-02-03"),
        ("scenarios/nct01573923.toml", "2026-05-17"),
    ] {
        let out = dir.path().join("d.svg");
        dosesim()
            .args(["chart", scenario, "--start", start, "--out"])
            .arg(&out)
            .assert()
            .success();
        let ticks = tick_dates(&svg_texts(&out));
        assert!(ticks.len() >= 3, "{scenario}: {ticks:?}");
        assert!(evenly_spaced(&ticks), "{scenario}: {ticks:?}");
    }
}

/// Regression (issue 23): a patient (or arm) given plasma exchanges alone got an empty
/// "cumulative cell dose" chart.
#[test]
fn a_plasma_exchange_arm_is_charted_in_ml_of_plasma() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pe.svg");
    dosesim()
        .args([
            "chart",
            "scenarios/nct01724398.toml",
            "--arm",
            "pe",
            "--out",
        ])
        .arg(&out)
        .assert()
        .success();
    let texts = svg_texts(&out);
    assert!(
        texts.contains(&"Cumulative plasma exchanged (mL)".to_string()),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains("cumulative plasma exchanged (mL)")),
        "{texts:?}"
    );
    // Three exchanges of 2000 mL: 6000 mL on the axis.
    assert!(texts.contains(&"6000".to_string()), "{texts:?}");
    assert!(
        !texts
            .iter()
            .any(|t| t.contains("cell dose") || t.contains("No cell doses")),
        "{texts:?}"
    );
}

/// Regression (issue 23): the compare chart's first doses were drawn on its y axis.
#[test]
fn compare_keeps_day_one_clear_of_the_y_axis() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("compare.svg");
    dosesim()
        .args(["compare", "--log", "--out"])
        .arg(&svg)
        .assert()
        .success();
    let text = std::fs::read_to_string(&svg).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    // The y axis is where the horizontal grid lines start.
    let axis_x = doc
        .descendants()
        .filter(|n| n.has_tag_name("line"))
        .filter(|n| n.attribute("y1") == n.attribute("y2"))
        .filter_map(|n| n.attribute("x1")?.parse::<f64>().ok())
        .fold(f64::INFINITY, f64::min);
    let first_marker = svg_circles(&svg)
        .iter()
        .map(|c| c.0 - c.2)
        .fold(f64::INFINITY, f64::min);
    assert!(
        first_marker >= axis_x + 3.0,
        "a day-1 marker reaches x {first_marker}, the axis is at {axis_x}"
    );
}

/// Regression (issue 23): on a patient's chart an overdue dose, never given, was drawn as
/// given (solid, filled), and a dose moved off a closed day looked like any other.
#[test]
fn a_patient_chart_marks_overdue_and_moved_doses() {
    let dir = tempfile::tempdir().unwrap();
    let roster = dir.path().join("roster.csv");
    // Wednesday start at a site closed at weekends: day 4 is a Saturday, moved.
    std::fs::write(
        &roster,
        "patient_id,arm,weight_kg,start_date,site\nP1,high,60,2026-03-04,SITE-01\n",
    )
    .unwrap();
    let log = dir.path().join("log.csv");
    std::fs::write(
        &log,
        "patient_id,date,record,component,occurrence,amount,note\nP1,2026-03-04,given,uc_msc,1,,\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    dosesim()
        .args(["cohort", "scenarios/nct04822922.toml", "--roster"])
        .arg(&roster)
        .arg("--log")
        .arg(&log)
        .args(["--as-of", "2026-03-11", "--out"])
        .arg(&out)
        .assert()
        .success();
    let svg = out.join("NCT04822922/patients/P1.svg");
    let texts = svg_texts(&svg);
    assert!(
        texts.contains(&"Overdue: not recorded as given".to_string()),
        "{texts:?}"
    );
    assert!(
        texts.contains(&"Moved off a closed day".to_string()),
        "{texts:?}"
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    // The overdue doses' markers are outlines on white, the legend's one too.
    let hollow = text.matches("fill=\"#FFFFFF\"").count();
    assert!(hollow >= 3, "{hollow} hollow marks");
    // Rings: the moved dose's and the legend's.
    let rings = svg_circles(&svg).iter().filter(|c| c.2 == 9.0).count();
    assert!(rings >= 2, "{rings} rings");
}
