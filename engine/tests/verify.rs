//! `lifeboat verify`: the tamper-evident journal, end to end. A small run is
//! made, its stored journal is tampered with the way someone covering their
//! tracks would (one byte, with and without a recomputed checksum; a record
//! deleted; two records swapped), and `verify` must name the seq and exit 1.
//! An untouched journal verifies, with the chain head the timeline shows;
//! an old journal without a chain reads everywhere and verifies as
//! `unchained`. The same on the S3 store (moto on 127.0.0.1), tampered
//! through the S3 API.

mod util;

use serde_json::Value;
use util::{Ran, Sandbox};

const RUNBOOK: &str = r#"version: 1
name: chained
steps:
  - id: a
    kind: shell
    with: { run: ["/bin/true"] }
  - id: b
    kind: shell
    needs: [a]
    with: { run: ["/bin/true"] }
  - id: c
    kind: shell
    needs: [b]
    with: { run: ["/bin/true"] }
"#;

const GATED: &str = r#"version: 1
name: gated
steps:
  - id: a
    kind: shell
    with: { run: ["/bin/true"] }
  - id: gate
    kind: approval
    needs: [a]
    with: { prompt: "Go on?" }
  - id: c
    kind: shell
    needs: [gate]
    with: { run: ["/bin/true"] }
"#;

/// Runs [`RUNBOOK`] to success; returns its run id.
fn small_run(sb: &Sandbox) -> String {
    sb.write("chained.yaml", RUNBOOK);
    let ran = sb.run(&["run", "chained.yaml"]);
    ran.expect_code(0);
    ran.run_id()
}

fn journal_path(sb: &Sandbox, run_id: &str) -> std::path::PathBuf {
    sb.run_dir(run_id).join("journal.jsonl")
}

/// The journal's lines, each with its newline.
fn lines(sb: &Sandbox, run_id: &str) -> Vec<String> {
    split_lines(&std::fs::read_to_string(journal_path(sb, run_id)).unwrap())
}

fn split_lines(text: &str) -> Vec<String> {
    text.split_inclusive('\n').map(String::from).collect()
}

fn write_lines(sb: &Sandbox, run_id: &str, lines: &[String]) {
    std::fs::write(journal_path(sb, run_id), lines.concat()).unwrap();
}

/// The `rec` bytes of a line.
fn rec(line: &str) -> &str {
    let line = line.trim_end_matches('\n');
    &line[line.find("\"rec\":").expect("a journal line") + 6..line.len() - 1]
}

/// The line with its checksum recomputed, as a careful tamperer would.
fn recrc(line: &str) -> String {
    let rec = rec(line);
    format!(
        "{{\"crc\":\"{:08x}\",\"rec\":{rec}}}\n",
        crc32(rec.as_bytes())
    )
}

/// crc32 (IEEE), as the journal's envelope uses; written out here so the
/// test does not share the engine's code.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for b in bytes {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Changes one byte of a record's content: `tester` becomes `tesTer`.
fn change_one_byte(line: &str) -> String {
    assert!(line.contains("\"actor\":\"tester\""), "{line}");
    line.replacen("\"actor\":\"tester\"", "\"actor\":\"tesTer\"", 1)
}

fn verify(sb: &Sandbox, run_id: &str) -> Ran {
    sb.run(&["verify", run_id])
}

fn verify_json(sb: &Sandbox, run_id: &str) -> Value {
    let ran = sb.run(&["verify", run_id, "--output", "json"]);
    serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("{e}\n{}", ran.dump()))
}

/// The `verdict:` line of text output.
fn verdict(ran: &Ran) -> String {
    ran.stdout
        .lines()
        .find_map(|l| l.strip_prefix("verdict:"))
        .unwrap_or_else(|| panic!("no verdict\n{}", ran.dump()))
        .trim()
        .to_string()
}

fn head(ran: &Ran) -> String {
    ran.stdout
        .lines()
        .find_map(|l| l.strip_prefix("chain head:"))
        .unwrap_or_else(|| panic!("no chain head\n{}", ran.dump()))
        .trim()
        .to_string()
}

