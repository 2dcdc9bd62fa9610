//! The command line: clap definitions, one handler per command, exit codes
//! and TTY detection. Handlers glue library calls together and write what
//! `render` returns; anything a library user would need lives elsewhere.

mod apply;
mod args;
mod fmt;
mod history;
mod init;
mod repair;
mod show;
mod state;
mod terminal;

use crate::plan::{self, saved, PlanError, PlanOptions};
use crate::providers::Registry;
use crate::render;
use crate::spec::{Diagnostics, VarInputs};
use anyhow::{Context as _, Result};
use args::{Cli, Command, GraphFormat, PlanArgs, VarArgs};
use clap::{CommandFactory, Parser};
use std::io::{IsTerminal, Write};
use std::path::Path;

/// Exit codes, as `--help` and the README document them.
pub const EXIT_OK: i32 = 0;
pub const EXIT_ERROR: i32 = 1;
pub const EXIT_CHANGES: i32 = 2;
pub const EXIT_UNFORMATTED: i32 = 3;
/// apply: every node ran except fleet targets that failed within the error budget.
pub const EXIT_TARGETS_FAILED: i32 = 4;
/// An apply stopped by SIGINT or SIGTERM (128 + SIGINT, as shells report it).
pub const EXIT_INTERRUPTED: i32 = 130;

/// An error whose message has been printed already.
#[derive(Debug)]
struct Reported;

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("reported")
    }
}

impl std::error::Error for Reported {}

/// Runs the command line; returns the process exit code.
pub fn main() -> i32 {
    let raw: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if raw
        .get(1)
        .is_some_and(|a| a == crate::providers::supervise::SUBCOMMAND)
    {
        // An exec step's supervisor: its arguments are the step's, untouched.
        let args: Vec<String> = raw[2..]
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        return crate::providers::supervise::main(&args);
    }
    let argv = args::normalize(std::env::args_os().collect(), &Cli::command());
    let cli = match Cli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_ERROR } else { EXIT_OK };
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) if e.is::<Reported>() => EXIT_ERROR,
        Err(e) => {
            eprintln!("Error: {}", crate::eval::redact::mask(&format!("{e:#}")));
            EXIT_ERROR
        }
    }
}

fn run(cli: Cli) -> Result<i32> {
    if let Some(dir) = &cli.chdir {
        std::env::set_current_dir(dir)
            .with_context(|| format!("cannot change to directory {}", dir.display()))?;
    }
    let color =
        !cli.no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal();
    match cli.command {
        Command::Init { dir } => init::run(dir.as_deref().unwrap_or(Path::new("."))),
        Command::Validate { vars } => validate(&vars),
        Command::Fmt {
            check,
            diff,
            recursive,
            paths,
        } => fmt::run(&paths, check, diff, recursive),
        Command::Graph { format, vars } => graph(format, &vars),
        Command::Plan(args) => plan(&args, color),
        Command::Show {
            plan_file,
            format,
            markdown,
        } => show::run(plan_file.as_deref(), format, &markdown, color),
        Command::Apply(args) => apply::run_apply(&args, color),
        Command::History => history::list(),
        Command::Report { run, format, out } => {
            history::report(run.as_deref(), format, out.as_deref())
        }
        Command::Status { watch } => history::status(watch),
        Command::Rollback(args) => apply::run_rollback(&args, color),
        Command::State(cmd) => state::run(&cmd),
        Command::Output { name, json } => state::output(name.as_deref(), json),
        Command::ForceUnlock { id } => state::force_unlock(&id),
        Command::Approve { address, comment } => state::approve(&address, comment),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "cutover",
                &mut std::io::stdout(),
            );
            Ok(EXIT_OK)
        }
    }
}

fn report(d: &Diagnostics) -> anyhow::Error {
    eprint!("{}", crate::eval::redact::mask(&d.render(Path::new("."))));
    let n = d.len();
    eprintln!(
        "\n{n} {} found; nothing was changed.",
        if n == 1 { "problem" } else { "problems" }
    );
    anyhow::Error::new(Reported)
}

fn inputs(v: &VarArgs, allow_missing: bool) -> Result<VarInputs> {
    let mut vars = Vec::new();
    for kv in &v.vars {
        let (k, val) = kv
            .split_once('=')
            .with_context(|| format!("-var {kv}: expected NAME=VALUE"))?;
        vars.push((k.trim().to_string(), val.to_string()));
    }
    Ok(VarInputs {
        vars,
        files: v.var_files.clone(),
        env: Vec::new(),
        allow_missing,
    }
    .with_process_env())
}

