//! Reading a runbook: YAML text → [`Node`] tree → [`Runbook`].
//!
//! The conversion is written by hand rather than derived so that every
//! problem is collected, not just the first: a runbook with five mistakes
//! gets five messages, each at its line and column. Semantic checks (ids,
//! needs, cycles, templates, kind parameters) follow in [`crate::runbook::validator`].

use std::sync::Arc;
use std::time::Duration;

use lifeboat_steps::Rerun;

use crate::runbook::diagnostic::{did_you_mean, Diagnostic};
use crate::runbook::input_decl::{InputDecl, InputType};
use crate::runbook::node::{Loc, Node, NodeValue};
use crate::runbook::notify_target::{
    default_retry, NotifyEvent, NotifyFormat, NotifyTarget, DEFAULT_TIMEOUT,
};
use crate::runbook::source_file::SourceFile;
use crate::runbook::step::{Expr, ForEach, Need, Probe, Section, Step};
use crate::runbook::{Approvers, Defaults, Retry, RtoSpec, Runbook, RunbookOutput};

/// Every top-level field a runbook may have (`runbook_schema.rs` lists them too).
pub const TOP_FIELDS: &[&str] = &[
    "version",
    "name",
    "title",
    "description",
    "scenario",
    "rto",
    "rpo",
    "approvers",
    "require_signed",
    "inputs",
    "defaults",
    "recipients",
    "outputs",
    "notify",
    "steps",
    "on_failure",
    "finally",
];

/// Every field a step may have.
pub const STEP_FIELDS: &[&str] = &[
    "id",
    "title",
    "kind",
    "with",
    "needs",
    "when",
    "until",
    "retry",
    "timeout",
    "estimate",
    "rerun",
    "check",
    "continue_on_failure",
    "read_only",
    "dry_run",
    "for_each",
];

/// Parses `text` as a runbook. Returns the runbook when its shape is sound
/// enough to analyse further, and every problem found.
pub fn load(source: Arc<SourceFile>) -> (Option<Runbook>, Vec<Diagnostic>) {
    let mut reader = Reader {
        source: source.clone(),
        diagnostics: Vec::new(),
    };
    let root: Node = match crate::runbook::yaml_reader::parse_yaml(&source.text) {
        Ok(node) => node,
        Err(err) => {
            reader.diagnostics.push(yaml_error(&source, err));
            return (None, reader.diagnostics);
        }
    };
    let runbook = reader.runbook(&root);
    (runbook, reader.diagnostics)
}

/// Turns a YAML parser error into a diagnostic at its location.
fn yaml_error(source: &Arc<SourceFile>, err: crate::runbook::yaml_reader::YamlError) -> Diagnostic {
    Diagnostic::error(format!("invalid YAML: {}", err.message))
        .at(err.loc)
        .help(err.help.unwrap_or_else(|| {
            "check indentation and quoting; strings holding `{{ }}` or `: ` must be quoted".into()
        }))
        .in_file(source)
}

struct Reader {
    source: Arc<SourceFile>,
    diagnostics: Vec<Diagnostic>,
}

impl Reader {
    fn error(&mut self, node_loc: Loc, message: impl Into<String>) -> &mut Diagnostic {
        self.diagnostics.push(
            Diagnostic::error(message)
                .at(node_loc)
                .in_file(&self.source),
        );
        self.diagnostics.last_mut().expect("just pushed")
    }

    fn error_width(&mut self, node: &Node, message: impl Into<String>) -> &mut Diagnostic {
        let width = match &node.value {
            NodeValue::String(s) if !s.contains('\n') => s.chars().count(),
            _ => 1,
        };
        let loc = node.loc;
        let d = self.error(loc, message);
        d.width = width.max(1) as u32;
        d
    }

