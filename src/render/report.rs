//! A run as a report: the timeline of every node, each gate's measurements,
//! approvals, points of no return and what was rolled back — built once
//! ([`Report::build`]) from a recorded run and rendered as markdown (Mermaid
//! gantt and xychart), JSON (`schema/report.schema.json`) or HTML
//! ([`super::html`]).

use super::markdown::cell;
use crate::apply::Event;
use crate::providers::Limit;
use crate::state::history::Run;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

/// The report format version, in JSON as `format_version`.
pub const FORMAT_VERSION: u32 = 1;

/// Everything a report shows, in the order the JSON has it.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub format_version: u32,
    pub migration: String,
    pub run: Run,
    /// Milliseconds from the start to the end (or the last event) of the run.
    pub duration_ms: u64,
    pub nodes: Vec<Span>,
    pub gates: Vec<Series>,
    pub approvals: Vec<Approval>,
    pub points_of_no_return: Vec<Crossing>,
    pub rollback: Vec<Undone>,
    pub events: Vec<Line>,
}

/// One node's time in the run.
#[derive(Debug, Clone, Serialize)]
pub struct Span {
    pub address: String,
    pub wave: Option<u32>,
    /// Milliseconds after the run began.
    pub start_ms: u64,
    pub end_ms: u64,
    pub status: SpanStatus,
    pub attempts: u32,
    /// On the chain of dependencies that decided when the run ended.
    pub critical: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// How a node's time in the run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanStatus {
    Done,
    Unchanged,
    Failed,
    Skipped,
    RolledBack,
    Interrupted,
    Abandoned,
    Running,
}

impl SpanStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SpanStatus::Done => "done",
            SpanStatus::Unchanged => "unchanged",
            SpanStatus::Failed => "failed",
            SpanStatus::Skipped => "skipped",
            SpanStatus::RolledBack => "rolled back",
            SpanStatus::Interrupted => "interrupted",
            SpanStatus::Abandoned => "abandoned",
            SpanStatus::Running => "running",
        }
    }
}

/// A gate's measurements.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub address: String,
    pub limits: Vec<Limit>,
    pub points: Vec<Point>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub at: String,
    pub t_ms: u64,
    pub holds: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    pub measured: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Approval {
    pub address: String,
    pub by: String,
    pub at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Crossing {
    pub address: String,
    pub at: String,
    pub confirmed: bool,
}

/// What the rollback did with one node.
#[derive(Debug, Clone, Serialize)]
pub struct Undone {
    pub address: String,
    pub at: String,
    /// "rolled back", "kept", "invalidated" or "failed".
    pub what: String,
    pub detail: String,
}

/// One event as the plain view printed it.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub at: String,
    pub t_ms: u64,
    pub text: String,
}

/// An RFC 3339 stamp as UTC time.
pub fn parse(at: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(at)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Builds a report from a run and, when the spec compiles, each node's
/// dependencies (for the critical path).
pub struct Builder<'a> {
    pub migration: &'a str,
    pub run: &'a Run,
    pub dependencies: &'a BTreeMap<String, Vec<String>>,
}

impl Builder<'_> {
    pub fn build(&self) -> Report {
        let start = parse(&self.run.started_at).unwrap_or_default();
        let offset = |at: &str| {
            parse(at)
                .map(|t| (t - start).num_milliseconds().max(0) as u64)
                .unwrap_or(0)
        };
        let mut r = Report {
            format_version: FORMAT_VERSION,
            migration: self.migration.to_string(),
            run: Run {
                events: Vec::new(),
                ..self.run.clone()
            },
            duration_ms: 0,
            nodes: Vec::new(),
            gates: Vec::new(),
            approvals: Vec::new(),
            points_of_no_return: Vec::new(),
            rollback: Vec::new(),
            events: Vec::new(),
        };
        let mut spans: HashMap<String, usize> = HashMap::new();
        let mut gates: HashMap<String, usize> = HashMap::new();
        for s in &self.run.events {
            let Ok(e) = s.event.read::<Event>() else {
                continue;
            };
            let t = offset(&s.at);
            r.duration_ms = r.duration_ms.max(t);
            if let Some(text) = super::progress::line(&e, super::human::Style { color: false }) {
                r.events.push(Line {
                    at: s.at.clone(),
                    t_ms: t,
                    text: text.trim().to_string(),
                });
            }
            r.take(&e, &s.at, t, &mut spans, &mut gates);
        }
        if let Some(end) = self.run.finished_at.as_deref() {
            r.duration_ms = r.duration_ms.max(offset(end));
        }
        for n in r
            .nodes
            .iter_mut()
            .filter(|n| n.status == SpanStatus::Running)
        {
            n.end_ms = r.duration_ms;
        }
        r.mark_critical(self.dependencies);
        // Wave by wave, in the order they started; nodes that did not run last.
        r.nodes
            .sort_by_key(|n| (n.wave.is_none(), n.wave, n.start_ms));
        r
    }
}

