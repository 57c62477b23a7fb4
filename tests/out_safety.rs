//! Issue 21's data-loss items, through the binary: an `--out` that would replace an input
//! is refused; a file written into a trial folder while a cohort rebuilds it survives the
//! swap (and a command writing there takes the folder's lock); the next write into a
//! folder removes the temporary files earlier runs left; the manifest gives the SHA-256
//! of the bytes the outputs were made from; a leftover that cannot be removed is named and
//! does not stop the next run; a swap that runs out of space says it needs room for two.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::common::*;

/// The issue's own example: a trial with a demo record.
const NCT01724398: &str = "scenarios/nct01724398.toml";
const ROSTER_4398: &str = "scenarios/rosters/NCT01724398.csv";
const LOG_4398: &str = "scenarios/logs/NCT01724398.csv";
/// The smallest demo roster (16 patients), for the tests that run cohorts.
const SCENARIO: &str = "scenarios/nct04822922.toml";
const ROSTER: &str = "scenarios/rosters/NCT04822922.csv";
const TRIAL: &str = "NCT04822922";
/// An administration record of that roster.
const RECORD: &str = "patient_id,date,record,component,occurrence,amount,note\n\
                      P2922-001,2026-08-03,given,uc_msc,1,,\n\
                      P2922-002,2026-08-21,given,uc_msc,1,,\n";

/// `dosesim ARGS`, run from the crate root, with stdout and stderr piped.
fn spawn(args: &[&std::ffi::OsStr]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_dosesim"))
        .current_dir(root())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dosesim starts")
}

/// Reads `child`'s stderr line by line until one starts with `waiting:` (true) or it
/// ends (false); what is read is appended to `seen`, and the rest is read by a thread so
/// that the child never blocks on a full pipe.
fn waits(child: &mut Child, seen: &mut String) -> bool {
    let mut lines = BufReader::new(child.stderr.take().expect("stderr is piped"));
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).unwrap_or(0) == 0 {
            return false;
        }
        seen.push_str(&line);
        if line.starts_with("waiting: ") {
            std::thread::spawn(move || {
                let mut rest = String::new();
                let _ = lines.read_to_string(&mut rest);
            });
            return true;
        }
    }
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Copies the folder `from` to `to`, recursively.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Item 1: `--out` naming an input (directly, or through a link) is refused with exit 2,
/// naming the flag and the file, and the input keeps its bytes.
#[test]
fn an_out_that_is_an_input_is_refused_and_the_input_kept() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let roster = d.join("r.csv");
    let log = d.join("log.csv");
    std::fs::copy(root().join(ROSTER_4398), &roster).unwrap();
    std::fs::copy(root().join(LOG_4398), &log).unwrap();
    let scenario = d.join("s.toml");
    std::fs::copy(root().join(NCT01724398), &scenario).unwrap();
    let link = d.join("link.csv");
    let svg_link = d.join("link.svg");
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&roster, &link).unwrap();
        std::os::unix::fs::symlink(&scenario, &svg_link).unwrap();
    }
    let (r, l, s) = (roster.as_os_str(), log.as_os_str(), scenario.as_os_str());
    let mut cases: Vec<(Vec<&std::ffi::OsStr>, &Path)> = vec![
        (
            vec![
                "prep".as_ref(),
                s,
                "--roster".as_ref(),
                r,
                "--log".as_ref(),
                l,
                "--date".as_ref(),
                "2026-11-23".as_ref(),
                "--out".as_ref(),
                l,
            ],
            &log,
        ),
        (
            vec![
                "pharmacy".as_ref(),
                s,
                "--roster".as_ref(),
                r,
                "--out".as_ref(),
                r,
            ],
            &roster,
        ),
        (
            vec![
                "calendar".as_ref(),
                s,
                "--roster".as_ref(),
                r,
                "--patient".as_ref(),
                "P4398-002".as_ref(),
                "--out".as_ref(),
                r,
            ],
            &roster,
        ),
    ];
    if cfg!(unix) {
        cases.push((
            vec![
                "pharmacy".as_ref(),
                s,
                "--roster".as_ref(),
                r,
                "--out".as_ref(),
                link.as_os_str(),
            ],
            &roster,
        ));
        cases.push((
            vec![
                "timeline".as_ref(),
                s,
                "--out".as_ref(),
                svg_link.as_os_str(),
            ],
            &scenario,
        ));
    }
    for (args, input) in cases {
        let before = std::fs::read(input).unwrap();
        let run = run(&args);
        run.expect_code(2);
        let err = run.err();
        let name = input.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            err.contains("--out: ") && err.contains(&name) && err.contains("this run reads"),
            "{args:?}: {err}"
        );
        assert_eq!(
            std::fs::read(input).unwrap(),
            before,
            "{args:?}: input kept"
        );
    }
    let mut names = entries(d);
    names.sort();
    let mut expected = vec!["log.csv", "r.csv", "s.toml"];
    if cfg!(unix) {
        expected.extend(["link.csv", "link.svg"]);
    }
    expected.sort();
    assert_eq!(names, expected, "nothing else written");
}

