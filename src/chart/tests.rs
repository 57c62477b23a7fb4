//! Tests of the charts against the bundled scenarios: the outputs are well-formed, carry
//! their axis titles with units, have the asked size, and are byte-for-byte reproducible.

use std::path::Path;

use super::cumulative::{arm_events, steps};
use super::*;
use crate::scenario;

fn trial(file: &str) -> Trial {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(file);
    scenario::load(&path).unwrap()
}

fn all_trials() -> Vec<Trial> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    scenario::files_in(&dir)
        .unwrap()
        .iter()
        .map(|f| scenario::load(f).unwrap())
        .collect()
}

/// Every text node of an SVG, which must parse as XML.
fn svg_texts(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).expect("the SVG is well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .map(|t| t.trim().to_string())
        .collect()
}

fn png_size(bytes: &[u8]) -> (u32, u32) {
    let decoder = ::png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut buf = vec![
        0;
        reader
            .output_buffer_size()
            .expect("a buffer size that fits")
    ];
    let info = reader.next_frame(&mut buf).expect("PNG pixels");
    (info.width, info.height)
}

#[test]
fn cumulative_svg_is_xml_with_titles_and_units() {
    let t = trial("nct04822922.toml");
    let arms: Vec<&Arm> = t.arms.iter().collect();
    let svg = cumulative_svg(&t, &arms, 62.5, None, false, DEFAULT_SIZE).unwrap();
    let texts = svg_texts(&svg);
    assert!(texts.contains(&"NCT04822922: cumulative UC-MSC dose, 62.5 kg".to_string()));
    assert!(texts.contains(&"Study day".to_string()), "{texts:?}");
    assert!(texts.contains(&"Cumulative dose (cells)".to_string()));
    for id in ["low", "middle", "high"] {
        assert!(texts.contains(&id.to_string()), "legend lacks {id}");
    }
    // The high arm's total at 62.5 kg, 4 x 1.2e6 x 62.5 = 3e8, is on the axis.
    assert!(texts.iter().any(|t| t == "3 x 10⁸"), "{texts:?}");
    assert!(!texts.iter().any(|t| t.contains('^')), "{texts:?}");
    assert!(
        texts.contains(&"1-month safety visit (primary endpoint)".to_string()),
        "visits are marked by name: {texts:?}"
    );
    assert!(svg.contains(r#"font-family="sans-serif""#));
}

#[test]
fn per_kg_and_dates_change_the_axes() {
    let t = trial("nct05106972.toml");
    let arms: Vec<&Arm> = t.arms.iter().collect();
    let start = NaiveDate::from_ymd_opt(2026, 12, 30);
    let svg = cumulative_svg(&t, &arms, 50.0, start, true, DEFAULT_SIZE).unwrap();
    let texts = svg_texts(&svg);
    assert!(texts.contains(&"Cumulative dose (cells/kg)".to_string()));
    assert!(texts.contains(&"Date (study day 1 = Wed 2026-12-30)".to_string()));
    assert!(texts.iter().any(|t| t.starts_with("2027-")), "{texts:?}");
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("Fixed doses divided by the 50 kg"))
    );
}

#[test]
fn cumulative_png_decodes_at_the_asked_size() {
    let t = trial("nct01724398.toml");
    let arms: Vec<&Arm> = t.arms.iter().collect();
    let png = cumulative_png(&t, &arms, 60.0, None, false, (800, 500)).unwrap();
    assert_eq!(png_size(&png), (800, 500));
}

#[test]
fn renders_are_byte_identical() {
    let t = trial("nct01724398.toml");
    let arms: Vec<&Arm> = t.arms.iter().collect();
    let a = cumulative_png(&t, &arms, 60.0, None, false, DEFAULT_SIZE).unwrap();
    let b = cumulative_png(&t, &arms, 60.0, None, false, DEFAULT_SIZE).unwrap();
    assert!(a == b, "two PNG renders differ");
    let trials = all_trials();
    let a = compare_svg(&trials, 60.0, true, DEFAULT_SIZE).unwrap();
    let b = compare_svg(&trials, 60.0, true, DEFAULT_SIZE).unwrap();
    assert_eq!(a, b);
    let a = timeline_png(&t, 60.0, timeline_size(t.arms.len())).unwrap();
    let b = timeline_png(&t, 60.0, timeline_size(t.arms.len())).unwrap();
    assert!(a == b, "two timeline renders differ");
}

