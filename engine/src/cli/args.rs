//! Command-line interface definitions. Each subcommand's work lives in
//! `commands/<name>.rs`; this file only declares arguments and help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::cli::error::exit;
use crate::journal::run_store::StoreError;
use crate::journal::run_stores::RunStores;
use crate::journal::signer::Signer;

/// `--store`, the same on every command: the first line is its `-h` help.
const STORE_HELP: &str = "Where runs live: `s3://BUCKET/PREFIX` (shared: any machine can drive the run), or a directory; default: the state directory";

/// `--store`'s `--help`.
const STORE_LONG_HELP: &str = concat!(
    "Where runs live: `s3://BUCKET/PREFIX` (shared: any machine can drive the run), or a directory; default: the state directory.\n\n",
    "`s3://BUCKET/PREFIX` keeps each run's journal, runbook copy, inputs (secrets excepted), lease and inbox in that bucket, so another operator's machine can see, decide in or take over the run. It uses the standard AWS configuration chain (`AWS_PROFILE`, `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `~/.aws/config`, an instance role); for an S3-compatible server (MinIO, Ceph, moto) set `AWS_ENDPOINT_URL`. The bucket must exist and honour conditional writes (`If-None-Match`, `If-Match`). See docs/shared-runs.md."
);

/// The text after `lifeboat --help`'s options: the exit codes (from their
/// one table, [`exit::TABLE`]), then [`ENVIRONMENT_HELP`].
fn after_help() -> String {
    format!("{}\n\n{ENVIRONMENT_HELP}", exit::help())
}

const ENVIRONMENT_HELP: &str = "\
Environment:
  LIFEBOAT_STATE_DIR  where runs are kept (default ~/.local/state/lifeboat)
  LIFEBOAT_STORE      where runs live, as --store: s3://BUCKET/PREFIX (shared) or a directory
  LIFEBOAT_OPERATOR   your name in journals and timelines (default: OS user)
  NO_COLOR            disables colour when set and not empty

Start with `lifeboat validate FILE`, then `lifeboat plan FILE`, then a drill:
`lifeboat run FILE --dry-run`.";

/// Lifeboat runs disaster-recovery runbooks: YAML step graphs with retries,
/// approvals and checkpoints, journalled so that a killed run resumes where
/// it stopped.
#[derive(Parser, Debug)]
#[command(name = "lifeboat", version, after_help = after_help(), arg_required_else_help = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check runbooks without running anything; reports every problem at file:line:col.
    Validate(ValidateArgs),
    /// Show what runs in parallel, the critical path and its estimate against the RTO.
    Plan(PlanArgs),
    /// Draw the step graph as Mermaid or Graphviz dot.
    Graph(GraphArgs),
    /// Execute a runbook, or drill it with --dry-run. Prints the run id first.
    Run(RunArgs),
    /// Continue a stopped run: completed steps are not repeated (unless --from or --redo asks).
    Resume(ResumeArgs),
    /// Say whether an interrupted `rerun: never` step completed.
    Mark(MarkArgs),
    /// Approve a paused run's approval step (then `lifeboat resume RUN_ID`).
    Approve(DecideArgs),
    /// Reject a paused run's approval step: the step fails and on_failure runs on resume.
    Reject(DecideArgs),
    /// Confirm a paused run's manual step was carried out (then `lifeboat resume RUN_ID`).
    Confirm(ConfirmArgs),
    /// Add a note to a run's journal and timeline.
    Note(NoteArgs),
    /// List runs with their runbook, status, start time, RTO and whether each was a drill.
    Runs(RunsArgs),
    /// Show a run's live RTO clock, what is running or waiting, and a projected finish.
    Status(StatusArgs),
    /// Per runbook: last real run and drill, RTO history against target, stale drills flagged.
    #[command(after_help = SCORECARD_HELP)]
    Scorecard(ScorecardArgs),
    /// Export Prometheus metrics to a node_exporter textfile or a pushgateway.
    #[command(after_help = METRICS_HELP)]
    Metrics(MetricsArgs),
    /// Print a run's incident timeline as Markdown, JSON or self-contained HTML.
    Timeline(TimelineArgs),
    /// Serve a read-only live status page of the runs (127.0.0.1:8080 by default).
    #[command(long_about = SERVE_LONG_ABOUT, after_help = SERVE_HELP)]
    Serve(ServeArgs),
    /// Check a run's journal (checksums, order, hash chain) and name the first break by seq.
    #[command(long_about = VERIFY_LONG_ABOUT)]
    Verify(VerifyArgs),
    /// List the step kinds, or show one kind's parameters and outputs.
    Kinds(KindsArgs),
    /// Print the JSON Schema of the runbook format, for editors.
    #[command(after_help = SCHEMA_HELP)]
    Schema(SchemaArgs),
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// For people.
    #[default]
    Text,
    /// One JSON document (or one JSON event per line for `run`), for scripts.
    Json,
}