fn compile(
    v: &VarArgs,
    allow_missing: bool,
) -> Result<(crate::spec::Spec, crate::graph::Graph, Registry)> {
    let inputs = inputs(v, allow_missing)?;
    crate::compile(Path::new("."), &inputs).map_err(|d| report(&d))
}

fn validate(v: &VarArgs) -> Result<i32> {
    let (spec, graph, reg) = compile(v, true)?;
    let d = plan::check(&spec, &graph, &reg);
    if d.has_errors() {
        return Err(report(&d));
    }
    println!(
        "The migration \"{}\" is valid: {} in {}.",
        spec.settings.name,
        crate::render::count(spec.nodes.len(), "node"),
        crate::render::count(graph.wave_count() as usize, "wave")
    );
    Ok(EXIT_OK)
}

fn graph(format: GraphFormat, v: &VarArgs) -> Result<i32> {
    let (spec, graph, _) = compile(v, true)?;
    let view = render::graph::GraphView::of_spec(&spec, &graph);
    let text = match format {
        GraphFormat::Dot => view.dot(),
        GraphFormat::Mermaid => view.mermaid(),
    };
    print_out(&text)?;
    Ok(EXIT_OK)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Hands the pages of freed memory back to the system now, not seconds
/// later: after a phase frees much (a plan's syntax trees), what the next
/// allocates then counts once in the resident size, not on top of them.
fn return_freed_memory() {
    // SAFETY: `arena.<all>.purge` reads and writes no value (all pointers
    // null, length 0); its name is a NUL-terminated constant.
    let _ = unsafe {
        tikv_jemalloc_sys::mallctl(
            c"arena.4096.purge".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        )
    };
}

fn plan(args: &PlanArgs, color: bool) -> Result<i32> {
    let (mut spec, graph, reg) = compile(&args.vars, false)?;
    let backend = apply::backend(&spec)?;
    // An apply may be running: the plan reads what it journaled so far.
    let lock = backend.read(&spec.settings.name)?;
    let running = backend
        .holder()?
        .filter(|h| matches!(h.operation.as_str(), "apply" | "rollback"))
        .map(|h| h.to_string());
    if let (Some(h), render::Format::Human) = (&running, args.format) {
        eprintln!("Note: the state is held by {h}: this plan shows what it has recorded so far (`cutover status` shows it live).\n");
    }
    crate::providers::set_parallelism(args.parallelism.or(spec.settings.parallelism).unwrap_or(10));
    let opts = PlanOptions {
        parallelism: crate::providers::parallelism(),
        targets: args.targets.clone(),
        excludes: args.excludes.clone(),
        replace: args.replace.clone(),
        lineage: None,
        running,
    };
    let failed = |e| match e {
        PlanError::Diagnostics(d) => report(&d),
        other => anyhow::Error::new(other),
    };
    let evaluated = runtime()?
        .block_on(plan::evaluate(&spec, &graph, &reg, lock.as_ref(), &opts))
        .map_err(failed)?;
    // Only the diff is left, and it reads no expression.
    spec.release_syntax();
    return_freed_memory();
    let mut planned = evaluated
        .finish(&spec, &graph, &reg, lock.as_ref(), &opts)
        .map_err(failed)?;
    planned.plan.directory = Some(show::migration_directory());
    // The plan is all that is printed: the spec and state go before its text is made.
    drop((spec, graph, reg, lock));
    print_rendered(
        render::plan(
            &planned.plan,
            args.format,
            color,
            &show::markdown_options(&planned.plan, &args.markdown),
        ),
        args.format,
    )?;
    if let Some(out) = &args.out {
        saved::save(&planned.plan, out)?;
        eprintln!(
            "Saved the plan to {}; apply it with `cutover apply {}`.",
            out.display(),
            out.display()
        );
    }
    if args.detailed_exitcode && planned.plan.summary.has_changes() {
        return Ok(EXIT_CHANGES);
    }
    Ok(EXIT_OK)
}

fn print_out(text: impl Into<String>) -> Result<()> {
    write_stdout(&crate::eval::redact::mask_owned(text.into()))
}

/// Prints what was rendered in `format`, masked ([`masked`]).
fn print_rendered(text: String, format: render::Format) -> Result<()> {
    write_stdout(&masked(text, format == render::Format::Json))
}

/// A rendered text with every remembered secret masked: a JSON document
/// inside its strings only, so that a secret spelled like one of its tokens
/// (`true`, a number) cannot break it.
fn masked(text: String, json: bool) -> String {
    if json {
        crate::eval::redact::mask_json_text(text)
    } else {
        crate::eval::redact::mask_owned(text)
    }
}

fn write_stdout(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("writing to stdout"),
    }
}
