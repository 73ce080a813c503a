//! `--output json`: one JSON object per line on stdout for every journal
//! record and progress update, for scripts and other tools.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use serde_json::json;

use crate::journal::record::Record;
use crate::operator::console::Console;
use crate::report::projection::ProjectedFinish;

/// One JSON object per line on stdout, for other tools (`--output json`).
/// Journal records appear as `{"event":"record", ...record}`; transient
/// events carry their own `event` name.
///
/// The first line is the run's first record (`run_started`, or `resumed`),
/// which names the run: warnings given before it (a secret input missing in
/// a drill) are held and follow it.
pub struct JsonConsole {
    out: Mutex<std::io::Stdout>,
    /// Warnings given before the first record; `None` once it was written.
    early: Mutex<Option<Vec<serde_json::Value>>>,
    /// The reader of stdout went away: stop writing, let the run carry on.
    closed: AtomicBool,
}

impl JsonConsole {
    pub fn stdout() -> Self {
        Self {
            out: Mutex::new(std::io::stdout()),
            early: Mutex::new(Some(Vec::new())),
            closed: AtomicBool::new(false),
        }
    }

    fn emit(&self, value: serde_json::Value) {
        if self.closed.load(Ordering::Relaxed) {
            return;
        }
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let written = writeln!(out, "{value}").and_then(|_| out.flush());
        if written.is_err_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) {
            self.closed.store(true, Ordering::Relaxed);
        }
    }

    /// The warnings held back for the first record, if it was not written yet.
    fn take_early(&self) -> Option<Vec<serde_json::Value>> {
        self.early.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

impl Drop for JsonConsole {
    /// A run that never started (bad input) still shows its warnings.
    fn drop(&mut self) {
        for w in self.take_early().unwrap_or_default() {
            self.emit(w);
        }
    }
}

impl Console for JsonConsole {
    fn record(&self, record: &Record) {
        let mut value = serde_json::to_value(record).unwrap_or_default();
        if let Some(obj) = value.as_object_mut() {
            obj.insert("event".into(), json!("record"));
        }
        let early = self.take_early();
        self.emit(value);
        for w in early.unwrap_or_default() {
            self.emit(w);
        }
    }

    fn output_line(&self, step: &str, line: &str) {
        self.emit(json!({"event": "output", "step": step, "line": line}));
    }

    fn bytes(&self, step: &str, done: u64, total: Option<u64>) {
        self.emit(json!({"event": "bytes", "step": step, "done": done, "total": total}));
    }

    fn warn(&self, step: Option<&str>, message: &str) {
        let warning = json!({"event": "warning", "step": step, "message": message});
        let mut early = self.early.lock().unwrap_or_else(|e| e.into_inner());
        match early.as_mut() {
            Some(held) => held.push(warning),
            None => {
                drop(early);
                self.emit(warning);
            }
        }
    }

    fn describe(&self, step: &str, text: &str) {
        self.emit(json!({"event": "describe", "step": step, "text": text}));
    }

    fn info(&self, message: &str) {
        self.emit(json!({"event": "info", "message": message}));
    }

    fn output_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    fn projection(&self, projected: &ProjectedFinish) {
        let mut value = projected.to_json();
        if let Some(obj) = value.as_object_mut() {
            obj.insert("event".into(), json!("projection"));
        }
        self.emit(value);
    }
}
