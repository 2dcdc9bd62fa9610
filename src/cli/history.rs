//! `cutover history`, `cutover report [RUN]` and `cutover status [--watch]`:
//! what the state backend recorded of every run, read without the lock.

use super::args::{ReportFormat, VarArgs};
use super::{compile, masked, print_out, write_stdout, EXIT_ERROR, EXIT_OK};
use crate::render::{history, html, report};
use crate::state::history::find;
use anyhow::{Context as _, Result};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

pub fn list() -> Result<i32> {
    let (spec, _, _) = compile(&VarArgs::default(), true)?;
    let backend = super::apply::backend(&spec)?;
    let doc = backend.read(&spec.settings.name)?;
    let held = backend.holder()?.is_some();
    let runs = doc.map(|d| d.history).unwrap_or_default();
    print_out(history::list(&runs, held, chrono::Utc::now()))?;
    Ok(EXIT_OK)
}

pub fn report(run: Option<&str>, format: ReportFormat, out: Option<&Path>) -> Result<i32> {
    let (spec, graph, _) = compile(&VarArgs::default(), true)?;
    let doc = super::apply::backend(&spec)?.read(&spec.settings.name)?;
    let runs = doc.map(|d| d.history).unwrap_or_default();
    let run = match find(&runs, run) {
        Ok(r) => r,
        Err(why) => {
            eprintln!("Error: {why}");
            return Ok(EXIT_ERROR);
        }
    };
    let dependencies: BTreeMap<String, Vec<String>> = (0..spec.nodes.len())
        .map(|id| {
            (
                spec.nodes[id].address.clone(),
                graph
                    .dependencies(id)
                    .into_iter()
                    .map(|d| spec.nodes[d].address.clone())
                    .collect(),
            )
        })
        .collect();
    let r = report::Builder {
        migration: &spec.settings.name,
        run,
        dependencies: &dependencies,
    }
    .build();
    let text = match format {
        ReportFormat::Markdown => report::markdown(&r),
        ReportFormat::Html => html::page(&r),
        ReportFormat::Json => report::json(&r),
    };
    let text = masked(text, matches!(format, ReportFormat::Json));
    match out {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?
        }
        None => write_stdout(&text)?,
    }
    Ok(EXIT_OK)
}

pub fn status(watch: Option<u64>) -> Result<i32> {
    let (spec, _, _) = compile(&VarArgs::default(), true)?;
    let backend = super::apply::backend(&spec)?;
    let tty = std::io::stdout().is_terminal();
    let mut watched = false;
    loop {
        let doc = backend.read(&spec.settings.name)?;
        let open = doc
            .as_ref()
            .and_then(|d| d.history.last())
            .is_some_and(|r| r.is_open());
        let mut holder = backend.holder()?;
        // A run's end is recorded just before its lock is released: the
        // refresh that shows the end waits a moment for the release.
        let ended = watched && !open;
        for _ in 0..20 {
            if !ended || holder.is_none() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
            holder = backend.holder()?;
        }
        watched |= open;
        let text = history::status(doc.as_ref(), holder.as_ref(), chrono::Utc::now());
        match watch {
            Some(_) if tty => print_out(format!("\x1b[2J\x1b[H{text}"))?,
            Some(_) => print_out(format!("{text}\n"))?,
            None => print_out(&text)?,
        }
        match watch {
            // Watching ends with the run (or at once when nothing runs).
            Some(secs) if open && holder.is_some() => {
                std::thread::sleep(Duration::from_secs(secs.max(1)))
            }
            _ => return Ok(EXIT_OK),
        }
    }
}
