//! Command-line arguments, parsed into plain values.

use crate::render::Format;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::ffi::OsString;
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Flags shared with Terraform also take its single-dash spelling (-var, -out, -target, -chdir, -no-color).

Exit codes:
  0  success; for `plan -detailed-exitcode`: no changes; for `apply --max-waves N`: stopped as asked
  1  error: a bad spec, an unreachable system or a refused or stale plan (nothing was changed),
     a failed apply (rolled back or not), a rollback that stopped short of a point of no return,
     a held lock
  2  `plan -detailed-exitcode`: the plan has changes
  3  `fmt -check`: some files are not formatted
  4  apply ran everything except fleet targets that failed within their error budget;
     apply again to retry only them
  130  apply was interrupted (SIGINT or SIGTERM); apply again to resume

Instance addresses carry double quotes; quote them for the shell: -target 'module.tenant[\"b\"]'.";

#[derive(Parser, Debug)]
#[command(name = "cutover", version, about = "Production migration runbooks as code: plan, apply in gated waves, resume, roll back", after_help = AFTER_HELP)]
pub struct Cli {
    /// Act on the migration in DIR instead of the current directory.
    #[arg(long, global = true, value_name = "DIR")]
    pub chdir: Option<PathBuf>,
    /// Never colour the output (also: NO_COLOR=1).
    #[arg(long = "no-color", global = true)]
    pub no_color: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone, Default)]
pub struct VarArgs {
    /// Set a variable: -var NAME=VALUE (repeatable; overrides -var-file and CUTOVER_VAR_NAME).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Read variables from an HCL file of NAME = VALUE lines (repeatable).
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_files: Vec<PathBuf>,
}

/// How the markdown view is fitted.
#[derive(Args, Debug, Clone)]
pub struct MarkdownArgs {
    /// Longest markdown to print, in bytes: the summary, points of no return
    /// and rollback plan always stay; the per-node middle is cut to fit.
    #[arg(long = "max-bytes", value_name = "N", default_value_t = crate::render::markdown::DEFAULT_MAX_BYTES)]
    pub max_bytes: usize,
    /// Markdown for $GITHUB_STEP_SUMMARY: up to 1,000,000 bytes, no comment marker.
    #[arg(long)]
    pub summary: bool,
}

#[derive(Args, Debug, Clone)]
pub struct PlanArgs {
    #[command(flatten)]
    pub vars: VarArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    #[command(flatten)]
    pub markdown: MarkdownArgs,
    /// Save the plan, with a fingerprint of everything observed, for `cutover apply FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 0 when there are no changes, 2 when there are, 1 on error.
    #[arg(long = "detailed-exitcode")]
    pub detailed_exitcode: bool,
    /// Plan only ADDR and what it depends on (repeatable; a module or rollout address selects all of it).
    #[arg(long = "target", value_name = "ADDR", value_parser = address)]
    pub targets: Vec<String>,
    /// Leave ADDR and everything that depends on it out of the plan (repeatable).
    #[arg(long = "exclude", value_name = "ADDR", value_parser = address)]
    pub excludes: Vec<String>,
    /// Plan to run the done step ADDR again (repeatable).
    #[arg(long = "replace", value_name = "ADDR", value_parser = address)]
    pub replace: Vec<String>,
    /// How many reads of real systems run at once (default: the migration's, else 10).
    #[arg(long, value_name = "N", value_parser = parse_parallelism)]
    pub parallelism: Option<usize>,
}

