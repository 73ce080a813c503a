//! Where Lifeboat keeps its runs: `--state-dir`, else `LIFEBOAT_STATE_DIR`,
//! else the XDG state directory, else `~/.local/state/lifeboat`.

use std::path::{Path, PathBuf};

/// Where runs are kept: `--state-dir`, else `$LIFEBOAT_STATE_DIR`, else
/// `$XDG_STATE_HOME/lifeboat`, else `~/.local/state/lifeboat`.
#[derive(Debug, Clone)]
pub struct StateDir {
    pub root: PathBuf,
}

impl StateDir {
    pub fn resolve(flag: Option<&Path>) -> Self {
        let root = flag
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("LIFEBOAT_STATE_DIR").map(PathBuf::from))
            .or_else(|| {
                std::env::var_os("XDG_STATE_HOME").map(|p| PathBuf::from(p).join("lifeboat"))
            })
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state/lifeboat"))
            })
            .unwrap_or_else(|| PathBuf::from(".lifeboat"));
        Self { root }
    }

    pub fn runs(&self) -> PathBuf {
        self.root.join("runs")
    }

    /// Run ids, oldest first (ids start with the runbook name, so sort by
    /// the directory's creation order instead).
    pub fn run_ids(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.runs()) else {
            return Vec::new();
        };
        let mut runs: Vec<(std::time::SystemTime, String)> = entries
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.path()
                    .join(crate::journal::local_run_store::JOURNAL_FILE)
                    .is_file()
            })
            .map(|e| {
                let t = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .unwrap_or(std::time::UNIX_EPOCH);
                let t = std::fs::metadata(e.path().join("runbook.sha256"))
                    .and_then(|m| m.modified())
                    .unwrap_or(t);
                (t, e.file_name().to_string_lossy().to_string())
            })
            .collect();
        runs.sort();
        runs.into_iter().map(|(_, id)| id).collect()
    }
}

/// The operator's name: `--operator`, else `$LIFEBOAT_OPERATOR`, else the OS user.
pub fn operator_name(flag: Option<&str>) -> String {
    flag.map(String::from)
        .or_else(|| std::env::var("LIFEBOAT_OPERATOR").ok())
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .filter(|s| !s.trim().is_empty())
        .or_else(os_user)
        .unwrap_or_else(|| "unknown".into())
}

/// The name of the user this process runs as, from the password database.
fn os_user() -> Option<String> {
    // SAFETY: getpwuid returns a pointer into static storage or null; we copy
    // the name out immediately and never keep the pointer.
    unsafe {
        let pw = libc::getpwuid(libc::getuid());
        if pw.is_null() || (*pw).pw_name.is_null() {
            return None;
        }
        std::ffi::CStr::from_ptr((*pw).pw_name)
            .to_str()
            .ok()
            .map(String::from)
    }
}