#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// Runbook files to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    pub file: PathBuf,
    /// Set an input, as for `run`: --input name=value (repeatable).
    #[arg(long = "input", value_name = "NAME=VALUE")]
    pub inputs: Vec<String>,
    /// Read inputs from a YAML or JSON mapping, as for `run`.
    #[arg(long = "inputs", value_name = "FILE")]
    pub inputs_file: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub output: OutputFormat,
    /// Where earlier runs are kept (their durations refine the estimates).
    #[arg(long, env = "LIFEBOAT_STATE_DIR", hide_env_values = true)]
    pub state_dir: Option<PathBuf>,
    /// Where earlier runs live (their durations refine the estimates): `s3://BUCKET/PREFIX` (shared: any machine can drive the run), or a directory; default: the state directory.
    ///
    /// `s3://BUCKET/PREFIX` keeps each run's journal, runbook copy, inputs
    /// (secrets excepted), lease and inbox in that bucket, so another
    /// operator's machine can see, decide in or take over the run. It uses
    /// the standard AWS configuration chain (`AWS_PROFILE`,
    /// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
    /// `~/.aws/config`, an instance role); for an S3-compatible server (MinIO,
    /// Ceph, moto) set `AWS_ENDPOINT_URL`. The bucket must exist and honour
    /// conditional writes (`If-None-Match`, `If-Match`). See
    /// docs/shared-runs.md.
    #[arg(
        long,
        value_name = "URL",
        env = "LIFEBOAT_STORE",
        hide_env_values = true
    )]
    pub store: Option<String>,
}

/// Where runs live, the same on every command that reads or writes them:
/// `--state-dir` and `--store`.
#[derive(Args, Debug)]
pub struct StoreArgs {
    #[arg(long, env = "LIFEBOAT_STATE_DIR", hide_env_values = true)]
    pub state_dir: Option<PathBuf>,
    #[arg(
        long,
        value_name = "URL",
        env = "LIFEBOAT_STORE",
        hide_env_values = true,
        help = STORE_HELP,
        long_help = STORE_LONG_HELP
    )]
    pub store: Option<String>,
}

impl StoreArgs {
    /// The runs these flags name.
    pub fn stores(&self) -> Result<RunStores, StoreError> {
        RunStores::resolve(self.store.as_deref(), self.state_dir.as_deref())
    }
}

/// How a decision is signed, and which signers are trusted: the same on
/// every command that decides (`approve`, `reject`, `confirm`, `mark`,
/// `run`, `resume`). See docs/trust.md.
#[derive(Args, Debug, Default)]
pub struct SignArgs {
    /// Sign with this key: a private key file (unencrypted), or the `.pub` file or `SHA256:`
    /// fingerprint of a key in ssh-agent. Default: the agent's first key, if SSH_AUTH_SOCK has one
    #[arg(long, value_name = "KEY")]
    pub sign_with: Option<String>,
    /// Sign nothing (a gate with `require_signed` refuses an unsigned decision)
    #[arg(long, conflicts_with = "sign_with")]
    pub no_sign: bool,
    /// The OpenSSH allowed_signers file signatures are checked against; default: the file
    /// the run started with (for `run`: the runbook's `approvers.allowed_signers`)
    #[arg(
        long,
        value_name = "FILE",
        env = "LIFEBOAT_ALLOWED_SIGNERS",
        hide_env_values = true
    )]
    pub allowed_signers: Option<PathBuf>,
}