    /// The entries of a mapping, reporting keys outside `allowed`.
    fn fields<'n>(
        &mut self,
        node: &'n Node,
        allowed: &[&str],
        what: &str,
    ) -> Option<&'n [(Node, Node)]> {
        match &node.value {
            NodeValue::Map(entries) => {
                for (key, _) in entries {
                    let name = key.key_text();
                    if !allowed.contains(&name.as_str()) {
                        let help = did_you_mean(&name, allowed.iter().copied())
                            .unwrap_or_else(|| format!("allowed fields: {}", allowed.join(", ")));
                        self.error_width(key, format!("unknown field `{name}` in {what}"))
                            .help = Some(help);
                    }
                }
                Some(entries)
            }
            _ => {
                self.error(
                    node.loc,
                    format!("{what} must be a mapping, found {}", node.type_name()),
                );
                None
            }
        }
    }

    fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            NodeValue::String(s) => Some(s.clone()),
            // Numbers and booleans written where text is expected are
            // accepted as their text: `title: 2024` means "2024".
            NodeValue::Int(i) => Some(i.to_string()),
            NodeValue::Float(f) => Some(f.to_string()),
            NodeValue::Bool(b) => Some(b.to_string()),
            _ => {
                self.error(
                    node.loc,
                    format!("{what} must be a string, found {}", node.type_name()),
                );
                None
            }
        }
    }

    fn bool(&mut self, node: &Node, what: &str) -> Option<bool> {
        match &node.value {
            NodeValue::Bool(b) => Some(*b),
            _ => {
                self.error(
                    node.loc,
                    format!("{what} must be true or false, found {}", node.type_name()),
                );
                None
            }
        }
    }

    fn duration(&mut self, node: &Node, what: &str) -> Option<Duration> {
        let text = match &node.value {
            NodeValue::String(s) => s.clone(),
            NodeValue::Int(i) => {
                self.error_width(node, format!("{what} needs a unit: write `{i}s` or `{i}m`"));
                return None;
            }
            _ => {
                self.error(
                    node.loc,
                    format!(
                        "{what} must be a duration such as `30s`, found {}",
                        node.type_name()
                    ),
                );
                return None;
            }
        };
        match lifeboat_steps::duration::parse(&text) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error_width(node, format!("{what}: {e}"));
                None
            }
        }
    }

    fn expr(&mut self, node: &Node, what: &str) -> Option<Expr> {
        match &node.value {
            NodeValue::String(s) => {
                let text = s.trim();
                let text = text
                    .strip_prefix("{{")
                    .and_then(|t| t.strip_suffix("}}"))
                    .map(str::trim)
                    .unwrap_or(text);
                Some(Expr {
                    text: text.to_string(),
                    loc: node.loc,
                })
            }
            NodeValue::Bool(b) => Some(Expr {
                text: b.to_string(),
                loc: node.loc,
            }),
            _ => {
                self.error(
                    node.loc,
                    format!(
                        "{what} must be an expression string, found {}",
                        node.type_name()
                    ),
                );
                None
            }
        }
    }

    fn runbook(&mut self, root: &Node) -> Option<Runbook> {
        let entries = match &root.value {
            NodeValue::Map(_) => self.fields(root, TOP_FIELDS, "the runbook")?,
            NodeValue::Null => {
                self.error(Loc { line: 1, col: 1 }, "the runbook is empty")
                    .help = Some(
                    "start with `version: 1`, `name:` and `steps:`; see docs/runbook-format.md"
                        .into(),
                );
                return None;
            }
            _ => {
                self.error(
                    root.loc,
                    format!("a runbook must be a mapping, found {}", root.type_name()),
                );
                return None;
            }
        };
        let _ = entries;
        let mut version = 0;
        match root.get("version") {
            Some(v) => match v.value {
                NodeValue::Int(1) => version = 1,
                _ => {
                    self.error_width(v, "unsupported runbook format version")
                        .help = Some("this Lifeboat reads `version: 1`".into());
                }
            },
            None => {
                self.error(root.loc, "missing `version`").help =
                    Some("add `version: 1` at the top".into());
            }
        }
        let name = match root.get("name") {
            Some(n) => {
                let name = self.string(n, "`name`").unwrap_or_default();
                if !name.is_empty() && !is_slug(&name) {
                    self.error_width(n, format!("runbook name `{name}` is not a slug"))
                        .help = Some(format!(
                        "use lowercase letters, digits and dashes, e.g. `{}`",
                        slugify(&name)
                    ));
                }
                name
            }
            None => {
                self.error(root.loc, "missing `name`").help = Some(
                    "add a slug such as `name: restore-drill`; it names runs and files".into(),
                );
                String::new()
            }
        };
        let title = root
            .get("title")
            .and_then(|n| self.string(n, "`title`"))
            .unwrap_or_else(|| name.clone());
        let description = root
            .get("description")
            .and_then(|n| self.string(n, "`description`"))
            .unwrap_or_default();
        let scenario = root
            .get("scenario")
            .and_then(|n| self.string(n, "`scenario`"));
        let rto = root.get("rto").and_then(|n| self.rto(n));
        let rpo = root.get("rpo").and_then(|n| self.duration(n, "`rpo`"));
        let approvers = root.get("approvers").and_then(|n| self.approvers(n));
        let require_signed = root
            .get("require_signed")
            .and_then(|n| self.bool(n, "`require_signed`"))
            .unwrap_or(false);
        let inputs = root
            .get("inputs")
            .map(|n| self.inputs(n))
            .unwrap_or_default();
        let defaults = root
            .get("defaults")
            .map(|n| self.defaults(n))
            .unwrap_or_default();
        let recipients = root
            .get("recipients")
            .and_then(|n| self.string(n, "`recipients`").map(|path| (path, n.loc)));
        let outputs = root
            .get("outputs")
            .map(|n| self.outputs(n))
            .unwrap_or_default();
        let notify = root
            .get("notify")
            .map(|n| self.notify(n))
            .unwrap_or_default();
        let mut steps = Vec::new();
        match root.get("steps") {
            Some(n) if is_empty_list(n) => self.no_steps(n.loc),
            Some(n) => self.steps(n, Section::Main, &defaults, &mut steps),
            None => self.no_steps(root.loc),
        }
        if let Some(n) = root.get("on_failure") {
            self.steps(n, Section::OnFailure, &defaults, &mut steps);
        }
        if let Some(n) = root.get("finally") {
            self.steps(n, Section::Finally, &defaults, &mut steps);
        }
        Some(Runbook {
            source: self.source.clone(),
            version,
            name,
            title,
            description,
            scenario,
            rto,
            rpo,
            approvers,
            require_signed,
            inputs,
            defaults,
            recipients,
            outputs,
            notify,
            index: Runbook::index_steps(&steps),
            steps,
        })
    }

    /// A missing, empty or null `steps`: one error for all three.
    fn no_steps(&mut self, loc: Loc) {
        self.error(loc, "a runbook needs at least one step in `steps`")
            .help = Some(
            "add a list of steps, e.g. `steps: [{ id: check, kind: shell, with: { run: [\"true\"] } }]`"
                .into(),
        );
    }

    fn rto(&mut self, node: &Node) -> Option<RtoSpec> {
        self.fields(node, &["target", "stop_at"], "`rto`")?;
        let target = match node.get("target") {
            Some(t) => self.duration(t, "`rto.target`")?,
            None => {
                self.error(
                    node.loc,
                    "`rto` needs a `target`, e.g. `rto: { target: 30m }`",
                );
                return None;
            }
        };
        let (stop_at, stop_at_loc) = match node.get("stop_at") {
            Some(s) => (self.string(s, "`rto.stop_at`"), s.loc),
            None => (None, Loc::UNKNOWN),
        };
        Some(RtoSpec {
            target,
            stop_at,
            stop_at_loc,
        })
    }

    /// `approvers: { allowed_signers: PATH }`.
    fn approvers(&mut self, node: &Node) -> Option<Approvers> {
        self.fields(node, &["allowed_signers"], "`approvers`")?;
        match node.get("allowed_signers") {
            Some(n) => {
                let path = self.string(n, "`approvers.allowed_signers`")?;
                if path.trim().is_empty() {
                    self.error_width(n, "`approvers.allowed_signers` is empty")
                        .help = Some(
                        "give the path of an OpenSSH allowed_signers file, relative to this runbook, e.g. `allowed_signers: ../team/allowed_signers`".into(),
                    );
                    return None;
                }
                Some(Approvers {
                    allowed_signers: path,
                    loc: n.loc,
                })
            }
            None => {
                self.error(node.loc, "`approvers` needs `allowed_signers`").help = Some(
                    "add the path of the team's OpenSSH allowed_signers file, e.g. `approvers: { allowed_signers: allowed_signers }`".into(),
                );
                None
            }
        }
    }

    fn inputs(&mut self, node: &Node) -> Vec<InputDecl> {
        let NodeValue::Map(entries) = &node.value else {
            self.error(
                node.loc,
                format!(
                    "`inputs` must be a mapping of name to declaration, found {}",
                    node.type_name()
                ),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, decl) in entries {
            let name = key.key_text();
            if !is_identifier(&name) {
                self.error_width(key, format!("input name `{name}` is not an identifier"))
                    .help = Some(
                    "use lowercase letters, digits and underscores, starting with a letter".into(),
                );
            }
            if let Some(input) = self.input(&name, key.loc, decl) {
                out.push(input);
            }
        }
        out
    }

    /// `outputs:`: name to template, or to `{ value, secret }`.
    fn outputs(&mut self, node: &Node) -> Vec<RunbookOutput> {
        let NodeValue::Map(entries) = &node.value else {
            self.error(
                node.loc,
                format!(
                    "`outputs` must be a mapping of name to template, found {}",
                    node.type_name()
                ),
            )
            .help =
                Some("write e.g. `outputs: { key: \"{{ steps.upload.outputs.key }}\" }`".into());
            return Vec::new();
        };
        let mut out = Vec::new();
        for (key, value) in entries {
            let name = key.key_text();
            if !is_identifier(&name) {
                self.error_width(key, format!("output name `{name}` is not an identifier"))
                    .help = Some(
                    "use lowercase letters, digits and underscores, starting with a letter".into(),
                );
                continue;
            }
            let (value, secret) = match &value.value {
                NodeValue::Map(_) => {
                    if self
                        .fields(value, &["value", "secret"], &format!("output `{name}`"))
                        .is_none()
                    {
                        continue;
                    }
                    let secret = value
                        .get("secret")
                        .and_then(|n| self.bool(n, "`secret`"))
                        .unwrap_or(false);
                    match value.get("value") {
                        Some(v) => (v.clone(), secret),
                        None => {
                            self.error(value.loc, format!("output `{name}` needs a `value`"))
                                .help = Some(format!(
                                "write `{name}: {{ value: \"{{{{ ... }}}}\", secret: true }}`"
                            ));
                            continue;
                        }
                    }
                }
                _ => (value.clone(), false),
            };
            out.push(RunbookOutput {
                name,
                loc: key.loc,
                value,
                secret,
            });
        }
        out
    }

    /// `notify:`: a list of `{ url, format, events, timeout, retry }`.
    fn notify(&mut self, node: &Node) -> Vec<NotifyTarget> {
        const EXAMPLE: &str = "write e.g. `notify: [{ url: \"{{ inputs.slack_webhook }}\", format: slack, events: [waiting, finished] }]`";
        let items = match &node.value {
            NodeValue::Seq(items) => items,
            NodeValue::Null => return Vec::new(),
            _ => {
                self.error(
                    node.loc,
                    format!(
                        "`notify` must be a list of targets, found {}",
                        node.type_name()
                    ),
                )
                .help = Some(EXAMPLE.into());
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let at = format!("notify[{i}]");
            let what = format!("`{at}`");
            if self
                .fields(
                    item,
                    &["url", "format", "events", "timeout", "retry"],
                    &what,
                )
                .is_none()
            {
                continue;
            }
            let url = match item.get("url") {
                Some(n) => match self.string(n, &format!("`{at}.url`")) {
                    Some(url) if url.trim().is_empty() => {
                        self.error(n.loc, format!("`{at}.url` is empty")).help = Some(
                            "give the receiver's URL, e.g. `url: \"{{ inputs.slack_webhook }}\"` with the webhook as a secret input".into(),
                        );
                        None
                    }
                    Some(url) => Some((url, n.loc)),
                    None => None,
                },
                None => {
                    self.error(item.loc, format!("{what} needs a `url`")).help =
                        Some(EXAMPLE.into());
                    None
                }
            };
            let format = match item.get("format") {
                Some(n) => match self.string(n, &format!("`{at}.format`")) {
                    Some(name) => match NotifyFormat::from_name(&name) {
                        Some(f) => Some(f),
                        None => {
                            let help = did_you_mean(&name, NotifyFormat::NAMES.iter().copied())
                                .map(|d| format!("{d} "))
                                .unwrap_or_default();
                            self.error_width(n, format!("unknown notify format `{name}`"))
                                .help = Some(format!(
                                "{help}the formats are {}",
                                NotifyFormat::NAMES.join(", ")
                            ));
                            None
                        }
                    },
                    None => None,
                },
                None => {
                    self.error(item.loc, format!("{what} needs a `format`")).help = Some(format!(
                        "add `format: slack` for a Slack incoming webhook, or `format: json`; the formats are {}",
                        NotifyFormat::NAMES.join(", ")
                    ));
                    None
                }
            };
            let events = match item.get("events") {
                Some(n) => self.notify_events(n, &at),
                None => {
                    self.error(item.loc, format!("{what} needs `events`")).help = Some(format!(
                        "list what it hears about, e.g. `events: [waiting, step_failed, finished]`; the events are {}",
                        NotifyEvent::NAMES.join(", ")
                    ));
                    None
                }
            };
            let timeout = match item.get("timeout") {
                Some(n) => self.duration(n, &format!("`{at}.timeout`")),
                None => Some(DEFAULT_TIMEOUT),
            };
            let retry = match item.get("retry") {
                Some(n) => self.retry(n, &default_retry()),
                None => default_retry(),
            };
            if let (Some((url, url_loc)), Some(format), Some(events), Some(timeout)) =
                (url, format, events, timeout)
            {
                out.push(NotifyTarget {
                    url,
                    url_loc,
                    format,
                    events,
                    timeout,
                    retry,
                });
            }
        }
        out
    }

    /// A target's `events`: a non-empty list of known event names.
    fn notify_events(&mut self, node: &Node, what: &str) -> Option<Vec<NotifyEvent>> {
        let NodeValue::Seq(items) = &node.value else {
            self.error(
                node.loc,
                format!(
                    "`{what}.events` must be a list of event names, found {}",
                    node.type_name()
                ),
            )
            .help = Some(format!(
                "write e.g. `events: [waiting, finished]`; the events are {}",
                NotifyEvent::NAMES.join(", ")
            ));
            return None;
        };
        if items.is_empty() {
            self.error(node.loc, format!("`{what}.events` is empty"))
                .help = Some(format!(
                "list at least one of {}, or remove the target",
                NotifyEvent::NAMES.join(", ")
            ));
            return None;
        }
        let mut events = Vec::new();
        let mut ok = true;
        for item in items {
            let Some(name) = self.string(item, &format!("`{what}.events`")) else {
                ok = false;
                continue;
            };
            match NotifyEvent::from_name(&name) {
                Some(e) if !events.contains(&e) => events.push(e),
                Some(_) => {}
                None => {
                    ok = false;
                    let help = did_you_mean(&name, NotifyEvent::NAMES.iter().copied())
                        .map(|d| format!("{d} "))
                        .unwrap_or_default();
                    self.error_width(item, format!("unknown notify event `{name}`"))
                        .help = Some(format!(
                        "{help}the events are {}",
                        NotifyEvent::NAMES.join(", ")
                    ));
                }
            }
        }
        ok.then_some(events)
    }

    fn input(&mut self, name: &str, loc: Loc, node: &Node) -> Option<InputDecl> {
        self.fields(
            node,
            &["type", "default", "description", "env", "file", "optional"],
            &format!("input `{name}`"),
        )?;
        let ty = match node.get("type") {
            Some(t) => {
                let text = self.string(t, "`type`")?;
                match InputType::parse(&text) {
                    Some(ty) => ty,
                    None => {
                        let help = did_you_mean(&text, InputType::NAMES.iter().copied())
                            .unwrap_or_else(|| {
                                format!("use one of {}", InputType::NAMES.join(", "))
                            });
                        self.error_width(t, format!("unknown input type `{text}`"))
                            .help = Some(help);
                        return None;
                    }
                }
            }
            None => InputType::String,
        };
        let default = node.get("default").map(|d| (d, d.to_json()));
        let decl = InputDecl {
            name: name.to_string(),
            loc,
            ty,
            default: default.as_ref().map(|(_, v)| v.clone()),
            description: node
                .get("description")
                .and_then(|d| self.string(d, "`description`")),
            env: node.get("env").and_then(|d| self.string(d, "`env`")),
            file: node.get("file").and_then(|d| self.string(d, "`file`")),
            optional: node
                .get("optional")
                .and_then(|d| self.bool(d, "`optional`"))
                .unwrap_or(false),
        };
        if let Some((dnode, value)) = &default {
            if ty == InputType::Secret {
                self.error(
                    dnode.loc,
                    format!("secret input `{name}` cannot have a default"),
                )
                .help = Some("secrets come from `env:` or `file:`, never from the runbook".into());
            } else if !decl.accepts(value) {
                self.error(
                    dnode.loc,
                    format!(
                        "the default of input `{name}` is {}, but the input is declared `{}`",
                        dnode.type_name(),
                        ty.as_str()
                    ),
                );
            }
        }
        if ty != InputType::Secret && (decl.env.is_some() || decl.file.is_some()) {
            self.error(
                loc,
                format!(
                    "`env` and `file` are for secret inputs; `{name}` is `{}`",
                    ty.as_str()
                ),
            )
            .help = Some("declare it `type: secret`, or pass it with --input".into());
        }
        if ty == InputType::Secret && decl.env.is_none() && decl.file.is_none() {
            self.error(loc, format!("secret input `{name}` needs a source"))
                .help = Some(format!(
                    "add `env: LIFEBOAT_{}` or `file: /path/to/secret`; secrets never come from the command line",
                    name.to_uppercase()
                ));
        }
        Some(decl)
    }

    fn defaults(&mut self, node: &Node) -> Defaults {
        let mut defaults = Defaults::default();
        if self
            .fields(node, &["timeout", "retry"], "`defaults`")
            .is_none()
        {
            return defaults;
        }
        if let Some(t) = node.get("timeout") {
            defaults.timeout = self.duration(t, "`defaults.timeout`");
        }
        if let Some(r) = node.get("retry") {
            defaults.retry = self.retry(r, &Retry::default());
        }
        defaults
    }

    fn retry(&mut self, node: &Node, base: &Retry) -> Retry {
        let mut retry = base.clone();
        if self
            .fields(
                node,
                &["attempts", "delay", "backoff", "max_delay"],
                "`retry`",
            )
            .is_none()
        {
            return retry;
        }
        if let Some(a) = node.get("attempts") {
            match a.value {
                NodeValue::Int(n) if (1..=100_000).contains(&n) => retry.attempts = n as u32,
                _ => {
                    self.error_width(a, "`retry.attempts` must be a whole number from 1 up");
                }
            }
        }
        if let Some(d) = node.get("delay") {
            if let Some(d) = self.duration(d, "`retry.delay`") {
                retry.delay = d;
            }
        }
        if let Some(m) = node.get("max_delay") {
            retry.max_delay = self.duration(m, "`retry.max_delay`");
        }
        if let Some(b) = node.get("backoff") {
            match b.value {
                NodeValue::Int(n) if (1..=10).contains(&n) => retry.backoff = n as f64,
                NodeValue::Float(f) if (1.0..=10.0).contains(&f) => retry.backoff = f,
                _ => {
                    self.error_width(
                        b,
                        "`retry.backoff` must be a number from 1.0 (constant) to 10.0",
                    );
                }
            }
        }
        retry
    }

    fn steps(&mut self, node: &Node, section: Section, defaults: &Defaults, out: &mut Vec<Step>) {
        let NodeValue::Seq(items) = &node.value else {
            if !matches!(node.value, NodeValue::Null) {
                self.error(
                    node.loc,
                    format!(
                        "`{}` must be a list of steps, found {}",
                        section.as_str(),
                        node.type_name()
                    ),
                );
            }
            return;
        };
        for item in items {
            if let Some(step) = self.step(item, section, defaults) {
                out.push(step);
            }
        }
    }

    fn step(&mut self, node: &Node, section: Section, defaults: &Defaults) -> Option<Step> {
        let entries = self.fields(node, STEP_FIELDS, "a step");
        entries?;
        let (id, id_loc) = match node.get("id") {
            Some(n) => {
                let id = self.string(n, "`id`")?;
                if !is_identifier(&id) {
                    self.error_width(n, format!("step id `{id}` is not valid"))
                        .help = Some(format!(
                        "ids match [a-z][a-z0-9_]*, e.g. `{}`",
                        slugify(&id).replace('-', "_")
                    ));
                }
                (id, n.loc)
            }
            None => {
                self.error(node.loc, "a step needs an `id`").help =
                    Some("add `id: <name>`; ids match [a-z][a-z0-9_]*".into());
                return None;
            }
        };
        let (kind, kind_loc) = match node.get("kind") {
            Some(n) => (self.string(n, "`kind`").unwrap_or_default(), n.loc),
            None => {
                self.error(node.loc, format!("step `{id}` needs a `kind`"))
                    .help = Some("e.g. `kind: shell`; `lifeboat kinds` lists them all".into());
                (String::new(), node.loc)
            }
        };
        let with = node
            .get("with")
            .cloned()
            .unwrap_or(Node::new(node.loc, NodeValue::Map(Vec::new())));
        if !matches!(with.value, NodeValue::Map(_) | NodeValue::Null) {
            self.error(
                with.loc,
                format!(
                    "`with` must be a mapping of parameters, found {}",
                    with.type_name()
                ),
            );
        }
        let needs = match node.get("needs") {
            None => Vec::new(),
            Some(n) => match &n.value {
                NodeValue::String(s) => vec![Need {
                    id: s.clone(),
                    loc: n.loc,
                }],
                NodeValue::Seq(items) => items
                    .iter()
                    .filter_map(|i| {
                        self.string(i, "an entry of `needs`")
                            .map(|id| Need { id, loc: i.loc })
                    })
                    .collect(),
                _ => {
                    self.error(
                        n.loc,
                        format!(
                            "`needs` must be a list of step ids, found {}",
                            n.type_name()
                        ),
                    );
                    Vec::new()
                }
            },
        };
        let rerun = node.get("rerun").and_then(|n| {
            let text = self.string(n, "`rerun`")?;
            match text.as_str() {
                "safe" => Some(Rerun::Safe),
                "check" => Some(Rerun::Check),
                "never" => Some(Rerun::Never),
                _ => {
                    self.error_width(n, format!("unknown rerun policy `{text}`"))
                        .help = Some("use `safe` (run again), `check` (run the `check` probe) or `never` (ask a human)".into());
                    None
                }
            }
        });
        let check = node.get("check").and_then(|n| self.probe(n));
        if rerun == Some(Rerun::Check) && check.is_none() && node.get("check").is_none() {
            let loc = node.get("rerun").map(|n| n.loc).unwrap_or(node.loc);
            let d = self.error(
                loc,
                format!("step `{id}` has `rerun: check` but no `check` probe"),
            );
            d.width = 5;
            d
                .help = Some("add `check: { kind: http, with: {...}, until: ... }`, a read-only probe that passes when the step's effect is in place".into());
        }
        let dry_run_node = node.get("dry_run").and_then(|n| {
            self.fields(n, &["outputs"], "`dry_run`")?;
            n.get("outputs").cloned()
        });
        let dry_run_outputs = dry_run_node.as_ref().map(Node::to_json);
        let for_each = node.get("for_each").and_then(|n| self.for_each(&id, n));
        // A call runs no process of its own: these would do nothing.
        if kind == "runbook" {
            for field in ["timeout", "retry", "until", "check", "rerun"] {
                if let Some(n) = node.get(field) {
                    self.error(n.loc, format!("step `{id}`: `{field}` does nothing on a `runbook` call"))
                        .help = Some(format!("set `{field}` on the steps of the called runbook (or in its `defaults`, for `timeout` and `retry`)"));
                }
            }
        }
        Some(Step {
            id,
            loc: id_loc,
            title: node.get("title").and_then(|n| self.string(n, "`title`")),
            kind,
            kind_loc,
            with,
            needs,
            when: node.get("when").and_then(|n| self.expr(n, "`when`")),
            until: node.get("until").and_then(|n| self.until(n)),
            until_message: node
                .get("until")
                .and_then(|n| n.get("message"))
                .filter(|m| self.string(m, "`until.message`").is_some())
                .cloned(),
            retry: node
                .get("retry")
                .map(|n| self.retry(n, &defaults.retry))
                .unwrap_or_else(|| defaults.retry.clone()),
            timeout: node
                .get("timeout")
                .and_then(|n| self.duration(n, "`timeout`"))
                .or(defaults.timeout),
            estimate: node
                .get("estimate")
                .and_then(|n| self.duration(n, "`estimate`")),
            rerun,
            check,
            continue_on_failure: node
                .get("continue_on_failure")
                .and_then(|n| self.bool(n, "`continue_on_failure`"))
                .unwrap_or(false),
            read_only: node
                .get("read_only")
                .and_then(|n| self.bool(n, "`read_only`")),
            dry_run_outputs,
            dry_run_node,
            section,
            for_each,
        })
    }

    /// `for_each: { items, as, key, max_parallel, continue_on_failure }`.
    fn for_each(&mut self, id: &str, node: &Node) -> Option<ForEach> {
        self.fields(
            node,
            &["items", "as", "key", "max_parallel", "continue_on_failure"],
            "`for_each`",
        )?;
        let items = match node.get("items") {
            Some(n) => match &n.value {
                NodeValue::Seq(_) => n.clone(),
                NodeValue::String(s) if s.contains("{{") => n.clone(),
                _ => {
                    self.error(
                        n.loc,
                        format!(
                            "step `{id}`: `for_each.items` must be a list or a template that renders one, found {}",
                            n.type_name()
                        ),
                    )
                    .help = Some("e.g. `items: \"{{ inputs.nodes }}\"` or `items: [a, b]`".into());
                    return None;
                }
            },
            None => {
                self.error(
                    node.loc,
                    format!("step `{id}`: `for_each` needs `items`, the list to run the step over"),
                )
                .help = Some("e.g. `for_each: { items: \"{{ inputs.nodes }}\", as: node }`".into());
                return None;
            }
        };
        let (as_name, as_loc) = match node.get("as") {
            Some(n) => {
                let name = self.string(n, "`for_each.as`")?;
                if !is_identifier(&name) {
                    self.error_width(
                        n,
                        format!("step `{id}`: `for_each.as` `{name}` is not a valid name"),
                    )
                    .help = Some("names match [a-z][a-z0-9_]*, e.g. `as: node`".into());
                    return None;
                }
                if crate::runbook::template_context::CONTEXT_NAMES.contains(&name.as_str()) {
                    self.error_width(
                        n,
                        format!(
                            "step `{id}`: `for_each.as` `{name}` would hide the template variable `{name}`"),
                    )
                    .help = Some("choose another name, e.g. `as: item`".into());
                    return None;
                }
                (name, n.loc)
            }
            None => {
                self.error(
                    node.loc,
                    format!(
                        "step `{id}`: `for_each` needs `as`, the name templates read the item by"
                    ),
                )
                .help = Some("e.g. `as: node`, then `{{ node }}` in `with`".into());
                return None;
            }
        };
        let key = match node.get("key") {
            Some(n) if matches!(n.value, NodeValue::String(_)) => Some(n.clone()),
            Some(n) => {
                self.error(
                    n.loc,
                    format!(
                        "step `{id}`: `for_each.key` must be a template string, found {}",
                        n.type_name()
                    ),
                )
                .help = Some(format!("e.g. `key: \"{{{{ {as_name} }}}}\"`"));
                return None;
            }
            None => None,
        };
        let max_parallel = match node.get("max_parallel") {
            Some(n) => match &n.value {
                NodeValue::Int(i) if *i >= 1 && *i <= u32::MAX as i64 => Some(*i as u32),
                _ => {
                    self.error_width(
                        n,
                        format!("step `{id}`: `for_each.max_parallel` must be a whole number of at least 1"),
                    )
                    .help = Some(
                        "e.g. `max_parallel: 3`; leave it out to run one item at a time".into(),
                    );
                    return None;
                }
            },
            None => None,
        };
        let continue_on_failure = node
            .get("continue_on_failure")
            .and_then(|n| self.bool(n, "`for_each.continue_on_failure`"))
            .unwrap_or(false);
        Some(ForEach {
            loc: node.loc,
            items,
            as_name,
            as_loc,
            key,
            max_parallel,
            continue_on_failure,
        })
    }

    /// `until: EXPR`, or `until: { that: EXPR, message: TEXT }`.
    fn until(&mut self, node: &Node) -> Option<Expr> {
        if !matches!(node.value, NodeValue::Map(_)) {
            return self.expr(node, "`until`");
        }
        self.fields(node, &["that", "message"], "`until`")?;
        match node.get("that") {
            Some(that) => self.expr(that, "`until.that`"),
            None => {
                self.error(node.loc, "`until` needs `that`, the expression to retry until, e.g. `until: { that: \"outputs.status == 200\", message: \"...\" }`");
                None
            }
        }
    }

    fn probe(&mut self, node: &Node) -> Option<Probe> {
        self.fields(node, &["kind", "with", "until", "read_only"], "`check`")?;
        let Some(kind_node) = node.get("kind") else {
            self.error(node.loc, "`check` needs a `kind`, e.g. `kind: http`");
            return None;
        };
        Some(Probe {
            kind: self.string(kind_node, "`check.kind`")?,
            kind_loc: kind_node.loc,
            with: node
                .get("with")
                .cloned()
                .unwrap_or(Node::new(node.loc, NodeValue::Map(Vec::new()))),
            until: node
                .get("until")
                .and_then(|n| self.expr(n, "`check.until`")),
            read_only: node
                .get("read_only")
                .and_then(|n| self.bool(n, "`check.read_only`")),
        })
    }
}

/// `steps: []` or `steps:` with nothing after it.
fn is_empty_list(node: &Node) -> bool {
    match &node.value {
        NodeValue::Null => true,
        NodeValue::Seq(items) => items.is_empty(),
        _ => false,
    }
}

/// `[a-z][a-z0-9_]*`
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// `[a-z0-9][a-z0-9-]*`
fn is_slug(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z' | '0'..='9'))
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn slugify(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::test_text::{assert_text, diagnostics, unindent};

    /// Loads `yaml` and compares what the loader says, written out one line
    /// per fact, with `expect`: each diagnostic at its `line:col` with its
    /// help, then the model, if the shape allowed one.
    fn check(yaml: &str, expect: &str) {
        let (runbook, mut found) = load(Arc::new(SourceFile::new("rb.yaml", unindent(yaml))));
        // In the order `validate` shows them.
        found.sort_by_key(|d| (d.loc.line, d.loc.col));
        let mut actual = diagnostics(&found);
        if let Some(rb) = &runbook {
            actual.push_str(&model(rb));
        }
        assert_text(&actual, expect);
    }

    fn model(rb: &Runbook) -> String {
        let mut out = format!("runbook {} v{} ({})\n", rb.name, rb.version, rb.title);
        if let Some(rto) = &rb.rto {
            out.push_str(&format!("rto {:?}", rto.target));
            if let Some(stop) = &rto.stop_at {
                let at = rto.stop_at_loc;
                out.push_str(&format!(" stop at {stop} ({}:{})", at.line, at.col));
            }
            out.push('\n');
        }
        if let Some(rpo) = rb.rpo {
            out.push_str(&format!("rpo {rpo:?}\n"));
        }
        if let Some(a) = &rb.approvers {
            let at = a.loc;
            out.push_str(&format!(
                "allowed_signers {} ({}:{})\n",
                a.allowed_signers, at.line, at.col
            ));
        }
        if rb.require_signed {
            out.push_str("require_signed\n");
        }
        for i in &rb.inputs {
            let default = i
                .default
                .as_ref()
                .map(|d| format!(" = {d}"))
                .unwrap_or_default();
            out.push_str(&format!("input {} {}{default}\n", i.name, i.ty.as_str()));
        }
        for s in &rb.steps {
            let needs: Vec<&str> = s.needs_ids().collect();
            out.push_str(&format!(
                "{} {} {} at {}:{}",
                s.section.as_str(),
                s.id,
                s.kind,
                s.loc.line,
                s.loc.col
            ));
            if !needs.is_empty() {
                out.push_str(&format!(" needs {}", needs.join(",")));
            }
            if let Some(e) = s.estimate {
                out.push_str(&format!(" estimate {e:?}"));
            }
            if let Some(t) = s.timeout {
                out.push_str(&format!(" timeout {t:?}"));
            }
            if s.retry != Retry::default() {
                let r = &s.retry;
                out.push_str(&format!(
                    " retry {}x {:?} *{}",
                    r.attempts, r.delay, r.backoff
                ));
                if let Some(m) = r.max_delay {
                    out.push_str(&format!(" max {m:?}"));
                }
            }
            if let Some(rerun) = s.rerun {
                out.push_str(&format!(" rerun {rerun:?}").to_lowercase());
            }
            out.push('\n');
        }
        out
    }

    #[test]
    fn a_minimal_runbook_becomes_its_model() {
        check(
            r#"
            version: 1
            name: restore-drill
            steps:
              - id: fetch
                kind: shell
                with: { run: ["true"] }
              - id: restore
                kind: shell
                needs: [fetch]
              - id: verify
                kind: assert
                needs: restore
            on_failure:
              - id: page
                kind: shell
            finally:
              - id: tidy
                kind: shell
            "#,
            "
            runbook restore-drill v1 (restore-drill)
            steps fetch shell at 4:9
            steps restore shell at 7:9 needs fetch
            steps verify assert at 10:9 needs restore
            on_failure page shell at 14:9
            finally tidy shell at 17:9
            ",
        );
    }

    #[test]
    fn every_shape_error_is_reported_at_its_place() {
        check(
            r#"
            version: 2
            name: Restore Drill
            steps:
              - kind: shell
              - id: Fetch
                kind: shell
                needs: { a: b }
                continue_on_failure: "yes"
              - id: restore
                with: [1, 2]
            "#,
            "
            error 1:10: unsupported runbook format version
              help: this Lifeboat reads `version: 1`
            error 2:7: runbook name `Restore Drill` is not a slug
              help: use lowercase letters, digits and dashes, e.g. `restore-drill`
            error 4:5: a step needs an `id`
              help: add `id: <name>`; ids match [a-z][a-z0-9_]*
            error 5:9: step id `Fetch` is not valid
              help: ids match [a-z][a-z0-9_]*, e.g. `fetch`
            error 7:12: `needs` must be a list of step ids, found a mapping
            error 8:26: `continue_on_failure` must be true or false, found a string
            error 9:5: step `restore` needs a `kind`
              help: e.g. `kind: shell`; `lifeboat kinds` lists them all
            error 10:11: `with` must be a mapping of parameters, found a list
            runbook Restore Drill v0 (Restore Drill)
            steps Fetch shell at 5:9
            steps restore  at 9:9
            ",
        );
    }

    #[test]
    fn unknown_fields_get_a_did_you_mean_or_the_list() {
        check(
            r#"
            version: 1
            name: rb
            titel: Restore
            steps:
              - id: a
                kind: shell
                neds: [b]
                retry: { attempts: 2, dealy: 1s }
              - id: b
                kind: shell
                zzzzzz: 1
            "#,
            "
            error 3:1: unknown field `titel` in the runbook
              help: did you mean `title`?
            error 7:5: unknown field `neds` in a step
              help: did you mean `needs`?
            error 8:27: unknown field `dealy` in `retry`
              help: did you mean `delay`?
            error 11:5: unknown field `zzzzzz` in a step
              help: allowed fields: id, title, kind, with, needs, when, until, retry, timeout, estimate, rerun, check, continue_on_failure, read_only, dry_run, for_each
            runbook rb v1 (rb)
            steps a shell at 5:9 retry 2x 1s *1
            steps b shell at 9:9
            ",
        );
    }

    #[test]
    fn notify_targets_name_a_known_format_and_known_events() {
        check(
            r#"
            version: 1
            name: rb
            notify:
              - { url: "https://example.com/hook", format: slak, events: [waiting, finshed, nope] }
              - { format: json, events: [] }
              - { url: "", format: json, events: finished, timeot: 3s }
            steps:
              - { id: a, kind: shell }
            "#,
            "
            error 4:48: unknown notify format `slak`
              help: did you mean `slack`? the formats are slack, json
            error 4:72: unknown notify event `finshed`
              help: did you mean `finished`? the events are run_started, waiting, step_failed, checkpoint, rto_at_risk, finished
            error 4:81: unknown notify event `nope`
              help: the events are run_started, waiting, step_failed, checkpoint, rto_at_risk, finished
            error 5:5: `notify[1]` needs a `url`
              help: write e.g. `notify: [{ url: \"{{ inputs.slack_webhook }}\", format: slack, events: [waiting, finished] }]`
            error 5:29: `notify[1].events` is empty
              help: list at least one of run_started, waiting, step_failed, checkpoint, rto_at_risk, finished, or remove the target
            error 6:12: `notify[2].url` is empty
              help: give the receiver's URL, e.g. `url: \"{{ inputs.slack_webhook }}\"` with the webhook as a secret input
            error 6:38: `notify[2].events` must be a list of event names, found a string
              help: write e.g. `events: [waiting, finished]`; the events are run_started, waiting, step_failed, checkpoint, rto_at_risk, finished
            error 6:48: unknown field `timeot` in `notify[2]`
              help: did you mean `timeout`?
            runbook rb v1 (rb)
            steps a shell at 8:11
            ",
        );
    }

    #[test]
    fn durations_need_a_unit_and_defaults_are_inherited() {
        check(
            r#"
            version: 1
            name: rb
            rpo: 5m
            defaults:
              timeout: 2m
              retry: { attempts: 3, delay: 500ms, backoff: 2, max_delay: 4s }
            steps:
              - id: a
                kind: shell
                estimate: 1m30s
              - id: b
                kind: shell
                timeout: 10s
                retry: { attempts: 1 }
              - id: c
                kind: shell
                estimate: 90
                timeout: soon
            "#,
            "
            error 17:15: `estimate` needs a unit: write `90s` or `90m`
            error 18:14: `timeout`: invalid duration `soon`; write e.g. `500ms`, `30s`, `5m` or `1h30m`
            runbook rb v1 (rb)
            rpo 300s
            steps a shell at 8:9 estimate 90s timeout 120s retry 3x 500ms *2 max 4s
            steps b shell at 11:9 timeout 10s retry 1x 500ms *2 max 4s
            steps c shell at 15:9 timeout 120s retry 3x 500ms *2 max 4s
            ",
        );
    }

    #[test]
    fn approvers_name_an_allowed_signers_file_and_require_signed_is_a_boolean() {
        check(
            r#"
            version: 1
            name: rb
            approvers: { allowed_signers: team/allowed_signers }
            require_signed: true
            steps:
              - id: a
                kind: shell
            "#,
            "
            runbook rb v1 (rb)
            allowed_signers team/allowed_signers (3:31)
            require_signed
            steps a shell at 6:9
            ",
        );
        check(
            r#"
            version: 1
            name: rb
            approvers: { allowed_signer: x }
            require_signed: yes please
            steps:
              - id: a
                kind: shell
            "#,
            "
            error 3:12: `approvers` needs `allowed_signers`
              help: add the path of the team's OpenSSH allowed_signers file, e.g. `approvers: { allowed_signers: allowed_signers }`
            error 3:14: unknown field `allowed_signer` in `approvers`
              help: did you mean `allowed_signers`?
            error 4:17: `require_signed` must be true or false, found a string
            runbook rb v1 (rb)
            steps a shell at 6:9
            ",
        );
    }

    #[test]
    fn the_rto_block_has_a_target_and_may_stop_at_a_step() {
        check(
            r#"
            version: 1
            name: rb
            rto: { target: 15m, stop_at: verify }
            steps:
              - { id: verify, kind: assert }
            "#,
            "
            runbook rb v1 (rb)
            rto 900s stop at verify (3:30)
            steps verify assert at 5:11
            ",
        );
        check(
            r#"
            version: 1
            name: rb
            rto: { stop_at: verify, taget: 15m }
            steps:
              - { id: verify, kind: assert }
            "#,
            "
            error 3:6: `rto` needs a `target`, e.g. `rto: { target: 30m }`
            error 3:25: unknown field `taget` in `rto`
              help: did you mean `target`?
            runbook rb v1 (rb)
            steps verify assert at 5:11
            ",
        );
        check(
            r#"
            version: 1
            name: rb
            rto: { target: 30 }
            steps:
              - { id: verify, kind: assert }
            "#,
            "
            error 3:16: `rto.target` needs a unit: write `30s` or `30m`
            runbook rb v1 (rb)
            steps verify assert at 5:11
            ",
        );
    }

    #[test]
    fn inputs_are_declared_with_a_type_and_secrets_with_a_source() {
        check(
            r#"
            version: 1
            name: rb
            inputs:
              region: { type: string, default: eu }
              replicas: { type: integr }
              token: { type: secret, default: x }
              Bad-Name: { type: string }
            steps:
              - { id: a, kind: shell }
            "#,
            "
            error 5:21: unknown input type `integr`
              help: did you mean `integer`?
            error 6:3: secret input `token` needs a source
              help: add `env: LIFEBOAT_TOKEN` or `file: /path/to/secret`; secrets never come from the command line
            error 6:35: secret input `token` cannot have a default
              help: secrets come from `env:` or `file:`, never from the runbook
            error 7:3: input name `Bad-Name` is not an identifier
              help: use lowercase letters, digits and underscores, starting with a letter
            runbook rb v1 (rb)
            input region string = \"eu\"
            input token secret = \"x\"
            input Bad-Name string
            steps a shell at 9:11
            ",
        );
    }

    #[test]
    fn an_empty_or_stepless_runbook_is_one_error() {
        check(
            "",
            "
            error 1:1: the runbook is empty
              help: start with `version: 1`, `name:` and `steps:`; see docs/runbook-format.md
            ",
        );
        check(
            "
            version: 1
            name: rb
            steps: []
            ",
            "
            error 3:8: a runbook needs at least one step in `steps`
              help: add a list of steps, e.g. `steps: [{ id: check, kind: shell, with: { run: [\"true\"] } }]`
            runbook rb v1 (rb)
            ",
        );
        check(
            "
            - just
            - a list
            ",
            "
            error 1:1: a runbook must be a mapping, found a list
            ",
        );
    }
}
