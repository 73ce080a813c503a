//! Locating the binaries the harness starts, and free loopback ports.

use std::net::TcpListener;
use std::path::{Path, PathBuf};

/// The virtualenv `tests/run` installs Python-packaged servers into,
/// relative to the workspace root.
pub const VENV_DIR: &str = "target/lifeboat-venv";

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("tests/harness sits two levels below the workspace root")
        .to_path_buf()
}

/// Finds an executable: first `$env_var`, then the project's virtualenv,
/// then `PATH`. The error tells the reader how to install it.
pub fn find_binary(name: &str, env_var: &str, install_hint: &str) -> Result<PathBuf, String> {
    if let Ok(path) = std::env::var(env_var) {
        let p = PathBuf::from(&path);
        if p.is_file() {
            return Ok(p);
        }
        return Err(format!(
            "{env_var}={path} does not name a file; {install_hint}"
        ));
    }
    let venv = workspace_root().join(VENV_DIR).join("bin").join(name);
    if venv.is_file() {
        return Ok(venv);
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(format!(
        "`{name}` was not found (looked at ${env_var}, {VENV_DIR}/bin and PATH); {install_hint}"
    ))
}

/// A TCP port on 127.0.0.1 that was free a moment ago, and that this
/// process has not handed out before. Tests run in parallel threads: two of
/// them asking before either binds could otherwise get the same port (seen
/// as a Raft peer answering plain HTTP on its cluster port).
pub fn free_port() -> u16 {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static HANDED_OUT: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let handed_out = HANDED_OUT.get_or_init(|| Mutex::new(HashSet::new()));
    for _ in 0..1000 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("binding 127.0.0.1:0 works on any machine with loopback");
        let mut used = handed_out.lock().unwrap_or_else(|e| e.into_inner());
        if used.insert(port) {
            return port;
        }
    }
    panic!("no unused loopback port after 1000 tries")
}

#[cfg(test)]
mod tests {
    #[test]
    fn ports_are_never_handed_out_twice() {
        let ports: std::collections::HashSet<u16> = (0..200).map(|_| super::free_port()).collect();
        assert_eq!(ports.len(), 200);
    }
}