impl SignArgs {
    /// The key decisions are signed with, if any.
    pub fn signer(&self) -> Result<Option<Signer>, String> {
        let socket = std::env::var_os("SSH_AUTH_SOCK")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from);
        Signer::choose(self.sign_with.as_deref(), self.no_sign, socket.as_deref())
    }
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum GraphFormat {
    Mermaid,
    Dot,
}

#[derive(Args, Debug)]
pub struct GraphArgs {
    pub file: PathBuf,
    #[arg(long, value_enum, default_value = "mermaid")]
    pub format: GraphFormat,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The runbook to run.
    pub file: PathBuf,
    /// Set an input: --input name=value (repeatable). Secrets cannot be given here.
    #[arg(long = "input", value_name = "NAME=VALUE")]
    pub inputs: Vec<String>,
    /// Read inputs from a YAML or JSON mapping.
    #[arg(long = "inputs", value_name = "FILE")]
    pub inputs_file: Option<PathBuf>,
    /// Change nothing: render every step. `--dry-run=probes` also runs read-only steps.
    #[arg(long, value_name = "MODE", num_args = 0..=1, default_missing_value = "render", value_parser = ["render", "probes"])]
    pub dry_run: Option<String>,
    #[command(flatten)]
    pub common: ExecArgs,
    /// Start a new run even though an earlier run of this runbook is unfinished.
    #[arg(long)]
    pub new: bool,
    /// When the incident was declared (RFC 3339), if before this run: the RTO clock starts there.
    #[arg(long, value_name = "TIME")]
    pub declared_at: Option<String>,
}

/// Options shared by `run` and `resume`.
#[derive(Args, Debug)]
pub struct ExecArgs {
    #[command(flatten)]
    pub location: StoreArgs,
    /// Your name in the journal and timeline (default: $LIFEBOAT_OPERATOR, else the OS user).
    #[arg(long)]
    pub operator: Option<String>,
    /// How many steps may run at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_parallel: u32,
    /// `text` prints timestamped lines; `json` streams one JSON event per line.
    #[arg(long, value_enum, default_value_t)]
    pub output: OutputFormat,
    /// Step-through mode: before each step ask run, skip, show or quit (needs a terminal).
    #[arg(long)]
    pub step: bool,
    /// At an approval or manual step with nothing else to run, wait for a decision from
    /// anywhere (`lifeboat approve` from another shell or machine), up to the gate's
    /// `timeout`, instead of pausing with exit 3.
    #[arg(long)]
    pub wait: bool,
    /// How long a shared store may stay unreachable before the run stops (resumably, exit 130).
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = humantime::parse_duration)]
    pub store_timeout: std::time::Duration,
    /// Seal secret outputs to the public keys in FILE (one `age1…` or `ssh-ed25519 …` per
    /// line) instead of the runbook's `recipients:`; a resume must give the run's set.
    #[arg(
        long,
        value_name = "FILE",
        env = "LIFEBOAT_RECIPIENTS",
        hide_env_values = true
    )]
    pub recipients: Option<PathBuf>,
    /// When the run stops (finished, failed or paused), push the store's metrics to this
    /// Prometheus pushgateway, as `lifeboat metrics --push URL` does (docs/war-room.md).
    #[arg(
        long,
        value_name = "URL",
        env = "LIFEBOAT_PUSHGATEWAY",
        hide_env_values = true
    )]
    pub push_metrics: Option<String>,
    /// In a drill, send the runbook's `notify:` messages too, each marked DRILL (a real run
    /// always sends them).
    #[arg(long)]
    pub notify: bool,
    #[command(flatten)]
    pub sign: SignArgs,
}

