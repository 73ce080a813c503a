//! Requests to responses. Only GET and HEAD are answered; the store is
//! read on a blocking thread (the S3 store's client blocks), never on the
//! task that accepts connections.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::journal::run_store::StoreError;
use crate::journal::run_stores::RunStores;
use crate::report::run_snapshot::RunSnapshot;
use crate::report::run_status::RunStatusView;
use crate::report::run_summary::RunSummary;
use crate::report::step_history::StepHistory;
use crate::serve::body::Body;
use crate::serve::pages::{self, RunPageError};
use crate::serve::ServeConfig;

/// How often an idle event stream sends a comment, so a closed page is
/// noticed and proxies keep the connection.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How many `--interval`s the list of runs waits between looks: it reads
/// every run's journal, where a run's page reads one.
const LIST_SLOWER: u32 = 5;

/// The policy every response carries: scripts only from this server (so
/// no text on a page can run as one), no framing, no referrer.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub async fn respond<B>(
    req: Request<B>,
    config: Arc<ServeConfig>,
    stop: CancellationToken,
) -> Response<Body> {
    let head = req.method() == Method::HEAD;
    let mut response = if req.method() != Method::GET && !head {
        let mut r = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "lifeboat serve is read-only: only GET and HEAD are answered; change a run with the `lifeboat` commands\n",
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        r
    } else if let Some(host) = foreign_host(&req, &config) {
        text(
            StatusCode::MISDIRECTED_REQUEST,
            &format!("this server answers only requests to 127.0.0.1, localhost or [::1], not `{host}`: it listens on a loopback address (bind another address with --bind to serve other names)\n"),
        )
    } else {
        route(req.uri().path(), head, &config, stop).await
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if head {
        *response.body_mut() = Body::empty();
    }
    response
}

async fn route(
    path: &str,
    head: bool,
    config: &Arc<ServeConfig>,
    stop: CancellationToken,
) -> Response<Body> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        [""] => {
            let stores = config.stores.clone();
            match blocking(move || pages::runs_fragment(&stores)).await {
                Ok(fragment) => html(
                    StatusCode::OK,
                    pages::page("Runs — lifeboat", "/events", &fragment),
                ),
                Err(e) => store_error(e),
            }
        }
        ["events"] => {
            if head {
                return event_stream_head();
            }
            // The list reads every run's journal: it looks less often.
            let stores = config.stores.clone();
            event_stream(config.interval * LIST_SLOWER, stop, move || {
                pages::runs_fragment(&stores).map_err(|e| e.to_string())
            })
        }
        ["runs.json"] => {
            let stores = config.stores.clone();
            match blocking(move || RunSummary::list(&stores)).await {
                Ok(rows) => json(&serde_json::Value::Array(
                    rows.iter().map(RunSummary::to_json).collect(),
                )),
                Err(e) => store_error(e),
            }
        }
        ["runs", id] if valid_run_id(id) => {
            let (stores, id) = (config.stores.clone(), id.to_string());
            let page = blocking(move || {
                let history = history(&stores, &id);
                pages::run_fragment(&stores, &id, &history).map(|f| (id, f))
            })
            .await;
            match page {
                Ok((id, f)) => html(
                    StatusCode::OK,
                    pages::page(&f.title, &format!("/runs/{id}/events"), &f.html),
                ),
                Err(e) => run_page_error(e),
            }
        }
        ["runs", id, "events"] if valid_run_id(id) => {
            let (stores, id) = (config.stores.clone(), id.to_string());
            // The run must exist before the stream starts: a mistyped id
            // gets a 404, not a stream of problems.
            let check = (stores.clone(), id.clone());
            if let Err(e) = blocking(move || check.0.open(&check.1).map(|_| ())).await {
                return store_error(e);
            }
            if head {
                return event_stream_head();
            }
            // Earlier runs' durations are read once per stream.
            let mut history: Option<StepHistory> = None;
            event_stream(config.interval, stop, move || {
                let history = history.get_or_insert_with(|| self::history(&stores, &id));
                pages::run_fragment(&stores, &id, history)
                    .map(|f| f.html)
                    .map_err(|e| run_error_text(&e))
            })
        }
        ["runs", id, "status.json"] if valid_run_id(id) => {
            let (stores, id) = (config.stores.clone(), id.to_string());
            let doc = blocking(move || {
                let snap = RunSnapshot::open(&stores, &id).map_err(RunPageError::Store)?;
                let history = history(&stores, &id);
                RunStatusView::build(&snap, &history)
                    .map(|v| v.to_json())
                    .map_err(|_| RunPageError::NoStart)
            })
            .await;
            match doc {
                Ok(doc) => json(&doc),
                Err(e) => run_page_error(e),
            }
        }
        ["assets", "serve.css"] => asset("text/css; charset=utf-8", pages::stylesheet()),
        ["assets", "live.js"] => asset("text/javascript; charset=utf-8", pages::SCRIPT.to_string()),
        _ => html(
            StatusCode::NOT_FOUND,
            pages::error_page(
                "Not found",
                &format!("nothing is served at `{path}`; every run is listed at /"),
            ),
        ),
    }
}

