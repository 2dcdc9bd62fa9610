//! `cutover state list|show|resolve` (`repair` in [`super::repair`]), `cutover output`, `cutover force-unlock`,
//! `cutover approve`.

use super::apply::backend;
use super::args::{StateCommand, VarArgs};
use super::{compile, EXIT_OK};
use crate::state::{lockfile, LockInfo, NodeStatus, Record};
use anyhow::{bail, Result};

pub fn run(cmd: &StateCommand) -> Result<i32> {
    let vars = VarArgs::default();
    let (spec, _, _) = compile(&vars, true)?;
    let backend = backend(&spec)?;
    match cmd {
        StateCommand::List => {
            let Some(doc) = backend.read(&spec.settings.name)? else {
                println!("No state: nothing has been applied.");
                return Ok(EXIT_OK);
            };
            let width = doc.nodes.keys().map(|k| k.len()).max().unwrap_or(0);
            for (addr, s) in &doc.nodes {
                let status = serde_json::to_value(s.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                let when = s
                    .finished_at
                    .as_deref()
                    .or(s.started_at.as_deref())
                    .unwrap_or("");
                println!("{addr:<width$}  {status:<11}  {when}");
            }
        }
        StateCommand::Repair { auto_approve } => {
            return super::repair::run(backend.as_ref(), &spec.settings.name, *auto_approve)
        }
        StateCommand::Show { address } => {
            let doc = backend.read(&spec.settings.name)?;
            let Some(s) = doc.as_ref().and_then(|d| d.nodes.get(address)) else {
                bail!("the state has no node {address}; `cutover state list` shows what it has");
            };
            let v = lockfile::sorted(serde_json::to_value(s)?);
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        StateCommand::Resolve {
            address,
            done,
            failed: _,
            rolled_back,
        } => {
            let _lock = backend.lock(
                LockInfo::current("state resolve"),
                std::time::Duration::ZERO,
            )?;
            let Some(doc) = backend.fold(&spec.settings.name)? else {
                bail!("there is no state to resolve");
            };
            let Some(mut s) = doc.nodes.get(address).cloned() else {
                bail!("the state has no node {address}; `cutover state list` shows what it has");
            };
            let (status, word) = if *done {
                (NodeStatus::Done, "done")
            } else if *rolled_back {
                (NodeStatus::RolledBack, "rolled back")
            } else {
                (NodeStatus::Failed, "failed")
            };
            s.status = status;
            s.finished_at =
                Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
            s.error =
                (status == NodeStatus::Failed).then(|| "marked failed by the operator".to_string());
            backend.append(&[Record::node(&doc.lineage, address, s)])?;
            backend.fold(&spec.settings.name)?;
            println!("{address} is now recorded as {word}.");
        }
    }
    Ok(EXIT_OK)
}

pub fn output(name: Option<&str>, json: bool) -> Result<i32> {
    let (spec, _, _) = compile(&VarArgs::default(), true)?;
    let backend = backend(&spec)?;
    let outputs = backend
        .read(&spec.settings.name)?
        .map(|d| d.outputs)
        .unwrap_or_default();
    if let Some(n) = name {
        let Some(v) = outputs.get(n) else {
            bail!("no output named \"{n}\" was recorded; outputs are recorded when an apply completes");
        };
        let shown = if v.get("sensitive_digest").is_some() {
            serde_json::json!("(sensitive)")
        } else {
            v.clone()
        };
        match (json, &shown) {
            (false, serde_json::Value::String(s)) => println!("{s}"),
            _ => println!("{shown}"),
        }
        return Ok(EXIT_OK);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&outputs)?);
        return Ok(EXIT_OK);
    }
    for (k, v) in &outputs {
        let shown = if v.get("sensitive_digest").is_some() {
            "(sensitive)".to_string()
        } else {
            v.to_string()
        };
        println!("{k} = {shown}");
    }
    Ok(EXIT_OK)
}

pub fn force_unlock(id: &str) -> Result<i32> {
    let (spec, _, _) = compile(&VarArgs::default(), true)?;
    let backend = backend(&spec)?;
    backend.force_unlock(id)?;
    println!("The lock {id} was removed.");
    Ok(EXIT_OK)
}

/// Records an approval of an approval gate in the journal, without the lock
/// (the apply that waits at the gate holds it).
pub fn approve(address: &str, comment: Option<String>) -> Result<i32> {
    let (spec, _, _) = compile(&VarArgs::default(), true)?;
    let gates = super::apply::approval_gates(&spec);
    if !gates.iter().any(|g| g == address) {
        let known = if gates.is_empty() {
            "this migration has none".to_string()
        } else {
            format!("this migration has {}", gates.join(", "))
        };
        bail!("{address} is not an approval gate; {known}");
    }
    let backend = backend(&spec)?;
    let (by, holder) =
        record_approval(backend.as_ref(), &spec.settings.name, address, comment, "")?;
    let waiting = format!(
        "the {} by {}@{} goes on at the gate's next poll",
        holder.operation, holder.who, holder.host
    );
    println!("Approved {address} as {by}; {waiting}.");
    Ok(EXIT_OK)
}

/// Appends an approval of `address` to the journal, for the apply that runs
/// now; returns who approved (with `origin` appended) and that apply's holder.
pub fn record_approval(
    backend: &dyn crate::state::Backend,
    migration: &str,
    address: &str,
    comment: Option<String>,
    origin: &str,
) -> Result<(String, LockInfo)> {
    let Some(doc) = backend.read(migration)? else {
        bail!("nothing has been applied yet; approve {address} while apply waits at it");
    };
    // An approval counts for the apply running when it is given, so with
    // none running there is nothing to approve.
    let Some(holder) = backend.holder()? else {
        bail!("no apply is running; approve {address} while apply waits at it");
    };
    let me = LockInfo::current("approve");
    let by = format!("{}@{}{origin}", me.who, me.host);
    let at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    backend.append(&[Record {
        lineage: doc.lineage.clone(),
        change: crate::state::Change::Approval {
            address: address.to_string(),
            by: by.clone(),
            at,
            comment,
        },
    }])?;
    Ok((by, holder))
}