/// The chunk types of a PNG file, in order.
fn png_chunks(bytes: &[u8]) -> Vec<String> {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let mut chunks = Vec::new();
    let mut at = 8;
    while at + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        chunks.push(String::from_utf8_lossy(&bytes[at + 4..at + 8]).into_owned());
        at += 12 + len;
    }
    chunks
}

/// The PNG is the SVG rasterised: same size, pixels only (no time, no software name), so
/// equal inputs give equal files.
#[test]
fn png_holds_pixels_only_at_the_asked_size() {
    let t = trial("nct02812121.toml");
    let arms: Vec<&Arm> = t.arms.iter().collect();
    for size in [(320, 150), (800, 450), (1000, 600), (1234, 777)] {
        let png = cumulative_png(&t, &arms, 60.0, None, false, size).unwrap();
        assert_eq!(png_size(&png), size);
        let mut chunks = png_chunks(&png);
        chunks.dedup();
        assert_eq!(chunks, ["IHDR", "IDAT", "IEND"]);
    }
}

#[test]
fn compare_draws_every_arm_with_cells() {
    let trials = all_trials();
    let svg = compare_svg(&trials, 70.0, false, DEFAULT_SIZE).unwrap();
    let texts = svg_texts(&svg);
    for label in [
        "NCT04822922 high",
        "NCT02812121 msc-8w",
        "NCT01724398 msc-pe",
        "NCT05106972 msc *",
        "NCT01573923 msc *",
    ] {
        assert!(
            texts.contains(&label.to_string()),
            "{label} not in {texts:?}"
        );
    }
    assert!(
        !texts.iter().any(|t| t.contains("control")),
        "arms without cells are left out"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("same curve as NCT01724398 msc")),
        "NCT02812121 msc-4w is hidden under it: {texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains("reference weight of 70 kg"))
    );
    assert!(texts.contains(&"Cumulative dose (cells/kg)".to_string()));

    let log = compare_svg(&trials, 60.0, true, DEFAULT_SIZE).unwrap();
    let texts = svg_texts(&log);
    assert!(texts.contains(&"10⁴".to_string()), "{texts:?}");
    assert!(texts.contains(&"10⁷".to_string()));
    assert!(
        texts
            .iter()
            .any(|t| t.contains("log scale from 10⁴ cells/kg")),
        "{texts:?}"
    );
    assert!(!texts.iter().any(|t| t.contains('^')), "{texts:?}");
    let png = compare_png(&trials, 60.0, true, DEFAULT_SIZE).unwrap();
    assert_eq!(png_size(&png), DEFAULT_SIZE);
}

#[test]
fn timeline_has_a_lane_per_arm() {
    let t = trial("nct01724398.toml");
    let size = timeline_size(t.arms.len());
    let svg = timeline_svg(&t, 60.0, size).unwrap();
    let texts = svg_texts(&svg);
    for id in t.arm_ids() {
        assert!(texts.contains(&id.to_string()), "no lane for {id}");
    }
    assert!(texts.contains(&"Study day".to_string()));
    assert!(texts.contains(&"NCT01724398: dosing timeline by arm".to_string()));
    assert!(
        texts
            .iter()
            .any(|t| t.contains("(largest 6 x 10⁶ cells at 60 kg)")),
        "{texts:?}"
    );
    assert_eq!(png_size(&timeline_png(&t, 60.0, size).unwrap()), size);
}

#[test]
fn a_dose_is_a_step_not_a_ramp() {
    let (corners, marks) = steps(&[(1.0, 2.0), (8.0, 2.0), (8.0, 1.0)], 20.0);
    assert_eq!(
        corners,
        vec![
            (0.0, 0.0),
            (1.0, 0.0),
            (1.0, 2.0),
            (8.0, 2.0),
            (8.0, 4.0),
            (8.0, 4.0),
            (8.0, 5.0),
            (20.0, 5.0)
        ]
    );
    assert_eq!(marks, vec![(1.0, 2.0), (8.0, 4.0), (8.0, 5.0)]);
}

