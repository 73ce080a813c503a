//! The progress display on a terminal (indicatif).
//!
//! Journal records scroll above the bars as the same timestamped lines the
//! plain console prints, so the record of what happened reads the same in
//! a terminal and in a log. Below them: a header with the runbook, the RTO
//! clock against its target and the projected finish; a spinner per running
//! step with its elapsed time and the last line of its output (a byte bar
//! instead for transfers that report bytes); and the overall bar of main
//! steps done out of total. Questions suspend the bars (`suspend`).
//!
//! Text from steps and runbooks is escaped ([`crate::terminal_text`]) in
//! the lines above the bars (through the plain console), the spinners'
//! last output line and the header's title.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::journal::record::{Event, Record};
use crate::operator::console::Console;
use crate::operator::plain_console::PlainConsole;
use crate::operator::progress_plan::ProgressPlan;
use crate::terminal_text::printable;

pub struct TtyConsole {
    mp: MultiProgress,
    plain: PlainConsole,
    header: ProgressBar,
    overall: ProgressBar,
    /// Read by the header's draw callback: never hold it while touching a
    /// bar, or a redraw would deadlock.
    clock: Arc<Mutex<Clock>>,
    running: Mutex<HashMap<String, ProgressBar>>,
    held: Arc<Mutex<Held>>,
}

/// What the header shows.
#[derive(Default)]
struct Clock {
    plan: ProgressPlan,
    /// Main steps settled, for the overall bar.
    settled: HashSet<String>,
    /// Steps that will not run again, and those running (since when), for
    /// the projection.
    done: HashSet<String>,
    running: HashMap<String, std::time::Instant>,
    start: Option<jiff::Timestamp>,
}

/// Hands complete lines to `MultiProgress::println`, above the bars, or
/// holds them while a question is on screen.
struct AboveBars {
    mp: MultiProgress,
    buf: Vec<u8>,
    held: Arc<Mutex<Held>>,
}

/// Lines that arrived while a question was on screen.
#[derive(Default)]
struct Held {
    /// Questions on screen (the Ctrl-C question may overlap another).
    asking: u32,
    lines: Vec<String>,
}