impl Report {
    fn take(
        &mut self,
        e: &Event,
        at: &str,
        t: u64,
        spans: &mut HashMap<String, usize>,
        gates: &mut HashMap<String, usize>,
    ) {
        match e {
            Event::NodeStarted { address, wave, .. } => {
                let i = self.span(spans, address, t);
                let n = &mut self.nodes[i];
                n.wave = Some(*wave);
                n.attempts += 1;
                n.status = SpanStatus::Running;
            }
            Event::NodeDone {
                address, detail, ..
            } => self.end(spans, address, t, SpanStatus::Done, detail),
            Event::NodeUnchanged { address, reason } => {
                self.end(spans, address, t, SpanStatus::Unchanged, reason)
            }
            Event::NodeFailed {
                address,
                error,
                retry_in_ms: None,
            } => self.end(spans, address, t, SpanStatus::Failed, error),
            Event::NodeSkipped { address, because } => {
                self.end(spans, address, t, SpanStatus::Skipped, because)
            }
            Event::NodeAbandoned { address } => {
                self.end(spans, address, t, SpanStatus::Abandoned, "")
            }
            Event::NodeInterrupted { address, reason } => {
                self.end(spans, address, t, SpanStatus::Interrupted, reason)
            }
            Event::GatePolled { .. } => self.poll(e, at, t, gates),
            Event::Approved {
                address,
                by,
                at,
                comment,
            } => self.approvals.push(Approval {
                address: address.clone(),
                by: by.clone(),
                at: at.clone(),
                comment: comment.clone(),
            }),
            Event::PointOfNoReturn { address, confirmed } => {
                self.points_of_no_return.push(Crossing {
                    address: address.clone(),
                    at: at.to_string(),
                    confirmed: *confirmed,
                })
            }
            _ => self.undone(e, at, spans),
        }
    }

    /// A gate's measurement, added to its series.
    fn poll(&mut self, e: &Event, at: &str, t: u64, gates: &mut HashMap<String, usize>) {
        let Event::GatePolled {
            address,
            holds,
            measured,
            value,
            limits,
            ..
        } = e
        else {
            return;
        };
        let i = *gates.entry(address.clone()).or_insert_with(|| {
            self.gates.push(Series {
                address: address.clone(),
                limits: limits.clone(),
                points: Vec::new(),
            });
            self.gates.len() - 1
        });
        self.gates[i].points.push(Point {
            at: at.to_string(),
            t_ms: t,
            holds: *holds,
            value: *value,
            measured: measured.clone(),
        });
    }

    fn undone(&mut self, e: &Event, at: &str, spans: &HashMap<String, usize>) {
        let (address, what, detail) = match e {
            Event::NodeRolledBack { address, detail } => (address, "rolled back", detail.clone()),
            Event::RollbackKept { address, reason } => (address, "kept", reason.clone()),
            Event::NodeInvalidated { address, because } => {
                (address, "invalidated", because.clone())
            }
            Event::RollbackFailed { address, error, .. } => (address, "failed", error.clone()),
            _ => return,
        };
        if what == "rolled back" {
            if let Some(&i) = spans.get(address) {
                self.nodes[i].status = SpanStatus::RolledBack;
            }
        }
        self.rollback.push(Undone {
            address: address.clone(),
            at: at.to_string(),
            what: what.to_string(),
            detail,
        });
    }

    fn span(&mut self, spans: &mut HashMap<String, usize>, address: &str, t: u64) -> usize {
        *spans.entry(address.to_string()).or_insert_with(|| {
            self.nodes.push(Span {
                address: address.to_string(),
                wave: None,
                start_ms: t,
                end_ms: t,
                status: SpanStatus::Running,
                attempts: 0,
                critical: false,
                detail: None,
            });
            self.nodes.len() - 1
        })
    }

    fn end(
        &mut self,
        spans: &mut HashMap<String, usize>,
        address: &str,
        t: u64,
        status: SpanStatus,
        detail: &str,
    ) {
        let i = self.span(spans, address, t);
        let n = &mut self.nodes[i];
        n.end_ms = t;
        n.status = status;
        n.detail = (!detail.is_empty()).then(|| detail.to_string());
    }

