//! Real headless Chromium (Debian's `chromium`): a page's DOM once loaded
//! (`--dump-dom`), and a [`Browser`] driven over the DevTools protocol
//! through `--remote-debugging-pipe` (messages on fds 3 and 4, so no
//! websocket client and no chromedriver), for pages that change while
//! they are open. A test that cannot find Chromium fails, naming the
//! package to install.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How long one DevTools call may take before the test fails.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

pub fn chromium() -> PathBuf {
    let candidates = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    std::iter::once(PathBuf::from("/usr/bin"))
        .chain(candidates)
        .map(|d| d.join("chromium"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "headless Chromium is needed to check the HTML pages render, and `chromium` is not installed; \
                 install it with `apt-get install -y --no-install-recommends chromium` (tests/run does this on Debian)"
            )
        })
}

/// The flags every headless start shares.
fn headless(profile: &Path) -> Command {
    let mut cmd = Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,1600",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .stdin(Stdio::null())
    .stderr(Stdio::null());
    cmd
}

/// The DOM Chromium builds from `url` (a `file://` or `http://` address),
/// bounded in time; `extra` flags come first (e.g. scripts disabled).
pub fn dump_dom(url: &str, extra: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = headless(profile.path())
        .args(extra)
        .arg("--dump-dom")
        .arg(url)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish rendering {url} in 90s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

/// The DOM of a local file.
pub fn dump_file_dom(file: &Path) -> String {
    dump_dom(&format!("file://{}", file.display()), &[])
}

/// A headless Chromium with one page open, driven over the DevTools
/// protocol. Dropping it stops Chromium.
pub struct Browser {
    child: Child,
    commands: std::fs::File,
    replies: mpsc::Receiver<Value>,
    session: String,
    next_id: u64,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts Chromium and opens `url` in a new page.
    pub fn open(url: &str) -> Self {
        Self::start(url, true)
    }

    /// Opens `url` with JavaScript disabled, as a browser set so would
    /// (`--blink-settings=scriptEnabled=false` stops `--dump-dom` itself).
    pub fn open_without_scripts(url: &str) -> Self {
        Self::start(url, false)
    }

    fn start(url: &str, scripts: bool) -> Self {
        let profile = tempfile::tempdir().unwrap();
        let (to_chrome_read, to_chrome_write) = pipe();
        let (from_chrome_read, from_chrome_write) = pipe();
        let (cmd_fd, reply_fd) = (to_chrome_read.as_raw_fd(), from_chrome_write.as_raw_fd());
        let mut cmd = headless(profile.path());
        cmd.arg("--remote-debugging-pipe").stdout(Stdio::null());
        // SAFETY: fcntl and dup2 are async-signal-safe. The pipes are
        // close-on-exec; each is first copied above fd 10 (one of them may
        // be fd 3 or 4 itself, and dup2 onto itself would keep
        // close-on-exec), then onto 3 and 4, which do not close on exec.
        unsafe {
            cmd.pre_exec(move || {
                let high_cmd = libc::fcntl(cmd_fd, libc::F_DUPFD, 10);
                let high_reply = libc::fcntl(reply_fd, libc::F_DUPFD, 10);
                if high_cmd < 0
                    || high_reply < 0
                    || libc::dup2(high_cmd, 3) < 0
                    || libc::dup2(high_reply, 4) < 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("start chromium");
        drop(to_chrome_read);
        drop(from_chrome_write);
        let (tx, replies) = mpsc::channel();
        let reader = std::fs::File::from(from_chrome_read);
        std::thread::spawn(move || {
            let mut reader = BufReader::new(reader);
            let mut message = Vec::new();
            // Messages end with a NUL byte; the loop ends with Chromium.
            while reader.read_until(0, &mut message).unwrap_or(0) > 0 {
                message.pop();
                if let Ok(v) = serde_json::from_slice::<Value>(&message) {
                    if tx.send(v).is_err() {
                        return;
                    }
                }
                message.clear();
            }
        });
        let mut browser = Self {
            child,
            commands: std::fs::File::from(to_chrome_write),
            replies,
            session: String::new(),
            next_id: 0,
            _profile: profile,
        };
        let target = browser.call("Target.createTarget", json!({ "url": "about:blank" }));
        let target_id = target["targetId"].as_str().unwrap().to_string();
        let attached = browser.call(
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
        );
        browser.session = attached["sessionId"].as_str().unwrap().to_string();
        browser.call("Page.enable", json!({}));
        if !scripts {
            browser.call(
                "Emulation.setScriptExecutionDisabled",
                json!({ "value": true }),
            );
        }
        browser.call("Page.navigate", json!({ "url": url }));
        browser
    }

    /// The page's DOM as HTML, read through the DevTools protocol (which
    /// works with the page's scripts disabled), once it holds `marker`.
    pub fn dom_once(&mut self, marker: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            // A navigation between the two calls renews the node ids: ask again.
            let doc = self.call("DOM.getDocument", json!({ "depth": 0 }));
            let html = self
                .try_call(
                    "DOM.getOuterHTML",
                    json!({ "nodeId": doc["root"]["nodeId"] }),
                )
                .map(|h| h["outerHTML"].as_str().unwrap_or("").to_string())
                .unwrap_or_default();
            if html.contains(marker) || Instant::now() > deadline {
                return html;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One DevTools call on the page's session (the browser's before the
    /// page is attached), bounded by [`CALL_TIMEOUT`].
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.try_call(method, params)
            .unwrap_or_else(|error| panic!("chromium refused {method}: {error}"))
    }

    /// [`Browser::call`], with Chromium's refusal as an error.
    pub fn try_call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            message["sessionId"] = Value::String(self.session.clone());
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.commands.write_all(&bytes).expect("write to chromium");
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let reply = self.replies.recv_timeout(left).unwrap_or_else(|e| {
                panic!("chromium did not answer {method} in {CALL_TIMEOUT:?}: {e}")
            });
            if reply["id"].as_u64() == Some(id) {
                return match reply.get("error") {
                    Some(error) => Err(error.clone()),
                    None => Ok(reply["result"].clone()),
                };
            }
        }
    }

    /// The value of a JavaScript expression in the page.
    pub fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true }),
        );
        r["result"]["value"].clone()
    }

    /// Waits (bounded) until `expression` is `true` in the page; panics
    /// with `what` and the page's text otherwise.
    pub fn wait_for(&mut self, expression: &str, timeout: Duration, what: &str) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.eval(expression) == Value::Bool(true) {
                return;
            }
            if Instant::now() > deadline {
                let text = self.eval("document.body ? document.body.innerText : ''");
                panic!(
                    "{what}: not so after {timeout:?}; the page shows:\n{}",
                    text.as_str().unwrap_or("")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A PNG of the page as it is, the whole page.
    pub fn screenshot(&mut self, path: &Path) {
        let shot = self.call(
            "Page.captureScreenshot",
            json!({ "format": "png", "captureBeyondViewport": true }),
        );
        let data = shot["data"].as_str().expect("screenshot data");
        use base64::Engine;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("screenshot base64");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A close-on-exec pipe: (read end, write end).
fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills both descriptors on success; each is owned once.
    unsafe {
        assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0, "pipe2");
        (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
    }
}
