//! Reporting: what a run did and will do, read from its journal. Spans,
//! the RTO clock, earlier runs' durations, the one projected finish, and
//! the timeline in Markdown and HTML (`status`, `runs`, `timeline`); what
//! a drill says about a real run; the scorecard and the Prometheus metrics
//! over every run (`scorecard`, `metrics`).
//!
//! Architecture invariant: reports read journal records (and the runbook
//! they ran), never the scheduler's internals, and never write a journal.

pub mod drill_projection;
pub mod metrics;
pub mod projection;
pub mod rto_report;
pub mod run_snapshot;
pub mod run_status;
pub mod run_summary;
pub mod scorecard;
pub mod scorecard_html;
pub mod scorecard_markdown;
pub mod step_history;
pub mod step_spans;
pub mod timeline;
pub mod timeline_html;
pub mod timeline_markdown;
pub mod timeline_writer;