    /// The chain that decided the end: from the node that finished last,
    /// back through the dependency that finished last, while one ran.
    fn mark_critical(&mut self, deps: &BTreeMap<String, Vec<String>>) {
        let index: HashMap<String, usize> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.attempts > 0)
            .map(|(i, n)| (n.address.clone(), i))
            .collect();
        let mut at = index
            .values()
            .copied()
            .max_by_key(|&i| self.nodes[i].end_ms);
        let mut seen = 0;
        while let Some(i) = at {
            self.nodes[i].critical = true;
            seen += 1;
            if seen > self.nodes.len() {
                break;
            }
            at = deps
                .get(&self.nodes[i].address)
                .into_iter()
                .flatten()
                .filter_map(|d| index.get(d).copied())
                .filter(|&d| !self.nodes[d].critical)
                .max_by_key(|&d| self.nodes[d].end_ms);
        }
    }

    /// The gates that measured a number at least twice: they get a chart.
    pub fn charted(&self) -> impl Iterator<Item = &Series> {
        self.gates
            .iter()
            .filter(|g| g.points.iter().filter(|p| p.value.is_some()).count() >= 2)
    }
}

/// A duration in ms as people read it.
pub fn took(ms: u64) -> String {
    if ms < 1000 {
        return format!("{ms} ms");
    }
    crate::eval::duration::format(std::time::Duration::from_millis(ms))
}

/// The time of day of an RFC 3339 stamp, to the second (UTC).
pub fn clock(at: &str) -> String {
    parse(at)
        .map(|t| t.format("%H:%M:%S").to_string())
        .unwrap_or_else(|| at.to_string())
}

/// The report as JSON (`schema/report.schema.json`).
pub fn json(r: &Report) -> String {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    crate::eval::redact::mask_json(&mut v);
    serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
}

/// Text safe inside a Mermaid label: no quotes, colons or hashes.
fn mermaid_text(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '"' => '\'',
            ':' | '#' | ';' => ' ',
            c => c,
        })
        .collect()
}

/// The report as markdown: summary, gantt, gate charts, approvals, rollback, events.
pub fn markdown(r: &Report) -> String {
    let mut out = String::new();
    let run = &r.run;
    let _ = writeln!(
        out,
        "## {} run `{}` of `{}`: {}\n",
        capitalized(&run.command),
        run.id,
        r.migration,
        run.outcome.map_or("still running", |o| o.as_str())
    );
    summary_table(&mut out, r);
    gantt(&mut out, r);
    for g in r.charted() {
        chart(&mut out, g);
    }
    approvals(&mut out, r);
    rollback(&mut out, r);
    let _ = writeln!(out, "### Events\n\n| time | event |\n|---|---|");
    for e in &r.events {
        let _ = writeln!(out, "| {} | {} |", clock(&e.at), cell(&e.text));
    }
    crate::eval::redact::mask(&out)
}

/// "apply" → "Apply".
pub fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn summary_table(out: &mut String, r: &Report) {
    let run = &r.run;
    let s = &run.summary;
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| started | {} |", run.started_at);
    if let Some(f) = &run.finished_at {
        let _ = writeln!(out, "| finished | {f} |");
    }
    let _ = writeln!(out, "| took | {} |", took(r.duration_ms));
    let _ = writeln!(out, "| by | {}@{} |", run.by.user, run.by.host);
    if let Some(ci) = &run.by.ci {
        let _ = writeln!(out, "| CI job | {} |", cell(ci));
    }
    if let Some(p) = &run.plan {
        let _ = writeln!(out, "| plan | `{}` |", &p[..p.len().min(16)]);
    }
    let _ = writeln!(
        out,
        "| nodes | {} done, {} unchanged, {} failed, {} skipped, {} rolled back |",
        s.done, s.unchanged, s.failed, s.skipped, s.rolled_back
    );
    if let Some(m) = &run.message {
        let _ = writeln!(out, "| result | {} |", cell(m));
    }
    if s.dropped_events > 0 {
        let _ = writeln!(
            out,
            "| events | {} beyond the run's limit (`history {{ events }}`) were counted, not kept |",
            s.dropped_events
        );
    }
    if run.compacted {
        let _ = writeln!(
            out,
            "| events | compacted: only the summary of this run is kept |"
        );
    }
    out.push('\n');
}