/// Item 1: nothing is written into the scenarios, calendars, logs or plans folders, a file
/// or a folder (a holiday file of a site calendar is an input too).
#[test]
fn nothing_is_written_among_the_inputs_folders() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    copy_tree(&root().join("scenarios"), &d.join("scenarios"));
    let before = tree(&d.join("scenarios"));
    let dosesim = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_dosesim"))
            .current_dir(d)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let holiday = std::fs::read_dir(d.join("scenarios/calendars/holidays"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "csv"))
        .map(|p| {
            format!(
                "scenarios/calendars/holidays/{}",
                p.file_name().unwrap().to_string_lossy()
            )
        });
    let mut cases: Vec<Vec<&str>> = vec![
        vec![
            "prep",
            "NCT01724398",
            "--roster",
            ROSTER_4398,
            "--date",
            "2026-11-23",
            "--out",
            "scenarios/logs/sheet.html",
        ],
        vec![
            "pharmacy",
            NCT01724398,
            "--roster",
            ROSTER_4398,
            "--out",
            "scenarios/plans/p.csv",
        ],
        vec![
            "cohort",
            NCT01724398,
            "--roster",
            ROSTER_4398,
            "--out",
            "scenarios/calendars",
        ],
        vec![
            "cohort",
            NCT01724398,
            "--roster",
            ROSTER_4398,
            "--out",
            "scenarios/logs/../plans/new",
        ],
        vec![
            "forecast",
            NCT01724398,
            "--replicates",
            "10",
            "--out",
            "scenarios",
        ],
        vec!["run", "--out", "scenarios/out"],
        vec!["chart", NCT01724398, "--out", "scenarios/chart.svg"],
    ];
    if let Some(h) = &holiday {
        cases.push(vec![
            "pharmacy",
            NCT01724398,
            "--roster",
            ROSTER_4398,
            "--out",
            h,
        ]);
    }
    for args in &cases {
        let (code, err) = dosesim(args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains("--out: "), "{args:?}: {err}");
        assert!(
            err.contains("dosesim writes nothing among its inputs")
                || err.contains("this run reads"),
            "{args:?}: {err}"
        );
    }
    assert!(
        tree(&d.join("scenarios")) == before,
        "the inputs are as they were"
    );
}

/// Item 1: a folder that a rerun replaces cannot hold an input dosesim made there: the
/// copy of the record a trial folder keeps, given back as `--log`.
#[test]
fn the_record_copy_of_the_folder_being_replaced_is_not_an_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = out.as_os_str();
    let args = |log: &std::ffi::OsStr| -> Vec<std::ffi::OsString> {
        ["cohort", SCENARIO, "--roster", ROSTER, "--log"]
            .iter()
            .map(|s| s.into())
            .chain([log.to_owned(), "--out".into(), o.to_owned()])
            .collect()
    };
    let log = dir.path().join("log.csv");
    std::fs::write(&log, RECORD).unwrap();
    run(args(log.as_os_str())).expect_code(0);
    let copy = out.join(TRIAL).join("record.csv");
    let before = std::fs::read(&copy).unwrap();
    let r = run(args(copy.as_os_str()));
    r.expect_code(2);
    assert!(
        r.err().contains("--out: ") && r.err().contains("record.csv"),
        "{}",
        r.err()
    );
    assert_eq!(std::fs::read(&copy).unwrap(), before);
}

