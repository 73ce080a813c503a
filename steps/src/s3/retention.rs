//! `s3.retention`: keep the newest N daily and M monthly backups, delete
//! the rest; in dry-run it deletes nothing and returns the plan.
//!
//! # Key layout
//! Backups are grouped by the first date in their key after the prefix:
//! - under `daily_prefix` by `YYYY-MM-DD`, e.g. `daily/2026-11-21/vault.snap.enc`
//!   or `daily/vault-2026-11-21T0300Z.snap.enc`;
//! - under `monthly_prefix` by `YYYY-MM`, e.g. `monthly/2026-11/vault.snap.enc`
//!   (a full date such as `monthly/2026-11-01/...` groups by its month).
//!
//! All objects of one date (or month) form one group, kept or deleted
//! together; the newest `keep_daily` (`keep_monthly`) groups are kept. An
//! object with no date in its key is never deleted; it is listed in
//! `skipped`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;

use super::connection::{self, Connection};
use super::object_delete;
use super::object_list;
use crate::{
    Effect, OutputDecl, ParamProblem, Rerun, StepContext, StepError, StepKind, StepOutput,
};

pub struct S3Retention;

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RetentionParams {
    #[serde(default = "default_daily")]
    daily_prefix: String,
    #[serde(default = "default_monthly")]
    monthly_prefix: String,
    keep_daily: u32,
    keep_monthly: u32,
}

fn default_daily() -> String {
    "daily/".into()
}

fn default_monthly() -> String {
    "monthly/".into()
}

/// Which date a group is keyed by.
#[derive(Clone, Copy)]
enum Granularity {
    Day,
    Month,
}

/// The decision for one prefix.
#[derive(Default)]
struct PrefixPlan {
    kept: Vec<String>,
    doomed: Vec<String>,
    skipped: Vec<String>,
    lines: Vec<String>,
}