fn gantt(out: &mut String, r: &Report) {
    if r.nodes.is_empty() {
        return;
    }
    let base = parse(&r.run.started_at)
        .map(|t| t.timestamp_millis())
        .unwrap_or(0);
    let _ = writeln!(
        out,
        "### Timeline\n\n```mermaid\ngantt\n    dateFormat x\n    axisFormat %H:%M:%S\n    title {}",
        mermaid_text(&r.migration)
    );
    let mut wave = None;
    for n in &r.nodes {
        if n.wave != wave || wave.is_none() {
            wave = n.wave;
            let _ = writeln!(
                out,
                "    section {}",
                n.wave
                    .map_or("did not run".to_string(), |w| format!("wave {w}"))
            );
        }
        let tags = match (n.status, n.critical) {
            (SpanStatus::Failed, _) => "crit, ",
            (SpanStatus::RolledBack, _) => "active, ",
            (_, true) => "crit, done, ",
            _ => "done, ",
        };
        let _ = writeln!(
            out,
            "    {} ({}) :{tags}{}, {}",
            mermaid_text(&n.address),
            n.status.as_str(),
            base + n.start_ms as i64,
            base + n.end_ms.max(n.start_ms + 1) as i64
        );
    }
    let _ = writeln!(
        out,
        "```\n\nCritical path (red): {}.\n",
        r.nodes
            .iter()
            .filter(|n| n.critical)
            .map(|n| format!("`{}`", n.address))
            .collect::<Vec<_>>()
            .join(" → ")
    );
}

fn chart(out: &mut String, g: &Series) {
    let points: Vec<&Point> = g.points.iter().filter(|p| p.value.is_some()).collect();
    let values: Vec<f64> = points.iter().filter_map(|p| p.value).collect();
    let show = |v: f64| crate::text::significant(v, crate::text::MEASURED_DIGITS);
    let _ = writeln!(
        out,
        "### {}\n\n```mermaid\nxychart-beta\n    title \"{}\"\n    x-axis [{}]\n    y-axis \"measured\"\n    line [{}]",
        g.address,
        mermaid_text(&g.address),
        points
            .iter()
            .map(|p| format!("\"{}\"", clock(&p.at)))
            .collect::<Vec<_>>()
            .join(", "),
        values.iter().map(|v| show(*v)).collect::<Vec<_>>().join(", ")
    );
    for l in &g.limits {
        let _ = writeln!(
            out,
            "    line [{}]",
            vec![show(l.value); values.len()].join(", ")
        );
    }
    let _ = writeln!(out, "```\n");
    if !g.limits.is_empty() {
        let _ = writeln!(
            out,
            "The flat line{} the threshold ({}).\n",
            if g.limits.len() == 1 {
                " is"
            } else {
                "s are each"
            },
            g.limits
                .iter()
                .map(|l| format!("{} {}", l.op.replace('_', " "), show(l.value)))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

fn approvals(out: &mut String, r: &Report) {
    if r.approvals.is_empty() && r.points_of_no_return.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "### Approvals\n\n| time | what | who | comment |\n|---|---|---|---|"
    );
    for a in &r.approvals {
        let _ = writeln!(
            out,
            "| {} | approved `{}` | {} | {} |",
            clock(&a.at),
            a.address,
            cell(&a.by),
            cell(a.comment.as_deref().unwrap_or(""))
        );
    }
    for c in &r.points_of_no_return {
        let _ = writeln!(
            out,
            "| {} | {} the point of no return `{}` | {}@{} | |",
            clock(&c.at),
            if c.confirmed { "crossed" } else { "declined" },
            c.address,
            r.run.by.user,
            r.run.by.host
        );
    }
    out.push('\n');
}

fn rollback(out: &mut String, r: &Report) {
    if r.rollback.is_empty() {
        return;
    }
    let why: Vec<String> = r
        .nodes
        .iter()
        .filter(|n| n.status == SpanStatus::Failed)
        .map(|n| {
            format!(
                "`{}` failed: {}",
                n.address,
                n.detail.as_deref().unwrap_or("no reason recorded")
            )
        })
        .collect();
    let _ = writeln!(out, "### Rollback\n");
    if !why.is_empty() {
        let _ = writeln!(out, "Why: {}.\n", why.join("; "));
    }
    let _ = writeln!(out, "| time | node | what | detail |\n|---|---|---|---|");
    for u in &r.rollback {
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} |",
            clock(&u.at),
            u.address,
            u.what,
            cell(&u.detail)
        );
    }
    out.push('\n');
}