/// Item 2: while a cohort rebuilds a trial folder, a user's file written into it and a
/// `prep --out` into it both survive the swap: the prep waits for the folder's lock, and
/// the swap keeps the files that are there when it happens. The cohort is held at a known
/// point without a timing guess: its `--log` is a named pipe, which it reads once more
/// (to keep a copy of the record) while the new folder is being built.
#[cfg(target_os = "linux")]
#[test]
fn files_written_into_a_trial_folder_during_a_rebuild_are_kept() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("output");
    let folder = out.join(TRIAL);
    let fifo = dir.path().join("log.csv");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let o = out.as_os_str();
    run([
        "cohort".as_ref(),
        SCENARIO.as_ref(),
        "--roster".as_ref(),
        ROSTER.as_ref(),
        "--out".as_ref(),
        o,
    ])
    .expect_code(0);
    let record = RECORD.as_bytes();
    let mut cohort = spawn(&[
        "cohort".as_ref(),
        SCENARIO.as_ref(),
        "--roster".as_ref(),
        ROSTER.as_ref(),
        "--log".as_ref(),
        fifo.as_os_str(),
        "--out".as_ref(),
        o,
    ]);
    let pid = cohort.id();
    let done = Arc::new(AtomicBool::new(false));
    // (whether prep waited, its stderr so far, the prep itself)
    let prep: Arc<Mutex<Option<(bool, String, Child)>>> = Arc::new(Mutex::new(None));
    let server = {
        let (fifo, folder, out, done, prep) = (
            fifo.clone(),
            folder.clone(),
            out.clone(),
            done.clone(),
            prep.clone(),
        );
        std::thread::spawn(move || {
            loop {
                // Blocks until the cohort opens the pipe to read it.
                let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
                if done.load(Ordering::SeqCst) {
                    return;
                }
                let building = out.join(format!(".dosesim-{TRIAL}.new")).is_dir();
                if building && prep.lock().unwrap().is_none() {
                    std::fs::write(folder.join("notes.txt"), "mine").unwrap();
                    let sheet = folder.join("sheet-w40.html");
                    let mut child = spawn(&[
                        "prep".as_ref(),
                        TRIAL.as_ref(),
                        "--roster".as_ref(),
                        ROSTER.as_ref(),
                        "--week".as_ref(),
                        "2026-W40".as_ref(),
                        "--out".as_ref(),
                        sheet.as_os_str(),
                    ]);
                    let mut seen = String::new();
                    let waited = waits(&mut child, &mut seen);
                    *prep.lock().unwrap() = Some((waited, seen, child));
                }
                w.write_all(record).unwrap();
                drop(w);
                // The cohort sees the end of the record only once no writer is open: the
                // pipe is not opened again until it has closed its end.
                while holds(pid, &fifo) {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            }
        })
    };
    let status = cohort.wait().unwrap();
    let mut err = String::new();
    cohort
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    done.store(true, Ordering::SeqCst);
    // Lets the server's last open return, and it ends.
    drop(std::fs::File::open(&fifo).unwrap());
    server.join().unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    let (waited, seen, child) = prep
        .lock()
        .unwrap()
        .take()
        .expect("the cohort read the record while building the new folder");
    let prep_out = child.wait_with_output().unwrap();
    assert_eq!(prep_out.status.code(), Some(0), "{seen}");
    assert_eq!(
        std::fs::read_to_string(folder.join("notes.txt")).unwrap(),
        "mine"
    );
    let sheet = std::fs::read_to_string(folder.join("sheet-w40.html"))
        .expect("the sheet written during the rebuild is there");
    assert!(sheet.contains(TRIAL), "{sheet}");
    assert!(folder.join("record.csv").is_file(), "the rebuild happened");
    assert!(
        waited,
        "prep into the trial folder waits for the rebuild: {seen}"
    );
}

/// Whether the process `pid` has `path` open (Linux: its descriptors in /proc).
#[cfg(target_os = "linux")]
fn holds(pid: u32, path: &Path) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten()
        .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|p| p == path))
}

