//! A real browser for the web tests: Debian's `chromedriver` started on a free loopback port,
//! a headless Chromium session driven over WebDriver (fantoccini), and helpers that act as a
//! person does: go to a page, fill a field found by its label, type on the keyboard (Tab,
//! Enter), press a button, read the page's text, and take screenshots at a desktop and a
//! phone width (saved under `target/web-screenshots/NAME-WIDTH.png`).
//!
//! The calls are blocking (each runs on the browser's own tokio runtime), so a test reads top
//! to bottom as the steps a user takes. Every failure panics naming the step.
//!
//! Needs Debian's `chromium` and `chromium-driver`; `.ci/run` installs them. Without them a
//! test fails saying so (it never passes without a browser).

use std::future::Future;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};

/// The Chromium binary the session runs (Debian's launcher).
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// The window height used with each screenshot width: a desktop and a phone.
pub fn window_height(width: u32) -> u32 {
    if width >= 1000 { 2000 } else { 1600 }
}

/// Where screenshots go: `target/web-screenshots/` of the crate (or of CARGO_TARGET_DIR).
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| super::root().join("target"));
    target.join("web-screenshots")
}

/// Fails the test unless `tool` is on the PATH, saying what to install.
fn need(tool: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "the real-browser test needs {tool}: apt-get install -y chromium chromium-driver \
         (bash .ci/run installs them)"
    );
}

/// A running `chromedriver`, in its own process group (with the Chromium it starts), killed
/// when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    /// `chromedriver --port=0`: it picks a free loopback port and prints it.
    fn start() -> Driver {
        need("chromedriver");
        let mut child = Command::new("chromedriver")
            .args(["--port=0", "--allowed-ips=127.0.0.1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("chromedriver does not start: {e}"));
        let mut out = child.stdout.take().expect("chromedriver's stdout");
        let port = read_port(&mut out);
        // Keep reading what it prints so that it never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let mut driver = Driver {
            child,
            url: String::new(),
        };
        match port {
            Ok(p) => driver.url = format!("http://127.0.0.1:{p}"),
            Err(seen) => panic!("chromedriver printed no port: {seen}"),
        }
        driver
    }
}

