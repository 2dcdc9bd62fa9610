//! `cutover state repair`: the way out of a damaged journal.
//!
//! Every command that reads state stops at a damaged journal record rather
//! than lose it silently. Repair shows which records are intact and which are
//! damaged or of another lineage, and what dropping them means; with the
//! operator's yes it folds the intact ones into the lockfile, keeps a copy of
//! the damaged journal beside the spec and empties the journal.

use super::EXIT_OK;
use crate::state::backend::apply_records;
use crate::state::journal::{salvage, Change, Record};
use crate::state::{Backend, LockInfo};
use anyhow::{bail, Result};
use std::io::IsTerminal;

/// Runs `cutover state repair` against `backend`.
pub fn run(backend: &dyn Backend, migration: &str, auto_approve: bool) -> Result<i32> {
    let _lock = backend.lock(LockInfo::current("state repair"), std::time::Duration::ZERO)?;
    let doc = backend.read_document(migration)?;
    let text = backend.journal_text()?;
    let lines = salvage(&text);
    let lineage = doc.as_ref().map(|d| d.lineage.clone()).or_else(|| {
        lines
            .iter()
            .find_map(|(_, r)| r.as_ref().ok().map(|r| r.lineage.clone()))
    });
    let mut keep: Vec<(usize, Record)> = Vec::new();
    let mut drop: Vec<(usize, String)> = Vec::new();
    for (line, r) in lines {
        match r {
            Ok(r) if Some(&r.lineage) == lineage.as_ref() => keep.push((line, r)),
            Ok(r) => drop.push((line, format!("of another lineage ({})", r.lineage))),
            Err(reason) => drop.push((line, reason)),
        }
    }
    if drop.is_empty() {
        println!("{} is intact: nothing to repair.", backend.journal_name());
        return Ok(EXIT_OK);
    }
    println!("{}:", backend.journal_name());
    println!("  keep {} record(s):", keep.len());
    for (line, r) in &keep {
        println!("    line {line}: {}", describe(r));
    }
    println!("  drop {} line(s):", drop.len());
    for (line, reason) in &drop {
        println!("    line {line}: {reason}");
    }
    println!("A dropped transition is forgotten: a step it recorded may run again, or be undone by a rollback it should not be. Check the nodes near it with `cutover state show ADDR` after the repair.");
    if !auto_approve {
        if !std::io::stdin().is_terminal() {
            bail!("refusing to repair without confirmation: there is no terminal to ask on; pass -auto-approve");
        }
        if !super::apply::ask("Drop these lines and fold the rest into the state?") {
            eprintln!("Repair cancelled; nothing was changed.");
            return Ok(super::EXIT_ERROR);
        }
    }
    let aside = format!(
        "cutover.lock.journal.damaged-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
    );
    crate::providers::local::write_atomic(
        std::path::Path::new(&aside),
        text.as_bytes(),
        Some(0o600),
    )?;
    let records: Vec<Record> = keep.into_iter().map(|(_, r)| r).collect();
    let count = records.len();
    if let Some(d) = apply_records(doc, records, migration, &backend.journal_name())? {
        backend.write(&d)?;
    }
    backend.clear()?;
    println!(
        "Repaired: {} record(s) folded into {}, {} line(s) dropped; the damaged journal is kept in {aside}.",
        count,
        backend.describe(),
        drop.len()
    );
    Ok(EXIT_OK)
}

fn describe(r: &Record) -> String {
    match &r.change {
        Change::Node { address, state } => {
            let status = serde_json::to_value(state.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            format!("{address} {status}")
        }
        Change::Outputs { .. } => "outputs".into(),
        Change::SpecDigest { .. } => "spec digest".into(),
        Change::Approval { address, by, .. } => format!("{address} approved by {by}"),
        Change::RunStarted { run } => format!("run {} ({}) started", run.id, run.command),
        Change::RunEvents { run, events } => format!("run {run}: {} event(s)", events.len()),
        Change::RunFinished { run, end } => format!("run {run} {}", end.outcome.as_str()),
    }
}
