//! Mutations of seed files for the fuzz tests (`tests/fuzz.rs`, `tests/fuzz_sources.rs`):
//! bytes cut, copied and inserted, tokens of the file's format dropped in, lines swapped.

use proptest::prelude::*;

/// One edit of a seed file.
#[derive(Debug, Clone)]
pub enum Edit {
    Cut { at: usize, len: usize },
    Insert { at: usize, token: usize },
    Bytes { at: usize, bytes: Vec<u8> },
    Copy { from: usize, len: usize, to: usize },
    SwapLines { a: usize, b: usize },
}

pub fn edit(tokens: usize) -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1..64usize).prop_map(|(at, len)| Edit::Cut { at, len }),
        (any::<usize>(), 0..tokens).prop_map(|(at, token)| Edit::Insert { at, token }),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Edit::Bytes { at, bytes }),
        (any::<usize>(), 1..400usize, any::<usize>()).prop_map(|(from, len, to)| Edit::Copy {
            from,
            len,
            to
        }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines { a, b }),
    ]
}

pub fn apply(seed: &[u8], edits: &[Edit], tokens: &[&str]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for e in edits {
        let n = v.len().max(1);
        match e {
            Edit::Cut { at, len } => {
                let a = at % n;
                let b = (a + len).min(v.len());
                if a < b {
                    v.drain(a..b);
                }
            }
            Edit::Insert { at, token } => {
                let a = (at % (v.len() + 1)).min(v.len());
                v.splice(a..a, tokens[*token].bytes());
            }
            Edit::Bytes { at, bytes } => {
                let a = (at % (v.len() + 1)).min(v.len());
                v.splice(a..a, bytes.iter().copied());
            }
            Edit::Copy { from, len, to } => {
                let a = from % n;
                let b = (a + len).min(v.len());
                let piece: Vec<u8> = v.get(a..b).unwrap_or_default().to_vec();
                let t = (to % (v.len() + 1)).min(v.len());
                v.splice(t..t, piece);
            }
            Edit::SwapLines { a, b } => {
                let text = String::from_utf8_lossy(&v).into_owned();
                let mut lines: Vec<&str> = text.split('\n').collect();
                let k = lines.len();
                lines.swap(a % k, b % k);
                v = lines.join("\n").into_bytes();
            }
        }
    }
    v
}

/// `PROPTEST_CASES` when set (for a longer campaign), else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