#[async_trait]
impl StepKind for S3Retention {
    fn name(&self) -> &'static str {
        "s3.retention"
    }

    fn summary(&self) -> &'static str {
        "keep the newest N daily and M monthly backups, delete older ones (plans only in dry-run)"
    }

    fn parameters(&self) -> Value {
        connection::schema::<RetentionParams>()
    }

    fn check(&self, with: &Value) -> Vec<ParamProblem> {
        let mut problems = Connection::check(with);
        problems.extend(connection::check_own::<RetentionParams>(with));
        for field in ["keep_daily", "keep_monthly"] {
            if with.get(field).and_then(Value::as_u64) == Some(0) {
                problems.push(ParamProblem::field(
                    field,
                    format!("`{field}` must be at least 1: retention never deletes every backup"),
                ));
            }
        }
        let daily = with
            .get("daily_prefix")
            .and_then(Value::as_str)
            .unwrap_or("daily/");
        let monthly = with
            .get("monthly_prefix")
            .and_then(Value::as_str)
            .unwrap_or("monthly/");
        if let Err(e) = check_prefixes(daily, monthly) {
            problems.push(ParamProblem::field("monthly_prefix", e));
        }
        problems
    }

    fn effect(&self, _with: &Value) -> Effect {
        Effect::Mutating
    }

    fn default_rerun(&self) -> Rerun {
        // A rerun recomputes the plan from what is left.
        Rerun::Safe
    }

    fn plans_in_dry_run(&self) -> bool {
        true
    }

    fn describe(&self, with: &Value) -> String {
        let bucket = with.get("bucket").and_then(Value::as_str).unwrap_or("?");
        let daily = with
            .get("daily_prefix")
            .and_then(Value::as_str)
            .unwrap_or("daily/");
        let monthly = with
            .get("monthly_prefix")
            .and_then(Value::as_str)
            .unwrap_or("monthly/");
        let n = with
            .get("keep_daily")
            .map(Value::to_string)
            .unwrap_or("?".into());
        let m = with
            .get("keep_monthly")
            .map(Value::to_string)
            .unwrap_or("?".into());
        format!(
            "in s3://{bucket}, keep the newest {n} dates under `{daily}` and {m} months under `{monthly}`, delete older backups"
        )
    }

    fn outputs(&self) -> &'static [OutputDecl] {
        const OUTPUTS: &[OutputDecl] = &[
            OutputDecl::list("kept", "keys kept"),
            OutputDecl::list("deleted", "keys deleted"),
            OutputDecl::list(
                "planned_deletions",
                "keys the policy deletes (in a dry run too)",
            ),
            OutputDecl::list("skipped", "keys without a date, never deleted"),
            OutputDecl::bool("dry_run", "whether this was a plan only"),
            OutputDecl::string("plan", "what is kept and deleted, as text"),
        ];
        OUTPUTS
    }

    async fn run(&self, ctx: &StepContext, with: Value) -> Result<StepOutput, StepError> {
        let (conn, p): (Connection, RetentionParams) = connection::parse(self.name(), ctx, with)?;
        if p.keep_daily == 0 || p.keep_monthly == 0 {
            return Err(StepError::new(
                "`keep_daily` and `keep_monthly` must be at least 1: retention never deletes every backup",
            ));
        }
        check_prefixes(&p.daily_prefix, &p.monthly_prefix).map_err(StepError::new)?;
        let daily_keys = keys_under(&conn, ctx, &p.daily_prefix).await?;
        let monthly_keys = keys_under(&conn, ctx, &p.monthly_prefix).await?;
        let daily = plan(&p.daily_prefix, &daily_keys, Granularity::Day, p.keep_daily);
        let monthly = plan(
            &p.monthly_prefix,
            &monthly_keys,
            Granularity::Month,
            p.keep_monthly,
        );

        let mut kept = daily.kept.clone();
        kept.extend(monthly.kept.iter().cloned());
        let mut doomed = daily.doomed.clone();
        doomed.extend(monthly.doomed.iter().cloned());
        let mut skipped = daily.skipped.clone();
        skipped.extend(monthly.skipped.iter().cloned());
        let mut text = daily.lines.join("\n");
        text.push('\n');
        text.push_str(&monthly.lines.join("\n"));
        if ctx.dry_run {
            text.push_str(&format!(
                "\ndry run: {} object(s) would be deleted, none was",
                doomed.len()
            ));
        }

        let deleted: Vec<String> = if ctx.dry_run || doomed.is_empty() {
            Vec::new()
        } else {
            object_delete::delete_keys(&conn, ctx, &doomed).await?;
            doomed.clone()
        };
        Ok(StepOutput::new()
            .with("kept", kept)
            .with("deleted", deleted)
            .with("planned_deletions", doomed)
            .with("skipped", skipped)
            .with("dry_run", ctx.dry_run)
            .with("plan", text))
    }
}

/// The two prefixes must be disjoint, or one pass would delete what the
/// other keeps.
fn check_prefixes(daily: &str, monthly: &str) -> Result<(), String> {
    if crate::params::is_template(daily) || crate::params::is_template(monthly) {
        return Ok(());
    }
    if daily.is_empty() || monthly.is_empty() {
        return Err("`daily_prefix` and `monthly_prefix` must not be empty".into());
    }
    if daily.starts_with(monthly) || monthly.starts_with(daily) {
        return Err(format!(
            "`daily_prefix` `{daily}` and `monthly_prefix` `{monthly}` overlap; give them separate folders such as `daily/` and `monthly/`"
        ));
    }
    Ok(())
}

async fn keys_under(
    conn: &Connection,
    ctx: &StepContext,
    prefix: &str,
) -> Result<Vec<String>, StepError> {
    Ok(object_list::list_all(conn, ctx, prefix)
        .await?
        .into_iter()
        .map(|o| o.key)
        .collect())
}

