//! Process groups of step children, for the engine that resumes a run
//! whose previous engine was killed.
//!
//! Every `shell` child starts its own process group (its pgid is its pid),
//! and the kind reports it through [`crate::Progress::process_started`] so
//! the engine can journal it. A killed engine cannot stop its children: on
//! resume the engine finds the group by its recorded id and start time and
//! stops it before the step may run again, so a `rerun: safe` step never
//! runs twice at once.

use std::time::{Duration, Instant};

/// A step child's process group, as journalled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessGroup {
    pub pgid: u32,
    /// The group leader's start time (clock ticks since boot, from
    /// `/proc/PID/stat`), so that a pid reused after the leader exited, or
    /// after a reboot, is never mistaken for the step's group.
    pub start_ticks: Option<u64>,
}

impl ProcessGroup {
    /// The group of a child just spawned with `process_group(0)`.
    pub fn of_child(pid: u32) -> Self {
        Self {
            pgid: pid,
            start_ticks: start_ticks(pid),
        }
    }

    /// Live (not zombie) members of the group, if it is still the step's:
    /// the leader, when present, must have the recorded start time.
    pub fn live_members(&self) -> Vec<u32> {
        if let (Some(now), Some(then)) = (start_ticks(self.pgid), self.start_ticks) {
            if now != then {
                return Vec::new();
            }
        }
        let Ok(dir) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                stat_fields(*pid).is_some_and(|f| {
                    f.first().is_some_and(|s| *s != "Z" && *s != "X")
                        && f.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(self.pgid)
                })
            })
            .collect()
    }

    /// Stops the group if it still runs: SIGTERM, then SIGKILL after
    /// `grace`. True when it was running.
    pub async fn stop(&self, grace: Duration) -> bool {
        if self.live_members().is_empty() {
            return false;
        }
        let group = -(self.pgid as i32);
        // SAFETY: kill(2) with a negative pid signals a process group; it
        // has no memory-safety preconditions.
        unsafe { libc::kill(group, libc::SIGTERM) };
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if self.live_members().is_empty() {
                return true;
            }
        }
        // SAFETY: as above.
        unsafe { libc::kill(group, libc::SIGKILL) };
        for _ in 0..40 {
            if self.live_members().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        true
    }
}

/// Fields of `/proc/PID/stat` after the command name: state, ppid, pgrp, …
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain anything.
    let rest = &text[text.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(String::from).collect())
}

/// A process's start time in clock ticks since boot (field 22 of its stat).
fn start_ticks(pid: u32) -> Option<u64> {
    stat_fields(pid)?.get(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    #[tokio::test(flavor = "multi_thread")]
    async fn a_group_is_found_and_stopped() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let group = ProcessGroup::of_child(child.id());
        assert_eq!(group.live_members(), vec![child.id()]);
        let impostor = ProcessGroup {
            start_ticks: group.start_ticks.map(|t| t + 1),
            ..group
        };
        assert!(impostor.live_members().is_empty());
        let stopper = tokio::spawn(async move { group.stop(Duration::from_secs(3)).await });
        // Reap the child so it does not linger as a zombie.
        let status = child.wait().unwrap();
        assert!(stopper.await.unwrap());
        assert!(!status.success());
        assert!(group.live_members().is_empty());
    }
}
