//! A real browser for the console's tests: headless Chromium driven through WebDriver
//! (`fantoccini`), as a user with a keyboard and a mouse would use the pages.
//!
//! Each [`Browser`] is its own `chromedriver` on a free loopback port (a child process in a
//! process group of its own, with its log and Chromium's profile in a scratch directory) and one
//! session in it: tests never share cookies, storage or history. Chromium and chromedriver are
//! Debian's packages, installed by `scripts/install-browser` when missing (the same version, so
//! the driver always accepts the browser).
//!
//! Nothing leaves the machine: Chromium's own background traffic is switched off and every
//! request goes to a proxy on a closed loopback port, which Chromium skips only for loopback
//! hosts, so a page that pulls a font or script from the internet fails to load it instead of
//! fetching it.
//!
//! Lookups wait for their element (up to [`FIND_DEADLINE`]): after a click or Enter the next
//! page may still be loading, and a test must not sleep to cover that. Everything panics instead
//! of returning errors, like the rest of the harness.

use std::{
    fs::File,
    future::Future,
    io::{BufRead, BufReader, Read as _, Write as _},
    net::{SocketAddr, TcpStream},
    os::unix::process::CommandExt as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{
    Client, ClientBuilder, Locator,
    actions::{InputSource as _, KeyAction, KeyActions},
    elements::Element,
    error::NewSessionError,
    wd::Capabilities,
};
use serde_json::json;

pub use fantoccini::{cookies::Cookie, key::Key};

use crate::process::free_port;

/// The driver and browser, as Debian's `chromium-driver` and `chromium` install them.
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long chromedriver may take to listen, and Chromium to open a session.
const START_DEADLINE: Duration = Duration::from_secs(60);
/// How long a lookup waits for its element to appear.
pub const FIND_DEADLINE: Duration = Duration::from_secs(10);
/// Any single WebDriver command (a page load included): a hung browser fails the test instead
/// of hanging it.
const COMMAND_DEADLINE: Duration = Duration::from_secs(60);
/// Lines of chromedriver's log shown when a test fails.
const LOG_TAIL_LINES: usize = 60;

/// What the page is shown on. The viewport is emulated (Chromium's device metrics) rather than
/// left to the window: headless Chromium keeps windows at least 500 pixels wide and takes room
/// for toolbars it does not draw, so a window size alone gives neither a phone's width nor a
/// known height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Screen {
    /// The viewport in CSS pixels (screenshots are this size: the pixel ratio is 1).
    pub width: u32,
    pub height: u32,
    /// A phone: touch input, and `<meta name="viewport">` honoured, so a page without it is
    /// laid out 980 pixels wide and shrunk, as on a real phone.
    pub phone: bool,
}

/// A laptop's screen, the console's main layout.
pub const DESKTOP: Screen = Screen {
    width: 1280,
    height: 900,
    phone: false,
};
/// A phone (an iPhone 12 to 15's CSS pixels), for the narrow layout.
pub const MOBILE: Screen = Screen {
    width: 390,
    height: 844,
    phone: true,
};

/// One headless Chromium session, on pages of one site (`base_url`).
///
/// Close it with [`Browser::close`] when the test is done; dropping it also ends the session
/// (blocking briefly, since `Drop` cannot await) and kills the driver and the browser.
pub struct Browser {
    /// `None` once closed.
    client: Option<Client>,
    /// The session's id, to end it from `Drop`.
    session: String,
    base_url: String,
    /// Fields drop in order: the driver stops before its directory goes.
    driver: Driver,
    _scratch: Scratch,
}

impl Browser {
    /// A desktop-sized ([`DESKTOP`]) browser for the site at `base_url` (`http://127.0.0.1:port`).
    pub async fn start(base_url: &str) -> Self {
        Self::with_screen(base_url, DESKTOP).await
    }

    /// A phone-sized ([`MOBILE`]) browser, for the narrow layout's screenshots and checks.
    pub async fn mobile(base_url: &str) -> Self {
        Self::with_screen(base_url, MOBILE).await
    }

