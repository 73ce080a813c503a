//! The guides are the tests: every command of every Vault runbook guide
//! (docs/runbooks/*.md, the blocks marked `<!-- guide-test -->`) is run
//! verbatim with bash, from a directory that looks like the repository
//! root, against the real sandbox (`runbooks/vault/sandbox.sh up`: three
//! OpenBao nodes and moto), with the shipped inputs files unmodified and
//! the `lifeboat` under test on `PATH`. A guide that drifts from its
//! runbook fails here.
//!
//! The guides share one sandbox, in the order below (each starts with
//! `sandbox.sh up`, which is a no-op on a healthy sandbox).
//!
//! Also here: a `--dry-run=probes` drill of every shipped runbook against
//! a healthy sandbox, which must pass and leave nothing in its work
//! directory.

mod guide_runner;
mod util;

use guide_runner::*;

/// The guides, in the order they share the sandbox: the overview first
/// (it ends with `sandbox.sh down`), then the ones that leave the sandbox
/// as they found it, the wipes, and `compromise` (which rotates the unseal
/// keys) last.
const GUIDES: &[&str] = &[
    "README.md",
    "backup.md",
    "verify-backup.md",
    "secret-deletion.md",
    "single-node-failure.md",
    "full-cluster-loss.md",
    "region-failover.md",
    "compromise.md",
];

#[test]
fn every_guide_is_listed_and_has_a_tested_block() {
    let mut on_disk: Vec<String> = std::fs::read_dir(util::workspace().join("docs/runbooks"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".md"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = GUIDES.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "every guide in docs/runbooks is run by this test: add it to GUIDES"
    );
    for guide in GUIDES {
        let commands = commands(guide);
        assert!(
            !commands.is_empty(),
            "docs/runbooks/{guide} has no `{MARKER}` block"
        );
        // The guides run the shipped runbooks with their shipped inputs,
        // and name the run id as `"$RUN_ID"` (a bare RUN_ID would be typed
        // as the word).
        for c in &commands {
            assert!(
                !c.text.replace("$RUN_ID", "").contains("RUN_ID"),
                "{}:{}: write the run id as \"$RUN_ID\": {}",
                c.file,
                c.line,
                c.text
            );
            if c.text.starts_with("lifeboat run ") {
                assert!(
                    c.text.contains("--inputs runbooks/vault/"),
                    "{}:{}: a `lifeboat run` in a guide uses a shipped inputs file: {}",
                    c.file,
                    c.line,
                    c.text
                );
            }
        }
    }
}

#[test]
fn the_parser_reads_continuations_exit_codes_and_skips_comments() {
    let text = "intro\n<!-- guide-test -->\n```sh\n# a comment\nfoo --a \\\n  --b   # exit 3: waits\n\nbar\n```\n```sh\nnot tested\n```\n";
    let got = parse("g.md", text);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].line, 5);
    assert_eq!(got[0].text, "foo --a \\\n  --b   # exit 3: waits");
    assert_eq!(got[0].expect, 3);
    assert_eq!((got[1].line, got[1].expect), (8, 0));
}

#[test]
fn the_guides_run_as_written_against_the_sandbox() {
    let world = GuideWorld::new();
    let mut script = String::new();
    for guide in GUIDES {
        script.push_str(&format!("echo {}\n", quote(&format!("=== {guide}"))));
        script.push_str(&script_for(&commands(guide)));
    }
    let started = std::time::Instant::now();
    let ran = world.run_script(&script, 1500);
    println!(
        "GUIDES-TIME {:.0}s for {} guides",
        started.elapsed().as_secs_f64(),
        GUIDES.len()
    );
    assert_eq!(ran.code, 0, "a guide failed:\n{}", ran.tail());

    // single-node-failure refuses a live peer with a message that says so.
    assert!(
        ran.transcript
            .contains("`node2` is alive (autopilot heard from it again"),
        "the refusal of a live `dead_node_id` does not say why:\n{}",
        ran.tail()
    );
    // The region-failover canary's path is not a secret.
    assert!(
        !ran.transcript.contains("lifeboat-smoke/«redacted»"),
        "the canary's run id was redacted:\n{}",
        ran.tail()
    );

    // What the runs left behind: a succeeded restore deletes the backup,
    // the manifest and the throwaway keys; a dry run leaves nothing.
    for (i, (run_id, code, state, args)) in ran.runs.iter().enumerate() {
        if !args.starts_with("run ") {
            continue;
        }
        // The run's last execution (a later resume) decides.
        let code = ran.runs[i..]
            .iter()
            .rev()
            .find(|(id, ..)| id == run_id)
            .map_or(code, |(_, c, ..)| c);
        let files = leftovers(state, run_id);
        let secretish: Vec<&String> = files
            .iter()
            .filter(|f| {
                f.ends_with(".snap")
                    || f.ends_with(".enc")
                    || f.ends_with("manifest.json")
                    || f.as_str() == "fresh-init.json"
                    || f.as_str() == "transient"
            })
            .collect();
        if *code == 0 || args.contains("--dry-run") {
            assert!(
                secretish.is_empty(),
                "`lifeboat {args}` (run {run_id}, exit {code}) left {secretish:?} in its work directory"
            );
        }
    }

    // The compromise report says when the run started, not when it was
    // resumed after the approval.
    let (run_id, _, state, _) = ran
        .runs
        .iter()
        .rfind(|(_, code, _, args)| {
            *code == 3 && args.contains("compromise.yaml") && args.starts_with("run ")
        })
        .expect("the compromise guide starts a run that waits for its approval");
    let journal = std::fs::read_to_string(state.join("runs").join(run_id).join("journal.jsonl"))
        .expect("the compromise run's journal");
    let first: serde_json::Value =
        serde_json::from_str(journal.lines().next().unwrap()).expect("JSON");
    let started_at = first["rec"]["ts"]
        .as_str()
        .expect("run_started ts")
        .to_string();
    let report = std::fs::read_to_string(
        state
            .join("runs")
            .join(run_id)
            .join("work/incident-report.md"),
    )
    .expect("the incident report");
    assert!(
        report.contains(&format!("at {started_at}")),
        "the report does not give the run's start ({started_at}):\n{report}"
    );
}

