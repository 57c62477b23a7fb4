//! Load test of `dosesim serve` (a benchmark, not a timed test): 50 clients on loopback,
//! each signed in as a coordinator of its own, enrol 20 patients each at once through the
//! enrolment form: 1,000 entries. Then every patient must be in the roster exactly once and
//! the chain must verify; the latency of the 1,000 form posts (from the request sent to the
//! redirect received) is printed as p50, p95 and the slowest.
//!
//!     cargo bench --bench serve                      # SQLite (a new file)
//!     DOSESIM_BENCH_DB=postgres://... cargo bench --bench serve   # an empty PostgreSQL db

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dosesim::db::users::{self, Role};
use dosesim::db::{Book, Db, Filter, Location, Open, books};

const CLIENTS: usize = 50;
const EACH: usize = 20;
const TRIAL: &str = "NCT01724398";
const PASSWORD: &str = "load-test-password";

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    let at = match std::env::var("DOSESIM_BENCH_DB") {
        Ok(url) if !url.is_empty() => Location::parse(&url),
        _ => Location::Sqlite(dir.path().join("load.db")),
    };
    prepare(&at, root);
    let base = start_server(&at, root);
    println!(
        "{CLIENTS} clients x {EACH} enrolments on {} ({})",
        base,
        at.label()
    );
    let began = Instant::now();
    let (tx, rx) = mpsc::channel();
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (tx, base) = (tx.clone(), base.clone());
            std::thread::spawn(move || client(c, &base, &tx))
        })
        .collect();
    drop(tx);
    for t in threads {
        t.join().unwrap();
    }
    let wall = began.elapsed();
    let mut latencies: Vec<Duration> = rx.iter().collect();
    latencies.sort();
    check(&at, latencies.len());
    report(&latencies, wall);
}

/// The database: the demo roster, and one coordinator per client.
fn prepare(at: &Location, root: &Path) {
    let trial = dosesim::scenario::load(&root.join("scenarios/nct01724398.toml")).unwrap();
    let mut db = Db::open(at, Open::OrCreate).unwrap();
    let roster = std::fs::read(root.join("scenarios/rosters/NCT01724398.csv")).unwrap();
    books::import_roster(&mut db, &trial, Path::new("roster.csv"), roster, "bench")
        .map_err(|e| e.into_anyhow())
        .unwrap();
    for c in 0..CLIENTS {
        users::add(
            &mut db,
            &format!("coord{c}"),
            Role::Coordinator,
            "",
            PASSWORD,
            "bench",
        )
        .map_err(|e| e.into_anyhow())
        .unwrap();
    }
}

/// The server in this process, on a free loopback port: its base URL.
fn start_server(at: &Location, root: &Path) -> String {
    let config = dosesim::web::Config {
        db: at.clone(),
        scenarios: root.join("scenarios"),
        listen: "127.0.0.1:0".parse().unwrap(),
        idle_minutes: 30,
        https: false,
    };
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        dosesim::web::serve(config, |addr| tx.send(addr).unwrap()).unwrap();
    });
    format!("http://{}", rx.recv().unwrap())
}

/// One client: signs in, then enrols its patients one after another, sending each post's
/// latency.
fn client(c: usize, base: &str, tx: &mpsc::Sender<Duration>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .new_agent();
    let mut cookies: HashMap<String, String> = HashMap::new();
    let page = get(&agent, &format!("{base}/login"), &mut cookies);
    let token = csrf(&page);
    let name = format!("coord{c}");
    let r = post(
        &agent,
        &format!("{base}/login"),
        &mut cookies,
        &[
            ("csrf", &token),
            ("name", &name),
            ("password", PASSWORD),
            ("next", "/"),
        ],
    );
    assert_eq!(r, 303, "sign-in of {name}");
    let page = get(
        &agent,
        &format!("{base}/trials/{TRIAL}/patients"),
        &mut cookies,
    );
    let token = csrf(&page);
    for k in 0..EACH {
        let id = format!("L{c:02}-{k:02}");
        let began = Instant::now();
        let status = post(
            &agent,
            &format!("{base}/trials/{TRIAL}/patients"),
            &mut cookies,
            &[
                ("csrf", &token),
                ("patient", &id),
                ("arm", "msc"),
                ("weight_kg", "61.5"),
                ("start_date", "2026-11-02"),
                ("site", "GZ-SYSU3"),
            ],
        );
        tx.send(began.elapsed()).unwrap();
        assert_eq!(status, 303, "enrolment of {id}");
    }
}

fn take(r: &ureq::http::Response<ureq::Body>, cookies: &mut HashMap<String, String>) {
    for v in r.headers().get_all("set-cookie") {
        let v = v.to_str().unwrap_or("");
        if let Some((k, val)) = v.split(';').next().and_then(|p| p.split_once('=')) {
            cookies.insert(k.to_string(), val.to_string());
        }
    }
}

fn cookie_header(cookies: &HashMap<String, String>) -> String {
    cookies
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn get(agent: &ureq::Agent, url: &str, cookies: &mut HashMap<String, String>) -> String {
    let mut r = agent
        .get(url)
        .header("Cookie", cookie_header(cookies))
        .call()
        .unwrap();
    take(&r, cookies);
    r.body_mut().read_to_string().unwrap()
}

fn post(
    agent: &ureq::Agent,
    url: &str,
    cookies: &mut HashMap<String, String>,
    form: &[(&str, &str)],
) -> u16 {
    let mut r = agent
        .post(url)
        .header("Cookie", cookie_header(cookies))
        .send_form(form.iter().copied())
        .unwrap();
    take(&r, cookies);
    let status = r.status().as_u16();
    if status != 303 {
        eprintln!(
            "{status}: {}",
            r.body_mut().read_to_string().unwrap_or_default()
        );
    }
    status
}

fn csrf(page: &str) -> String {
    let key = "name=\"csrf\" value=\"";
    let k = page.find(key).expect("a form with a CSRF token") + key.len();
    page[k..].split('"').next().unwrap().to_string()
}

/// Every enrolment is in the roster once, and the chain verifies.
fn check(at: &Location, posts: usize) {
    assert_eq!(posts, CLIENTS * EACH, "every post answered");
    let mut db = Db::open(at, Open::Existing).unwrap();
    let mut seen: HashMap<String, usize> = HashMap::new();
    db.read(|s| {
        s.scan(&Filter::trial(TRIAL).book(Book::Roster), &mut |e| {
            if e.fields.patient_id.starts_with('L') {
                *seen.entry(e.fields.patient_id.clone()).or_default() += 1;
            }
            Ok(())
        })
    })
    .unwrap();
    assert_eq!(seen.len(), CLIENTS * EACH, "no enrolment lost");
    assert!(seen.values().all(|&n| n == 1), "none entered twice");
    let v = dosesim::db::verify(&mut db).unwrap();
    assert_eq!(v.broken_count, 0, "the chain verifies");
    println!(
        "{} patients enrolled, each once; chain intact: {} entries",
        seen.len(),
        v.entries
    );
}

fn report(l: &[Duration], wall: Duration) {
    let at = |q: f64| l[((l.len() as f64 * q).ceil() as usize).clamp(1, l.len()) - 1];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "latency of a recording post: p50 {:.1} ms, p95 {:.1} ms, slowest {:.1} ms; {} posts in {:.2} s ({:.0} per second)",
        ms(at(0.50)),
        ms(at(0.95)),
        ms(at(1.0)),
        l.len(),
        wall.as_secs_f64(),
        l.len() as f64 / wall.as_secs_f64()
    );
}