/// Item 2: every command that writes a file into a trial folder takes the lock a cohort
/// holds while it rebuilds it; nothing is written until it is free.
#[cfg(unix)]
#[test]
fn a_file_written_into_a_trial_folder_waits_for_its_lock() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("output");
    let folder = out.join(TRIAL);
    run([
        "cohort",
        SCENARIO,
        "--roster",
        ROSTER,
        "--out",
        out.to_str().unwrap(),
    ])
    .expect_code(0);
    let (pharmacy, sheet, ics, chart) = (
        folder.join("patients/pharmacy.csv"),
        folder.join("sheet.html"),
        folder.join("P2922-001-again.ics"),
        folder.join("forecast-free.svg"),
    );
    let cases: Vec<(Vec<&std::ffi::OsStr>, &Path)> = vec![
        (
            vec![
                "pharmacy".as_ref(),
                SCENARIO.as_ref(),
                "--roster".as_ref(),
                ROSTER.as_ref(),
                "--out".as_ref(),
                pharmacy.as_os_str(),
            ],
            &pharmacy,
        ),
        (
            vec![
                "prep".as_ref(),
                TRIAL.as_ref(),
                "--roster".as_ref(),
                ROSTER.as_ref(),
                "--week".as_ref(),
                "2026-W40".as_ref(),
                "--out".as_ref(),
                sheet.as_os_str(),
            ],
            &sheet,
        ),
        (
            vec![
                "calendar".as_ref(),
                TRIAL.as_ref(),
                "--roster".as_ref(),
                ROSTER.as_ref(),
                "--patient".as_ref(),
                "P2922-001".as_ref(),
                "--out".as_ref(),
                ics.as_os_str(),
            ],
            &ics,
        ),
        (
            vec![
                "timeline".as_ref(),
                SCENARIO.as_ref(),
                "--out".as_ref(),
                chart.as_os_str(),
            ],
            &chart,
        ),
    ];
    for (args, file) in cases {
        // This test holds the lock a cohort rebuilding the folder would hold.
        let held = std::fs::File::open(&out).unwrap();
        held.lock().unwrap();
        let mut child = spawn(&args);
        let mut seen = String::new();
        assert!(waits(&mut child, &mut seen), "{args:?}: {seen}");
        assert!(!file.exists(), "nothing written while waiting");
        held.unlock().unwrap();
        let done = child.wait_with_output().unwrap();
        assert_eq!(done.status.code(), Some(0), "{seen}");
        assert!(file.is_file());
    }
}

