use std::io::Write;
use std::sync::Mutex;

use serde_json::json;

use crate::console::Console;
use crate::journal_record::Record;
use crate::projection::ProjectedFinish;

/// One JSON object per line on stdout, for other tools (`--output json`).
/// Journal records appear as `{"event":"record", ...record}`; transient
/// events carry their own `event` name.
pub struct JsonConsole {
    out: Mutex<std::io::Stdout>,
}

impl JsonConsole {
    pub fn stdout() -> Self {
        Self {
            out: Mutex::new(std::io::stdout()),
        }
    }

    fn emit(&self, value: serde_json::Value) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "{value}");
        let _ = out.flush();
    }
}

impl Console for JsonConsole {
    fn record(&self, record: &Record) {
        let mut value = serde_json::to_value(record).unwrap_or_default();
        if let Some(obj) = value.as_object_mut() {
            obj.insert("event".into(), json!("record"));
        }
        self.emit(value);
    }

    fn output_line(&self, step: &str, line: &str) {
        self.emit(json!({"event": "output", "step": step, "line": line}));
    }

    fn bytes(&self, step: &str, done: u64, total: Option<u64>) {
        self.emit(json!({"event": "bytes", "step": step, "done": done, "total": total}));
    }

    fn warn(&self, step: Option<&str>, message: &str) {
        self.emit(json!({"event": "warning", "step": step, "message": message}));
    }

    fn describe(&self, step: &str, text: &str) {
        self.emit(json!({"event": "describe", "step": step, "text": text}));
    }

    fn info(&self, message: &str) {
        self.emit(json!({"event": "info", "message": message}));
    }

    fn projection(&self, projected: &ProjectedFinish) {
        let mut value = projected.to_json();
        if let Some(obj) = value.as_object_mut() {
            obj.insert("event".into(), json!("projection"));
        }
        self.emit(value);
    }
}