/// Reads chromedriver's output up to "started successfully on port NNNN." and gives NNNN,
/// or everything it printed before it stopped.
fn read_port(out: &mut impl Read) -> Result<u16, String> {
    const SAID: &str = "started successfully on port ";
    let mut seen = String::new();
    let mut byte = [0u8; 1];
    while out.read(&mut byte).map_err(|e| e.to_string())? == 1 {
        seen.push(byte[0] as char);
        if let Some(k) = seen.find(SAID) {
            let rest = &seen[k + SAID.len()..];
            if let Some(digits) = rest.strip_suffix('.') {
                return digits.parse().map_err(|_| seen.clone());
            }
        }
    }
    Err(seen)
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group: chromedriver and any Chromium process it left.
        let group = self.child.id() as libc::pid_t;
        // SAFETY: kill with a negative pid signals the process group we created above.
        unsafe { libc::kill(-group, libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// The capabilities of a headless Chromium with a fresh profile and nothing from the
/// network but the site under test.
fn capabilities(profile: &std::path::Path) -> serde_json::Map<String, serde_json::Value> {
    let args = [
        "--headless".to_string(),
        "--no-sandbox".to_string(),
        "--disable-gpu".to_string(),
        "--disable-quic".to_string(),
        "--no-first-run".to_string(),
        "--disable-background-networking".to_string(),
        "--disable-component-update".to_string(),
        "--disable-sync".to_string(),
        "--disable-dev-shm-usage".to_string(),
        "--disable-breakpad".to_string(),
        "--hide-scrollbars".to_string(),
        "--force-device-scale-factor=1".to_string(),
        "--window-size=1280,2000".to_string(),
        format!("--user-data-dir={}", profile.display()),
    ];
    let caps = serde_json::json!({
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
    });
    match caps {
        serde_json::Value::Object(m) => m,
        _ => unreachable!("a JSON object"),
    }
}

/// A headless Chromium on the site at `base`, driven as a person would.
pub struct Browser {
    rt: tokio::runtime::Runtime,
    client: Option<Client>,
    base: String,
    // Dropped after the session is closed: the driver, then the profile folder.
    driver: Driver,
    profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session; `base` is the site's URL
    /// ("http://127.0.0.1:PORT"), to which [`Browser::goto`]'s paths are relative.
    pub fn open(base: &str) -> Browser {
        need("chromium");
        let driver = Driver::start();
        let profile = tempfile::tempdir().expect("a scratch Chromium profile");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime for the browser");
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = rt
            .block_on(
                ClientBuilder::new(connector)
                    .capabilities(capabilities(profile.path()))
                    .connect(&driver.url),
            )
            .unwrap_or_else(|e| panic!("no Chromium session from chromedriver: {e}"));
        Browser {
            rt,
            client: Some(client),
            base: base.trim_end_matches('/').to_string(),
            driver,
            profile,
        }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("the session is open")
    }

    /// Runs one WebDriver step to its end; panics naming `what` if it fails.
    fn run<T>(&self, what: &str, step: impl Future<Output = Result<T, CmdError>>) -> T {
        self.rt
            .block_on(step)
            .unwrap_or_else(|e| panic!("browser: {what}: {e}"))
    }

    /// Opens `path` (from the site's base URL) and waits for it to load.
    pub fn goto(&self, path: &str) {
        let url = format!("{}{path}", self.base);
        self.run(&format!("open {url}"), self.client().goto(&url));
    }

    /// The path (and query) of the page shown now.
    pub fn path(&self) -> String {
        let url = self.run("read the address", self.client().current_url());
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// The page's text as shown (what a reader sees, without the markup).
    pub fn text(&self) -> String {
        let body = self.run("find the page", self.client().find(Locator::Css("body")));
        self.run("read the page's text", body.text())
    }

    /// The page's HTML as it is now.
    pub fn html(&self) -> String {
        self.run("read the page's HTML", self.client().source())
    }

    /// The one element `xpath` finds inside the element `scope` (a CSS selector) selects;
    /// panics when there is none or more than one (then name a narrower scope).
    fn only(&self, scope: &str, xpath: &str, what: &str) -> Element {
        let c = self.client();
        let area = self.run(&format!("find {scope}"), c.find(Locator::Css(scope)));
        let found = self.run(what, area.find_all(Locator::XPath(xpath)));
        match found.len() {
            1 => found.into_iter().next().unwrap(),
            0 => panic!("browser: no {what} in {scope} on {}", self.path()),
            n => panic!(
                "browser: {n} of {what} in {scope} on {}: name a narrower scope",
                self.path()
            ),
        }
    }

    /// The input, select or text area labelled `label` (the label's whole text), or else
    /// the one named `label`, inside `scope`.
    fn field_in(&self, scope: &str, label: &str) -> Element {
        let c = self.client();
        let area = self.run(&format!("find {scope}"), c.find(Locator::Css(scope)));
        let by_label = format!(".//label[normalize-space(.)={}]", xpath_literal(label));
        let labels = self.run("find labels", area.find_all(Locator::XPath(&by_label)));
        if let [one] = labels.as_slice() {
            let id = self
                .run("read a label's for", one.attr("for"))
                .unwrap_or_else(|| panic!("browser: the label {label:?} has no for="));
            let xpath = format!(".//*[@id={}]", xpath_literal(&id));
            return self.only(scope, &xpath, &format!("field #{id} (labelled {label:?})"));
        }
        assert!(
            labels.is_empty(),
            "browser: {} labels {label:?} in {scope}: name a narrower scope",
            labels.len()
        );
        let xpath = format!(
            ".//*[(self::input or self::select or self::textarea) and @name={} and not(@type='hidden')]",
            xpath_literal(label)
        );
        self.only(scope, &xpath, &format!("field labelled or named {label:?}"))
    }

    /// Types `value` into the field labelled (or named) `label`, replacing what it held.
    pub fn fill(&self, label: &str, value: &str) {
        self.fill_in("body", label, value);
    }

    /// [`Browser::fill`] inside the element `scope` (a CSS selector: one form of many).
    pub fn fill_in(&self, scope: &str, label: &str, value: &str) {
        let f = self.field_in(scope, label);
        self.run(&format!("clear {label:?}"), f.clear());
        self.run(&format!("type into {label:?}"), f.send_keys(value));
    }

    /// Picks the option shown as `option` in the select labelled (or named) `label`.
    pub fn choose(&self, label: &str, option: &str) {
        self.choose_in("body", label, option);
    }

    /// [`Browser::choose`] inside the element `scope` (a CSS selector).
    pub fn choose_in(&self, scope: &str, label: &str, option: &str) {
        let f = self.field_in(scope, label);
        self.run(
            &format!("choose {option:?} in {label:?}"),
            f.select_by_label(option),
        );
    }

    /// Types `text` on the keyboard, into whatever has the focus (as a person types;
    /// [`Key`]s as chars: `'\u{e004}'` is Tab, `'\u{e007}'` is Enter).
    pub fn keys(&self, text: &str) {
        let mut typing = KeyActions::new("keyboard".to_string());
        for ch in text.chars() {
            typing = typing
                .then(KeyAction::Down { value: ch })
                .then(KeyAction::Up { value: ch });
        }
        self.run(
            &format!("type {text:?}"),
            self.client().perform_actions(typing),
        );
        self.run("release the keys", self.client().release_actions());
    }

    /// Presses Tab: the focus moves to the next field, link or button.
    pub fn tab(&self) {
        self.keys(&char::from(Key::Tab).to_string());
    }

    /// Presses Enter to submit the form of the focused field (or to press the focused
    /// button or link), and waits for the page that answers. (An Enter that opens no page:
    /// `keys("\u{e007}")`.)
    pub fn enter(&self) {
        self.to_new_page("press Enter", || {
            self.keys(&char::from(Key::Enter).to_string())
        });
    }

    /// What has the keyboard focus: its label's text when it has one, else its name, id or
    /// text.
    pub fn focused(&self) -> String {
        let c = self.client();
        let el = self.run("find the focused element", c.active_element());
        let id = self.run("read its id", el.attr("id")).unwrap_or_default();
        if !id.is_empty() {
            let xpath = format!("//label[@for={}]", xpath_literal(&id));
            let labels = self.run("find its label", c.find_all(Locator::XPath(&xpath)));
            if let Some(l) = labels.first() {
                return self.run("read its label", l.text()).trim().to_string();
            }
        }
        let name = self
            .run("read its name", el.attr("name"))
            .unwrap_or_default();
        if !name.is_empty() {
            return name;
        }
        if !id.is_empty() {
            return id;
        }
        self.run("read its text", el.text()).trim().to_string()
    }

    /// Presses the button showing `text` (there must be one only on the page).
    pub fn click_button(&self, text: &str) {
        self.click_button_in("body", text);
    }

    /// [`Browser::click_button`] inside the element `scope` (a CSS selector).
    pub fn click_button_in(&self, scope: &str, text: &str) {
        let xpath = format!(
            ".//button[normalize-space(.)={t}] | .//input[(@type='submit' or @type='button') and @value={t}]",
            t = xpath_literal(text)
        );
        let b = self.only(scope, &xpath, &format!("button {text:?}"));
        let what = format!("press {text:?}");
        self.to_new_page(&what, || self.run(&what, b.click()));
    }

    /// Follows the link showing `text` (there must be one only on the page).
    pub fn click_link(&self, text: &str) {
        let xpath = format!("//a[normalize-space(.)={}]", xpath_literal(text));
        let a = self.only("body", &xpath, &format!("link {text:?}"));
        let what = format!("follow {text:?}");
        self.to_new_page(&what, || self.run(&what, a.click()));
    }

    /// Does `act`, which opens a new page (a form sent, a link followed), then waits until
    /// that page has replaced this one and has loaded: WebDriver's click and keys return
    /// before the browser has even asked for the next page. This page is marked (a property
    /// of its window, which a new page does not have) and the wait ends when a loaded page
    /// lacks the mark. Panics naming `what` when no new page came within [`PAGE_WAIT`].
    fn to_new_page(&self, what: &str, act: impl FnOnce()) {
        let c = self.client();
        let mark = "window.dosesimOldPage = true;";
        self.run("mark the page", c.execute(mark, vec![]));
        act();
        let probe = "return document.readyState === 'complete' && !window.dosesimOldPage;";
        let waited = self.rt.block_on(async {
            let deadline = tokio::time::Instant::now() + PAGE_WAIT;
            let mut last = String::from("the old page stayed");
            loop {
                // An error while one page unloads and the next loads is part of the change.
                match c.execute(probe, vec![]).await {
                    Ok(serde_json::Value::Bool(true)) => return Ok(()),
                    Ok(_) => {}
                    Err(e) => last = e.to_string(),
                }
                if tokio::time::Instant::now() > deadline {
                    return Err(last);
                }
                tokio::time::sleep(POLL).await;
            }
        });
        if let Err(why) = waited {
            panic!(
                "browser: {what}: no new page within {} s ({why}; now at {})",
                PAGE_WAIT.as_secs(),
                self.path()
            );
        }
    }

    /// A screenshot of the page at `width` px (the window [`window_height`] tall, or taller
    /// to show a long page whole), saved as `target/web-screenshots/NAME-WIDTH.png`; its path.
    pub fn screenshot(&self, name: &str, width: u32) -> PathBuf {
        let c = self.client();
        let height = window_height(width);
        self.run(
            &format!("size the window {width}x{height}"),
            c.set_window_size(width, height),
        );
        self.grow_to_the_page(width, height);
        let png = self.run("take a screenshot", c.screenshot());
        assert_eq!(
            png_width(&png),
            width,
            "the screenshot {name} should be {width} px wide"
        );
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("the screenshot folder");
        let path = dir.join(format!("{name}-{width}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        path
    }
}

impl Browser {
    /// Makes the window tall enough to show the whole page (up to [`TALLEST`] px), so a
    /// long page is seen to its end; the window is `height` tall when the page fits.
    fn grow_to_the_page(&self, width: u32, height: u32) {
        let c = self.client();
        let measure = "return [document.documentElement.scrollHeight, window.innerHeight];";
        let sizes = self.run("measure the page", c.execute(measure, vec![]));
        let px = |k: usize| {
            sizes
                .get(k)
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(0) as u32
        };
        let (page, inner) = (px(0), px(1));
        if page > inner && inner > 0 {
            let frame = height.saturating_sub(inner);
            let tall = (page + frame).min(TALLEST);
            self.run(
                &format!("size the window {width}x{tall}"),
                c.set_window_size(width, tall),
            );
        }
    }
}

/// How long [`Browser`] waits for a page to replace the one shown, at most (a limit for a
/// browser that hangs, not a time the test measures).
pub const PAGE_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// How often it looks.
const POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// The tallest window a screenshot takes, in px.
pub const TALLEST: u32 = 12_000;

impl Drop for Browser {
    fn drop(&mut self) {
        // End the session (chromedriver closes Chromium), then the driver and the profile
        // go with their own drops. A failure here changes nothing the test saw.
        if let Some(c) = self.client.take() {
            let _ = self.rt.block_on(c.close());
        }
    }
}

/// `s` as an XPath string literal (XPath 1 has no escapes: quotes are joined with concat).
pub fn xpath_literal(s: &str) -> String {
    if !s.contains('\'') {
        format!("'{s}'")
    } else if !s.contains('"') {
        format!("\"{s}\"")
    } else {
        let parts: Vec<String> = s.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}

/// The width in pixels a PNG's header gives.
fn png_width(png: &[u8]) -> u32 {
    assert!(
        png.len() > 24 && png.starts_with(b"\x89PNG"),
        "a PNG screenshot"
    );
    u32::from_be_bytes([png[16], png[17], png[18], png[19]])
}