/// Asserts that `verify` exits 1 and its verdict starts with `expected`.
fn assert_broken(sb: &Sandbox, run_id: &str, expected: &str) -> Ran {
    let ran = verify(sb, run_id);
    ran.expect_code(1);
    let line = verdict(&ran);
    assert!(
        line.starts_with(&format!("broken: {expected}")),
        "expected `broken: {expected}…`\n{}",
        ran.dump()
    );
    ran
}

fn sha256_link(rec: &str) -> String {
    format!(
        "sha256:{}",
        lifeboat_steps::checksum::sha256_hex(rec.as_bytes())
    )
}

#[test]
fn an_untouched_journal_verifies_with_the_head_the_timeline_shows() {
    let sb = Sandbox::new();
    let id = small_run(&sb);
    let lines = lines(&sb, &id);
    let ran = verify(&sb, &id);
    ran.expect_code(0);
    let head = head(&ran);
    // The head is the SHA-256 of the last record's stored bytes.
    assert_eq!(
        head,
        sha256_link(rec(lines.last().unwrap())),
        "{}",
        ran.dump()
    );
    assert_eq!(
        verdict(&ran),
        format!(
            "intact: {n} records, seq 1..{n}, every checksum and link holds",
            n = lines.len()
        )
    );
    assert!(
        ran.stdout
            .contains(&format!("records:    {}\n", lines.len())),
        "{}",
        ran.dump()
    );

    // Every timeline format quotes the same head and count.
    let json: Value = serde_json::from_str(
        &sb.test()
            .args(["timeline", &id, "--format", "json"])
            .run()
            .stdout,
    )
    .unwrap();
    assert_eq!(json["journal"]["head"], head.as_str());
    assert_eq!(json["journal"]["records"], lines.len() as u64);
    let seal = format!("{} records, chain head {head}", lines.len());
    let md = sb.test().args(["timeline", &id]).run().stdout;
    assert!(md.contains(&format!("| Journal | {seal} |")), "{md}");
    let html = sb
        .test()
        .args(["timeline", &id, "--format", "html"])
        .run()
        .stdout;
    assert!(html.contains(&format!(">{seal}</code>")), "{html}");
    // And the files written at the end of the run.
    let written = std::fs::read_to_string(sb.run_dir(&id).join("timeline.md")).unwrap();
    assert!(written.contains(&seal), "{written}");

    let report = verify_json(&sb, &id);
    assert_eq!(report["verdict"], "intact");
    assert_eq!(report["head"], head.as_str());
    assert_eq!(report["findings"], serde_json::json!([]));
}

#[test]
fn a_record_is_chained_to_the_one_before_from_the_genesis_value() {
    let sb = Sandbox::new();
    let id = small_run(&sb);
    let journal = sb.journal(&id);
    assert_eq!(
        journal[0]["prev"],
        format!("sha256:{}", "0".repeat(64)),
        "run_started starts the chain"
    );
    let lines = lines(&sb, &id);
    for k in 1..lines.len() {
        assert_eq!(
            journal[k]["prev"],
            sha256_link(rec(&lines[k - 1])).as_str(),
            "seq {}",
            k + 1
        );
    }
}

#[test]
fn one_changed_byte_in_a_middle_record_is_named_with_or_without_a_new_checksum() {
    let sb = Sandbox::new();
    let id = small_run(&sb);
    let original = lines(&sb, &id);
    let m = original.len() / 2;
    let seq = m + 1;

    let mut tampered = original.clone();
    tampered[m] = change_one_byte(&original[m]);
    write_lines(&sb, &id, &tampered);
    let ran = assert_broken(
        &sb,
        &id,
        &format!("seq {seq} was changed after it was written: checksum mismatch"),
    );
    let report = verify_json(&sb, &id);
    assert_eq!(report["verdict"], "broken");
    assert_eq!(report["findings"][0]["seq"], seq, "{}", ran.dump());
    assert_eq!(report["findings"][0]["check"], "checksum");

    // The checksum recomputed: the next record's `prev` gives it away.
    tampered[m] = recrc(&tampered[m]);
    write_lines(&sb, &id, &tampered);
    assert_broken(
        &sb,
        &id,
        &format!(
            "seq {seq} was changed after it was written (its checksum was recomputed): its hash no longer matches the `prev` of seq {}",
            seq + 1
        ),
    );
    assert_eq!(verify_json(&sb, &id)["findings"][0]["check"], "chain");

    // Put back, it verifies again.
    write_lines(&sb, &id, &original);
    verify(&sb, &id).expect_code(0);
}