/// Item 3: a temporary file a killed `pharmacy --out` or `prep --out` left is removed by
/// the next write into that folder, whichever command makes it; in a trial folder, the
/// next cohort drops it rather than keeping it as a file of the user's.
#[test]
fn the_next_write_into_a_folder_removes_stale_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // As tempfile names them: `.dosesim-` six random characters `.tmp`.
    std::fs::write(d.join(".dosesim-Xk3q9Z.tmp"), vec![b'x'; 1 << 16]).unwrap();
    std::fs::write(d.join("mine.tmp"), "kept").unwrap();
    let sheet = d.join("sheet.csv");
    run([
        "prep".as_ref(),
        TRIAL.as_ref(),
        "--roster".as_ref(),
        ROSTER.as_ref(),
        "--week".as_ref(),
        "2026-W40".as_ref(),
        "--out".as_ref(),
        sheet.as_os_str(),
    ])
    .expect_code(0);
    let mut names = entries(d);
    names.sort();
    assert_eq!(names, ["mine.tmp", "sheet.csv"]);
    // Left by a prep into a trial folder (and one in patients/): not carried.
    let out = d.join("out");
    run([
        "cohort",
        SCENARIO,
        "--roster",
        ROSTER,
        "--out",
        out.to_str().unwrap(),
    ])
    .expect_code(0);
    let folder = out.join(TRIAL);
    std::fs::write(folder.join(".dosesim-a1B2c3.tmp"), "half a sheet").unwrap();
    std::fs::write(folder.join("patients/.dosesim-d4E5f6.tmp"), "half").unwrap();
    run([
        "cohort",
        SCENARIO,
        "--roster",
        ROSTER,
        "--out",
        out.to_str().unwrap(),
    ])
    .expect_code(0);
    let left: Vec<String> = tree(&folder)
        .into_keys()
        .filter(|k| k.contains(".dosesim-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// Item 4: inputs corrected while a run waits for the folder's lock. The outputs are made
/// from the bytes read first; manifest.json and the report's footer give their SHA-256,
/// not the corrected file's.
#[cfg(unix)]
#[test]
fn the_manifest_hashes_the_bytes_the_outputs_were_made_from() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("output");
    let roster = dir.path().join("roster.csv");
    std::fs::copy(root().join(ROSTER), &roster).unwrap();
    let read = std::fs::read(&roster).unwrap();
    let args: Vec<&std::ffi::OsStr> = vec![
        "cohort".as_ref(),
        SCENARIO.as_ref(),
        "--roster".as_ref(),
        roster.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ];
    run(&args).expect_code(0);
    let folder = out.join(TRIAL);
    // This test holds the lock, as another run writing into the folder would.
    let held = std::fs::File::open(&out).unwrap();
    held.lock().unwrap();
    let mut child = spawn(&args);
    let mut seen = String::new();
    assert!(waits(&mut child, &mut seen), "{seen}");
    // The weight is corrected, and the other run rewrites the folder, meanwhile.
    let text = String::from_utf8(read.clone()).unwrap();
    assert!(text.contains("P2922-002,low,53.1,"));
    std::fs::write(
        &roster,
        text.replace("P2922-002,low,53.1,", "P2922-002,low,35.1,"),
    )
    .unwrap();
    let manifest = folder.join("manifest.json");
    let mut m = std::fs::read_to_string(&manifest).unwrap();
    m.push('\n');
    std::fs::write(&manifest, m).unwrap();
    held.unlock().unwrap();
    let done = child.wait_with_output().unwrap();
    assert_eq!(done.status.code(), Some(0), "{seen}");

    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap()).unwrap();
    let input = m["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["role"] == "roster")
        .unwrap();
    let sha = sha256(&read);
    assert_eq!(
        input["sha256"],
        sha.as_str(),
        "the bytes read, not the file now"
    );
    let report = std::fs::read_to_string(folder.join("report.html")).unwrap();
    assert!(report.contains(&sha), "the report's footer");
    assert!(!report.contains(&sha256(&std::fs::read(&roster).unwrap())));
    let calendar = std::fs::read_to_string(folder.join("patients/P2922-002.csv")).unwrap();
    assert!(calendar.contains(",53.1,"), "made from the bytes read");
}

/// Makes `dir` a folder whose entries this process cannot remove: read-only, or, for a
/// user whom permissions do not stop (root), immutable. `None` where neither can be done.
/// Every folder under `root` is made removable again when the guard is dropped.
#[cfg(unix)]
fn lock_down(dir: &Path, root: &Path) -> Option<Unlock> {
    use std::os::unix::fs::PermissionsExt;
    let probe = |d: &Path| std::fs::write(d.join(".probe"), "").is_err();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    if probe(dir) {
        return Some(Unlock(root.to_path_buf()));
    }
    let _ = std::fs::remove_file(dir.join(".probe"));
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let unlock = Unlock(root.to_path_buf());
    let immutable = Command::new("chattr")
        .arg("+i")
        .arg(dir)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    (immutable && probe(dir)).then_some(unlock)
}

/// Undoes [`lock_down`] on every folder under its root.
#[cfg(unix)]
struct Unlock(PathBuf);

#[cfg(unix)]
impl Unlock {
    fn undo(&self) {
        fn walk(d: &Path) {
            use std::os::unix::fs::PermissionsExt;
            let _ = Command::new("chattr")
                .arg("-i")
                .arg(d)
                .stderr(Stdio::null())
                .status();
            let _ = std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755));
            for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    walk(&e.path());
                }
            }
        }
        walk(&self.0);
    }
}

#[cfg(unix)]
impl Drop for Unlock {
    fn drop(&mut self) {
        self.undo();
    }
}