    /// A browser showing pages on `screen`.
    pub async fn with_screen(base_url: &str, screen: Screen) -> Self {
        let chromedriver = install();
        let dir =
            std::env::temp_dir().join(format!("e2e-browser-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let scratch = Scratch(dir);
        let driver = Driver::spawn(&chromedriver, &scratch.0);

        let mut capabilities = Capabilities::new();
        capabilities.insert("browserName".to_owned(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": CHROMIUM,
                "args": chromium_args(&scratch.0.join("profile"), screen),
                "mobileEmulation": {"deviceMetrics": {
                    "width": screen.width,
                    "height": screen.height,
                    "pixelRatio": 1.0,
                    "mobile": screen.phone,
                    "touch": screen.phone,
                }},
            }),
        );
        // Page loads and scripts bounded; no implicit wait: `find` waits explicitly, so
        // `exists` can answer at once.
        capabilities.insert(
            "timeouts".to_owned(),
            json!({"pageLoad": 30_000, "script": 30_000, "implicit": 0}),
        );
        let client = new_session(&driver, &capabilities).await;
        let session = within("reading the session id", &driver, client.session_id())
            .await
            .unwrap_or_else(|| panic!("chromedriver gave no session id\n{}", driver.log_tail()));
        Self {
            client: Some(client),
            session,
            base_url: base_url.trim_end_matches('/').to_owned(),
            driver,
            _scratch: scratch,
        }
    }

    /// The fantoccini client, for what the helpers below do not cover (scripts, windows).
    pub fn client(&self) -> &Client {
        self.client
            .as_ref()
            .unwrap_or_else(|| panic!("the browser was closed"))
    }

    /// Loads `path` (`/console/login?next=...`) of the site and waits for the page to load.
    pub async fn goto(&self, path: &str) {
        let url = format!("{}{path}", self.base_url);
        self.run(&format!("goto {url}"), self.client().goto(&url))
            .await;
    }

    /// The current page's path and query (`/console/orgs?page=2`): where a redirect led.
    pub async fn path(&self) -> String {
        let url = self.run("current url", self.client().current_url()).await;
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// The first element matching the CSS selector `css`, waiting up to [`FIND_DEADLINE`] for
    /// it to appear.
    pub async fn find(&self, css: &str) -> Element {
        let wait = self
            .client()
            .wait()
            .at_most(FIND_DEADLINE)
            .every(Duration::from_millis(50))
            .for_element(Locator::Css(css));
        match tokio::time::timeout(COMMAND_DEADLINE, wait).await {
            Ok(Ok(element)) => element,
            Ok(Err(e)) => {
                let path = self.path().await;
                panic!("no element matches `{css}` on {path} after {FIND_DEADLINE:?}: {e}")
            }
            Err(_) => panic!(
                "finding `{css}`: no answer in {COMMAND_DEADLINE:?}\n{}",
                self.driver.log_tail()
            ),
        }
    }

    /// Whether an element matches `css` right now (no waiting): for asserting that something
    /// is absent, after a [`find`](Self::find) has shown the page is there.
    pub async fn exists(&self, css: &str) -> bool {
        let all = self
            .run(
                &format!("find all `{css}`"),
                self.client().find_all(Locator::Css(css)),
            )
            .await;
        !all.is_empty()
    }

    /// The rendered text of the element matching `css` (what a user reads: hidden parts left
    /// out, whitespace collapsed).
    pub async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        self.run(&format!("text of `{css}`"), element.text()).await
    }

    /// Replaces the value of the field matching `css` with `value`, typed key by key (so the
    /// page's input handlers see it as a user's typing).
    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        self.run(&format!("clear `{css}`"), field.clear()).await;
        self.run(&format!("type into `{css}`"), field.send_keys(value))
            .await;
    }

