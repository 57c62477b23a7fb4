//! `dosesim serve` for the web tests: a site's database made with the real commands (the
//! demo roster and record of NCT01724398 imported, one user of each role added), the real
//! binary serving it on a random loopback port, and a client that keeps its session cookie
//! and reads each form's CSRF token the way a browser would.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::{dosesim, root};

/// The password every test user has.
pub const PASSWORD: &str = "correct-horse-7";

/// The users a [`Site`] has: (name, role).
pub const USERS: [(&str, &str); 6] = [
    ("admin", "admin"),
    ("pharm1", "pharmacist"),
    ("pharm2", "pharmacist"),
    ("coord", "coordinator"),
    ("viewer", "viewer"),
    ("coord2", "coordinator"),
];

/// The demo trial the site runs.
pub const TRIAL: &str = "NCT01724398";

/// A site: its folder, database and running server.
pub struct Site {
    pub dir: tempfile::TempDir,
    pub db: String,
    pub url: String,
    server: Child,
}

impl Site {
    /// A SQLite database with the demo trial's roster and record and the test users, and
    /// the server on it.
    pub fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("site.db").display().to_string();
        Site::on(dir, db)
    }

    /// The same on the database `db` (a file or a postgres:// URL).
    pub fn on(dir: tempfile::TempDir, db: String) -> Site {
        let pw = dir.path().join("pw.txt");
        std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
        for (book, file) in [
            ("roster", "scenarios/rosters/NCT01724398.csv"),
            ("record", "scenarios/logs/NCT01724398.csv"),
        ] {
            dosesim()
                .args([book, "import", TRIAL, file, "--db", &db, "--by", "setup"])
                .assert()
                .success();
        }
        for (name, role) in USERS {
            dosesim()
                .args([
                    "user", "add", name, "--role", role, "--db", &db, "--by", "setup",
                ])
                .arg("--password-file")
                .arg(&pw)
                .args(["--full-name", &format!("Test {name}")])
                .assert()
                .success();
        }
        let (server, url) = start(&db, &[]);
        Site {
            dir,
            db,
            url,
            server,
        }
    }

    /// A client signed in as `user`.
    pub fn client(&self, user: &str) -> Client {
        let mut c = Client::new(&self.url);
        c.login(user, PASSWORD);
        c
    }

    /// A client not signed in.
    pub fn anonymous(&self) -> Client {
        Client::new(&self.url)
    }

    /// `dosesim ARGS --db <this site's database>`, run to the end: its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = dosesim()
            .args(args)
            .args(["--db", &self.db])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "dosesim {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// Starts `dosesim serve --db DB --listen 127.0.0.1:0 EXTRA...` from the crate root; the
/// process and the base URL ("http://127.0.0.1:PORT") it printed.
pub fn start(db: &str, extra: &[&str]) -> (Child, String) {
    start_in(db, extra, &[])
}

/// [`start`] with environment variables set for the server (`TZ`, say).
pub fn start_in(db: &str, extra: &[&str], env: &[(&str, &str)]) -> (Child, String) {
    let bin: PathBuf = assert_cmd::cargo::cargo_bin("dosesim");
    let mut child = Command::new(bin)
        .current_dir(root())
        .envs(env.iter().copied())
        .args(["serve", "--db", db, "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in the server's first line: {line}"))
        .trim_end_matches('/')
        .to_string();
    (child, url)
}

/// A response: status, headers (lower-case names; each Set-Cookie joined by "\n"), body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Reply {
    /// Where a redirect goes.
    pub fn location(&self) -> Option<&str> {
        self.headers.get("location").map(String::as_str)
    }

    /// The value of the first hidden `csrf` field on the page.
    pub fn csrf(&self) -> Option<String> {
        csrf_in(&self.body)
    }
}

/// The first `name="csrf" value="..."` of a page.
pub fn csrf_in(html: &str) -> Option<String> {
    let k = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    Some(html[k..].split('"').next()?.to_string())
}

/// An HTTP client that keeps cookies, as a browser would, and follows no redirect by
/// itself (tests look at each).
pub struct Client {
    base: String,
    agent: ureq::Agent,
    pub cookies: HashMap<String, String>,
}

impl Client {
    pub fn new(base: &str) -> Client {
        let agent = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .build()
            .new_agent();
        Client {
            base: base.to_string(),
            agent,
            cookies: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        let mut v: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        v.sort();
        v.join("; ")
    }

    fn take(&mut self, mut r: ureq::http::Response<ureq::Body>) -> Reply {
        let mut headers = HashMap::new();
        for (k, v) in r.headers() {
            let v = v.to_str().unwrap_or("").to_string();
            if k.as_str() == "set-cookie" {
                let pair = v.split(';').next().unwrap_or("");
                if let Some((name, value)) = pair.split_once('=') {
                    if value.is_empty() || v.contains("Max-Age=0") {
                        self.cookies.remove(name);
                    } else {
                        self.cookies.insert(name.to_string(), value.to_string());
                    }
                }
            }
            headers
                .entry(k.as_str().to_string())
                .and_modify(|e: &mut String| {
                    e.push('\n');
                    e.push_str(&v);
                })
                .or_insert(v);
        }
        let status = r.status().as_u16();
        let body = r.body_mut().read_to_string().unwrap_or_default();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// GET `path` (from the base URL).
    pub fn get(&mut self, path: &str) -> Reply {
        let r = self
            .agent
            .get(format!("{}{path}", self.base))
            .header("Cookie", self.cookie_header())
            .call()
            .unwrap();
        self.take(r)
    }

    /// POST a form to `path`, exactly the fields given (no CSRF token added).
    pub fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let r = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Cookie", self.cookie_header())
            .send_form(fields.iter().copied())
            .unwrap();
        self.take(r)
    }

    /// POST a form to `path` with the CSRF token of the page at `from` (as a browser
    /// submits the form it shows).
    pub fn post(&mut self, from: &str, path: &str, fields: &[(&str, &str)]) -> Reply {
        let page = self.get(from);
        let token = page
            .csrf()
            .unwrap_or_else(|| panic!("no form with a CSRF token on {from}: {}", page.status));
        let mut all: Vec<(&str, &str)> = vec![("csrf", token.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all)
    }

    /// Follows a 303 to the page it names.
    pub fn follow(&mut self, r: &Reply) -> Reply {
        let to = r
            .location()
            .unwrap_or_else(|| panic!("not a redirect: {} {}", r.status, r.body))
            .to_string();
        self.get(&to)
    }

    /// Signs in (the sign-in page's own token, then the form); panics unless it worked.
    pub fn login(&mut self, user: &str, password: &str) {
        let r = self.try_login(user, password);
        assert_eq!(r.status, 303, "sign-in of {user} failed: {}", r.body);
    }

    /// Signs in, giving the sign-in form's reply.
    pub fn try_login(&mut self, user: &str, password: &str) -> Reply {
        let page = self.get("/login");
        let token = page.csrf().expect("the sign-in form has a CSRF token");
        self.post_raw(
            "/login",
            &[
                ("csrf", &token),
                ("name", user),
                ("password", password),
                ("next", "/"),
            ],
        )
    }
}
