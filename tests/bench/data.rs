//! The fictional roster and record the pharmacy and database benchmarks share.

/// A fictional roster like shared/bench/make_roster.py's: arms in turn, weights around
/// 64 kg, start dates spread over two years, each patient at one of `sites` in turn (none:
/// no site column). Deterministic, so every run sees the same.
pub fn make_roster_at(n: usize, sites: &[&str]) -> Vec<u8> {
    let arms = ["low", "middle", "high"];
    let d0 = chrono::NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
    let mut out = String::from("patient_id,arm,weight_kg,start_date");
    out.push_str(if sites.is_empty() { "\n" } else { ",site\n" });
    let mut x: u64 = 42;
    for i in 0..n {
        // A small linear congruential generator is all the spread a weight needs here.
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let w = 40.0 + ((x >> 33) % 700) as f64 / 10.0;
        let d = d0 + chrono::Days::new((i * 730 / n.max(1)) as u64);
        out.push_str(&format!("P{:07},{},{w},{d}", i + 1, arms[i % 3]));
        if !sites.is_empty() {
            out.push(',');
            out.push_str(sites[i % sites.len()]);
        }
        out.push('\n');
    }
    out.into_bytes()
}

/// An administration record for [`make_roster_at`]'s roster: each patient's first three
/// infusions given (days 1, 4 and 7), three rows a patient; every 20th patient's second
/// one a day late (re-projecting the rest).
pub fn make_log(n: usize) -> Vec<u8> {
    let d0 = chrono::NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
    let mut out = String::from("patient_id,date,record,component,occurrence,amount,note\n");
    for i in 0..n {
        let start = d0 + chrono::Days::new((i * 730 / n.max(1)) as u64);
        for (k, day) in [1u64, 4, 7].iter().enumerate() {
            let late = u64::from(k == 1 && i % 20 == 0);
            let date = start + chrono::Days::new(day - 1 + late);
            out.push_str(&format!("P{:07},{date},given,uc_msc,{},,\n", i + 1, k + 1));
        }
    }
    out.into_bytes()
}