/// Groups the keys under one prefix by date and keeps the newest `keep`.
fn plan(prefix: &str, keys: &[String], granularity: Granularity, keep: u32) -> PrefixPlan {
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut out = PrefixPlan::default();
    for key in keys {
        let rest = key.strip_prefix(prefix).unwrap_or(key);
        match date_in(rest, granularity) {
            Some(date) => groups.entry(date).or_default().push(key.clone()),
            None => out.skipped.push(key.clone()),
        }
    }
    let unit = match granularity {
        Granularity::Day => "dates",
        Granularity::Month => "months",
    };
    out.lines.push(format!(
        "`{prefix}`: {} {unit} found, keeping the newest {keep}",
        groups.len()
    ));
    // BTreeMap iterates oldest first; ISO dates sort as text.
    for (rank, (date, keys)) in groups.iter().rev().enumerate() {
        let keep_it = rank < keep as usize;
        for key in keys {
            out.lines.push(format!(
                "  {} {date} {key}",
                if keep_it { "keep  " } else { "delete" }
            ));
            if keep_it {
                out.kept.push(key.clone());
            } else {
                out.doomed.push(key.clone());
            }
        }
    }
    for key in &out.skipped {
        out.lines.push(format!("  skip   (no date) {key}"));
    }
    out
}

/// The first `YYYY-MM-DD` (or `YYYY-MM`) in `text`, with a plausible month
/// and day.
fn date_in(text: &str, granularity: Granularity) -> Option<String> {
    let b = text.as_bytes();
    let width = match granularity {
        Granularity::Day => 10,
        Granularity::Month => 7,
    };
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let number = |s: &[u8]| std::str::from_utf8(s).ok()?.parse::<u32>().ok();
    for start in 0..b.len().saturating_sub(6) {
        let w = &b[start..];
        if w.len() < 7 || !digits(&w[0..4]) || w[4] != b'-' || !digits(&w[5..7]) {
            continue;
        }
        // Not in the middle of a longer number.
        if start > 0 && b[start - 1].is_ascii_digit() {
            continue;
        }
        if !(1..=12).contains(&number(&w[5..7])?) {
            continue;
        }
        let full_date = w.len() >= 10 && w[7] == b'-' && digits(&w[8..10]);
        if full_date && !(1..=31).contains(&number(&w[8..10])?) {
            continue;
        }
        match granularity {
            Granularity::Month => return Some(text[start..start + 7].to_string()),
            Granularity::Day if full_date => return Some(text[start..start + width].to_string()),
            Granularity::Day => continue,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_found_in_the_usual_layouts() {
        assert_eq!(
            date_in("2026-11-21/vault.snap.enc", Granularity::Day).as_deref(),
            Some("2026-11-21")
        );
        assert_eq!(
            date_in("vault-2026-11-21T0300Z.enc", Granularity::Day).as_deref(),
            Some("2026-11-21")
        );
        assert_eq!(
            date_in("2026-11/vault.enc", Granularity::Month).as_deref(),
            Some("2026-11")
        );
        assert_eq!(
            date_in("2026-11-01/vault.enc", Granularity::Month).as_deref(),
            Some("2026-11")
        );
        assert_eq!(date_in("2026-11/vault.enc", Granularity::Day), None);
        assert_eq!(date_in("README", Granularity::Day), None);
        assert_eq!(date_in("v12026-13-01", Granularity::Month), None);
    }

    #[test]
    fn the_newest_groups_are_kept_whole() {
        let keys: Vec<String> = [
            "daily/2026-11-19/a.enc",
            "daily/2026-11-20/a.enc",
            "daily/2026-11-20/b.enc",
            "daily/2026-11-21/a.enc",
            "daily/notes.txt",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let p = plan("daily/", &keys, Granularity::Day, 2);
        assert_eq!(p.doomed, vec!["daily/2026-11-19/a.enc"]);
        assert_eq!(p.kept.len(), 3);
        assert_eq!(p.skipped, vec!["daily/notes.txt"]);
    }
}
