//! Outputs that cannot be lost: a trial folder is replaced only by a rerun of the same
//! inputs (or with --force), a folder dosesim did not make is never written into, a
//! user's own files survive a rerun, two runs into one folder take turns, and what a
//! killed run left is cleaned up. The index lists what the folder actually holds.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::*;

const NCT04822922: &str = "scenarios/nct04822922.toml";
const NCT01573923: &str = "scenarios/nct01573923.toml";

fn real_roster(dir: &Path) -> PathBuf {
    write_roster(
        dir,
        "real.csv",
        &["R-001,high,61.5,2027-02-01", "R-002,low,72,2027-02-03"],
    )
}

fn run_cmd(args: &[&std::ffi::OsStr]) -> Run {
    run(args.iter().copied())
}

/// The scenario in the issue: a real roster's folder, then `run` with the demo rosters.
#[test]
fn run_refuses_to_replace_a_folder_of_another_roster_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("output");
    let roster = real_roster(dir.path());
    cohort(Path::new(NCT04822922), &roster, &out).expect_code(0);
    let before = tree(&out);

    let refused = run_cmd(&[
        "run".as_ref(),
        NCT04822922.as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    refused.expect_code(2);
    let err = refused.err();
    assert!(
        err.contains(&format!("{}", out.join("NCT04822922").display())),
        "{err}"
    );
    assert!(err.contains("real.csv"), "names what made it: {err}");
    assert!(err.contains("--force") && err.contains("--out"), "{err}");
    assert_same_tree(&before, &tree(&out), "after a refused run");

    let forced = run_cmd(&[
        "run".as_ref(),
        NCT04822922.as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        "--force".as_ref(),
    ]);
    forced.expect_code(0);
    let m = std::fs::read_to_string(out.join("NCT04822922/manifest.json")).unwrap();
    assert!(m.contains("scenarios/rosters/NCT04822922.csv"), "{m}");
    assert!(!out.join("NCT04822922/patients/R-001.csv").exists());
}

#[test]
fn a_rerun_of_the_same_inputs_replaces_the_folder_and_keeps_the_users_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("output");
    let roster = real_roster(dir.path());
    cohort(Path::new(NCT04822922), &roster, &out).expect_code(0);
    let notes = out.join("NCT04822922/patients/notes.csv");
    std::fs::write(&notes, "R-001,called 2027-02-02\n").unwrap();
    std::fs::write(out.join("NCT04822922/my-summary.txt"), "mine").unwrap();
    // The roster is corrected in place (same file): a rerun, not another job.
    std::fs::write(
        &roster,
        "patient_id,arm,weight_kg,start_date\nR-001,high,61.5,2027-02-01\n",
    )
    .unwrap();
    cohort(Path::new(NCT04822922), &roster, &out).expect_code(0);
    assert_eq!(
        std::fs::read_to_string(&notes).unwrap(),
        "R-001,called 2027-02-02\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("NCT04822922/my-summary.txt")).unwrap(),
        "mine"
    );
    assert!(
        !out.join("NCT04822922/patients/R-002.csv").exists(),
        "R-002 left the roster"
    );
    let m = std::fs::read_to_string(out.join("NCT04822922/manifest.json")).unwrap();
    assert!(
        !m.contains("notes.csv"),
        "the user's file is not dosesim's: {m}"
    );
}

#[test]
fn a_folder_dosesim_did_not_make_is_never_written_into() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("output");
    std::fs::create_dir_all(out.join("NCT04822922")).unwrap();
    std::fs::write(out.join("NCT04822922/thesis.docx"), "years of work").unwrap();
    let roster = real_roster(dir.path());
    for extra in [&[][..], &["--force"][..]] {
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "cohort".as_ref(),
            NCT04822922.as_ref(),
            "--roster".as_ref(),
            roster.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ];
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        let r = run_cmd(&args);
        r.expect_code(2);
        assert!(r.err().contains("has no manifest.json"), "{}", r.err());
    }
    assert_eq!(entries(&out.join("NCT04822922")), ["thesis.docx"]);
}

#[test]
fn what_a_killed_run_left_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("output");
    std::fs::create_dir_all(out.join(".dosesim-NCT04822922.new/patients")).unwrap();
    std::fs::write(out.join(".dosesim-3f9a.tmp"), vec![0u8; 1 << 16]).unwrap();
    let roster = real_roster(dir.path());
    cohort(Path::new(NCT04822922), &roster, &out).expect_code(0);
    assert_eq!(entries(&out), ["NCT04822922"]);
}

#[test]
fn cohort_onto_a_file_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.txt");
    std::fs::write(&file, "x").unwrap();
    let roster = real_roster(dir.path());
    let r = cohort(Path::new(NCT04822922), &roster, &file);
    r.expect_code(2);
    assert!(r.err().contains("is a file"), "{}", r.err());
}

/// A second run into a folder another run is writing waits for it, says so, and then
/// writes whole: the two never mix files.
#[cfg(unix)]
#[test]
fn a_second_run_waits_for_the_folder_lock() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("output");
    std::fs::create_dir_all(&out).unwrap();
    let roster = real_roster(dir.path());
    // This test holds the lock a running dosesim would hold.
    let held = std::fs::File::open(&out).unwrap();
    held.lock().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dosesim"))
        .current_dir(root())
        .args(["cohort", NCT04822922, "--roster"])
        .arg(&roster)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(
        child.try_wait().unwrap().is_none(),
        "it waits while the lock is held"
    );
    assert!(
        !out.join("NCT04822922").exists(),
        "nothing written while waiting"
    );
    held.unlock().unwrap();
    let done = child.wait_with_output().unwrap();
    assert_eq!(done.status.code(), Some(0));
    let err = String::from_utf8_lossy(&done.stderr);
    assert!(
        err.contains("waiting: another dosesim run is writing into"),
        "{err}"
    );
    assert!(out.join("NCT04822922/manifest.json").is_file());
}

/// The index lists every trial folder there is, from the manifests: a cohort of a real
/// roster kept beside this run's trials shows with its own roster.
#[test]
fn the_index_lists_what_the_folder_holds() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("output");
    let roster = write_roster(dir.path(), "cirrhosis.csv", &["C-1,msc,58,2027-03-01"]);
    cohort(Path::new(NCT01573923), &roster, &out).expect_code(0);
    run_cmd(&[
        "run".as_ref(),
        NCT04822922.as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
    ])
    .expect_code(0);
    let index = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(
        index.contains("<a href=\"NCT01573923/report.html\">"),
        "{index}"
    );
    assert!(index.contains("<a href=\"NCT04822922/report.html\">"));
    assert!(index.contains("cirrhosis.csv"), "the kept folder's roster");
    assert!(index.contains("scenarios/rosters/NCT04822922.csv"));
}