#[test]
fn a_deleted_record_is_named_by_seq() {
    let sb = Sandbox::new();
    let id = small_run(&sb);
    let mut lines = lines(&sb, &id);
    let m = lines.len() / 2;
    lines.remove(m);
    write_lines(&sb, &id, &lines);
    assert_broken(
        &sb,
        &id,
        &format!("seq {} was removed: seq {} ", m + 1, m + 2),
    );
    assert_eq!(verify_json(&sb, &id)["findings"][0]["seq"], m + 1);
}

#[test]
fn a_deleted_record_with_the_rest_renumbered_is_named_by_seq() {
    let sb = Sandbox::new();
    let id = small_run(&sb);
    let mut lines = lines(&sb, &id);
    let m = lines.len() / 2;
    lines.remove(m);
    for (k, line) in lines.iter_mut().enumerate().skip(m) {
        let renumbered = line.replacen(
            &format!("\"seq\":{}", k + 2),
            &format!("\"seq\":{}", k + 1),
            1,
        );
        *line = recrc(&renumbered);
    }
    write_lines(&sb, &id, &lines);
    assert_broken(&sb, &id, &format!("the chain breaks at seq {}", m + 1));
    let report = verify_json(&sb, &id);
    assert_eq!(report["findings"][0]["seq"], m + 1);
    assert_eq!(
        report["findings"].as_array().unwrap().len(),
        1,
        "{report:#}"
    );
}

#[test]
fn the_first_records_deleted_are_named() {
    let sb = Sandbox::new();
    let id = small_run(&sb);
    let mut lines = lines(&sb, &id);
    lines.drain(0..2);
    write_lines(&sb, &id, &lines);
    assert_broken(&sb, &id, "seq 1..2 were removed");
}

#[test]
fn two_swapped_records_are_named_by_seq() {
    let sb = Sandbox::new();
    let id = small_run(&sb);
    let mut lines = lines(&sb, &id);
    let m = lines.len() / 2;
    lines.swap(m, m + 1);
    write_lines(&sb, &id, &lines);
    let ran = assert_broken(
        &sb,
        &id,
        &format!("seq {} was moved: it belongs before seq {}", m + 1, m + 2),
    );
    assert!(
        verdict(&ran).contains("records were reordered"),
        "{}",
        ran.dump()
    );
    let report = verify_json(&sb, &id);
    assert_eq!(report["findings"][0]["seq"], m + 1);
    assert_eq!(
        report["findings"].as_array().unwrap().len(),
        1,
        "{report:#}"
    );
}

#[test]
fn a_broken_journal_reads_as_verify_prints_it() {
    let sb = Sandbox::new();
    let id = small_run(&sb);
    let mut lines = lines(&sb, &id);
    let m = lines.len() / 2;
    lines.remove(m);
    lines[1] = change_one_byte(&lines[1]);
    write_lines(&sb, &id, &lines);
    let ran = verify(&sb, &id);
    ran.expect_code(1);
    let mut settings = ran.snapshot_settings();
    settings.add_filter(r"computed [0-9a-f]{8}", "computed [CRC]");
    settings.add_filter(r"stored [0-9a-f]{8}", "stored [CRC]");
    settings.bind(|| insta::assert_snapshot!("verify_broken", ran.transcript()));
}

#[test]
fn decisions_and_a_resume_continue_the_chain() {
    let sb = Sandbox::new();
    sb.write("gated.yaml", GATED);
    let ran = sb.run(&["run", "gated.yaml"]);
    ran.expect_code(3);
    let id = ran.run_id();
    verify(&sb, &id).expect_code(0);
    sb.test()
        .args(["note", &id, "looked at the dashboards"])
        .run();
    sb.test()
        .args(["approve", &id, "gate", "--as", "bob"])
        .run();
    sb.test().args(["resume", &id]).run();
    let ran = verify(&sb, &id);
    ran.expect_code(0);
    let journal = sb.journal(&id);
    assert!(
        journal.iter().any(|r| r["type"] == "resumed"),
        "{journal:#?}"
    );
    assert!(
        verdict(&ran).starts_with(&format!("intact: {} records", journal.len())),
        "{}",
        ran.dump()
    );
}