#[derive(Args, Debug)]
pub struct ResumeArgs {
    pub run_id: String,
    /// Re-run everything after this checkpoint (e.g. verification after a restore).
    #[arg(long, value_name = "CHECKPOINT")]
    pub from: Option<String>,
    /// Continue even though the runbook file changed since the run started.
    #[arg(long)]
    pub allow_changed: bool,
    /// Run this step again though it completed or was skipped (repeatable;
    /// needs --reason). Its dependents that completed are not repeated.
    #[arg(long, value_name = "STEP")]
    pub redo: Vec<String>,
    /// Why the steps given with --redo run again (journalled with your name).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    /// With --redo: run again a completed step that is unsafe to repeat
    /// (`rerun: never` or `check`). With --take-over: take over without a
    /// terminal to confirm at.
    #[arg(long)]
    pub yes: bool,
    /// Drive the run now though another machine's engine holds its lease
    /// (that engine is gone or stuck): asks at a terminal, needs --yes
    /// without one. Without it, resume waits for the lease to expire.
    #[arg(long)]
    pub take_over: bool,
    /// Open the run's sealed secret outputs with this age identity or SSH private key
    /// (default: ~/.ssh/id_ed25519, else ~/.ssh/id_rsa).
    #[arg(
        long,
        value_name = "FILE",
        env = "LIFEBOAT_IDENTITY",
        hide_env_values = true
    )]
    pub identity: Option<PathBuf>,
    #[command(flatten)]
    pub common: ExecArgs,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum MarkAs {
    Done,
    Failed,
}

#[derive(Args, Debug)]
pub struct MarkArgs {
    pub run_id: String,
    pub step: String,
    #[arg(value_enum)]
    pub outcome: MarkAs,
    /// Who is deciding (recorded in the journal and timeline).
    #[arg(long = "as", value_name = "NAME")]
    pub actor: String,
    #[command(flatten)]
    pub location: StoreArgs,
    #[command(flatten)]
    pub sign: SignArgs,
}

#[derive(Args, Debug)]
pub struct DecideArgs {
    pub run_id: String,
    /// The id of the approval step.
    pub step: String,
    /// Who is deciding (recorded in the journal and timeline).
    #[arg(long = "as", value_name = "NAME")]
    pub actor: String,
    /// Why; recorded with the decision.
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
    #[command(flatten)]
    pub location: StoreArgs,
    #[command(flatten)]
    pub sign: SignArgs,
}

#[derive(Args, Debug)]
pub struct ConfirmArgs {
    pub run_id: String,
    /// The id of the manual step.
    pub step: String,
    /// Who carried it out (recorded in the journal and timeline).
    #[arg(long = "as", value_name = "NAME")]
    pub actor: String,
    /// Evidence, e.g. "changed the A record at 14:02".
    #[arg(long, value_name = "TEXT")]
    pub note: Option<String>,
    #[command(flatten)]
    pub location: StoreArgs,
    #[command(flatten)]
    pub sign: SignArgs,
}

#[derive(Args, Debug)]
pub struct NoteArgs {
    pub run_id: String,
    pub text: String,
    #[arg(long = "as", value_name = "NAME")]
    pub actor: Option<String>,
    #[command(flatten)]
    pub location: StoreArgs,
}

#[derive(Args, Debug)]
pub struct RunsArgs {
    #[command(flatten)]
    pub location: StoreArgs,
    #[arg(long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ScorecardFormat {
    /// A Markdown table, for a wiki page or a ticket.
    #[default]
    Md,
    /// One JSON document, for scripts.
    Json,
    /// One self-contained HTML page that plots each runbook's RTO history
    /// against its target (inline SVG, no JavaScript).
    Html,
}

