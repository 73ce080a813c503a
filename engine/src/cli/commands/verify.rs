//! `lifeboat verify RUN_ID`: the journal as stored, checked record by record
//! (`journal/verify.rs`): the chain head, every finding, a one-line verdict.

use crate::cli::error::{exit, CliError};
use crate::cli::{OutputFormat, VerifyArgs};
use crate::journal::verify::{self, Status, Verdict};
use crate::terminal_text::printable;

pub fn run(args: VerifyArgs) -> Result<i32, CliError> {
    let stores = args.location.stores()?;
    let store = stores.open(&args.run_id)?;
    let raw = store.read_raw()?;
    let mut report = verify::verify(&args.run_id, &raw);
    verify::check_signatures(&mut report, &raw, args.signers.allowed_signers.as_deref());
    match args.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "run_id": report.run_id,
                "verdict": report.verdict,
                "verdict_line": report.verdict_line(),
                "records": report.records,
                "last_seq": report.last_seq,
                "head": report.head,
                "findings": report.findings,
                "signatures": report.signatures,
            }))
            .unwrap_or_default()
        ),
        OutputFormat::Text => {
            let say = |line: String| println!("{}", printable(&line));
            say(format!("run:        {}", report.run_id));
            say(format!("journal:    {}", journal_name(&raw)));
            say(format!("records:    {}", report.records));
            say(format!(
                "chain head: {}",
                report.head.as_deref().unwrap_or("unchained")
            ));
            for f in &report.findings {
                let status = match f.status {
                    Status::Break => "break",
                    Status::Notice => "notice",
                    Status::Verified => "ok",
                };
                let seq = f
                    .seq
                    .map_or_else(|| "-".to_string(), |s| format!("seq {s}"));
                let check = serde_json::to_value(f.check)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default();
                say(format!(
                    "  {status:<6} {seq:<8} {check:<9} {} (at {})",
                    f.message, f.at
                ));
            }
            say(format!("signatures: {}", report.signatures.line()));
            say(format!("verdict:    {}", report.verdict_line()));
        }
    }
    Ok(match report.verdict {
        Verdict::Intact => exit::SUCCESS,
        Verdict::Broken | Verdict::Unchained => exit::STEP_FAILED,
    })
}

/// Where the journal is: the local file, or the S3 prefix of its objects.
fn journal_name(raw: &crate::journal::run_store::RawJournal) -> String {
    match raw.parts.as_slice() {
        [] => "(empty)".to_string(),
        [one] => one.name.clone(),
        [first, ..] => format!(
            "{} objects under {}",
            raw.parts.len(),
            first.name.rsplit_once('/').map_or("", |(dir, _)| dir)
        ),
    }
}