impl Write for AboveBars {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        while let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=pos).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]).to_string();
            let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
            if held.asking > 0 {
                held.lines.push(text);
            } else {
                drop(held);
                self.mp.println(text)?;
            }
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl TtyConsole {
    pub fn stdout() -> Self {
        let mp = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
        let held = Arc::new(Mutex::new(Held::default()));
        let plain = PlainConsole::with_writer(Box::new(AboveBars {
            mp: mp.clone(),
            buf: Vec::new(),
            held: held.clone(),
        }));
        let clock = Arc::new(Mutex::new(Clock::default()));
        let header_clock = clock.clone();
        let header_style = ProgressStyle::with_template("{lifeboat_header}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .with_key(
                "lifeboat_header",
                move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let text = header_clock.lock().map(|c| c.header()).unwrap_or_default();
                    let _ = w.write_str(&text);
                },
            );
        let header = mp.add(ProgressBar::new_spinner().with_style(header_style));
        header.enable_steady_tick(Duration::from_secs(1));
        let overall = mp.add(
            ProgressBar::new(0).with_style(
                ProgressStyle::with_template("[{bar:40}] {pos}/{len} steps done")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            ),
        );
        Self {
            mp,
            plain,
            header,
            overall,
            clock,
            running: Mutex::new(HashMap::new()),
            held,
        }
    }

    /// The run's shape, once the run is prepared.
    pub fn set_plan(&self, mut plan: ProgressPlan) {
        let total = plan.steps.len() as u64;
        let done = plan.settled.len() as u64;
        {
            let mut c = self.clock.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(start) = plan.clock_start.as_deref().and_then(|s| s.parse().ok()) {
                c.start = Some(start);
            }
            c.settled = plan.settled.iter().cloned().collect();
            c.done = plan.done.iter().cloned().collect();
            if plan.clock_start.is_none() {
                plan.clock_start = c.plan.clock_start.take();
            }
            c.plan = plan;
        }
        self.overall.set_length(total);
        self.overall.set_position(done);
    }

    /// Clears the bars at the end of the run; the lines above stay.
    pub fn finish(&self) {
        let bars: Vec<ProgressBar> = self
            .running
            .lock()
            .map(|mut r| r.drain().map(|(_, b)| b).collect())
            .unwrap_or_default();
        for b in bars {
            b.finish_and_clear();
        }
        self.header.finish_and_clear();
        self.overall.finish_and_clear();
        let _ = self.mp.clear();
        // Lines held for a question that is still on screen (an abort
        // during the Ctrl-C question): print them anyway.
        let lines = std::mem::take(&mut self.held.lock().unwrap_or_else(|e| e.into_inner()).lines);
        let mut out = std::io::stdout();
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
        let _ = out.flush();
    }

    fn spinner(&self, step: &str) -> ProgressBar {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = running.get(step) {
            return b.clone();
        }
        let style =
            ProgressStyle::with_template("{spinner} {prefix:.bold} {elapsed:>4} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let bar = self.mp.insert_before(
            &self.overall,
            ProgressBar::new_spinner()
                .with_style(style)
                .with_prefix(step.to_string()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        running.insert(step.to_string(), bar.clone());
        bar
    }

    /// A step stopped running; `done` if it will not run again.
    fn project_done(&self, step: &str, done: bool) {
        let mut c = self.clock.lock().unwrap_or_else(|e| e.into_inner());
        c.running.remove(step);
        if done {
            c.done.insert(step.to_string());
        }
    }

    fn settle(&self, step: &str) {
        let bar = self.running.lock().ok().and_then(|mut r| r.remove(step));
        if let Some(bar) = bar {
            bar.finish_and_clear();
            self.mp.remove(&bar);
        }
        let counted = {
            let mut c = self.clock.lock().unwrap_or_else(|e| e.into_inner());
            let main = c.plan.steps.iter().any(|s| s == step);
            main && c.settled.insert(step.to_string())
        };
        if counted {
            self.overall.inc(1);
        }
    }
}

impl Clock {
    fn header(&self) -> String {
        let now = jiff::Timestamp::now();
        let title = if self.plan.title.is_empty() {
            "lifeboat".to_string()
        } else {
            printable(&self.plan.title).into_owned()
        };
        let Some(start) = self.start else {
            return title;
        };
        let stopped = self
            .plan
            .clock_stop
            .as_deref()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok());
        let elapsed = span(start, stopped.unwrap_or(now));
        let mut s = format!("{title} │ RTO clock {}", hms(elapsed));
        if let Some(target) = self.plan.rto_target {
            s.push_str(&format!(" of {}", hms(target)));
        }
        if stopped.is_some() {
            // As `lifeboat status` says: the clock stood still when
            // `rto.stop_at` succeeded; nothing is left to project.
            let at = self.plan.stop_at.as_deref().unwrap_or("stop_at");
            s.push_str(&format!(" │ stopped at {}", printable(at)));
            match self.plan.rto_target {
                Some(target) if elapsed > target => {
                    s.push_str(&format!(" (over target by {})", hms(elapsed - target)))
                }
                Some(_) => s.push_str(" (within target)"),
                None => {}
            }
            return s;
        }
        if !self.plan.steps.is_empty() {
            let running = self
                .running
                .iter()
                .map(|(id, since)| (id.clone(), since.elapsed()))
                .collect();
            let mut projected = self
                .plan
                .projected(&self.done, &running, now.as_millisecond());
            projected.elapsed_ms = Some(elapsed.as_millis() as i64);
            let finish = jiff::Timestamp::from_millisecond(projected.finish_ms()).unwrap_or(now);
            s.push_str(&format!(
                " │ projected finish {} UTC",
                finish.strftime("%H:%M:%S")
            ));
            match (projected.rto_ms(), projected.target_ms) {
                (Some(rto), Some(target)) if rto > target => s.push_str(&format!(
                    " (over target by {})",
                    hms(Duration::from_millis((rto - target) as u64))
                )),
                (_, Some(_)) => s.push_str(" (within target)"),
                _ => {}
            }
        }
        s
    }
}

