use std::time::Instant;
fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let n: usize = 300_000;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.db");
    let mut c = rusqlite::Connection::open(&p).unwrap();
    if mode.contains("p16") { c.execute_batch("PRAGMA page_size=16384;").unwrap(); }
    if mode.contains("p64") { c.execute_batch("PRAGMA page_size=65536;").unwrap(); }
    c.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(())).unwrap();
    c.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536;").unwrap();
    if mode.contains("big") { c.execute_batch("PRAGMA cache_size=-400000;").unwrap(); }
    let idx = mode.contains("idx");
    c.execute_batch(&format!("CREATE TABLE e (id INTEGER PRIMARY KEY, trial_id TEXT NOT NULL, book TEXT NOT NULL, action TEXT NOT NULL, supersedes INTEGER, patient_id TEXT NOT NULL, arm TEXT NOT NULL, weight_kg TEXT NOT NULL, start_date TEXT NOT NULL, site TEXT NOT NULL, date TEXT NOT NULL, record TEXT NOT NULL, component TEXT NOT NULL, occurrence TEXT NOT NULL, amount TEXT NOT NULL, note TEXT NOT NULL, reason TEXT NOT NULL, source TEXT NOT NULL, entered_by TEXT NOT NULL, entered_at TEXT NOT NULL, prev_hash BLOB NOT NULL, hash BLOB NOT NULL); {}", if idx {"CREATE INDEX t ON e(trial_id, id);"} else {""})).unwrap();
    let t = Instant::now();
    let tx = c.transaction().unwrap();
    if mode.contains("lean") {
        tx.execute_batch("CREATE TABLE l (id INTEGER PRIMARY KEY, batch INTEGER NOT NULL, supersedes INTEGER, patient_id TEXT NOT NULL, date TEXT NOT NULL, record TEXT NOT NULL, component TEXT NOT NULL, occurrence TEXT NOT NULL, amount TEXT NOT NULL, note TEXT NOT NULL, line INTEGER, prev_hash BLOB NOT NULL, hash BLOB NOT NULL)").unwrap();
        let mut st = tx.prepare("INSERT INTO l VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)").unwrap();
        let h = [7u8; 32];
        for i in 0..n {
            let pid = format!("P{:07}", i / 3);
            st.raw_bind_parameter(1, (i + 2) as i64).unwrap();
            st.raw_bind_parameter(2, 3i64).unwrap();
            st.raw_bind_parameter(3, rusqlite::types::Null).unwrap();
            st.raw_bind_parameter(4, &pid).unwrap();
            st.raw_bind_parameter(5, "2026-01-05").unwrap();
            st.raw_bind_parameter(6, "given").unwrap();
            st.raw_bind_parameter(7, "uc_msc").unwrap();
            st.raw_bind_parameter(8, "1").unwrap();
            st.raw_bind_parameter(9, "").unwrap();
            st.raw_bind_parameter(10, "").unwrap();
            st.raw_bind_parameter(11, (i + 2) as i64).unwrap();
            st.raw_bind_parameter(12, &h[..]).unwrap();
            st.raw_bind_parameter(13, &h[..]).unwrap();
            st.raw_execute().unwrap();
        }
        drop(st);
        let a = t.elapsed();
        tx.commit().unwrap();
        let b = t.elapsed();
        drop(c);
        println!("{mode}: insert {:?} commit {:?} close {:?} -> {:.0} rows/s", a, b - a, t.elapsed() - b, n as f64 / t.elapsed().as_secs_f64());
        return;
    }
    let multi: usize = if mode.contains("multi") { 32 } else { 1 };
    {
        let one = "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
        let sql = format!("INSERT INTO e VALUES {}", vec![one; multi].join(","));
        let mut st = tx.prepare(&sql).unwrap();
        let h = [7u8; 32];
        let mut i = 0;
        while i < n {
            let mut k = 1;
            for j in 0..multi {
                let id = (i + j + 2) as i64;
                let pid = format!("P{:07}", (i + j) / 3);
                st.raw_bind_parameter(k, id).unwrap();
                st.raw_bind_parameter(k + 1, "NCT04822922").unwrap();
                st.raw_bind_parameter(k + 2, "record").unwrap();
                st.raw_bind_parameter(k + 3, "add").unwrap();
                st.raw_bind_parameter(k + 4, rusqlite::types::Null).unwrap();
                st.raw_bind_parameter(k + 5, &pid).unwrap();
                for q in 6..10 { st.raw_bind_parameter(k + q, "").unwrap(); }
                st.raw_bind_parameter(k + 10, "2026-01-05").unwrap();
                st.raw_bind_parameter(k + 11, "given").unwrap();
                st.raw_bind_parameter(k + 12, "uc_msc").unwrap();
                st.raw_bind_parameter(k + 13, "1").unwrap();
                st.raw_bind_parameter(k + 14, "").unwrap();
                st.raw_bind_parameter(k + 15, "").unwrap();
                st.raw_bind_parameter(k + 16, "").unwrap();
                st.raw_bind_parameter(k + 17, "import of log.csv line 12345").unwrap();
                st.raw_bind_parameter(k + 18, "bench").unwrap();
                st.raw_bind_parameter(k + 19, "2026-12-05T16:00:00.000000Z").unwrap();
                st.raw_bind_parameter(k + 20, &h[..]).unwrap();
                st.raw_bind_parameter(k + 21, &h[..]).unwrap();
                k += 22;
            }
            st.raw_execute().unwrap();
            i += multi;
        }
    }
    let a = t.elapsed();
    tx.commit().unwrap();
    println!("{mode}: insert {:?} commit {:?} -> {:.0} rows/s", a, t.elapsed() - a, n as f64 / t.elapsed().as_secs_f64());
}