#[test]
fn a_probes_drill_of_every_runbook_passes_and_leaves_nothing_behind() {
    let world = GuideWorld::new();
    // Each runbook is drilled against the sandbox in the state it is for:
    // healthy for the first four, with node3 lost for single-node-failure,
    // with every node lost (empty) for the restores.
    let drill = |rb: &str, extra: &str| {
        // Every drill runs, whatever the one before did (`|| true`; the
        // exit code is in runs.log).
        format!(
            "echo {q}; lifeboat run runbooks/vault/{rb}.yaml --inputs runbooks/vault/{rb}.inputs.yaml --dry-run=probes{extra} || true\n",
            q = quote(&format!("=== probes drill of {rb}"))
        )
    };
    let mut script = String::from(
        "step setup 0 'runbooks/vault/sandbox.sh up >/dev/null && source .sandbox/env'\n\
         step setup 0 'lifeboat run runbooks/vault/backup.yaml --inputs runbooks/vault/backup.inputs.yaml >/dev/null'\n\
         sleep 1\n",
    );
    script.push_str(&drill("backup", ""));
    script.push_str(&drill("verify-backup", ""));
    script.push_str(&drill(
        "secret-deletion",
        " --input deleted_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)",
    ));
    script.push_str(&drill("compromise", ""));
    script.push_str("step setup 0 'runbooks/vault/sandbox.sh replace 3 >/dev/null'\n");
    script.push_str(&drill("single-node-failure", ""));
    script.push_str("step setup 0 'runbooks/vault/sandbox.sh wipe >/dev/null'\n");
    script.push_str(&drill("full-cluster-loss", ""));
    script.push_str(&drill("region-failover", ""));
    let runbooks = [
        "backup",
        "verify-backup",
        "secret-deletion",
        "compromise",
        "single-node-failure",
        "full-cluster-loss",
        "region-failover",
    ];
    let ran = world.run_script(&script, 900);
    assert_eq!(ran.code, 0, "the sandbox did not start:\n{}", ran.tail());
    let mut problems = Vec::new();
    for rb in runbooks {
        let Some((run_id, code, state, _)) = ran.runs.iter().find(|(_, _, _, args)| {
            args.contains(&format!("vault/{rb}.yaml")) && args.contains("probes")
        }) else {
            problems.push(format!("{rb}: no drill run recorded"));
            continue;
        };
        if *code != 0 {
            let journal =
                std::fs::read_to_string(state.join("runs").join(run_id).join("journal.jsonl"))
                    .unwrap_or_default();
            let failed: Vec<String> = journal
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .map(|v| v["rec"].clone())
                .filter(|r| r["type"] == "step_failed")
                .map(|r| {
                    format!(
                        "`{}`: {}",
                        r["step"].as_str().unwrap_or(""),
                        r["error"].as_str().unwrap_or("")
                    )
                })
                .collect();
            problems.push(format!(
                "{rb}: the probes drill exited {code} (run {run_id}): {}",
                failed.join("; ")
            ));
        }
        let files = leftovers(state, run_id);
        if !files.is_empty() {
            problems.push(format!(
                "{rb}: the probes drill left {files:?} in its work directory"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{}\n\n{}",
        problems.join("\n"),
        ran.tail()
    );
}
