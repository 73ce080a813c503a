//! Fuzzes the runbook reader (yaml_reader, loader, validator) for a bounded
//! time: no input may panic, take unbounded memory or hang.
//!
//! Inputs are the shipped runbooks, mutated at random: bytes cut, YAML
//! syntax inserted (anchors, aliases, flow collections, tags, templates,
//! control characters), slices duplicated, plus generated alias bombs and
//! deep nests. The budget is 20 s by default; a longer sweep:
//!
//! ```text
//! LIFEBOAT_FUZZ_SECS=600 cargo test -p lifeboat --release --test fuzz_runbook_reader
//! ```
//!
//! `LIFEBOAT_FUZZ_SEED` (a number) repeats a sweep; the seed in use is
//! printed. An input that panics is written under the temporary directory
//! and its path is in the failure message. An input that takes longer than
//! [`PER_INPUT_LIMIT`] is caught by a watchdog thread, which writes it out
//! the same way, prints the seed and case, and aborts the process: a hang
//! fails the test instead of stalling CI.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lifeboat::SourceFile;
use lifeboat::Templates;
use lifeboat::{check_text, registry};

/// A hang guard, far above what any input takes: the budgets make every
/// input linear in its size.
const PER_INPUT_LIMIT: Duration = Duration::from_secs(20);

/// Peak resident memory allowed for the whole sweep: far above what the
/// reader's budgets allow one input (tens of MB), far below an alias bomb.
const PEAK_RSS_LIMIT_KB: u64 = 1 << 20;

/// YAML fragments that stress the reader.
const TOKENS: &[&str] = &[
    "&a ",
    "*a",
    "&b [*a, *a, *a, *a]",
    "<<: *a\n",
    "[",
    "]",
    "{",
    "}",
    "- ",
    ": ",
    "? ",
    ",",
    "\n",
    "\n  ",
    "\n    - ",
    "\"",
    "'",
    "|\n  ",
    ">-\n  ",
    "!!str ",
    "!!binary ",
    "!x ",
    "%YAML 1.2\n",
    "---\n",
    "...\n",
    "#",
    "\t",
    "\u{0}",
    "\u{1b}[2J",
    "\r",
    "{{ ",
    " }}",
    "{% if %}",
    "${{",
    "~",
    "0x",
    "1e999",
    ".nan",
    "-",
    "needs: [",
    "kind: ",
    "id: ",
    "when: ",
    "with: ",
];

fn seeds() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runbooks");
    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();
    let texts: Vec<String> = files
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("read a shipped runbook"))
        .collect();
    assert!(
        texts.len() >= 5,
        "shipped runbooks under {}",
        root.display()
    );
    texts
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read runbooks/") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
}

/// A small, seedable generator (xorshift64*): enough to steer mutations,
/// and no dependency whose features would rebuild the workspace.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// One random edit of `b`: a cut, an inserted token, a duplicated slice or
/// a changed byte.
fn mutate(b: &mut Vec<u8>, rng: &mut Rng) {
    let n = b.len().max(1);
    match rng.below(4) {
        0 => {
            let at = rng.below(n);
            let end = (at + 1 + rng.below(200)).min(b.len());
            if at < end {
                b.drain(at..end);
            }
        }
        1 => {
            let at = rng.below(b.len() + 1);
            let token = TOKENS[rng.below(TOKENS.len())];
            b.splice(at..at, token.bytes());
        }
        2 => {
            let at = rng.below(n);
            let end = (at + 1 + rng.below(400)).min(b.len());
            let slice = b.get(at..end).unwrap_or_default().to_vec();
            let to = rng.below(b.len() + 1);
            b.splice(to..to, slice);
        }
        _ => {
            if !b.is_empty() {
                let at = rng.below(b.len());
                b[at] = rng.next() as u8;
            }
        }
    }
}

/// The next input: a mutated seed, or now and then an alias bomb, and
/// sometimes a deep nest at the end.
fn input(seeds: &[String], rng: &mut Rng) -> String {
    let mut text = if rng.chance(10) {
        bomb(2 + rng.below(12), 2 + rng.below(10), rng.chance(2))
    } else {
        let mut b = seeds[rng.below(seeds.len())].as_bytes().to_vec();
        for _ in 0..rng.below(12) {
            mutate(&mut b, rng);
        }
        String::from_utf8_lossy(&b).into_owned()
    };
    if rng.chance(10) {
        let depth = 100 + rng.below(5000);
        text.push_str(&format!(
            "deep: {}{}\n",
            "[".repeat(depth),
            "]".repeat(depth)
        ));
    }
    text
}

/// An alias bomb: `levels` anchors, each a list of `width` aliases of the
/// previous one, inside a runbook or not.
fn bomb(levels: usize, width: usize, in_steps: bool) -> String {
    let mut s = String::from("version: 1\nname: bomb\n");
    s.push_str("x0: &a0 [lol, lol]\n");
    for i in 1..levels {
        let items = vec![format!("*a{}", i - 1); width].join(", ");
        s.push_str(&format!("x{i}: &a{i} [{items}]\n"));
    }
    if in_steps {
        let last = levels - 1;
        s.push_str(&format!(
            "steps:\n  - id: s\n    kind: shell\n    with: {{ run: [\"true\"], env: *a{last} }}\n"
        ));
    }
    s
}