#[test]
fn per_kg_uses_the_registry_dose_and_converts_fixed_doses() {
    let t = trial("nct01724398.toml");
    let ev = arm_events(
        &t,
        t.arm("msc-pe").unwrap(),
        61.3,
        DEFAULT_START,
        true,
        None,
    )
    .unwrap();
    assert_eq!(
        ev.doses.iter().map(|d| d.1).collect::<Vec<_>>(),
        vec![1e5; 4]
    );
    assert!(!ev.converted_fixed);
    assert_eq!(ev.exchanges.len(), 3, "exchanges are kept apart from cells");

    let t = trial("nct05106972.toml");
    let ev = arm_events(&t, &t.arms[0], 50.0, DEFAULT_START, true, None).unwrap();
    assert_eq!(ev.doses, vec![(1.0, 2e6), (169.0, 2e6)]);
    assert!(ev.converted_fixed);
    assert_eq!(
        ev.visits,
        vec![(505.0, "Week 72 outcome visit".to_string())]
    );
}

#[test]
fn a_size_too_small_to_read_is_refused() {
    let t = trial("nct05106972.toml");
    assert!(timeline_svg(&t, 60.0, (10, 10)).is_err());
    assert!(timeline_png(&t, 60.0, (0, 0)).is_err());
}

/// Layering: the chart code says what went wrong in its own terms; which flag to blame is
/// the command's business.
#[test]
fn chart_errors_name_no_command_line_flag() {
    let t = trial("nct04822922.toml");
    let arms: Vec<&Arm> = t.arms.iter().collect();
    let late = NaiveDate::from_ymd_opt(9999, 12, 1);
    let e = cumulative_svg(&t, &arms, 60.0, late, false, DEFAULT_SIZE).unwrap_err();
    let text = format!("{e:#}");
    assert!(
        text.contains("outside the calendar the outputs can show"),
        "{text}"
    );
    assert!(!text.contains("--"), "chart code names a flag: {text}");
    assert!(matches!(
        e,
        ChartError::Schedule {
            error: crate::schedule::ScheduleError::DateOutOfRange(_),
            ref arm,
            ..
        } if arm == "low"
    ));
    let e = timeline_svg(&t, 60.0, (10, 10)).unwrap_err();
    assert!(matches!(e, ChartError::Size { w: 10, h: 10, .. }), "{e}");
    assert!(!e.to_string().contains("--"));
}

/// A row of one repeated letter, to measure letter spacing in the PNG.
struct Letters(&'static str, f64);

impl Chart for Letters {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        root.draw(&Text::new(
            self.0,
            (20, 40),
            parts::text(self.1, parts::INK),
        ))?;
        Ok(())
    }
}

/// Decoded PNG pixels as grey levels (0 black to 255 white), row by row.
fn png_grey(bytes: &[u8]) -> (u32, Vec<u8>) {
    let decoder = ::png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("a sane PNG size")];
    let info = reader.next_frame(&mut buf).expect("PNG pixels");
    let channels = info.color_type.samples();
    let grey = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|p| ((u32::from(p[0]) + u32::from(p[1]) + u32::from(p[2])) / 3) as u8)
        .collect();
    (info.width, grey)
}

/// Regression: PNG glyphs were snapped to whole pixels, so the gaps between equal letters
/// varied by a pixel and words looked uneven. The centres of the stems of "IIII..." must
/// be evenly spaced, to a fraction of a pixel (the rasteriser's anti-aliasing works on a
/// quarter-pixel grid).
#[test]
fn png_letters_are_evenly_spaced() {
    for px in [parts::NOTE_PX, parts::TICK_PX, 16.0, parts::TITLE_PX] {
        let bytes = png(&Letters("IIIIIIIIIIIIIIII", px), (400, 150)).unwrap();
        let (w, grey) = png_grey(&bytes);
        // Darkness per column, over the rows of the text.
        let mut ink = vec![0.0f64; w as usize];
        for (i, g) in grey.iter().enumerate() {
            ink[i % w as usize] += f64::from(255 - g);
        }
        // Stems are runs of inked columns; their centres are ink-weighted.
        let mut centres = Vec::new();
        let mut run: Option<(f64, f64)> = None;
        for (x, &v) in ink.iter().enumerate() {
            if v > 0.0 {
                let (sum, weighted) = run.unwrap_or((0.0, 0.0));
                run = Some((sum + v, weighted + v * x as f64));
            } else if let Some((sum, weighted)) = run.take() {
                centres.push(weighted / sum);
            }
        }
        assert_eq!(
            centres.len(),
            16,
            "{px} px: one stem per letter: {centres:?}"
        );
        let gaps: Vec<f64> = centres.windows(2).map(|c| c[1] - c[0]).collect();
        let (lo, hi) = gaps
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), &g| (lo.min(g), hi.max(g)));
        // Whole-pixel glyphs varied by 1 px; anti-aliased ones by under half a pixel.
        assert!(
            hi - lo < 0.5,
            "{px} px: letter spacing varies by {:.2} px: {gaps:?}",
            hi - lo
        );
    }
}