#[derive(Args, Debug)]
pub struct ScorecardArgs {
    #[command(flatten)]
    pub location: StoreArgs,
    #[arg(long, value_enum, default_value_t)]
    pub output: ScorecardFormat,
    /// Flag runbooks not drilled (or run for real successfully) within this
    /// long, e.g. `90d`, `12w`, `36h`.
    #[arg(long, value_name = "DURATION", default_value = "90d", value_parser = humantime::parse_duration)]
    pub max_age: std::time::Duration,
    /// How many of each runbook's latest finished runs to show against the target.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub last: u32,
}

const SCORECARD_HELP: &str = "\
A drill's figure is the RTO a real run would take (projected from the real
runs' measured durations, else each step's `estimate`, as `plan` does), never
the drill's own few milliseconds. A real run that succeeded counts as drilled.

Examples:
  lifeboat scorecard                          the table, in Markdown
  lifeboat scorecard --output html > scorecard.html
  lifeboat scorecard --max-age 30d --output json | jq '.runbooks[] | select(.stale)'
  lifeboat scorecard --store s3://dr-runs/prod   every machine's runs";

#[derive(Args, Debug)]
pub struct MetricsArgs {
    #[command(flatten)]
    pub location: StoreArgs,
    /// Write `lifeboat.prom` into this directory (node_exporter's
    /// `--collector.textfile.directory`), atomically: a temporary file, then
    /// a rename.
    #[arg(long, value_name = "DIR")]
    pub textfile: Option<PathBuf>,
    /// Push to this Prometheus pushgateway, e.g. `http://127.0.0.1:9091`
    /// (the group `/metrics/job/JOB` is replaced); a URL with a
    /// `/metrics/job/...` path is used as it is.
    #[arg(long, value_name = "URL")]
    pub push: Option<String>,
    /// The pushgateway's `job` grouping label.
    #[arg(long, value_name = "NAME", default_value = "lifeboat")]
    pub job: String,
}

const METRICS_HELP: &str = "\
With neither --textfile nor --push the metrics are printed. Each series has
the labels runbook, scenario and drill (\"true\" for dry runs, whose RTO is
the one projected for a real run, never the drill's own time).

Examples:
  lifeboat metrics                                   print them
  lifeboat metrics --textfile /var/lib/node_exporter/textfile_collector
  lifeboat metrics --push http://pushgateway:9091
  lifeboat run backup.yaml --push-metrics http://pushgateway:9091   after a run";

#[derive(Args, Debug)]
#[command(after_help = KINDS_HELP)]
pub struct KindsArgs {
    /// A kind to describe, e.g. `vault.unseal`: its parameters (type,
    /// required, default, meaning) and its outputs (type, secret, meaning).
    pub kind: Option<String>,
    #[arg(long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

const KINDS_HELP: &str = "\
Examples:
  lifeboat kinds                      every kind, with one line each
  lifeboat kinds vault.unseal         its parameters and outputs
  lifeboat kinds shell --output json  the same, as JSON (parameters as JSON Schema)

A step reads another's outputs as `{{ steps.<id>.outputs.<name> }}`; `validate`
refuses a name the kind does not declare.";

#[derive(Args, Debug)]
pub struct SchemaArgs {}

const SCHEMA_HELP: &str = "\
Save it beside your runbooks and name it on the first line of each, so that
the YAML language server (VS Code, Neovim, Helix, ...) completes and checks
them as you type:

  lifeboat schema > lifeboat.schema.json
  # yaml-language-server: $schema=./lifeboat.schema.json

The schema checks shape (fields, kinds, parameters); `lifeboat validate`
still checks meaning (templates, needs, cycles). See docs/runbook-format.md.";

#[derive(Args, Debug)]
pub struct StatusArgs {
    pub run_id: String,
    #[command(flatten)]
    pub location: StoreArgs,
    #[arg(long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

const VERIFY_LONG_ABOUT: &str = "Check a run's journal as stored: each record's checksum, the sequence numbers 1, 2, 3, … and the hash chain (every record carries the SHA-256 of the record before it). Prints the chain head (`sha256:…` of the last record), the record count and a one-line verdict: `intact`, `broken` (naming the first record changed, removed or reordered, by seq, then the later breaks it can tell apart), or `unchained` (a journal written before Lifeboat chained its records: not tampered with as far as checksums show, but not verified either).

It also checks every decision's SSH signature (approvals, confirmations, marks, take-overs, the run's start) against the allowed_signers file the run started with, and names each decision's verified principal and key. A signature that does not hold, or an unsigned decision where the runbook requires signatures, is a break.

Exit code 0 only when the journal is intact; 1 when it is broken or unchained.

A chain cannot show that the newest records were cut off, nor that everything from some record on was rewritten with a recomputed chain: quote the chain head and the record count (the timeline shows both) in the postmortem, and compare them with this output later. See docs/trust.md.";

#[derive(Args, Debug)]
pub struct VerifyArgs {
    pub run_id: String,
    #[command(flatten)]
    pub location: StoreArgs,
    #[command(flatten)]
    pub signers: RunSignersArg,
    #[arg(long, value_enum, default_value_t)]
    pub output: OutputFormat,
}

/// `--allowed-signers` where a run's recorded decisions are checked again
/// (`verify`, `timeline`): the file the run started with, by SHA-256.
#[derive(Args, Debug)]
pub struct RunSignersArg {
    /// Check each decision's signature against this allowed_signers file (it must be the one
    /// the run started with, by SHA-256); default: that file, where it is on this machine
    #[arg(
        long,
        value_name = "FILE",
        env = "LIFEBOAT_ALLOWED_SIGNERS",
        hide_env_values = true
    )]
    pub allowed_signers: Option<PathBuf>,
}

