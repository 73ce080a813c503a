//! `lifeboat verify`: a journal's stored bytes checked line by line — each
//! line's checksum, the sequence numbers, the hash chain (`chain.rs`) — with
//! every break reported, never stopped at: the journal under examination may
//! be the damaged one.
//!
//! The report is a list of per-record [`Finding`]s. A break names the first
//! record that was changed, removed, inserted or reordered, by seq; a later
//! check (a decision's signature) adds its own findings to the same list.
//!
//! Not detectable here: records cut off the end, or every record from some
//! point on rewritten with a recomputed chain. The chain head and the record
//! count, quoted in the postmortem (the timeline shows both), protect those.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

use std::path::Path;

use crate::journal::allowed_signers;
use crate::journal::chain::{link, GENESIS};
use crate::journal::decision::ENGINE_ACTOR;
use crate::journal::record::Record;
use crate::journal::run_state::RunState;
use crate::journal::run_store::RawJournal;
use crate::journal::signature::{self, Message};

/// What `lifeboat verify` found.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub run_id: String,
    pub verdict: Verdict,
    /// Complete records read.
    pub records: u64,
    /// The last record's seq, if it could be read.
    pub last_seq: Option<u64>,
    /// `sha256:<hex>` of the last record's stored bytes, for a chained
    /// journal: what a postmortem quotes.
    pub head: Option<String>,
    /// In journal order.
    pub findings: Vec<Finding>,
    /// The decisions' signatures, counted (`check_signatures`).
    pub signatures: Signatures,
}

/// How many of a run's decisions (approvals, confirmations, marks,
/// take-overs, the start) are signed, and how many of those verified.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Signatures {
    pub decisions: u64,
    pub signed: u64,
    pub verified: u64,
}

impl Signatures {
    /// One line: `3 decisions, 3 signed, 3 verified`.
    pub fn line(&self) -> String {
        match (self.decisions, self.signed) {
            (0, _) => "no decisions".to_string(),
            (n, 0) => format!("{}, none signed", plural(n, "decision")),
            (n, s) => format!(
                "{}, {s} signed, {} verified",
                plural(n, "decision"),
                self.verified
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every checksum, seq and link holds.
    Intact,
    /// Written without a chain (before Lifeboat had one): checksums and
    /// sequence hold, but an edit with a recomputed checksum is not seen.
    Unchained,
    /// At least one finding is a break.
    Broken,
}

/// One thing found about one record (or about where one should be).
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The record it concerns, by seq, when known.
    pub seq: Option<u64>,
    /// `FILE:LINE`, or `OBJECT-URL:LINE` in an S3 store.
    pub at: String,
    pub check: Check,
    pub status: Status,
    pub message: String,
}

/// Which check a finding comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// The line's envelope and its crc32.
    Checksum,
    /// Sequence numbers 1, 2, 3, … in order, without gaps.
    Sequence,
    /// Each record's `prev` against the hash of the record before it.
    Chain,
    /// Where the journal's objects or lines are (a missing S3 object, a
    /// torn final line).
    Storage,
    /// A decision's SSH signature against the run's allowed signers file
    /// (`journal/signature.rs`).
    Signature,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The journal is not what was written.
    Break,
    /// Worth knowing, not a break (a torn final line after a crash, a
    /// decision that is unsigned where nothing required a signature).
    Notice,
    /// A signature that holds: by a key of the run's allowed signers file,
    /// over exactly this record.
    Verified,
}

impl Verification {
    /// The first break, which the verdict names.
    pub fn first_break(&self) -> Option<&Finding> {
        self.findings.iter().find(|f| f.status == Status::Break)
    }