    /// Clicks the element matching `css` (in its centre, after scrolling it into view), as a
    /// mouse would: a disabled button ignores it.
    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.run(&format!("click `{css}`"), element.click()).await;
    }

    /// Submits the form matching `css` by clicking its first submit button, as a user would.
    pub async fn submit(&self, css: &str) {
        self.find(css).await;
        let form = self
            .run(
                &format!("form `{css}`"),
                self.client().form(Locator::Css(css)),
            )
            .await;
        self.run(&format!("submit `{css}`"), form.submit()).await;
    }

    /// Whether the control matching `css` is disabled (itself or through a disabled fieldset).
    pub async fn is_disabled(&self, css: &str) -> bool {
        let element = self.find(css).await;
        !self
            .run(&format!("is `{css}` enabled"), element.is_enabled())
            .await
    }

    /// Whether the element matching `css` has the keyboard focus.
    pub async fn is_focused(&self, css: &str) -> bool {
        let element = self.find(css).await;
        let active = self
            .run("active element", self.client().active_element())
            .await;
        active.element_id() == element.element_id()
    }

    /// Presses and releases `keys` one after another on the keyboard, wherever the focus is
    /// (`&[Key::Tab, Key::Enter]`): for the keyboard-only paths through a page.
    pub async fn press(&self, keys: &[Key]) {
        let mut actions = KeyActions::new("keyboard".to_owned());
        for key in keys {
            let value = char::from(*key);
            actions = actions
                .then(KeyAction::Down { value })
                .then(KeyAction::Up { value });
        }
        self.run(
            &format!("press {keys:?}"),
            self.client().perform_actions(actions),
        )
        .await;
    }

    /// Every cookie the browser holds for the current page, with its flags (`http_only()`,
    /// `secure()`, `same_site()`): the session cookie's attributes are part of the console's
    /// security.
    pub async fn cookies(&self) -> Vec<Cookie<'static>> {
        self.run("cookies", self.client().get_all_cookies()).await
    }

    /// Saves the viewport (not the whole page) as `<target>/console-screenshots/<name>.png` and
    /// returns the path: for reviewing the pages' looks. Names are shared by every test, so
    /// each test uses its own.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self
            .run(&format!("screenshot {name}"), self.client().screenshot())
            .await;
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        path
    }

    /// Ends the session (Chromium quits) and stops the driver.
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            within("closing the session", &self.driver, client.close()).await;
        }
    }

    async fn run<T, E: std::fmt::Display>(
        &self,
        what: &str,
        command: impl Future<Output = Result<T, E>>,
    ) -> T {
        within(what, &self.driver, command).await
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if self.client.take().is_some() {
            // The client's own shutdown is a task on the test's runtime, which may be ending
            // with the test: end the session directly so Chromium quits before the driver dies.
            self.driver.delete_session(&self.session);
        }
    }
}

