//! `cutover apply` and `cutover rollback`.

use super::args::{ApplyArgs, RollbackArgs};
use super::{compile, report, runtime, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, EXIT_TARGETS_FAILED};
use crate::apply::notify::Webhook;
use crate::apply::{self, ApplyOptions, AutoApprove, Confirm, Context, Event, Outcome, Reporter};
use crate::plan::{self, saved, PlanError, PlanOptions};
use crate::render;
use crate::render::human::Style;
use crate::spec::Spec;
use crate::state::history::RunOutcome;
use crate::state::local::LocalBackend;
use crate::state::{Backend, LockInfo};
use anyhow::{bail, Context as _, Result};
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

/// The state backend the spec names (the local lockfile by default).
pub fn backend(spec: &Spec) -> Result<std::sync::Arc<dyn Backend>> {
    backend_of(&spec.settings)
}

/// The state backend the `migration` block's settings name.
pub fn backend_of(
    settings: &crate::spec::MigrationSettings,
) -> Result<std::sync::Arc<dyn Backend>> {
    #[allow(unused_variables)] // used only by the remote backends' features
    let name = &settings.name;
    match settings.state.as_ref().map(|s| s.kind.as_str()) {
        None | Some("local") => Ok(std::sync::Arc::new(LocalBackend::new(Path::new(".")))),
        #[cfg(feature = "postgres")]
        Some("pg") => {
            let cfg = &settings.state.as_ref().expect("matched").config;
            let s = |k: &str| cfg.get(k).and_then(|v| v.as_str()).map(str::to_string);
            let database = s("database").or_else(|| std::env::var("CUTOVER_STATE_PG").ok()).unwrap_or_default();
            let key = s("key").unwrap_or_else(|| name.clone());
            Ok(std::sync::Arc::new(crate::state::pg::PgBackend::new(&database, &key)?))
        }
        #[cfg(feature = "aws")]
        Some("s3") => {
            let cfg = &settings.state.as_ref().expect("matched").config;
            let s = |k: &str| cfg.get(k).and_then(|v| v.as_str()).map(str::to_string);
            let Some(bucket) = s("bucket") else { bail!("state \"s3\" needs a bucket") };
            let key = s("key").unwrap_or_else(|| format!("cutover/{name}.lock"));
            let config: crate::providers::Attrs = ["region", "profile", "endpoint"].iter().filter_map(|k| cfg.get(*k).map(|v| (k.to_string(), v.clone()))).collect();
            Ok(std::sync::Arc::new(crate::state::s3::S3Backend::new(&bucket, &key, config)?))
        }
        #[cfg(feature = "kubernetes")]
        Some("kubernetes") => {
            let cfg = &settings.state.as_ref().expect("matched").config;
            let s = |k: &str| cfg.get(k).and_then(|v| v.as_str()).map(str::to_string);
            let config: crate::providers::Attrs = ["config_path", "context"].iter().filter_map(|k| cfg.get(*k).map(|v| (k.to_string(), v.clone()))).collect();
            let lease = cfg.get("lease_seconds").and_then(|v| v.as_i64()).unwrap_or(15) as i32;
            Ok(std::sync::Arc::new(crate::state::kube::KubeBackend::new(
                &s("namespace").unwrap_or_else(|| "default".into()),
                &s("key").unwrap_or_else(|| name.clone()),
                lease,
                config,
            )?))
        }
        Some(other) => bail!("the state backend \"{other}\" is not available in this build; use state \"local\" or remove the state block"),
    }
}

/// Asks on the terminal; answers no when there is none.
pub struct TtyConfirm;

impl Confirm for TtyConfirm {
    fn confirm(&mut self, crossing: &crate::apply::Crossing) -> bool {
        let question = crate::eval::redact::mask(&crate::render::human::crossing(crossing));
        ask(&question)
    }
}

