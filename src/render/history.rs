//! `cutover history` (the runs, newest first) and `cutover status` (the run
//! going on now, as the state backend shows it to any machine).

use super::report::{capitalized, clock, parse, took};
use crate::apply::Event;
use crate::state::history::Run;
use crate::state::{LockInfo, Lockfile};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::fmt::Write;

fn since(at: &str, now: DateTime<Utc>) -> u64 {
    parse(at).map_or(0, |t| (now - t).num_milliseconds().max(0) as u64)
}

/// How long a run took (or has taken until `now`).
fn run_took(r: &Run, now: DateTime<Utc>) -> u64 {
    let end = r.finished_at.as_deref().and_then(parse).unwrap_or(now);
    parse(&r.started_at).map_or(0, |s| (end - s).num_milliseconds().max(0) as u64)
}

/// The runs, newest first, one line each; `held`: the state's lock is held
/// now (without it, a run still open ended unrecorded).
pub fn list(history: &[Run], held: bool, now: DateTime<Utc>) -> String {
    if history.is_empty() {
        return "No run is recorded yet: the history starts with the next apply or rollback.\n"
            .into();
    }
    let rows: Vec<[String; 8]> = history
        .iter()
        .rev()
        .map(|r| {
            let s = &r.summary;
            [
                r.id.clone(),
                r.command.clone(),
                r.started_at
                    .replacen('T', " ", 1)
                    .chars()
                    .take(19)
                    .collect(),
                format!("{}@{}", r.by.user, r.by.host),
                r.outcome
                    .map_or(if held { "running" } else { "no end recorded" }, |o| {
                        o.as_str()
                    })
                    .to_string()
                    + if r.compacted { " (summary)" } else { "" },
                took(run_took(r, now)),
                format!("{}/{}/{}", s.done, s.failed, s.rolled_back),
                r.by.ci.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let head = [
        "RUN",
        "COMMAND",
        "STARTED (UTC)",
        "BY",
        "OUTCOME",
        "TOOK",
        "DONE/FAILED/UNDONE",
        "CI JOB",
    ];
    let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let text: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", text.join("  ").trim_end());
    };
    line(head.to_vec(), &mut out);
    for r in &rows {
        line(r.iter().map(String::as_str).collect(), &mut out);
    }
    crate::eval::redact::mask(&out)
}

/// What `status` knows of one running node.
struct Running {
    since: String,
    last: Option<(String, Event)>,
}

/// The run going on now, as the state shows it.
pub fn status(doc: Option<&Lockfile>, holder: Option<&LockInfo>, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let run = doc.and_then(|d| d.history.last());
    match (run, holder) {
        (None, None) => out.push_str("Nothing is running, and no run is recorded yet.\n"),
        (Some(r), _) if !r.is_open() => {
            let _ = writeln!(
                out,
                "Nothing is running. The last run: {} {} {} at {} (took {}): {}",
                r.command,
                r.id,
                r.outcome.map_or("", |o| o.as_str()),
                r.finished_at.as_deref().unwrap_or("?"),
                took(run_took(r, now)),
                r.message.as_deref().unwrap_or("")
            );
        }
        (Some(r), _) => open_run(&mut out, doc, r, holder.is_some(), now),
        (None, Some(_)) => {}
    }
    if let Some(h) = holder {
        let _ = writeln!(out, "Lock: {h}");
    } else if run.is_some_and(Run::is_open) {
        out.push_str("Lock: free. The run above holds no lock: it ended without recording its end (killed, or its machine stopped). The next apply settles what it left.\n");
    }
    crate::eval::redact::mask(&out)
}

fn open_run(out: &mut String, doc: Option<&Lockfile>, r: &Run, held: bool, now: DateTime<Utc>) {
    let _ = writeln!(
        out,
        "{} {} by {}@{}{}, {} for {}",
        capitalized(&r.command),
        r.id,
        r.by.user,
        r.by.host,
        r.by.ci
            .as_deref()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default(),
        if held { "running" } else { "recorded" },
        took(run_took(r, now))
    );
    let (total, finished, running) = scan(r);
    if let Some(n) = total {
        let _ = writeln!(out, "Progress: {finished} of {n} nodes finished");
    }
    let approval = |a: &str| {
        doc.and_then(|d| d.nodes.get(a))
            .and_then(|s| s.type_name.as_deref())
            == Some("approval")
    };
    let (waiting, busy): (Vec<_>, Vec<_>) = running.iter().partition(|(a, _)| approval(a));
    if !busy.is_empty() {
        out.push_str("Running:\n");
        for (a, n) in &busy {
            let _ = writeln!(
                out,
                "  {a} for {}{}",
                took(since(&n.since, now)),
                last_poll(n, now)
            );
        }
    }
    if !waiting.is_empty() {
        out.push_str("Waiting for approval:\n");
        for (a, n) in &waiting {
            let _ = writeln!(
                out,
                "  {a} for {}: run `cutover approve {}`",
                took(since(&n.since, now)),
                crate::addr::shell(a)
            );
        }
    }
    if busy.is_empty() && waiting.is_empty() {
        out.push_str("Running: nothing at this moment\n");
    }
}

/// The planned node count, how many finished, and the nodes running now.
fn scan(r: &Run) -> (Option<usize>, usize, BTreeMap<String, Running>) {
    let mut total = None;
    let mut finished = 0;
    let mut running: BTreeMap<String, Running> = BTreeMap::new();
    for s in &r.events {
        let Ok(e) = s.event.read::<Event>() else {
            continue;
        };
        match &e {
            Event::ApplyStarted { nodes, .. } => total = Some(*nodes),
            Event::NodeStarted { address, .. } => {
                running.entry(address.clone()).or_insert(Running {
                    since: s.at.clone(),
                    last: None,
                });
            }
            Event::GatePolled { address, .. }
            | Event::StepProgress { address, .. }
            | Event::StepThrottled { address, .. } => {
                if let Some(n) = running.get_mut(address) {
                    n.last = Some((s.at.clone(), e.clone()));
                }
            }
            e => {
                if let Some(address) = e.node_ended() {
                    finished += 1;
                    running.remove(address);
                }
            }
        }
    }
    (total, finished, running)
}

/// The last measurement or progress of a running node, with time left.
fn last_poll(n: &Running, now: DateTime<Utc>) -> String {
    let Some((at, e)) = &n.last else {
        return String::new();
    };
    let ago = since(at, now);
    match e {
        Event::GatePolled {
            holds,
            measured,
            remaining_ms,
            ..
        } => format!(
            "; {} at {}: {measured}; {} left",
            if *holds { "holds" } else { "does not hold yet" },
            clock(at),
            took(remaining_ms.saturating_sub(ago))
        ),
        Event::StepProgress {
            iteration,
            total_rows,
            remaining,
            eta_ms,
            ..
        } => format!(
            "; iteration {iteration} at {}, {total_rows} rows{}{}",
            clock(at),
            remaining
                .map(|r| format!(", {r} remaining"))
                .unwrap_or_default(),
            eta_ms
                .map(|e| format!(", about {} left", took(e.saturating_sub(ago))))
                .unwrap_or_default()
        ),
        Event::StepThrottled {
            throttle, measured, ..
        } => format!(
            "; paused by its throttle \"{throttle}\" at {}: {measured}",
            clock(at)
        ),
        _ => String::new(),
    }
}