/// A journal as Lifeboat wrote it before the chain: no `prev` anywhere.
fn unchain(sb: &Sandbox, run_id: &str) {
    let lines: Vec<String> = lines(sb, run_id)
        .iter()
        .map(|line| {
            let mut record: Value = serde_json::from_str(rec(line)).unwrap();
            record.as_object_mut().unwrap().remove("prev");
            let rec = serde_json::to_string(&record).unwrap();
            format!(
                "{{\"crc\":\"{:08x}\",\"rec\":{rec}}}\n",
                crc32(rec.as_bytes())
            )
        })
        .collect();
    assert!(!lines.concat().contains("\"prev\""));
    write_lines(sb, run_id, &lines);
}

#[test]
fn an_old_unchained_journal_still_reads_and_is_reported_unchained() {
    let sb = Sandbox::new();
    let id = small_run(&sb);
    unchain(&sb, &id);
    let ran = verify(&sb, &id);
    ran.expect_code(1);
    assert_eq!(head(&ran), "unchained");
    assert!(verdict(&ran).starts_with("unchained: "), "{}", ran.dump());
    assert_eq!(verify_json(&sb, &id)["verdict"], "unchained");

    sb.test().args(["status", &id]).run();
    let md = sb.test().args(["timeline", &id]).run().stdout;
    assert!(md.contains(" records, unchained |"), "{md}");
    let json: Value = serde_json::from_str(
        &sb.test()
            .args(["timeline", &id, "--format", "json"])
            .run()
            .stdout,
    )
    .unwrap();
    assert_eq!(json["journal"]["head"], Value::Null);

    // A record added later keeps it unchained, not broken.
    sb.test()
        .args(["note", &id, "written by a newer engine"])
        .run();
    assert!(sb.journal(&id).last().unwrap().get("prev").is_none());
    let ran = verify(&sb, &id);
    assert!(verdict(&ran).starts_with("unchained: "), "{}", ran.dump());
}

#[test]
fn a_record_without_prev_in_a_chained_journal_is_a_break() {
    let sb = Sandbox::new();
    let id = small_run(&sb);
    let mut lines = lines(&sb, &id);
    let m = lines.len() / 2;
    let mut record: Value = serde_json::from_str(rec(&lines[m])).unwrap();
    record.as_object_mut().unwrap().remove("prev");
    let text = serde_json::to_string(&record).unwrap();
    lines[m] = format!(
        "{{\"crc\":\"{:08x}\",\"rec\":{text}}}\n",
        crc32(text.as_bytes())
    );
    write_lines(&sb, &id, &lines);
    assert_broken(&sb, &id, &format!("seq {} ", m + 1));
}

#[test]
fn verify_of_a_run_that_does_not_exist_says_how_to_find_one() {
    let sb = Sandbox::new();
    let ran = sb.run(&["verify", "no-such-run"]);
    assert_ne!(ran.code, 0);
    assert!(
        ran.stderr.contains("`lifeboat runs` lists the runs"),
        "{}",
        ran.dump()
    );
}

mod s3 {
    use super::*;
    use lifeboat_harness::s3_server::S3Server;

    struct Shared {
        rt: tokio::runtime::Runtime,
        s3: S3Server,
        sb: Sandbox,
        env: Vec<(String, String)>,
    }