/// A new WebDriver session. A connection dropped before chromedriver answered (it happens on a
/// loaded machine right after start) is asked again, three times at most; any other refusal
/// fails the test with the driver's log.
async fn new_session(driver: &Driver, capabilities: &Capabilities) -> Client {
    for attempt in 1..=3 {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let mut builder = ClientBuilder::new(connector);
        builder.capabilities(capabilities.clone());
        let started = builder.connect(&driver.url);
        match tokio::time::timeout(COMMAND_DEADLINE, started).await {
            Ok(Ok(client)) => return client,
            Ok(Err(
                error @ (NewSessionError::FailedC(_)
                | NewSessionError::Failed(_)
                | NewSessionError::Lost(_)),
            )) if attempt < 3 => {
                eprintln!("WebDriver session attempt {attempt} lost ({error}); asking again");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Ok(Err(error)) => panic!(
                "starting a WebDriver session: {error}\n{}",
                driver.log_tail()
            ),
            Err(_) => panic!(
                "starting a WebDriver session: no answer in {COMMAND_DEADLINE:?}\n{}",
                driver.log_tail()
            ),
        }
    }
    unreachable!("the last attempt returns or panics")
}

/// `command`, or a panic naming `what` with the error (or the timeout) and the driver's log.
async fn within<T, E: std::fmt::Display>(
    what: &str,
    driver: &Driver,
    command: impl Future<Output = Result<T, E>>,
) -> T {
    match tokio::time::timeout(COMMAND_DEADLINE, command).await {
        Ok(Ok(value)) => value,
        Ok(Err(e)) => panic!("{what}: {e}"),
        Err(_) => panic!(
            "{what}: no answer in {COMMAND_DEADLINE:?}\n{}",
            driver.log_tail()
        ),
    }
}

/// Chromium's command line: headless, in the scratch profile, offline but for loopback.
fn chromium_args(profile: &Path, screen: Screen) -> Vec<String> {
    [
        "--headless=new",
        // Root in a container has no user namespaces for the sandbox.
        "--no-sandbox",
        "--disable-gpu",
        // A container's /dev/shm is often 64 MB, too small for Chromium's shared memory.
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--no-pings",
        "--disable-features=Translate,MediaRouter,OptimizationHints",
        // Chromium bypasses a proxy for loopback hosts only: anything else meets a closed port.
        "--proxy-server=http://127.0.0.1:9",
        "--hide-scrollbars",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain([
        // The window at least as large as the emulated screen, which it holds.
        format!(
            "--window-size={},{}",
            screen.width.max(500),
            screen.height + 200
        ),
        format!("--user-data-dir={}", profile.display()),
    ])
    .collect()
}

/// chromedriver's path, running `scripts/install-browser` first when the browser or the driver
/// is missing (a fresh machine's `cargo test --workspace`).
fn install() -> PathBuf {
    if Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists() {
        return PathBuf::from(CHROMEDRIVER);
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/install-browser");
    let output = Command::new(&script)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", script.display()));
    assert!(
        output.status.success(),
        "{} failed (Chromium and chromedriver are needed for the browser tests):\n{}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

/// `<target>/console-screenshots`, `<target>` being `CARGO_TARGET_DIR` or the workspace's
/// `target`, as for the built binaries ([`crate::process::binary`]).
pub fn screenshot_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"),
            PathBuf::from,
        )
        .join("console-screenshots")
}

/// A running chromedriver, killed on drop with everything it started.
struct Driver {
    child: Child,
    url: String,
    addr: SocketAddr,
    log: PathBuf,
}

impl Driver {
    /// Starts chromedriver on a free loopback port, its output in `dir/chromedriver.log`, and
    /// waits until it accepts connections.
    fn spawn(chromedriver: &Path, dir: &Path) -> Self {
        let port = free_port();
        let log = dir.join("chromedriver.log");
        let out = File::create(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let err = out
            .try_clone()
            .unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .arg("--log-level=INFO")
            // Chromium's own stderr (crashes, console errors) in the same log.
            .arg("--enable-chrome-logs")
            // A group of its own, with Chromium and its helpers: killed together on drop.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", chromedriver.display()));
        let mut driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
        };
        let deadline = Instant::now() + START_DEADLINE;
        // Listening is not enough: a session asked for before chromedriver serves is refused
        // with a dropped connection. Its `/status` says when it takes new sessions.
        while !driver.ready() {
            if let Ok(Some(status)) = driver.child.try_wait() {
                panic!("chromedriver exited ({status})\n{}", driver.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {} within {START_DEADLINE:?}\n{}",
                driver.addr,
                driver.log_tail()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        driver
    }

    /// Whether chromedriver answers `GET /status` with `"ready": true` (blocking, within about
    /// two seconds).
    fn ready(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200))
        else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let request = format!(
            "GET /status HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        );
        if stream.write_all(request.as_bytes()).is_err() {
            return false;
        }
        // chromedriver may keep the connection open after answering: read until the answer's
        // `ready` member has arrived, not until the end.
        let mut answer = Vec::new();
        let mut chunk = [0; 1024];
        while answer.len() < 64 * 1024 {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&chunk[..n]),
            }
            let text = String::from_utf8_lossy(&answer);
            if let Some(at) = text.find("\"ready\"") {
                let rest = text[at + "\"ready\"".len()..].trim_start_matches([':', ' ']);
                if rest.starts_with("true") {
                    return true;
                }
                if rest.starts_with("false") {
                    return false;
                }
            }
        }
        false
    }

    /// `DELETE /session/<id>`, blocking, best effort: Chromium quits and removes nothing of
    /// ours (its profile is in the scratch directory).
    fn delete_session(&self, session: &str) {
        let Ok(mut stream) = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)) else {
            return;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let request = format!(
            "DELETE /session/{session} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\n\r\n",
            self.addr
        );
        if stream.write_all(request.as_bytes()).is_ok() {
            // The answer starts once Chromium has quit; its first bytes are enough (chromedriver
            // keeps the connection open after it, whatever the request asked).
            let _ = stream.read(&mut [0; 256]);
        }
    }

    fn log_tail(&self) -> String {
        let Ok(file) = File::open(&self.log) else {
            return String::new();
        };
        let all: Vec<String> = BufReader::new(file).lines().map_while(Result::ok).collect();
        format!(
            "----- chromedriver log ({}) -----\n{}",
            self.log.display(),
            all[all.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
        )
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group: a Chromium left behind by a failed session would outlive the test.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail());
        }
    }
}

/// The browser's directory (driver log, Chromium profile); removed on drop unless the test
/// failed, so the log can be read.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("browser files kept in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