#[test]
fn lines_along_the_pixel_grid_are_drawn_crisp() {
    let svg = "<svg>\n<line opacity=\"1\" x1=\"1\"/>\n\
        <polyline fill=\"none\" points=\"85,67 85,543 \"/>\n\
        <polyline fill=\"none\" points=\"0,0 1,0 1,5 9,5 \"/>\n\
        <polyline fill=\"none\" points=\"10,10 14,2 18,10 10,10 \"/>\n\
        <text x=\"1\">\n&lt;line \n</text>\n</svg>";
    let crisp: Vec<bool> = crisp_edges(svg)
        .lines()
        .map(|l| l.contains(r#"shape-rendering="crispEdges""#))
        .collect();
    assert_eq!(
        crisp,
        vec![false, true, true, true, false, false, false, false, false]
    );
    // The charts' own grid and axes get it; the marker triangles do not.
    let t = trial("nct04822922.toml");
    let chart = cumulative_svg(&t, &[&t.arms[2]], 60.0, None, false, DEFAULT_SIZE).unwrap();
    assert!(chart.contains(r#"<line shape-rendering="crispEdges" "#));
    assert!(
        chart
            .lines()
            .any(|l| l.starts_with("<polyline fill") && l.matches(',').count() >= 4),
        "slanted outlines stay anti-aliased"
    );
}

/// Regression: visits were labelled by their id ("day30", drawn at study day 31), which
/// reads like a day number. Every chart names them as the scenario does, shortened only
/// when the name does not fit.
#[test]
fn visits_are_labelled_by_name_never_by_id() {
    let ids = ["day30", "day90", "week48", "week72"];
    let no_ids = |texts: &[String], what: &str| {
        for t in texts {
            for id in ids {
                assert!(
                    !t.split(|c: char| !c.is_alphanumeric()).any(|w| w == id),
                    "{what}: visit id {id} in {t:?}"
                );
            }
        }
    };
    let t = trial("nct04822922.toml");
    let arms: Vec<&Arm> = t.arms.iter().collect();
    let texts = svg_texts(&cumulative_svg(&t, &arms, 62.5, None, false, DEFAULT_SIZE).unwrap());
    assert!(texts.contains(&"1-month safety visit (primary endpoint)".to_string()));
    assert!(
        texts.contains(&"90-day efficacy visit".to_string()),
        "{texts:?}"
    );
    no_ids(&texts, "cumulative");

    // A patient's smaller chart: the names may be shortened, never replaced by the id.
    let patient = crate::schedule::Patient {
        id: "P-001".to_string(),
        weight_kg: crate::model::Kg::from_f64(60.0),
        start: DEFAULT_START,
        site: None,
    };
    let (svg, _) = patient_charts(&t, &t.arms[0], &patient, None, None, (800, 450)).unwrap();
    let texts = svg_texts(&svg);
    assert!(
        texts.iter().any(|t| t.starts_with("1-month safety visit")),
        "{texts:?}"
    );
    assert!(texts.iter().any(|t| t.starts_with("90-day")), "{texts:?}");
    no_ids(&texts, "patient chart");

    let texts = svg_texts(&timeline_svg(&t, 60.0, timeline_size(t.arms.len())).unwrap());
    assert!(
        texts.iter().any(|t| t.starts_with("1-month safety visit")),
        "{texts:?}"
    );
    assert!(texts.iter().any(|t| t.starts_with("90-day")), "{texts:?}");
    no_ids(&texts, "timeline");

    // Visits beyond the axis are named too, on the chart and above the timeline.
    let t = trial("nct01724398.toml");
    let arms: Vec<&Arm> = t.arms.iter().collect();
    let texts = svg_texts(&cumulative_svg(&t, &arms, 60.0, None, false, DEFAULT_SIZE).unwrap());
    assert!(
        texts.contains(&"Later: Week 48 study visit on day 337 \u{2192}".to_string()),
        "{texts:?}"
    );
    no_ids(&texts, "cumulative, later visit");
    let texts = svg_texts(&timeline_svg(&t, 60.0, timeline_size(t.arms.len())).unwrap());
    assert!(
        texts.contains(&"Visits after the axis: Week 48 study visit on day 337".to_string()),
        "{texts:?}"
    );
    no_ids(&texts, "timeline, later visit");
    // The compare chart draws no visits at all.
    let texts = svg_texts(&compare_svg(&all_trials(), 60.0, false, DEFAULT_SIZE).unwrap());
    no_ids(&texts, "compare");
}

#[test]
fn long_visit_names_are_shortened_sensibly() {
    ensure_font().unwrap();
    let mut out = String::new();
    let root = SVGBackend::with_string(&mut out, (600, 200)).into_drawing_area();
    let style = parts::text(parts::NOTE_PX, parts::MUTED);
    let name = "1-month safety visit (primary endpoint)";
    let width = |s: &str| parts::text_width(&root, s, &style).unwrap();
    let full = width(name);
    let fit = |w: i32| parts::fit_name(&root, name, &style, w).unwrap();
    assert_eq!(fit(full), name);
    // The bracketed remark goes first, then letters at the end.
    assert_eq!(fit(full - 1), "1-month safety visit");
    let cut = fit(width("1-month safety visit") - 1);
    assert!(cut.starts_with("1-month") && cut.ends_with("..."), "{cut}");
    assert_eq!(fit(12), "", "no stub of a name");

    // Labels never overlap on a line, and on the first line (the marks' triangles) they
    // keep clear of the other marks; names are whole wherever some line has room.
    let bounds = (50, 590);
    let check = |marks: &[(i32, &str)]| {
        let placed = parts::place_labels(&root, marks, &style, bounds, 3).unwrap();
        let extent = |l: &parts::PlacedLabel| {
            let w = width(&l.text);
            if l.right {
                (l.x, l.x + w)
            } else {
                (l.x - w, l.x)
            }
        };
        for (i, a) in placed.iter().enumerate() {
            let (a0, a1) = extent(a);
            assert!(a0 >= bounds.0 && a1 <= bounds.1, "{a:?} is off the plot");
            for b in &placed[i + 1..] {
                let (b0, b1) = extent(b);
                assert!(a.row != b.row || a1 < b0 || b1 < a0, "{a:?} overlaps {b:?}");
            }
            if a.row == 0 {
                for &(x, _) in marks {
                    assert!(
                        !(a0 - 4..=a1 + 4).contains(&x),
                        "{a:?} runs over the mark at {x}"
                    );
                }
            }
        }
        placed
    };
    let placed = check(&[(300, name)]);
    assert_eq!(
        placed,
        vec![parts::PlacedLabel {
            text: name.to_string(),
            x: 308,
            right: true,
            row: 0
        }]
    );
    // Close together: the first name moves down a line rather than being cut.
    let placed = check(&[(100, name), (160, "90-day efficacy visit")]);
    assert_eq!(placed.len(), 2);
    assert_eq!(placed[0].text, name);
    assert_eq!(placed[0].row, 1);
    assert_eq!(placed[1].text, "90-day efficacy visit");
    assert_eq!(placed[1].row, 0);
    // Near the right edge: left of the mark.
    let placed = check(&[(120, "Day 1"), (560, "90-day efficacy visit")]);
    assert_eq!((placed[1].right, placed[1].row), (false, 0));
    // Crowded: every line used, so the last names are shortened, never dropped for ids.
    let many: Vec<(i32, &str)> = (0..6).map(|i| (80 + 20 * i, name)).collect();
    let placed = check(&many);
    assert!(placed.iter().any(|l| l.text == name));
    assert!(
        placed
            .iter()
            .all(|l| name.starts_with(l.text.trim_end_matches("..."))),
        "{placed:?}"
    );
}

/// (x, y) of the markers of one colour: circles by their centre, squares (drawn as
/// rectangles) by theirs.
fn marker_centres(svg: &str, fill: &str) -> Vec<(i32, i32)> {
    let doc = roxmltree::Document::parse(svg).unwrap();
    let num = |n: &roxmltree::Node, a: &str| n.attribute(a).unwrap().parse::<i32>().unwrap();
    doc.descendants()
        .filter(|n| n.attribute("fill") == Some(fill))
        .filter_map(|n| match n.tag_name().name() {
            "circle" => Some((num(&n, "cx"), num(&n, "cy"))),
            "rect" if n.attribute("width") == n.attribute("height") => Some((
                num(&n, "x") + num(&n, "width") / 2,
                num(&n, "y") + num(&n, "height") / 2,
            )),
            _ => None,
        })
        .collect()
}

/// Regression: a curve lying exactly under another (NCT02812121 msc-4w under msc-8w until
/// day 29, NCT01724398 pe under conventional on the zero line) could not be seen. The
/// later one is now drawn dashed, a few pixels up and right, and the legend says where
/// the two coincide and that the shift is in pixels only.
#[test]
fn coinciding_curves_are_shifted_in_pixels_and_said() {
    let t = trial("nct02812121.toml");
    let arms: Vec<&Arm> = t.arms.iter().collect();
    let svg = cumulative_svg(&t, &arms, 60.0, None, false, DEFAULT_SIZE).unwrap();
    let said = svg_texts(&svg).join(" ");
    assert!(said.contains("follows msc-8w until day 29"), "{said}");
    assert!(said.contains("drawn 3 px up and right"), "{said}");
    // msc-8w (blue circles) and msc-4w (orange squares) share their first four doses:
    // the squares sit 3 px right of and 3 px above the circles. The legend's own
    // markers come last.
    let circles = marker_centres(&svg, "#0072B2");
    let squares = marker_centres(&svg, "#D55E00");
    assert_eq!(squares.len(), 4 + 1, "{squares:?}");
    for (c, s) in circles.iter().zip(&squares).take(4) {
        assert_eq!(
            (s.0 - c.0, s.1 - c.1),
            (3, -3),
            "circle {c:?}, square {s:?}"
        );
    }
    // The shifted curve is dashed: many short pieces rather than one line.
    let pieces = svg
        .lines()
        .filter(|l| l.contains("<polyline") && l.contains(r##"stroke="#D55E00""##))
        .count();
    assert!(pieces > 20, "{pieces} msc-4w pieces");
    // Only pixels move: the data keep their values.
    let chart = cumulative::Cumulative::new(&t, &arms, 60.0, None, false).unwrap();
    let msc4 = &chart.0.curves[1];
    assert_eq!(msc4.label, "msc-4w");
    assert_eq!(
        msc4.marks,
        vec![(1.0, 6e6), (8.0, 1.2e7), (15.0, 1.8e7), (22.0, 2.4e7)]
    );
    assert_eq!((chart.0.curves[0].shift, msc4.shift), (0, 1));

    // Two arms without cells both lie on the zero line.
    let t = trial("nct01724398.toml");
    let arms: Vec<&Arm> = t.arms.iter().collect();
    let svg = cumulative_svg(&t, &arms, 60.0, None, false, DEFAULT_SIZE).unwrap();
    let said = svg_texts(&svg).join(" ");
    assert!(said.contains("0 cells, like conventional"), "{said}");
    assert!(
        said.contains("follows msc until day 7, days 8–14, days 15–21 and from day 22"),
        "msc-pe's first dose and later totals lie on msc's: {said}"
    );
    // Arms that only share the zero line before their first dose are left alone.
    let t = trial("nct04822922.toml");
    let arms: Vec<&Arm> = t.arms.iter().collect();
    let said = svg_texts(&cumulative_svg(&t, &arms, 60.0, None, false, DEFAULT_SIZE).unwrap());
    assert!(!said.iter().any(|t| t.contains("px up")), "{said:?}");
}

#[test]
fn shared_stretches_of_step_curves() {
    use super::cumulative::shared_stretches;
    let a = [(1.0, 2.0), (8.0, 4.0), (29.0, 6.0)];
    let b = [(1.0, 2.0), (8.0, 4.0)];
    assert_eq!(shared_stretches(&a, &b, 60.0), vec![(0.0, 29.0)]);
    // Apart, together from day 2 to 8, apart, and together again from day 9 on.
    let c = [(1.0, 1.0), (2.0, 2.0), (9.0, 4.0)];
    assert_eq!(
        shared_stretches(&b, &c, 60.0),
        vec![(2.0, 8.0), (9.0, 60.0)]
    );
    // Two curves without doses coincide everywhere; a curve without doses and one with
    // doses only share the start, which every curve shares.
    assert_eq!(shared_stretches(&[], &[], 30.0), vec![(0.0, 30.0)]);
    assert!(shared_stretches(&[], &b, 30.0).is_empty());
    // Doses stacked on one day count by their day's total.
    let d = [(1.0, 1.0), (1.0, 2.0), (8.0, 4.0)];
    assert_eq!(shared_stretches(&b, &d, 20.0), vec![(0.0, 20.0)]);
}

/// How labels were fitted before [`parts::Measure`]: every shorter candidate, longest
/// first, measured whole by plotters. Kept here as the reference the fast fit must match.
fn fit_by_measuring_every_candidate(
    root: &DrawingArea<SVGBackend, Shift>,
    s: &str,
    style: &TextStyle,
    max_w: i32,
) -> String {
    let width = |s: &str| parts::text_width(root, s, style).unwrap();
    if width(s) <= max_w {
        return s.to_string();
    }
    let chars: Vec<char> = s.chars().collect();
    let mut n = chars.len();
    while n > 0 {
        n -= 1;
        let cut: String = chars[..n].iter().collect();
        let candidate = format!("{}...", cut.trim_end());
        if width(&candidate) <= max_w {
            return candidate;
        }
    }
    String::new()
}

/// The fast fit gives exactly what measuring every candidate gave, for ordinary labels at
/// every width, in every text size the charts use: the charts look the same as before.
#[test]
fn fitting_matches_measuring_every_candidate() {
    ensure_font().unwrap();
    let mut out = String::new();
    let root = SVGBackend::with_string(&mut out, (600, 200)).into_drawing_area();
    let mut labels: Vec<String> = all_trials()
        .iter()
        .flat_map(|t| {
            let mut v = vec![t.title.clone(), t.condition.clone(), t.id.clone()];
            v.extend(t.arms.iter().map(|a| a.name.clone()));
            v
        })
        .collect();
    labels.extend(
        [
            "AVAWATo Ty Yo LT \"V\" f.j 7.50 x 10⁷ cells",
            "  leading and trailing   spaces  ",
            "é, ü, ⁴, – and → and a missing glyph: 漢字",
            "one-very-long-word-without-any-space-at-all-in-it",
            "",
        ]
        .map(String::from),
    );
    for px in [
        parts::NOTE_PX,
        parts::TICK_PX,
        parts::AXIS_DESC_PX,
        parts::TITLE_PX,
    ] {
        let style = parts::text(px, parts::INK);
        let measure = parts::Measure::new(&style).unwrap();
        for label in &labels {
            let full = parts::text_width(&root, label, &style).unwrap();
            assert_eq!(measure.width(label), full, "{px} px: width of {label:?}");
            for max_w in (-3..full + 12).step_by(5) {
                let old = fit_by_measuring_every_candidate(&root, label, &style, max_w);
                assert_eq!(
                    parts::fit(&root, label, &style, max_w).unwrap(),
                    old,
                    "{px} px, {max_w} px wide: {label:?}"
                );
            }
        }
    }
}

/// Regression: fitting re-measured the whole text for every shorter candidate, so a
/// 2,000-character title took a minute over a cohort's charts. A label of any length is
/// now fitted from the part of it that can show. (No timing here: the result is checked.)
#[test]
fn fitting_a_100000_character_text_is_correct() {
    ensure_font().unwrap();
    let mut out = String::new();
    let root = SVGBackend::with_string(&mut out, (1000, 600)).into_drawing_area();
    let words: String = "Umbilical cord mesenchymal stem cells in liver failure, 7.5 x 10⁷ cells; "
        .repeat(1500)
        .chars()
        .take(100_000)
        .collect();
    let one_word: String = "Ab⁷é".repeat(25_000);
    assert_eq!(words.chars().count(), 100_000);
    for text in [&words, &one_word] {
        for px in [parts::NOTE_PX, parts::TITLE_PX] {
            let style = parts::text(px, parts::INK);
            let width = |s: &str| parts::text_width(&root, s, &style).unwrap();
            for max_w in [0, 37, 300, 976] {
                let fitted = parts::fit(&root, text, &style, max_w).unwrap();
                if max_w < width("...") {
                    assert_eq!(fitted, "");
                    continue;
                }
                assert!(fitted.ends_with("..."), "{fitted:?}");
                assert!(
                    width(&fitted) <= max_w,
                    "{fitted:?} is wider than {max_w} px"
                );
                let kept = fitted.strip_suffix("...").unwrap();
                assert!(text.starts_with(kept), "{fitted:?} is not the text's start");
                // The longest such start: one more character does not fit.
                let n = kept.chars().count();
                let longer: String = text.chars().take(n + 1).collect();
                let longer = format!("{}...", longer.trim_end());
                assert!(
                    longer == fitted || width(&longer) > max_w,
                    "{longer:?} would fit in {max_w} px too"
                );
                let name = parts::fit_name(&root, text, &style, max_w).unwrap();
                assert!(name.is_empty() || width(&name) <= max_w, "{name:?}");
            }
            // Wrapped to three lines at most, the last saying there is more.
            let lines = parts::wrap(text, &style, 300, 3).unwrap();
            assert!((1..=3).contains(&lines.len()), "{lines:?}");
            assert!(lines.iter().all(|l| width(l) <= 300), "{lines:?}");
            assert!(lines.last().unwrap().ends_with("..."), "{lines:?}");
        }
    }
    // Short texts wrap whole, as before.
    let style = parts::text(parts::NOTE_PX, parts::MUTED);
    assert_eq!(
        parts::wrap("same curve as msc-8w", &style, 300, 4).unwrap(),
        vec!["same curve as msc-8w"]
    );
    let text = "follows msc until day 7, days 8–14, days 15–21 and from day 22";
    let lines = parts::wrap(text, &style, 120, 4).unwrap();
    assert!(lines.len() > 1 && lines.len() <= 4, "{lines:?}");
    assert_eq!(lines.join(" "), text);
}

/// `n` copies of a bundled trial under other trial ids (and arm ids with a suffix).
fn copies(file: &str, n: usize) -> Vec<Trial> {
    let t = trial(file);
    (0..n)
        .map(|k| {
            let mut c = t.clone();
            c.id = format!("{}-{k:02}", t.id);
            c
        })
        .collect()
}

/// Every chart keeps its size however many arms and series it shows: the legend lists
/// what fits and counts the rest, every series is still drawn, and a timeline of many arms
/// shares a bounded height.
#[test]
fn many_series_keep_the_chart_size_and_are_all_drawn() {
    // 60 trials of 3 arms: 180 curves on one compare chart.
    let trials = copies("nct04822922.toml", 60);
    let svg = compare_svg(&trials, 60.0, false, DEFAULT_SIZE).unwrap();
    let texts = svg_texts(&svg);
    assert!(
        texts.contains(&"Cumulative cell dose per kg: 180 arms of 60 trials".to_string()),
        "{texts:?}"
    );
    let listed = texts
        .iter()
        .filter(|t| t.starts_with("NCT04822922-"))
        .count();
    let more = format!("+{} more series not listed (all drawn)", 180 - listed);
    assert!(
        listed > 5 && texts.contains(&more),
        "{listed} listed: {texts:?}"
    );
    // Every curve is a polyline of its own (copies drawn dashed, in pieces).
    let solid = svg
        .lines()
        .filter(|l| l.starts_with("<polyline") && l.contains("stroke-width=\"2\""))
        .count();
    assert!(solid >= 180, "{solid} curve pieces for 180 curves");
    assert_eq!(
        png_size(&compare_png(&trials, 60.0, true, DEFAULT_SIZE).unwrap()),
        DEFAULT_SIZE
    );

    // One trial of 60 arms (before validate's limit of 20): the cumulative chart keeps
    // its size and names what fits, the timeline its bounded height.
    let mut wide = trial("nct01724398.toml");
    let arms = wide.arms.clone();
    wide.arms = (0..60)
        .map(|k| {
            let mut a = arms[k % arms.len()].clone();
            a.id = format!("{}-{k:02}", a.id);
            a
        })
        .collect();
    let all: Vec<&Arm> = wide.arms.iter().collect();
    let texts = svg_texts(&cumulative_svg(&wide, &all, 60.0, None, false, DEFAULT_SIZE).unwrap());
    assert!(
        texts
            .iter()
            .any(|t| t.ends_with("more arms not listed (all drawn)")),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.starts_with("Plasma exchange (2000 mL): pe-02")),
        "the exchange entry stays, shortened: {texts:?}"
    );
    let size = timeline_size(wide.arms.len());
    assert_eq!(size, timeline_size(20), "{size:?}");
    assert_eq!(png_size(&timeline_png(&wide, 60.0, size).unwrap()), size);
}

#[test]
fn the_day_axis_starts_early_enough_to_clear_day_one() {
    use super::cumulative::left_pad;
    for (x_max, px) in [(60.0, 600.0), (300.0, 650.0), (1900.0, 640.0)] {
        let x0 = left_pad(x_max, px, 14.0);
        assert!(x0 < 0.0, "{x_max}: starts at {x0}");
        let day1 = (1.0 - x0) * px / (x_max - x0);
        assert!((day1 - 14.0).abs() < 1e-9, "{x_max}: day 1 at {day1} px");
    }
    // Day 1 already far enough from the axis (20 px): the axis starts at day 0.
    assert_eq!(left_pad(30.0, 600.0, 14.0), 0.0);
}