fn span(from: jiff::Timestamp, to: jiff::Timestamp) -> Duration {
    let ms = to.as_millisecond() - from.as_millisecond();
    Duration::from_millis(ms.max(0) as u64)
}

fn hms(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

impl Console for TtyConsole {
    fn record(&self, record: &Record) {
        self.plain.record(record);
        self.clock
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .plan
            .observe(record);
        match &record.event {
            Event::RunStarted { declared_at, .. } => {
                let start = declared_at
                    .as_deref()
                    .unwrap_or(&record.ts)
                    .parse::<jiff::Timestamp>()
                    .ok();
                let mut c = self.clock.lock().unwrap_or_else(|e| e.into_inner());
                c.start = start;
                c.plan.clock_start = Some(declared_at.clone().unwrap_or(record.ts.clone()));
            }
            Event::StepStarted { step, .. } => {
                {
                    let mut c = self.clock.lock().unwrap_or_else(|e| e.into_inner());
                    c.done.remove(step);
                    c.running.insert(step.clone(), std::time::Instant::now());
                }
                self.spinner(step);
            }
            Event::StepSucceeded { step, .. }
            | Event::StepSkipped { step, .. }
            | Event::StepThroughSkipped { step, .. }
            | Event::Marked {
                step,
                outcome: crate::journal::record::MarkOutcome::Done,
            } => {
                self.project_done(step, true);
                self.settle(step);
            }
            Event::StepFailed { step, .. } | Event::Marked { step, .. } => {
                self.project_done(step, false);
                self.settle(step);
            }
            Event::Waiting { step, .. } => {
                self.project_done(step, false);
                let bar = self.running.lock().ok().and_then(|mut r| r.remove(step));
                if let Some(bar) = bar {
                    bar.finish_and_clear();
                    self.mp.remove(&bar);
                }
            }
            _ => {}
        }
    }

    fn output_line(&self, step: &str, line: &str) {
        let bar = self.running.lock().ok().and_then(|r| r.get(step).cloned());
        if let Some(bar) = bar {
            bar.set_message(printable(line.trim_end()).into_owned());
        }
    }

    fn bytes(&self, step: &str, done: u64, total: Option<u64>) {
        let bar = self.spinner(step);
        if bar.length() != total {
            let template = if total.is_some() {
                "{spinner} {prefix:.bold} {elapsed:>4} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}"
            } else {
                "{spinner} {prefix:.bold} {elapsed:>4} {bytes} {binary_bytes_per_sec}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            match total {
                Some(t) => bar.set_length(t),
                None => bar.unset_length(),
            }
        }
        bar.set_position(done);
    }

    fn warn(&self, step: Option<&str>, message: &str) {
        self.plain.warn(step, message);
    }

    fn describe(&self, step: &str, text: &str) {
        self.plain.describe(step, text);
    }

    fn info(&self, message: &str) {
        self.plain.info(message);
    }

    /// Hides the bars and holds new lines while `f` asks its question.
    /// Unlike `MultiProgress::suspend` this holds no lock during `f`, so a
    /// question that is never answered (Ctrl-C, then an abort) cannot
    /// block the run's output.
    fn suspend(&self, f: &mut dyn FnMut()) {
        let first = {
            let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
            held.asking += 1;
            held.asking == 1
        };
        if first {
            let _ = self.mp.clear();
            self.mp.set_draw_target(ProgressDrawTarget::hidden());
        }
        f();
        let lines = {
            let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
            held.asking = held.asking.saturating_sub(1);
            if held.asking > 0 {
                return;
            }
            std::mem::take(&mut held.lines)
        };
        self.mp.set_draw_target(ProgressDrawTarget::stdout());
        for l in lines {
            let _ = self.mp.println(l);
        }
    }
}