/// Step durations of the run's runbook in earlier runs, for the projection.
fn history(stores: &RunStores, run_id: &str) -> StepHistory {
    let runbook = RunSnapshot::open(stores, run_id)
        .ok()
        .and_then(|s| s.runbook_name().map(String::from))
        .unwrap_or_default();
    StepHistory::load(stores, &runbook, Some(run_id))
}

/// Run ids as Lifeboat makes them: letters, digits, `-`, `_`, `.`; never a
/// path.
fn valid_run_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 200
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// The `Host` of a request to a loopback-only server that names another
/// host (a DNS-rebinding page), if so.
fn foreign_host<B>(req: &Request<B>, config: &ServeConfig) -> Option<String> {
    if !config.loopback_only {
        return None;
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(n, _)| n),
    };
    let loopback = name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    (!loopback).then(|| crate::terminal_text::printable(host).into_owned())
}

/// Runs store reads on a blocking thread.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// The stream of fragments `render` makes: one `update` event now, then one
/// whenever the fragment changes (checked every `interval`), a `problem`
/// event when the store cannot be read, a comment when idle. It ends when
/// the page goes away or the server stops.
fn event_stream(
    interval: Duration,
    stop: CancellationToken,
    render: impl FnMut() -> Result<String, String> + Send + 'static,
) -> Response<Body> {
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    tokio::spawn(async move {
        let render = Arc::new(std::sync::Mutex::new(render));
        let mut last: Option<Result<String, String>> = None;
        let mut idle = Duration::ZERO;
        loop {
            let r = render.clone();
            let now = blocking(move || match r.lock() {
                Ok(mut f) => f(),
                Err(_) => Err("internal error: an earlier read panicked".into()),
            })
            .await;
            let frame = if last.as_ref() == Some(&now) {
                idle += interval;
                (idle >= KEEP_ALIVE).then(|| {
                    idle = Duration::ZERO;
                    Bytes::from_static(b": keep-alive\n\n")
                })
            } else {
                idle = Duration::ZERO;
                let frame = match &now {
                    Ok(html) => sse("update", html),
                    Err(message) => sse("problem", message),
                };
                last = Some(now);
                Some(frame)
            };
            if let Some(frame) = frame {
                if tx.send(frame).await.is_err() {
                    return;
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = stop.cancelled() => return,
                _ = tx.closed() => return,
            }
        }
    });
    let mut r = Response::new(Body::Stream(rx));
    set_event_stream_headers(&mut r);
    r
}

fn event_stream_head() -> Response<Body> {
    let mut r = Response::new(Body::empty());
    set_event_stream_headers(&mut r);
    r
}

fn set_event_stream_headers(r: &mut Response<Body>) {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// One server-sent event: each line of `data` on its own `data:` line.
fn sse(event: &str, data: &str) -> Bytes {
    let mut s = format!("event: {event}\n");
    for line in data.lines() {
        s.push_str("data: ");
        s.push_str(line);
        s.push('\n');
    }
    s.push('\n');
    Bytes::from(s)
}

fn store_error(e: StoreError) -> Response<Body> {
    match e {
        StoreError::NotFound(_) => html(
            StatusCode::NOT_FOUND,
            pages::error_page("No such run", &format!("{e}; every run is listed at /")),
        ),
        e => html(
            StatusCode::SERVICE_UNAVAILABLE,
            pages::error_page(
                "The store cannot be read",
                &format!("{e}; this page works again once the store can be read"),
            ),
        ),
    }
}

fn run_error_text(e: &RunPageError) -> String {
    match e {
        RunPageError::Store(e) => e.to_string(),
        RunPageError::NoStart => "the run's journal has no start record: it is empty or damaged (`lifeboat verify RUN_ID` says where)".into(),
    }
}

fn run_page_error(e: RunPageError) -> Response<Body> {
    match e {
        RunPageError::Store(e) => store_error(e),
        e => html(
            StatusCode::UNPROCESSABLE_ENTITY,
            pages::error_page("This run cannot be shown", &run_error_text(&e)),
        ),
    }
}

fn html(status: StatusCode, body: String) -> Response<Body> {
    let mut r = Response::new(Body::full(body));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut r = Response::new(Body::full(body.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn json(doc: &serde_json::Value) -> Response<Body> {
    let mut r = Response::new(Body::full(
        serde_json::to_string_pretty(doc).unwrap_or_default(),
    ));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn asset(content_type: &'static str, body: String) -> Response<Body> {
    let mut r = Response::new(Body::full(body));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}