    fn start(prefix: &str) -> Shared {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let s3 = rt
            .block_on(S3Server::start())
            .unwrap_or_else(|e| panic!("{e}"));
        let env = vec![
            (
                "LIFEBOAT_STORE".to_string(),
                format!("s3://{}/{prefix}", s3.bucket()),
            ),
            ("AWS_ENDPOINT_URL".into(), s3.endpoint()),
            ("AWS_ACCESS_KEY_ID".into(), s3.access_key_id().into()),
            (
                "AWS_SECRET_ACCESS_KEY".into(),
                s3.secret_access_key().into(),
            ),
            ("AWS_REGION".into(), s3.region().into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ];
        Shared {
            rt,
            s3,
            sb: Sandbox::new(),
            env,
        }
    }

    impl Shared {
        fn run(&self, args: &[&str]) -> Ran {
            self.sb
                .test()
                .args(args)
                .envs(self.env.iter().map(|(k, v)| (k.clone(), v.clone())))
                .env_remove("AWS_PROFILE")
                .env_remove("AWS_SESSION_TOKEN")
                .any_status()
                .run()
        }

        /// Plain HTTP with the header of a signed request: moto does not
        /// check signatures, but serves an object only to its owner's key.
        fn client(&self) -> reqwest::Client {
            let mut headers = reqwest::header::HeaderMap::new();
            let auth = format!(
                "AWS4-HMAC-SHA256 Credential={}/20261201/{}/s3/aws4_request, SignedHeaders=host, Signature=0",
                self.s3.access_key_id(),
                self.s3.region()
            );
            headers.insert(reqwest::header::AUTHORIZATION, auth.parse().unwrap());
            reqwest::Client::builder()
                .default_headers(headers)
                .build()
                .unwrap()
        }

        fn url(&self, key: &str) -> String {
            format!("{}/{}/{key}", self.s3.endpoint(), self.s3.bucket())
        }

        /// The run's journal objects, in order (moto does not check
        /// signatures: plain HTTP is the S3 API here).
        fn objects(&self, prefix: &str, run_id: &str) -> Vec<String> {
            let list = format!(
                "{}/{}?list-type=2&prefix={prefix}/runs/{run_id}/journal/",
                self.s3.endpoint(),
                self.s3.bucket()
            );
            let body = self
                .rt
                .block_on(async { reqwest::get(list).await.unwrap().text().await.unwrap() });
            let mut keys: Vec<String> = body
                .split("<Key>")
                .skip(1)
                .filter_map(|p| p.split("</Key>").next())
                .map(String::from)
                .collect();
            keys.sort();
            keys
        }

        fn get(&self, key: &str) -> String {
            let url = self.url(key);
            let request = self.client().get(&url);
            self.rt.block_on(async {
                let response = request.send().await.unwrap();
                assert!(response.status().is_success(), "GET {url}: {response:?}");
                response.text().await.unwrap()
            })
        }

        fn put(&self, key: &str, body: &str) {
            let request = self.client().put(self.url(key)).body(body.to_string());
            let response = self.rt.block_on(async { request.send().await.unwrap() });
            assert!(response.status().is_success(), "{response:?}");
        }

        fn delete(&self, key: &str) {
            let request = self.client().delete(self.url(key));
            let response = self.rt.block_on(async { request.send().await.unwrap() });
            assert!(response.status().is_success(), "{response:?}");
        }

        fn verify(&self, run_id: &str) -> Ran {
            self.run(&["verify", run_id])
        }
    }

    #[test]
    fn the_chain_holds_and_tampering_through_the_s3_api_is_named_by_seq() {
        let prefix = "verify";
        let shared = start(prefix);
        shared.sb.write("chained.yaml", RUNBOOK);
        let ran = shared.run(&["run", "chained.yaml"]);
        ran.expect_code(0);
        let id = ran.run_id();

        let ran = shared.verify(&id);
        ran.expect_code(0);
        assert!(verdict(&ran).starts_with("intact: "), "{}", ran.dump());
        let timeline: Value = serde_json::from_str(
            &shared
                .run(&["timeline", &id, "--format", "json"])
                .expect_code(0)
                .stdout,
        )
        .unwrap();
        assert_eq!(timeline["journal"]["head"], head(&ran).as_str());
        // A decision from another command continues the chain in S3 too.
        shared
            .run(&["note", &id, "checked from machine B"])
            .expect_code(0);
        shared.verify(&id).expect_code(0);

        // Records by object: find a middle record of a middle object.
        let keys = shared.objects(prefix, &id);
        let bodies: Vec<String> = keys.iter().map(|k| shared.get(k)).collect();
        let mut seq = 0;
        let mut target = None;
        for (i, body) in bodies.iter().enumerate() {
            for (j, line) in split_lines(body).iter().enumerate() {
                seq += 1;
                if target.is_none() && i >= keys.len() / 2 && line.contains("\"actor\":\"tester\"")
                {
                    target = Some((i, j, seq));
                }
            }
        }
        let (i, j, seq) = target.unwrap_or_else(|| {
            panic!("no record written by `tester` in a middle object: {bodies:#?}")
        });

        // One byte changed, the checksum recomputed, the object overwritten.
        let mut lines = split_lines(&bodies[i]);
        lines[j] = recrc(&change_one_byte(&lines[j]));
        shared.put(&keys[i], &lines.concat());
        let ran = shared.verify(&id);
        ran.expect_code(1);
        assert!(
            verdict(&ran).starts_with(&format!(
                "broken: seq {seq} was changed after it was written (its checksum was recomputed)"
            )),
            "{}",
            ran.dump()
        );
        assert!(
            verdict(&ran).contains(&format!(
                "(at s3://{}/{}:{})",
                shared.s3.bucket(),
                keys[i],
                j + 1
            )),
            "names the object and the line\n{}",
            ran.dump()
        );

        // Without the recomputed checksum.
        lines[j] = change_one_byte(&split_lines(&bodies[i])[j]);
        shared.put(&keys[i], &lines.concat());
        let ran = shared.verify(&id);
        ran.expect_code(1);
        assert!(
            verdict(&ran).starts_with(&format!(
                "broken: seq {seq} was changed after it was written: checksum mismatch"
            )),
            "{}",
            ran.dump()
        );

        // Put back, it verifies; then a whole middle object deleted.
        shared.put(&keys[i], &bodies[i]);
        shared.verify(&id).expect_code(0);
        let first_seq: usize = bodies[..i]
            .iter()
            .map(|b| split_lines(b).len())
            .sum::<usize>()
            + 1;
        let removed = split_lines(&bodies[i]).len();
        assert!(removed >= 1);
        shared.delete(&keys[i]);
        let ran = shared.verify(&id);
        ran.expect_code(1);
        let expected = if removed == 1 {
            format!("broken: seq {first_seq} was removed")
        } else {
            format!(
                "broken: seq {first_seq}..{} were removed",
                first_seq + removed - 1
            )
        };
        assert!(
            verdict(&ran).starts_with(&expected),
            "{expected}\n{}",
            ran.dump()
        );
        assert!(ran.stdout.contains("are missing before"), "{}", ran.dump());
    }

    #[test]
    fn swapped_records_in_an_object_are_named_by_seq() {
        let prefix = "swap";
        let shared = start(prefix);
        shared.sb.write("chained.yaml", RUNBOOK);
        let ran = shared.run(&["run", "chained.yaml"]);
        ran.expect_code(0);
        let id = ran.run_id();
        let keys = shared.objects(prefix, &id);
        // An object with two records or more (a group commit).
        let mut seq = 0;
        for key in &keys {
            let body = shared.get(key);
            let mut lines = split_lines(&body);
            if lines.len() >= 2 {
                lines.swap(0, 1);
                shared.put(key, &lines.concat());
                let ran = shared.verify(&id);
                ran.expect_code(1);
                assert!(
                    verdict(&ran).starts_with(&format!(
                        "broken: seq {} was moved: it belongs before seq {}",
                        seq + 1,
                        seq + 2
                    )),
                    "{}",
                    ran.dump()
                );
                return;
            }
            seq += lines.len();
        }
        panic!("no object holds two records: {keys:?}");
    }
}

/// The benchmark's unchained baseline cannot pass for a verified journal.
#[test]
fn a_journal_written_by_the_bench_switch_verifies_as_unchained_never_intact() {
    let sb = Sandbox::new();
    sb.write("chained.yaml", RUNBOOK);
    let ran = sb.run_with(
        &["run", "chained.yaml"],
        &[("LIFEBOAT_BENCH_UNCHAINED", "1")],
    );
    ran.expect_code(0);
    let id = ran.run_id();
    assert!(sb.journal(&id).iter().all(|r| r.get("prev").is_none()));
    let ran = verify(&sb, &id);
    ran.expect_code(1);
    assert!(verdict(&ran).starts_with("unchained: "), "{}", ran.dump());
}

/// Another run's whole journal is a valid chain; its start gives it away.
#[test]
fn a_journal_replaced_by_another_runs_is_named() {
    let sb = Sandbox::new();
    let first = small_run(&sb);
    let second = small_run(&sb);
    std::fs::copy(journal_path(&sb, &first), journal_path(&sb, &second)).unwrap();
    assert_broken(
        &sb,
        &second,
        &format!("seq 1 starts run `{first}`, not `{second}`"),
    );
}

/// A run that fails at `b` the first time and succeeds when resumed.
const FLAKY: &str = r#"version: 1
name: flaky
steps:
  - id: a
    kind: shell
    with: { run: ["/bin/true"] }
  - id: b
    kind: shell
    needs: [a]
    with: { script: "if [ -e b-ok ]; then exit 0; fi; touch b-ok; exit 1" }
  - id: c
    kind: shell
    needs: [b]
    with: { run: ["/bin/true"] }
"#;

/// `resume` (and `resume --take-over`) checks the chain before it continues
/// a journal: an edited middle record, its checksum left or recomputed, is
/// refused with the finding `verify` prints and what to do, and nothing is
/// written; the journal put back, the run resumes and its chain holds.
#[test]
fn a_resume_refuses_a_journal_whose_chain_is_broken_and_continues_an_untouched_one() {
    let sb = Sandbox::new();
    sb.write("flaky.yaml", FLAKY);
    let ran = sb.run(&["run", "flaky.yaml"]);
    ran.expect_code(1);
    let id = ran.run_id();
    let path = journal_path(&sb, &id);
    let original = lines(&sb, &id);
    let m = original.len() / 2;
    let seq = m + 1;
    let refusal = |finding: String, line: usize| {
        format!(
            "error: the journal of run `{id}` is broken, so it is not resumed: {finding} (at {}:{line}); `lifeboat verify {id}` shows every break. The journal is the run's evidence: do not edit it; restore the original (from a backup, or the bucket's object versions), or start a new run\n",
            path.display()
        )
    };

    let mut tampered = original.clone();
    tampered[m] = recrc(&change_one_byte(&original[m]));
    write_lines(&sb, &id, &tampered);
    let chain_break = format!(
        "seq {seq} was changed after it was written (its checksum was recomputed): its hash no longer matches the `prev` of seq {}",
        seq + 1
    );
    for args in [
        vec!["resume", id.as_str()],
        vec!["resume", id.as_str(), "--take-over", "--yes"],
    ] {
        let ran = sb.run(&args);
        ran.expect_code(2);
        // A chain break names the record whose `prev` gave it away too.
        let finding = format!("{chain_break} (at {}:{})", path.display(), seq + 1);
        assert_eq!(ran.stderr, refusal(finding, seq), "{}", ran.dump());
        assert_eq!(
            lines(&sb, &id),
            tampered,
            "the refused resume wrote to the journal"
        );
    }
    // The same finding as `verify`'s verdict.
    assert_broken(&sb, &id, &chain_break);

    // A changed byte, its checksum left alone.
    tampered[m] = change_one_byte(&original[m]);
    write_lines(&sb, &id, &tampered);
    let ran = sb.run(&["resume", &id]);
    ran.expect_code(2);
    assert!(
        ran.stderr.starts_with(&format!(
            "error: the journal of run `{id}` is broken, so it is not resumed: seq {seq} was changed after it was written: checksum mismatch (stored "
        )),
        "{}",
        ran.dump()
    );

    // Untouched: the resume continues the run, and the chain.
    write_lines(&sb, &id, &original);
    let ran = sb.run(&["resume", &id]);
    ran.expect_code(0);
    let journal = sb.journal(&id);
    assert!(
        journal
            .iter()
            .any(|r| r["type"] == "step_succeeded" && r["step"] == "c"),
        "{}",
        ran.dump()
    );
    assert!(
        verdict(&verify(&sb, &id)).starts_with(&format!("intact: {} records", journal.len())),
        "{journal:#?}"
    );
}