/// Aborts the process when the input it is armed with takes longer than
/// its limit. A hang inside the reader cannot be interrupted from the same
/// thread, and the test harness has no timeout of its own, so a separate
/// thread watches the clock; `abort` ends the whole test binary, which the
/// runner reports as a failure.
struct Watchdog {
    /// What is being checked now, if anything; the watchdog thread holds a
    /// weak reference and stops once this is dropped.
    armed: Arc<Mutex<Option<Armed>>>,
}

/// One input under watch.
struct Armed {
    since: Instant,
    /// Printed when the limit passes: the seed and case that repeat it.
    description: String,
    /// The input, written to `path` when the limit passes.
    text: Arc<str>,
    path: PathBuf,
}

impl Watchdog {
    fn start(limit: Duration) -> Self {
        let armed: Arc<Mutex<Option<Armed>>> = Arc::default();
        let watched = Arc::downgrade(&armed);
        let tick = (limit / 20).clamp(Duration::from_millis(10), Duration::from_millis(500));
        std::thread::spawn(move || loop {
            std::thread::sleep(tick);
            let Some(armed) = watched.upgrade() else {
                return;
            };
            let guard = armed.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(a) = guard.as_ref().filter(|a| a.since.elapsed() > limit) {
                let written = match std::fs::write(&a.path, a.text.as_bytes()) {
                    Ok(()) => format!("written to {}", a.path.display()),
                    Err(e) => format!("not written to {}: {e}", a.path.display()),
                };
                eprintln!(
                    "fuzz watchdog: {} took more than {limit:?}; the input is {written}; aborting",
                    a.description
                );
                std::process::abort();
            }
        });
        Watchdog { armed }
    }

    fn arm(&self, description: String, text: Arc<str>, path: PathBuf) {
        *self.armed.lock().unwrap_or_else(|e| e.into_inner()) = Some(Armed {
            since: Instant::now(),
            description,
            text,
            path,
        });
    }

    fn disarm(&self) {
        *self.armed.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[test]
fn the_runbook_reader_survives_mutated_runbooks() {
    let budget = Duration::from_secs(
        std::env::var("LIFEBOAT_FUZZ_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(20),
    );
    let seed: u64 = std::env::var("LIFEBOAT_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    eprintln!("fuzz: {budget:?}, LIFEBOAT_FUZZ_SEED={seed}");
    let mut rng = Rng(seed | 1);
    let seeds = seeds();
    let registry = registry();
    let templates = Templates::new();
    let watchdog = Watchdog::start(PER_INPUT_LIMIT);
    let started = Instant::now();
    let mut cases = 0u64;
    while started.elapsed() < budget {
        let text: Arc<str> = input(&seeds, &mut rng).into();
        let path = std::env::temp_dir().join(format!("lifeboat-fuzz-{seed}-{cases}.yaml"));
        watchdog.arm(
            format!("case {cases} of LIFEBOAT_FUZZ_SEED={seed}"),
            text.clone(),
            path.clone(),
        );
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _ = check_text(
                SourceFile::new("fuzz.yaml", text.to_string()),
                &registry,
                &templates,
            );
        }));
        watchdog.disarm();
        if outcome.is_err() {
            let _ = std::fs::write(&path, text.as_bytes());
            panic!(
                "validation panicked on input {} (seed {seed}, case {cases})",
                path.display()
            );
        }
        cases += 1;
    }
    let peak = peak_rss_kb();
    eprintln!("fuzz: {cases} inputs, peak RSS {peak} kB");
    assert!(cases > 0);
    assert!(
        peak < PEAK_RSS_LIMIT_KB,
        "peak RSS {peak} kB over {PEAK_RSS_LIMIT_KB} kB (seed {seed})"
    );
}

/// Set in the child process of
/// [`the_watchdog_aborts_a_hanging_input_and_names_it`].
const HANG_CHILD: &str = "LIFEBOAT_FUZZ_WATCHDOG_CHILD";

/// The watchdog itself: an armed input that outlives its limit aborts the
/// process (SIGABRT) after printing the description and where the input
/// was written. The hang runs in a child copy of this test binary, since
/// the abort ends the whole process.
#[test]
fn the_watchdog_aborts_a_hanging_input_and_names_it() {
    let path = std::env::temp_dir().join(format!(
        "lifeboat-fuzz-watchdog-{}.yaml",
        std::process::id()
    ));
    if std::env::var_os(HANG_CHILD).is_some() {
        let watchdog = Watchdog::start(Duration::from_millis(200));
        watchdog.arm(
            "case 7 of LIFEBOAT_FUZZ_SEED=42".into(),
            "hang: [".into(),
            path,
        );
        // Hangs until the watchdog ends the process; the parent reports a
        // child that lives on as a failure.
        std::thread::sleep(Duration::from_secs(30));
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "the_watchdog_aborts_a_hanging_input_and_names_it",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HANG_CHILD, "1")
        .output()
        .expect("run the test binary again");
    let stderr = String::from_utf8_lossy(&out.stderr);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGABRT),
        "the child was not aborted ({:?})\n{stderr}",
        out.status
    );
    assert!(
        stderr.contains("fuzz watchdog: case 7 of LIFEBOAT_FUZZ_SEED=42 took more than 200ms; the input is written to "),
        "{stderr}"
    );
    let child_path = stderr
        .split("written to ")
        .nth(1)
        .and_then(|r| r.split("; aborting").next())
        .expect("the path is printed");
    assert_eq!(std::fs::read_to_string(child_path).unwrap(), "hang: [");
    let _ = std::fs::remove_file(child_path);
}