/// Item 13: a read-only `patients/`. The rerun replaces the folder and says which folder it
/// could not remove and what to do, and every later run goes on despite it.
#[cfg(unix)]
#[test]
fn a_folder_that_cannot_be_removed_is_named_and_does_not_stop_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("output");
    let o = out.to_str().unwrap();
    run(["cohort", SCENARIO, "--roster", ROSTER, "--out", o]).expect_code(0);
    let patients = out.join(TRIAL).join("patients");
    let Some(unlock) = lock_down(&patients, &out) else {
        eprintln!("skipped: no way to make a folder unremovable here");
        return;
    };
    let r = run(["cohort", SCENARIO, "--roster", ROSTER, "--out", o]);
    r.expect_code(0);
    let left: Vec<String> = entries(&out)
        .into_iter()
        .filter(|n| n.starts_with(".dosesim-"))
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
    let warning = r
        .warnings()
        .into_iter()
        .find(|w| w.contains("cannot remove"))
        .unwrap_or_else(|| panic!("a warning names it: {}", r.err()))
        .to_string();
    assert!(
        warning.contains(&out.join(&left[0]).display().to_string())
            && warning.contains("chmod -R u+w"),
        "{warning}"
    );
    // The user's folder is the new, complete one.
    assert!(out.join(TRIAL).join("manifest.json").is_file());
    assert!(out.join(TRIAL).join("patients/P2922-002.csv").is_file());
    // The next runs are not stopped by the leftover, which is named again.
    for _ in 0..2 {
        let r = run(["cohort", SCENARIO, "--roster", ROSTER, "--out", o]);
        r.expect_code(0);
        assert!(
            r.warnings().iter().any(|w| w.contains(&left[0])),
            "{}",
            r.err()
        );
    }
    // Once it can be removed, the next run removes it.
    unlock.undo();
    run(["cohort", SCENARIO, "--roster", ROSTER, "--out", o]).expect_code(0);
    assert_eq!(entries(&out), [TRIAL]);
}

/// Item 14 (its last clause): a rerun that runs out of space while building the new
/// folder beside the old one says that it needs free space for two copies of the folder,
/// and leaves the old folder as it was. A small filesystem of its own (tmpfs, mounted in
/// a user namespace) is where the folder goes; where none can be mounted, the message is
/// checked by write.rs's unit test alone.
#[cfg(target_os = "linux")]
#[test]
fn a_rerun_out_of_space_says_it_needs_room_for_two_copies() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let bin = env!("CARGO_BIN_EXE_dosesim");
    let roster = root().join("scenarios/rosters/NCT04822922.csv");
    // Room for one copy of the trial folder (about 2.3 MB), not two.
    let script = format!(
        "mount -t tmpfs -o size=3200k tmpfs '{m}' || exit 77; \
         '{bin}' cohort scenarios/nct04822922.toml --roster '{r}' --out '{m}/out' 2>/dev/null || exit 78; \
         du -sk '{m}/out' >&2; \
         '{bin}' cohort scenarios/nct04822922.toml --roster '{r}' --out '{m}/out'; echo \"exit $?\" >&2; \
         echo '== left:' >&2; ls -a '{m}/out' >&2",
        m = mnt.display(),
        r = roster.display()
    );
    let Ok(o) = Command::new("unshare")
        .args(["-rm", "sh", "-c", &script])
        .current_dir(root())
        .output()
    else {
        eprintln!("skipped: no unshare here");
        return;
    };
    let err = String::from_utf8_lossy(&o.stderr);
    if o.status.code() == Some(77) || (o.status.code() == Some(1) && err.contains("unshare")) {
        eprintln!("skipped: cannot mount a tmpfs in a user namespace here: {err}");
        return;
    }
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("exit 1"), "the rerun fails: {err}");
    assert!(
        err.contains("the disk is full") && err.contains("free space for two copies of the folder"),
        "{err}"
    );
    // The old folder is whole, with no half-built one beside it.
    let left = err.split("== left:").nth(1).unwrap_or_default();
    assert!(
        left.contains("NCT04822922\n") && !left.contains(".dosesim-"),
        "{err}"
    );
}