#[derive(Args, Debug, Clone)]
pub struct ApplyArgs {
    /// A plan saved with `cutover plan -out FILE`; refused if what it observed has changed.
    pub plan_file: Option<PathBuf>,
    #[command(flatten)]
    pub vars: VarArgs,
    /// Apply without asking (also at points of no return).
    #[arg(long = "auto-approve")]
    pub auto_approve: bool,
    /// How many nodes run at once (default: the migration's, else 10).
    #[arg(long, value_name = "N", value_parser = parse_parallelism)]
    pub parallelism: Option<usize>,
    /// Start a wave only when every node of the wave before has finished.
    #[arg(long = "strict-waves")]
    pub strict_waves: bool,
    /// Stop after wave N; apply again to continue.
    #[arg(long = "max-waves", value_name = "N")]
    pub max_waves: Option<u32>,
    /// After SIGINT or SIGTERM, how long running steps and resource changes
    /// may finish before they are cancelled (gates and waits stop at once).
    #[arg(long = "stop-timeout", value_name = "DURATION", default_value = "20s")]
    pub stop_timeout: String,
    /// Apply only ADDR and what it depends on (repeatable).
    #[arg(long = "target", value_name = "ADDR", value_parser = address)]
    pub targets: Vec<String>,
    /// Leave ADDR and everything that depends on it out (repeatable).
    #[arg(long = "exclude", value_name = "ADDR", value_parser = address)]
    pub excludes: Vec<String>,
    /// Run the done step ADDR again (repeatable).
    #[arg(long = "replace", value_name = "ADDR", value_parser = address)]
    pub replace: Vec<String>,
    /// Wait this long for another operation's lock (e.g. "30s"; default: do not wait).
    #[arg(long = "lock-timeout", value_name = "DURATION")]
    pub lock_timeout: Option<String>,
    /// Print one JSON event per line instead of the progress view.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug, Clone)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub vars: VarArgs,
    /// Roll back without asking.
    #[arg(long = "auto-approve")]
    pub auto_approve: bool,
    /// Wait this long for another operation's lock.
    #[arg(long = "lock-timeout", value_name = "DURATION")]
    pub lock_timeout: Option<String>,
    /// Print one JSON event per line.
    #[arg(long)]
    pub json: bool,
    /// Also undo what this point of no return (a step that has run and
    /// cannot be undone) depends on. Without it, rollback stops short of it.
    #[arg(long = "past", value_name = "ADDR", value_parser = address)]
    pub past: Vec<String>,
}

#[derive(Subcommand, Debug, Clone)]
pub enum StateCommand {
    /// Every node the lockfile records, with its status.
    List,
    /// One node's record as JSON.
    Show {
        #[arg(value_parser = address)]
        address: String,
    },
    /// Record by hand how an interrupted step ended.
    #[command(group(clap::ArgGroup::new("outcome").required(true)))]
    Resolve {
        #[arg(value_parser = address)]
        address: String,
        /// It completed.
        #[arg(long, group = "outcome")]
        done: bool,
        /// It did not complete (apply runs it again).
        #[arg(long, group = "outcome")]
        failed: bool,
        /// Its effect was undone by hand (rollback skips it).
        #[arg(long = "rolled-back", group = "outcome")]
        rolled_back: bool,
    },
    /// Show which journal records a damaged journal still holds and which it
    /// would drop; with confirmation, fold what is intact and set the damaged
    /// journal aside (never deleted).
    Repair {
        /// Repair without asking.
        #[arg(long = "auto-approve")]
        auto_approve: bool,
    },
}