    /// The one-line verdict.
    pub fn verdict_line(&self) -> String {
        let records = plural(self.records, "record");
        match (self.verdict, self.first_break()) {
            (Verdict::Broken, Some(first)) => {
                let others = self
                    .findings
                    .iter()
                    .filter(|f| f.status == Status::Break)
                    .count()
                    - 1;
                let more = if others > 0 {
                    format!(" (and {} listed above)", plural(others as u64, "more break"))
                } else {
                    String::new()
                };
                format!("broken: {} (at {}){more}", first.message, first.at)
            }
            (Verdict::Unchained, _) => format!(
                "unchained: {records} with intact checksums and sequence, written without a hash chain (by a Lifeboat from before the chain); nothing shows whether a record was edited and its checksum recomputed"
            ),
            _ => format!(
                "intact: {records}, seq 1..{}, every checksum and link holds",
                self.last_seq.unwrap_or(0)
            ),
        }
    }
}

fn plural(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

#[derive(Deserialize)]
struct Line<'a> {
    crc: &'a str,
    #[serde(borrow)]
    rec: &'a RawValue,
}

/// One line as read, however damaged.
struct Entry {
    at: String,
    /// Readable as `{"crc":…,"rec":…}`.
    readable: bool,
    crc_ok: bool,
    seq: Option<u64>,
    prev: Option<String>,
    kind: Option<String>,
    /// `run_id` of a `run_started`.
    run_id: Option<String>,
    /// The link to this record (the hash of its stored bytes).
    hash: Option<String>,
    problem: Option<String>,
}

fn entry(at: String, raw: &[u8]) -> Entry {
    let mut e = Entry {
        at,
        readable: false,
        crc_ok: false,
        seq: None,
        prev: None,
        kind: None,
        run_id: None,
        hash: None,
        problem: None,
    };
    let line: Line = match serde_json::from_slice(raw) {
        Ok(line) => line,
        Err(err) => {
            e.problem = Some(format!("not a journal record ({err})"));
            return e;
        }
    };
    let rec = line.rec.get().as_bytes();
    e.readable = true;
    e.crc_ok = format!("{:08x}", crc32fast::hash(rec)) == line.crc;
    e.hash = Some(link(rec));
    if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(rec) {
        e.seq = map.get("seq").and_then(Value::as_u64);
        e.prev = map.get("prev").and_then(Value::as_str).map(String::from);
        e.kind = map.get("type").and_then(Value::as_str).map(String::from);
        e.run_id = map.get("run_id").and_then(Value::as_str).map(String::from);
    }
    if !e.crc_ok {
        e.problem = Some(format!(
            "checksum mismatch (stored {}, computed {:08x})",
            line.crc,
            crc32fast::hash(rec)
        ));
    }
    e
}

/// Checks `raw`, the stored journal of run `run_id`.
pub fn verify(run_id: &str, raw: &RawJournal) -> Verification {
    let mut findings = Vec::new();
    let mut entries = Vec::new();
    for gap in &raw.gaps {
        findings.push(Finding {
            seq: None,
            at: raw
                .parts
                .first()
                .map(|p| p.name.clone())
                .unwrap_or_default(),
            check: Check::Storage,
            status: Status::Notice,
            message: format!("{gap}: their records are missing (the sequence check names them)"),
        });
    }
    let last_part = raw.parts.len().saturating_sub(1);
    for (p, part) in raw.parts.iter().enumerate() {
        let mut lines: Vec<&[u8]> = part.bytes.split(|b| *b == b'\n').collect();
        let tail = lines.pop().unwrap_or_default();
        for (i, line) in lines.iter().enumerate() {
            entries.push(entry(format!("{}:{}", part.name, i + 1), line));
        }
        if !tail.is_empty() {
            let at = format!("{}:{}", part.name, lines.len() + 1);
            let e = entry(at.clone(), tail);
            // A record that only lacks its newline counts; a torn last
            // line is what a crash mid-write leaves, not an edit.
            if e.crc_ok || p != last_part {
                entries.push(e);
            } else {
                findings.push(Finding {
                    seq: None,
                    at,
                    check: Check::Storage,
                    status: Status::Notice,
                    message: format!(
                        "a torn final line ({} bytes) is not counted: the engine stopped while writing it",
                        tail.len()
                    ),
                });
            }
        }
    }
    if entries.is_empty() {
        findings.push(Finding {
            seq: Some(1),
            at: raw
                .parts
                .first()
                .map(|p| p.name.clone())
                .unwrap_or_default(),
            check: Check::Sequence,
            status: Status::Break,
            message: "seq 1 was removed: the journal holds no record".to_string(),
        });
    }
    check_entries(&entries, &mut findings);
    // A whole journal copied from another run is a valid chain: its start
    // names the other run.
    if let Some(first) = entries.first() {
        if let Some(other) = first.run_id.as_deref().filter(|r| *r != run_id) {
            let message = format!(
                "{} starts run `{other}`, not `{run_id}`: the journal was replaced by another run's",
                seq_name(first, 1)
            );
            let finding = Finding {
                seq: first.seq,
                at: first.at.clone(),
                check: Check::Chain,
                status: Status::Break,
                message,
            };
            findings.insert(0, finding);
        }
    }
    let chained = entries.iter().any(|e| e.prev.is_some());
    let verdict = if findings.iter().any(|f| f.status == Status::Break) {
        Verdict::Broken
    } else if chained {
        Verdict::Intact
    } else {
        Verdict::Unchained
    };
    let last = entries.last();
    Verification {
        run_id: run_id.to_string(),
        verdict,
        records: entries.len() as u64,
        last_seq: last.and_then(|e| e.seq),
        head: if chained {
            last.and_then(|e| e.hash.clone())
        } else {
            None
        },
        findings,
        signatures: Signatures::default(),
    }
}

/// Adds a finding for every decision of the journal `raw` (approvals,
/// confirmations, marks, take-overs, the start): its signature checked
/// against the allowed signers file the run started with (`given`, else
/// the path recorded at the start; refused unless its SHA-256 is the
/// recorded one). A signature that does not hold, or a decision left
/// unsigned where the runbook required a signature, is a break; the
/// verdict follows.
pub fn check_signatures(report: &mut Verification, raw: &RawJournal, given: Option<&Path>) {
    let mut records: Vec<(String, Record)> = Vec::new();
    for part in &raw.parts {
        for (i, line) in part.bytes.split(|b| *b == b'\n').enumerate() {
            let Ok(line) = serde_json::from_slice::<Line>(line) else {
                continue;
            };
            if let Ok(record) = serde_json::from_str::<Record>(line.rec.get()) {
                records.push((format!("{}:{}", part.name, i + 1), record));
            }
        }
    }
    let all: Vec<Record> = records.iter().map(|(_, r)| r.clone()).collect();
    let run = RunState::replay(&all, &|_| Vec::new());
    let decisions: Vec<&(String, Record)> = records
        .iter()
        .filter(|(_, r)| Message::of(&report.run_id, &r.actor, &r.event, "").is_some())
        .collect();
    if decisions.is_empty() {
        return;
    }
    let required = |r: &Record| {
        r.actor != ENGINE_ACTOR
            && (run.require_signed
                || r.event
                    .step()
                    .and_then(|s| run.gates.get(s))
                    .is_some_and(|g| g.require_signed()))
    };
    report.signatures.decisions = decisions.len() as u64;
    report.signatures.signed = decisions.iter().filter(|(_, r)| r.signed.is_some()).count() as u64;
    // A run that signs nothing and requires nothing: the count says so.
    if decisions
        .iter()
        .all(|(_, r)| r.signed.is_none() && !required(r))
    {
        return;
    }
    let signers = allowed_signers::for_run(
        &report.run_id,
        run.allowed_signers.as_deref(),
        run.allowed_signers_sha256.as_deref(),
        given,
    );
    let first_at = decisions[0].0.clone();
    let signers = match signers {
        Ok(Some(signers)) => Some(signers),
        Ok(None) => {
            if decisions.iter().any(|(_, r)| r.signed.is_some()) {
                report.findings.push(Finding {
                    seq: None,
                    at: first_at,
                    check: Check::Signature,
                    status: Status::Notice,
                    message: format!(
                        "signatures not checked: run `{}` started without an allowed signers file, so no key is trusted to decide in it",
                        report.run_id
                    ),
                });
            }
            None
        }
        Err(e) => {
            report.findings.push(Finding {
                seq: None,
                at: first_at,
                check: Check::Signature,
                status: Status::Break,
                message: format!("signatures not checked: {e}"),
            });
            None
        }
    };
    for (at, record) in decisions {
        let required = required(record);
        let what = format!("the {} of seq {}", record.event.name(), record.seq);
        let (status, message) = match (&signers, &record.signed) {
            (_, None) if required => (
                Status::Break,
                format!("{what} is unsigned, but the runbook requires signed decisions"),
            ),
            (_, None) => (Status::Notice, format!("{what} is unsigned")),
            (None, Some(s)) => (
                Status::Notice,
                format!("{what} is signed by {} (not checked)", s.key),
            ),
            (Some(signers), Some(_)) => match signature::verify(record, &report.run_id, signers) {
                signature::Verdict::Verified { principal, key } => (
                    Status::Verified,
                    format!("{what}: verified principal `{principal}`, key {key}"),
                ),
                verdict => (Status::Break, format!("{what}: {}", verdict.describe())),
            },
        };
        report.findings.push(Finding {
            seq: Some(record.seq),
            at: at.clone(),
            check: Check::Signature,
            status,
            message,
        });
    }
    if report.findings.iter().any(|f| f.status == Status::Break) {
        report.verdict = Verdict::Broken;
    }
}

fn seq_name(e: &Entry, expected: u64) -> String {
    match e.seq {
        Some(s) => format!("seq {s}"),
        None => format!("the record at {} (seq {expected} expected)", e.at),
    }
}

fn check_entries(entries: &[Entry], findings: &mut Vec<Finding>) {
    let chained = entries.iter().any(|e| e.prev.is_some());
    // Entries already explained by a finding: a chain mismatch next to
    // one is its consequence, not a second break.
    let mut flagged = vec![false; entries.len()];
    let brk = |i: usize, seq: Option<u64>, check: Check, message: String| Finding {
        seq,
        at: entries[i].at.clone(),
        check,
        status: Status::Break,
        message,
    };
    let mut out: Vec<(usize, Finding)> = Vec::new();

    // Checksums and sequence numbers.
    let position: HashMap<u64, usize> = entries
        .iter()
        .enumerate()
        .rev()
        .filter_map(|(i, e)| Some((e.seq?, i)))
        .collect();
    let mut seen: HashSet<u64> = HashSet::new();
    let mut moved: HashSet<u64> = HashSet::new();
    let mut expected = 1u64;
    for (i, e) in entries.iter().enumerate() {
        if !e.readable || !e.crc_ok {
            let what = seq_name(e, expected);
            let problem = e.problem.clone().unwrap_or_default();
            out.push((
                i,
                brk(
                    i,
                    e.seq.or(Some(expected)),
                    Check::Checksum,
                    format!("{what} was changed after it was written: {problem}"),
                ),
            ));
            flagged[i] = true;
        }
        let Some(seq) = e.seq else {
            // Unreadable: assume it holds the record expected here.
            expected += 1;
            continue;
        };
        if seq == expected {
            expected += 1;
        } else if seq > expected {
            let later = (expected..seq).find(|s| position.get(s).is_some_and(|&at| at > i));
            let message = match later {
                Some(s) => {
                    let at = &entries[position[&s]].at;
                    moved.extend((expected..seq).filter(|s| position.contains_key(s)));
                    format!(
                        "seq {s} was moved: it belongs before seq {seq} but comes after it (at {at}); records were reordered"
                    )
                }
                None if seq == expected + 1 => format!(
                    "seq {expected} was removed: seq {seq} follows seq {}",
                    expected - 1
                ),
                None => format!(
                    "seq {expected}..{} were removed: seq {seq} follows {}",
                    seq - 1,
                    if expected == 1 {
                        "nothing (the journal's first records are gone)".to_string()
                    } else {
                        format!("seq {}", expected - 1)
                    }
                ),
            };
            out.push((
                i,
                brk(i, Some(later.unwrap_or(expected)), Check::Sequence, message),
            ));
            flagged[i] = true;
            expected = seq + 1;
        } else if moved.remove(&seq) {
            // Reported with the reorder.
            flagged[i] = true;
        } else if seen.contains(&seq) {
            out.push((
                i,
                brk(
                    i,
                    Some(seq),
                    Check::Sequence,
                    format!("seq {seq} appears twice: a record was copied or inserted"),
                ),
            ));
            flagged[i] = true;
        } else {
            out.push((
                i,
                brk(
                    i,
                    Some(seq),
                    Check::Sequence,
                    format!(
                        "seq {seq} comes after seq {}: records were reordered",
                        expected - 1
                    ),
                ),
            ));
            flagged[i] = true;
        }
        seen.insert(seq);
    }

    // The chain.
    if chained {
        let by_hash: HashMap<&str, usize> = entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| Some((e.hash.as_deref()?, i)))
            .collect();
        let links = |k: usize| -> bool {
            k == 0
                || entries[k].prev.is_some()
                    && entries[k].prev.as_deref() == entries[k - 1].hash.as_deref()
        };
        for (k, e) in entries.iter().enumerate() {
            if !e.readable {
                continue;
            }
            let name = seq_name(e, k as u64 + 1);
            let Some(prev) = e.prev.as_deref() else {
                if !flagged[k] {
                    out.push((
                        k,
                        brk(
                            k,
                            e.seq,
                            Check::Chain,
                            format!(
                                "{name} has no `prev` though the journal is chained: it was changed or inserted"
                            ),
                        ),
                    ));
                    flagged[k] = true;
                }
                continue;
            };
            if k == 0 {
                if prev != GENESIS && !flagged[0] {
                    out.push((
                        0,
                        brk(
                            0,
                            e.seq,
                            Check::Chain,
                            format!(
                                "{name} does not start the chain (its `prev` is not the genesis value): the records before it were removed"
                            ),
                        ),
                    ));
                    flagged[0] = true;
                } else if e.kind.as_deref() != Some("run_started") && !flagged[0] {
                    out.push((
                        0,
                        brk(
                            0,
                            e.seq,
                            Check::Chain,
                            format!("{name} starts the chain but is not `run_started`: the journal's start was replaced"),
                        ),
                    ));
                    flagged[0] = true;
                }
                continue;
            }
            let before = &entries[k - 1];
            if before.hash.is_none() || links(k) {
                continue;
            }
            if flagged[k] || flagged[k - 1] {
                // A consequence of a break already reported; a cascade of
                // renumbered records stays one finding.
                flagged[k] = true;
                continue;
            }
            let before_name = seq_name(before, k as u64);
            let message = match by_hash.get(prev).copied() {
                Some(j) if j > k => format!(
                    "{name} links to {}, which comes after it (at {}): records were reordered",
                    seq_name(&entries[j], j as u64 + 1),
                    entries[j].at
                ),
                Some(j) => format!(
                    "{} is not in the chain: {name} (at {}) links to {}, before it; records were inserted",
                    seq_name(&entries[j + 1], j as u64 + 2),
                    e.at,
                    seq_name(&entries[j], j as u64 + 1)
                ),
                None if prev == GENESIS => format!(
                    "{name} claims to start a chain: records were spliced in from another journal"
                ),
                None if k + 1 == entries.len() || links(k + 1) => format!(
                    "{before_name} was changed after it was written (its checksum was recomputed): its hash no longer matches the `prev` of {name} (at {})",
                    e.at
                ),
                None => format!(
                    "the chain breaks at {name}: its `prev` is not the hash of {before_name}, and the next record does not link to it either: {name} was changed, its `prev` too, or records were removed before it and the later ones renumbered"
                ),
            };
            // The record named, and where it is.
            let named = match by_hash.get(prev).copied() {
                Some(j) if j < k => j + 1,
                None if prev != GENESIS && (k + 1 == entries.len() || links(k + 1)) => k - 1,
                _ => k,
            };
            out.push((named, brk(named, entries[named].seq, Check::Chain, message)));
            flagged[k] = true;
        }
    }
    out.sort_by_key(|(i, _)| *i);
    findings.extend(out.into_iter().map(|(_, f)| f));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::chain::record_bytes;
    use crate::journal::local_run_store::encode_line;
    use crate::journal::record::{Event, Record};
    use crate::journal::run_store::RawPart;

