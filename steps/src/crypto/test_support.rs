//! Helpers shared by the crypto tests.

use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::{Progress, StepContext};

/// The key the tests encrypt with, as a runbook would pass it.
pub const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
/// Another valid key.
pub const OTHER_KEY_HEX: &str = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";

pub fn key_bytes() -> [u8; 32] {
    hex::decode(KEY_HEX).unwrap().try_into().unwrap()
}

/// Deterministic, non-repeating-looking test data.
pub fn data(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// The names in a directory, sorted: proves no temp file was left behind.
pub fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Records every byte report, to check progress is reported.
#[derive(Default)]
pub struct RecordingProgress(pub Mutex<Vec<(u64, Option<u64>)>>);

impl Progress for RecordingProgress {
    fn bytes(&self, _step: &str, done: u64, total: Option<u64>) {
        self.0.lock().unwrap().push((done, total));
    }
}

pub fn ctx_with_progress(dir: &Path) -> (StepContext, Arc<RecordingProgress>) {
    let progress = Arc::new(RecordingProgress::default());
    let mut ctx = StepContext::standalone("backup", dir);
    ctx.progress = progress.clone();
    (ctx, progress)
}