const SERVE_LONG_ABOUT: &str = "Serve a read-only live status page of the runs in the store, for the people who watch an incident: every run with its status and RTO against the target, and each run's page with the RTO clock, what runs and what waits (with the exact command that resolves it, as `lifeboat status` prints it), every step's state, the Gantt chart and the events. Pages update as the journal changes (server-sent events); without JavaScript they reload every 5 seconds.

Nothing can be changed through it: it answers GET and HEAD only (anything else gets 405) and shows only what the journal holds, which is redacted before it is written. It listens on 127.0.0.1 by default and then answers only requests addressed to a loopback name; another address is reachable by anyone on that network and is warned about on stderr. The first line on stdout is the URL it serves. Ctrl-C (or SIGTERM) stops it. See docs/war-room.md.";

const SERVE_HELP: &str = "\
Examples:
  lifeboat serve                                  http://127.0.0.1:8080/
  lifeboat serve --bind 127.0.0.1:0               any free port (the URL is printed)
  lifeboat serve --store s3://dr-runs/prod        the shared runs in S3
  ssh -L 8080:127.0.0.1:8080 ops-host             watch from a laptop, through SSH

Paths: /  /runs/RUN_ID  /runs.json  /runs/RUN_ID/status.json  (and .../events: text/event-stream)";

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The address and port to listen on; a port of 0 picks a free one
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// How often an open run's page looks at the store for changes (the list of runs: 5 times less often)
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_interval)]
    pub interval: std::time::Duration,
    #[command(flatten)]
    pub location: StoreArgs,
}

/// `--interval`: a duration from 100ms to 1m.
fn parse_interval(text: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration ({e}); write e.g. `1s` or `500ms`"))?;
    if d < std::time::Duration::from_millis(100) || d > std::time::Duration::from_secs(60) {
        return Err(format!("`{text}` is out of range: use 100ms to 1m"));
    }
    Ok(d)
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TimelineFormat {
    /// Markdown, for the incident ticket.
    #[default]
    Md,
    /// The timeline as one JSON document.
    Json,
    /// One self-contained HTML file with a Gantt chart.
    Html,
}

#[derive(Args, Debug)]
pub struct TimelineArgs {
    pub run_id: String,
    #[arg(long, value_enum, default_value_t)]
    pub format: TimelineFormat,
    #[command(flatten)]
    pub location: StoreArgs,
    #[command(flatten)]
    pub signers: RunSignersArg,
}