    /// A chained journal of `n` records, one line each.
    fn journal(n: u64) -> Vec<String> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let record = Record {
                    v: 1,
                    seq,
                    ts: "2026-11-21T10:00:00.000Z".into(),
                    actor: "t".into(),
                    inbox: None,
                    signed: None,
                    prev: Some(prev.clone()),
                    event: if seq == 1 {
                        Event::RunStarted {
                            run_id: "r".into(),
                            runbook: "rb".into(),
                            title: "t".into(),
                            digest: "d".into(),
                            scenario: None,
                            inputs: Default::default(),
                            secret_inputs: vec![],
                            dry_run: None,
                            declared_at: None,
                            rto_target_ms: None,
                            rto_stop_at: None,
                            engine_version: "0".into(),
                            launch_dir: None,
                            allowed_signers: None,
                            allowed_signers_sha256: None,
                            require_signed: false,
                            recipients: Box::default(),
                        }
                    } else {
                        Event::Note {
                            text: format!("note {seq}"),
                        }
                    },
                };
                prev = link(record_bytes(&record).unwrap().as_bytes());
                encode_line(&record).unwrap()
            })
            .collect()
    }

    fn check(lines: &[String]) -> Verification {
        let raw = RawJournal {
            parts: vec![RawPart {
                name: "j".into(),
                bytes: lines.concat().into_bytes(),
            }],
            gaps: vec![],
        };
        verify("r", &raw)
    }

    fn first(v: &Verification) -> (Option<u64>, String) {
        let f = v.first_break().expect("a break");
        (f.seq, f.message.clone())
    }

    /// Recomputes the crc of a line whose `rec` was edited.
    fn recrc(line: &str) -> String {
        let rec = &line[line.find("\"rec\":").unwrap() + 6..line.len() - 2];
        format!(
            "{{\"crc\":\"{:08x}\",\"rec\":{rec}}}\n",
            crc32fast::hash(rec.as_bytes())
        )
    }

    #[test]
    fn an_untouched_journal_is_intact_with_its_head() {
        let lines = journal(5);
        let v = check(&lines);
        assert_eq!(v.verdict, Verdict::Intact, "{:?}", v.findings);
        assert!(v.findings.is_empty());
        assert_eq!(v.records, 5);
        let rec = &lines[4][lines[4].find("\"rec\":").unwrap() + 6..lines[4].len() - 2];
        assert_eq!(v.head.as_deref(), Some(link(rec.as_bytes()).as_str()));
        assert!(v.verdict_line().starts_with("intact: 5 records, seq 1..5"));
    }

    #[test]
    fn a_changed_byte_names_its_seq_with_or_without_a_new_checksum() {
        let mut lines = journal(5);
        lines[2] = lines[2].replace("note 3", "note X");
        let v = check(&lines);
        assert_eq!(v.verdict, Verdict::Broken);
        let (seq, message) = first(&v);
        assert_eq!(seq, Some(3), "{message}");
        assert!(message.contains("checksum mismatch"), "{message}");
        assert_eq!(v.findings.len(), 1, "the link after it is a consequence");

        lines[2] = recrc(&lines[2]);
        let (seq, message) = first(&check(&lines));
        assert_eq!(seq, Some(3), "{message}");
        assert!(
            message.starts_with(
                "seq 3 was changed after it was written (its checksum was recomputed)"
            ),
            "{message}"
        );
    }

    #[test]
    fn a_removed_record_is_named_with_or_without_renumbering() {
        let mut lines = journal(5);
        lines.remove(2);
        let (seq, message) = first(&check(&lines));
        assert_eq!(seq, Some(3));
        assert!(message.starts_with("seq 3 was removed: seq 4"), "{message}");

        // Renumbered: 4 -> 3, 5 -> 4, checksums recomputed.
        lines[2] = recrc(&lines[2].replace("\"seq\":4", "\"seq\":3"));
        lines[3] = recrc(&lines[3].replace("\"seq\":5", "\"seq\":4"));
        let v = check(&lines);
        let (seq, message) = first(&v);
        assert_eq!(seq, Some(3), "{message}");
        assert!(
            message.contains("records were removed before it"),
            "{message}"
        );
        assert_eq!(v.findings.len(), 1, "{:?}", v.findings);
    }

    #[test]
    fn swapped_records_are_a_reorder() {
        let mut lines = journal(5);
        lines.swap(2, 3);
        let v = check(&lines);
        let (seq, message) = first(&v);
        assert_eq!(seq, Some(3), "{message}");
        assert!(message.contains("records were reordered"), "{message}");
        assert_eq!(v.findings.len(), 1, "{:?}", v.findings);
    }

    #[test]
    fn removed_first_records_are_named() {
        let mut lines = journal(5);
        lines.drain(0..2);
        let (seq, message) = first(&check(&lines));
        assert_eq!(seq, Some(1));
        assert!(message.starts_with("seq 1..2 were removed"), "{message}");
    }

    #[test]
    fn an_unchained_journal_is_reported_as_such() {
        let lines: Vec<String> = journal(3)
            .iter()
            .map(|l| {
                let start = l.find(",\"prev\":\"").unwrap();
                let end = start + 9 + 71 + 1;
                recrc(&format!("{}{}", &l[..start], &l[end..]))
            })
            .collect();
        assert!(!lines[1].contains("prev"), "{}", lines[1]);
        let v = check(&lines);
        assert_eq!(v.verdict, Verdict::Unchained, "{:?}", v.findings);
        assert_eq!(v.head, None);
        assert!(v.verdict_line().starts_with("unchained: 3 records"));
    }

    #[test]
    fn another_runs_journal_is_named() {
        let v = verify(
            "other",
            &RawJournal {
                parts: vec![RawPart {
                    name: "j".into(),
                    bytes: journal(3).concat().into_bytes(),
                }],
                gaps: vec![],
            },
        );
        let (seq, message) = first(&v);
        assert_eq!(seq, Some(1));
        assert!(message.contains("starts run `r`, not `other`"), "{message}");
    }

    #[test]
    fn an_empty_journal_is_broken() {
        let v = check(&[]);
        assert_eq!(v.verdict, Verdict::Broken);
        assert_eq!(first(&v).0, Some(1));
    }

    #[test]
    fn a_torn_final_line_is_a_notice_not_a_break() {
        let mut lines = journal(3);
        lines.push("{\"crc\":\"00".into());
        let v = check(&lines);
        assert_eq!(v.verdict, Verdict::Intact);
        assert_eq!(v.findings[0].status, Status::Notice);
    }
}