/// Formats of `cutover report`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportFormat {
    /// For a pull request or a change ticket: Mermaid gantt and charts.
    Markdown,
    /// One self-contained page: SVG timeline and charts, no scripts.
    Html,
    /// The report's data (schema/report.schema.json).
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GraphFormat {
    Dot,
    Mermaid,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Scaffold a migration directory with a commented example spec.
    Init {
        /// Where to create it (default: the current directory).
        dir: Option<PathBuf>,
    },
    /// Check the spec: syntax, block types, attributes, references, cycles, types.
    Validate {
        #[command(flatten)]
        vars: VarArgs,
    },
    /// Rewrite spec files in the layout `terraform fmt` gives them.
    Fmt {
        /// Change nothing; exit 3 if any file is not formatted.
        #[arg(long)]
        check: bool,
        /// Print the changes as a unified diff.
        #[arg(long)]
        diff: bool,
        /// Also format the directories inside, as `terraform fmt -recursive`,
        /// and the local modules the files call (`source = "../modules/x"`).
        #[arg(long)]
        recursive: bool,
        /// Files or directories (default: the current directory).
        paths: Vec<PathBuf>,
    },
    /// Print the dependency graph.
    Graph {
        #[arg(long, value_enum, default_value = "dot")]
        format: GraphFormat,
        #[command(flatten)]
        vars: VarArgs,
    },
    /// Show what apply would do, wave by wave, with the rollback plan.
    Plan(PlanArgs),
    /// Show a saved plan as `plan` printed it, or, without a file, the state.
    Show {
        /// A plan saved with `cutover plan -out FILE`.
        plan_file: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
        #[command(flatten)]
        markdown: MarkdownArgs,
    },
    /// Carry out the plan wave by wave, gate by gate, recording every step in the lockfile.
    Apply(ApplyArgs),
    /// Undo what the migration completed, newest first.
    Rollback(RollbackArgs),
    /// List the recorded runs (applies and rollbacks), newest first.
    History,
    /// Render one run: its timeline, gate measurements, approvals and rollback.
    Report {
        /// The run's id or a unique prefix of it (default: the newest run).
        run: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "markdown")]
        format: ReportFormat,
        /// Write the report to FILE instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Show the run going on now: running nodes, gates, approvals, the lock's holder.
    Status {
        /// Refresh every SECONDS (default 2) until the run ends.
        #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "2")]
        watch: Option<u64>,
    },
    /// Inspect or correct the lockfile.
    #[command(subcommand)]
    State(StateCommand),
    /// Print the outputs recorded by the last complete apply.
    Output {
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Approve an approval gate that a running apply waits at (from any terminal).
    Approve {
        /// The gate's address, e.g. gate.go_ahead.
        #[arg(value_parser = address)]
        address: String,
        /// A note kept with the approval and shown by apply.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Remove a lock whose holder is gone.
    #[command(name = "force-unlock")]
    ForceUnlock { id: String },
    /// Print a shell completion script.
    Completions { shell: clap_complete::Shell },
}

/// Rewrites Terraform's single-dash long flags (`-var`, `-auto-approve`) to
/// the GNU spelling clap parses, for every long flag the command knows.
pub fn normalize(argv: Vec<OsString>, cmd: &clap::Command) -> Vec<OsString> {
    let mut longs = Vec::new();
    collect_longs(cmd, &mut longs);
    let mut out = Vec::with_capacity(argv.len());
    let mut rest_verbatim = false;
    for (i, a) in argv.into_iter().enumerate() {
        let s = a.to_string_lossy();
        if i == 0 || rest_verbatim || !s.starts_with('-') || s.starts_with("--") || s.len() < 3 {
            if s == "--" {
                rest_verbatim = true;
            }
            out.push(a);
            continue;
        }
        let name = s[1..].split('=').next().unwrap_or("");
        if longs.iter().any(|l| l == name) {
            out.push(OsString::from(format!("-{s}")));
        } else {
            out.push(a);
        }
    }
    out
}

fn collect_longs(cmd: &clap::Command, out: &mut Vec<String>) {
    for a in cmd.get_arguments() {
        if let Some(l) = a.get_long() {
            out.push(l.to_string());
        }
    }
    out.push("help".into());
    out.push("version".into());
    for s in cmd.get_subcommands() {
        collect_longs(s, out);
    }
}

/// `-parallelism N`: a whole number of at least 1, as the spec's `parallelism`.
fn parse_parallelism(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("`{s}` is not a whole number of at least 1")),
    }
}

/// An address as typed (`'module.t["a"]'`), in its canonical spelling.
fn address(s: &str) -> Result<String, String> {
    crate::addr::canonical(s).map_err(|e| e.why)
}
