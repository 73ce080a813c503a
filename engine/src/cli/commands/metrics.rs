//! `lifeboat metrics`: the store's runs as Prometheus metrics, printed,
//! written for node_exporter's textfile collector, or pushed to a
//! pushgateway. `run`/`resume --push-metrics URL` push the same after a run.

use std::time::Duration;

use crate::cli::error::{exit, CliError};
use crate::cli::MetricsArgs;
use crate::journal::local_run_store::write_whole_with_mode;
use crate::journal::run_stores::RunStores;
use crate::report::run_summary::RunSummary;

/// The file `--textfile DIR` writes (node_exporter reads `*.prom`).
pub const TEXTFILE: &str = "lifeboat.prom";

/// The wait before each retry of a push: three tries in all.
const PUSH_BACKOFF: [Duration; 2] = [Duration::from_millis(500), Duration::from_secs(2)];
const PUSH_TIMEOUT: Duration = Duration::from_secs(10);

pub fn run(args: MetricsArgs) -> Result<i32, CliError> {
    let stores = args.location.stores()?;
    // Check the target before reading the store: a typo fails fast.
    let push_url = args
        .push
        .as_deref()
        .map(|u| group_url(u, &args.job))
        .transpose()
        .map_err(CliError::invalid)?;
    if let Some(dir) = &args.textfile {
        if !dir.is_dir() {
            return Err(CliError::invalid(format!(
                "--textfile `{}` is not a directory; give node_exporter's --collector.textfile.directory",
                dir.display()
            )));
        }
    }
    let text = exposition(&stores)?;
    if args.textfile.is_none() && push_url.is_none() {
        print!("{text}");
        return Ok(exit::SUCCESS);
    }
    if let Some(dir) = &args.textfile {
        write_whole_with_mode(dir, TEXTFILE, text.as_bytes(), true, 0o644).map_err(|e| {
            CliError::failed(format!(
                "could not write {}: {e}; check the directory is writable by this user",
                dir.join(TEXTFILE).display()
            ))
        })?;
        eprintln!("metrics: wrote {}", dir.join(TEXTFILE).display());
    }
    if let Some(url) = push_url {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CliError::failed(format!("could not start the HTTP client: {e}")))?;
        runtime
            .block_on(push_text(&url, text))
            .map_err(CliError::failed)?;
        eprintln!("metrics: pushed to {}", shown(&url));
    }
    Ok(exit::SUCCESS)
}

/// The exposition text of every run in the store.
pub fn exposition(stores: &RunStores) -> Result<String, CliError> {
    Ok(crate::report::metrics::render(&RunSummary::list(stores)?))
}

/// Pushes the store's metrics to the pushgateway at `url` (`--push-metrics`
/// after a run): `Ok` with where it went, or why not.
pub async fn push(stores: &RunStores, url: &str) -> Result<String, String> {
    let url = group_url(url, "lifeboat")?;
    let text = exposition(stores).map_err(|e| e.report().trim_end().to_string())?;
    push_text(&url, text).await?;
    Ok(shown(&url))
}

/// The group URL: `URL/metrics/job/JOB`, or `URL` itself when its path
/// already names a group.
fn group_url(url: &str, job: &str) -> Result<reqwest::Url, String> {
    // A password in a URL that does not parse is cut from the message.
    let quoted = match url.rsplit_once('@') {
        Some((_, host)) => format!("…@{host}"),
        None => url.to_string(),
    };
    let bad = || {
        format!(
            "the pushgateway URL `{}` is not an http(s) URL; give its address, e.g. http://127.0.0.1:9091",
            crate::terminal_text::printable(&quoted)
        )
    };
    let parsed = reqwest::Url::parse(url).map_err(|_| bad())?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(bad());
    }
    if !job
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        || job.is_empty()
    {
        return Err(format!(
            "--job `{}` may hold only letters, digits, `_`, `-` and `.`",
            crate::terminal_text::printable(job)
        ));
    }
    if parsed.path().contains("/metrics/job/") {
        return Ok(parsed);
    }
    let base = url.trim_end_matches('/');
    reqwest::Url::parse(&format!("{base}/metrics/job/{job}")).map_err(|_| bad())
}

/// The URL without its password, for messages.
fn shown(url: &reqwest::Url) -> String {
    let mut u = url.clone();
    let _ = u.set_password(None);
    u.to_string()
}

/// PUT (the group's metrics replaced by these), retried with backoff.
async fn push_text(url: &reqwest::Url, text: String) -> Result<(), String> {
    let client = reqwest::Client::builder()
        .timeout(PUSH_TIMEOUT)
        .build()
        .map_err(|e| format!("could not start the HTTP client: {e}"))?;
    let mut last = String::new();
    for attempt in 0..=PUSH_BACKOFF.len() {
        if attempt > 0 {
            tokio::time::sleep(PUSH_BACKOFF[attempt - 1]).await;
        }
        let sent = client
            .put(url.clone())
            .header("Content-Type", "text/plain; version=0.0.4")
            .body(text.clone())
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                let body: String = body.trim().chars().take(300).collect();
                last = format!(
                    "the pushgateway answered {status}: {}",
                    crate::terminal_text::printable(&body)
                );
                // A refusal of the content will not change on a retry.
                if status.is_client_error() {
                    break;
                }
            }
            Err(e) => {
                last = format!(
                    "could not reach the pushgateway: {}",
                    crate::terminal_text::printable(&e.without_url().to_string())
                );
            }
        }
    }
    Err(format!(
        "metrics not pushed to {}: {last}; check the pushgateway runs and the URL (`lifeboat metrics` prints what would be pushed)",
        shown(url)
    ))
}