pub(super) fn ask(question: &str) -> bool {
    if !std::io::stdin().is_terminal() {
        return false;
    }
    eprint!("{question}\n  Only 'yes' will be accepted: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    answer.trim() == "yes"
}

/// The operator's view of apply, posting to the migration's webhooks too.
pub fn reporter(json: bool, color: bool, spec: &Spec, hooks: Vec<Webhook>) -> Box<dyn Reporter> {
    let view = view(json, color);
    let sinks: Box<dyn Reporter> = if hooks.is_empty() {
        view
    } else {
        Box::new(apply::notify::Notifier::new(
            view,
            &spec.settings.name,
            hooks,
            approval_gates(spec),
        ))
    };
    Box::new(apply::Redacting(sinks))
}

/// The addresses of the spec's approval gates.
pub fn approval_gates(spec: &Spec) -> Vec<String> {
    spec.nodes
        .iter()
        .filter(|n| {
            n.decl.kind == crate::spec::ast::NodeKind::Gate
                && n.decl.type_name == crate::providers::approval::TYPE
        })
        .map(|n| n.address.clone())
        .collect()
}

/// The `notify {}` blocks' webhooks; one whose environment variable is unset
/// is an error before anything is changed.
pub fn webhooks(settings: &crate::spec::MigrationSettings) -> Result<Vec<Webhook>> {
    settings
        .notify
        .iter()
        .map(|n| {
            let url = match (&n.webhook, &n.webhook_env) {
                (Some(u), _) => u.clone(),
                (None, Some(var)) => std::env::var(var).map_err(|_| {
                    anyhow::anyhow!("notify: the environment variable {var} (webhook_env) is not set; set it to the webhook's URL, or remove the notify block")
                })?,
                (None, None) => bail!("notify: a notify block without a webhook"),
            };
            Ok(Webhook {
                url,
                kinds: n.events.clone(),
            })
        })
        .collect()
}

fn view(json: bool, color: bool) -> Box<dyn Reporter> {
    if json {
        Box::new(render::progress::JsonLines {
            out: std::io::stdout(),
        })
    } else if std::io::stdout().is_terminal() && std::env::var_os("CUTOVER_NO_LIVE").is_none() {
        Box::new(render::progress::Live::new(color))
    } else {
        Box::new(render::progress::Plain::new(
            std::io::stdout(),
            Style { color },
        ))
    }
}

fn parse_wait(s: &Option<String>) -> Result<std::time::Duration> {
    match s {
        None => Ok(std::time::Duration::ZERO),
        Some(s) => {
            crate::eval::duration::parse(s).map_err(|e| anyhow::anyhow!("-lock-timeout: {e}"))
        }
    }
}

pub fn run_apply(args: &ApplyArgs, color: bool) -> Result<i32> {
    let (spec, graph, reg) = compile(&args.vars, false)?;
    let hooks = webhooks(&spec.settings)?;
    let backend = backend(&spec)?;
    let _lock = backend.lock(LockInfo::current("apply"), parse_wait(&args.lock_timeout)?)?;
    let doc = backend.fold(&spec.settings.name)?;
    let rt = runtime()?;
    crate::providers::set_parallelism(args.parallelism.or(spec.settings.parallelism).unwrap_or(10));
    let mut opts = PlanOptions {
        parallelism: crate::providers::parallelism(),
        targets: args.targets.clone(),
        excludes: args.excludes.clone(),
        replace: args.replace.clone(),
        lineage: None,
        running: None,
    };
    let saved_plan = match &args.plan_file {
        Some(f) => {
            let saved = saved::load(f)?;
            if saved.migration != spec.settings.name {
                bail!(
                    "{} is a plan of migration \"{}\", not \"{}\"",
                    f.display(),
                    saved.migration,
                    spec.settings.name
                );
            }
            opts.targets = saved.targets.clone();
            opts.excludes = saved.excludes.clone();
            opts.lineage = Some(saved.lineage.clone());
            Some((f.clone(), saved))
        }
        None => None,
    };
    let planned = rt
        .block_on(plan::plan(&spec, &graph, &reg, doc.as_ref(), &opts))
        .map_err(|e| match e {
            PlanError::Diagnostics(d) => report(&d),
            other => anyhow::Error::new(other),
        })?;
    match &saved_plan {
        Some((f, saved)) => {
            let why = saved::staleness(saved, &planned.plan);
            if !why.is_empty() {
                bail!(
                    "the saved plan {} is stale, so nothing was applied:\n  - {}\nMake a new one with `cutover plan -out {}`.",
                    f.display(),
                    why.join("\n  - "),
                    f.display()
                );
            }
        }
        None => {
            if !args.json {
                super::print_out(render::human::plan(&planned.plan, color))?;
            }
            // Steps that finished after the last apply died, and changes it
            // left started (found made or not), still need recording.
            let left_started = doc.as_ref().is_some_and(|d| {
                d.nodes.values().any(|s| {
                    matches!(
                        s.status,
                        crate::state::NodeStatus::Started | crate::state::NodeStatus::Interrupted
                    )
                })
            });
            let to_record =
                !planned.recovered.is_empty() || !planned.still_running.is_empty() || left_started;
            if !planned.plan.summary.has_changes() && !to_record {
                println!("Nothing to apply.");
                return Ok(EXIT_OK);
            }
            if !args.auto_approve {
                if !std::io::stdin().is_terminal() {
                    bail!("refusing to apply without confirmation: there is no terminal to ask on. Review the plan, then run `cutover apply -auto-approve`, or save it with `cutover plan -out FILE` and run `cutover apply FILE`");
                }
                if !ask("Do you want to apply this plan?") {
                    eprintln!("Apply cancelled; nothing was changed.");
                    return Ok(EXIT_ERROR);
                }
            }
        }
    }
    // From here on one thread reads the terminal, for approvals and questions.
    let terminal = if args.json {
        None
    } else {
        super::terminal::Terminal::start(&spec.settings, approval_gates(&spec))
    };
    let mut rep = reporter(args.json, color, &spec, hooks);
    if let Some(t) = &terminal {
        rep = t.reporter(rep);
    }
    let mut confirm: Box<dyn Confirm> = match (&terminal, args.auto_approve) {
        (_, true) => Box::new(AutoApprove),
        (Some(t), false) => t.confirm(),
        (None, false) => Box::new(TtyConfirm),
    };
    let cx = Context {
        spec: &spec,
        graph: &graph,
        registry: &reg,
        backend: backend.as_ref(),
    };
    let apply_opts = ApplyOptions {
        parallelism: opts.parallelism,
        strict_waves: args.strict_waves,
        max_waves: args.max_waves,
        stop_timeout: crate::eval::duration::parse(&args.stop_timeout)
            .map_err(|e| anyhow::anyhow!("--stop-timeout: {e}"))?,
    };
    let log = apply::history::RunLog::start(
        backend.clone(),
        apply::history::RunStart {
            command: "apply",
            lineage: doc.as_ref().map_or(&planned.lineage, |d| &d.lineage),
            plan: Some(planned.plan.fingerprint.clone()),
            runs: spec.settings.history.runs,
            measurements: spec.settings.history.measurements,
            events: spec.settings.history.events,
        },
    )
    .context("recording the run in the history")?;
    let mut rep = log.tap(rep);
    let outcome = rt.block_on(apply::apply(
        &cx,
        &planned,
        doc,
        &apply_opts,
        rep.as_mut(),
        confirm.as_mut(),
    ));
    let (ok, summary, code, kind) = match &outcome {
        Ok(o) => conclusion(o),
        Err(e) => (false, e.to_string(), EXIT_ERROR, RunOutcome::Error),
    };
    let logged = log.finish(kind, Some(summary.clone()));
    // Fold what was journaled, whatever happened.
    let folded = backend.fold(&spec.settings.name);
    outcome?;
    folded.context("folding the journal into the lockfile")?;
    logged.context("recording the end of the run in the history")?;
    rep.report(&Event::Finished { ok, summary });
    Ok(code)
}

/// What an apply's outcome means: ok, the last line, the exit status and the history's word for it.
fn conclusion(outcome: &Outcome) -> (bool, String, i32, RunOutcome) {
    match outcome {
        Outcome::Complete => (
            true,
            "Apply complete.".to_string(),
            EXIT_OK,
            RunOutcome::Succeeded,
        ),
        Outcome::TargetsFailed { targets } => (
            false,
            format!(
                "Apply complete except {} fleet {} that failed within the error budget: {}. Apply again to retry only {}.",
                targets.len(),
                if targets.len() == 1 { "target" } else { "targets" },
                targets.join(", "),
                if targets.len() == 1 { "it" } else { "them" }
            ),
            EXIT_TARGETS_FAILED,
            RunOutcome::TargetsFailed,
        ),
        Outcome::Partial { reason } if reason.starts_with("stopped after wave") => (
            true,
            "Apply stopped as asked.".to_string(),
            EXIT_OK,
            RunOutcome::Stopped,
        ),
        Outcome::Interrupted { .. } => (
            false,
            "Apply interrupted: what finished is recorded; apply again to resume.".to_string(),
            EXIT_INTERRUPTED,
            RunOutcome::Interrupted,
        ),
        Outcome::Partial { .. } => (
            false,
            "Apply stopped before the end.".to_string(),
            EXIT_ERROR,
            RunOutcome::Stopped,
        ),
        Outcome::Failed {
            failed,
            rollback: Some(r),
        } => {
            let (line, kind) = match (&r.failed, r.short_of()) {
                (Some(_), _) => (
                    format!(
                        "Apply failed at {}, and the rollback failed too; still to undo: {}.",
                        failed.join(", "),
                        r.left.join(", ")
                    ),
                    RunOutcome::Failed,
                ),
                (None, Some(short)) => (
                    format!(
                        "Apply failed at {}; rolled back as far as it may: {}; {short}.",
                        failed.join(", "),
                        r.counts()
                    ),
                    RunOutcome::RolledBack,
                ),
                (None, None) => (
                    format!(
                        "Apply failed at {}; rolled back: {}.",
                        failed.join(", "),
                        r.counts()
                    ),
                    RunOutcome::RolledBack,
                ),
            };
            (false, line, EXIT_ERROR, kind)
        }
        Outcome::Failed {
            failed,
            rollback: None,
        } => (
            false,
            format!("Apply failed at {}.", failed.join(", ")),
            EXIT_ERROR,
            RunOutcome::Failed,
        ),
    }
}

pub fn run_rollback(args: &RollbackArgs, color: bool) -> Result<i32> {
    let (spec, graph, reg) = compile(&args.vars, false)?;
    crate::providers::set_parallelism(spec.settings.parallelism.unwrap_or(10));
    let hooks = webhooks(&spec.settings)?;
    let backend = backend(&spec)?;
    let _lock = backend.lock(
        LockInfo::current("rollback"),
        parse_wait(&args.lock_timeout)?,
    )?;
    let Some(mut doc) = backend.fold(&spec.settings.name)? else {
        println!("Nothing to roll back: there is no lockfile.");
        return Ok(EXIT_OK);
    };
    let cx = Context {
        spec: &spec,
        graph: &graph,
        registry: &reg,
        backend: backend.as_ref(),
    };
    let past = past_points(&cx, &doc, &args.past)?;
    let entries = apply::undo::entries(&cx, &doc, &vec![true; spec.nodes.len()], &past);
    if entries.is_empty() {
        println!("Nothing to roll back.");
        return Ok(EXIT_OK);
    }
    if !args.json {
        print_rollback_plan(&spec, &entries);
    }
    if !past.is_empty() {
        eprintln!("{}", past_warning(&cx, &doc, &past));
    }
    if !args.auto_approve {
        if !std::io::stdin().is_terminal() {
            bail!("refusing to roll back without confirmation: there is no terminal to ask on; pass -auto-approve");
        }
        if !ask("Do you want to roll back?") {
            eprintln!("Rollback cancelled; nothing was changed.");
            return Ok(EXIT_ERROR);
        }
    }
    let log = apply::history::RunLog::start(
        backend.clone(),
        apply::history::RunStart {
            command: "rollback",
            lineage: &doc.lineage,
            plan: None,
            runs: spec.settings.history.runs,
            measurements: spec.settings.history.measurements,
            events: spec.settings.history.events,
        },
    )
    .context("recording the run in the history")?;
    let mut rep = log.tap(reporter(args.json, color, &spec, hooks));
    let report = runtime()?.block_on(apply::rollback(&cx, &mut doc, &past, rep.as_mut()));
    let (kind, message) = match &report {
        Ok(r) if r.is_complete() => (RunOutcome::Succeeded, r.summary()),
        Ok(r) => (RunOutcome::Failed, r.summary()),
        Err(e) => (RunOutcome::Error, e.to_string()),
    };
    let logged = log.finish(kind, Some(message));
    let folded = backend.fold(&spec.settings.name);
    let report = report?;
    folded?;
    logged.context("recording the end of the run in the history")?;
    Ok(if report.is_complete() {
        EXIT_OK
    } else {
        EXIT_ERROR
    })
}

/// The rollback plan as `cutover rollback` shows it before asking.
fn print_rollback_plan(spec: &Spec, entries: &[(usize, apply::undo::Undo)]) {
    use apply::undo::Undo;
    println!("Rollback plan, in order:");
    for (id, undo) in entries {
        let what = match undo {
            Undo::Restore(Some(_)) => {
                "restore its object to the state before the migration".to_string()
            }
            Undo::Restore(None) => "remove its object (it did not exist before)".to_string(),
            Undo::RestoreAfter { block, .. } => {
                format!("restore its object to the state {block} left")
            }
            Undo::SameObject => "restored with its object".to_string(),
            Undo::RunRollback => "run its rollback block".to_string(),
            Undo::Reset => "forget that it passed".to_string(),
            Undo::Keep(reason) => format!("kept: {reason}"),
            Undo::Protected { by } => format!("kept: {}", Undo::protected_reason(by)),
        };
        println!("  {}: {what}", spec.nodes[*id].address);
    }
}

/// The points of no return named with `--past`: each must be one that has run.
fn past_points(cx: &Context, doc: &crate::state::Lockfile, past: &[String]) -> Result<Vec<usize>> {
    let ran = apply::undo::points_of_no_return_run(cx, doc);
    past.iter()
        .map(|a| {
            let id = cx.spec.node_by_address(a).ok_or_else(|| {
                anyhow::anyhow!("--past {a}: the spec has no such node; `cutover state list` shows what has run")
            })?;
            if !ran.contains(&id) {
                bail!("--past {a}: it is not a point of no return that has run (an `irreversible` step with no rollback block, recorded as done); nothing to roll back past");
            }
            Ok(id)
        })
        .collect()
}

/// What rolling back past points of no return destroys, said before asking.
fn past_warning(cx: &Context, doc: &crate::state::Lockfile, past: &[usize]) -> String {
    let names: Vec<&str> = past
        .iter()
        .map(|p| cx.spec.nodes[*p].address.as_str())
        .collect();
    let kept = apply::undo::protected_by(cx, doc, &[]);
    let unprotected = apply::undo::protected_by(cx, doc, past);
    let exposed: Vec<&str> = (0..cx.spec.nodes.len())
        .filter(|&i| kept[i].is_some() && unprotected[i].is_none())
        .filter(|&i| doc.nodes.contains_key(&cx.spec.nodes[i].address))
        .map(|i| cx.spec.nodes[i].address.as_str())
        .collect();
    format!(
        "WARNING: rolling back past the point of no return {}. It has run and cannot be undone; undoing what it depends on ({}) may destroy data that exists nowhere else now. {} will run again on the next apply.",
        names.join(", "),
        if exposed.is_empty() { "nothing".to_string() } else { exposed.join(", ") },
        names.join(", ")
    )
}
