//! The examples committed in output/examples/ are what the code makes today: `dosesim
//! examples --out DIR` writes the same set of files, byte for byte.

use crate::common::*;

const FIX: &str = "the committed examples are out of date: run `cargo run --release -- examples` \
    and review the diff (git diff output/examples/) before committing it";

#[test]
fn committed_examples_are_what_the_code_makes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("examples");
    let run = run(["examples".as_ref(), "--out".as_ref(), out.as_os_str()]);
    run.expect_code(0);

    let made = tree(&out);
    let committed = tree(&root().join("output/examples"));
    assert!(
        made.len() >= 5,
        "examples writes its charts and report: {:?}",
        made.keys()
    );
    assert_eq!(
        made.keys().collect::<Vec<_>>(),
        committed.keys().collect::<Vec<_>>(),
        "the set of files differs; {FIX}"
    );
    let stale: Vec<&String> = made
        .iter()
        .filter(|(name, bytes)| committed[*name] != **bytes)
        .map(|(name, _)| name)
        .collect();
    assert!(stale.is_empty(), "{stale:?} differ; {FIX}");
}
