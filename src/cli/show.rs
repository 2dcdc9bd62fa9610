//! `cutover show [PLANFILE]`: a saved plan as `plan` printed it, or the state.

use super::args::{MarkdownArgs, VarArgs};
use super::{compile, print_rendered, EXIT_OK};
use crate::plan::{saved, Plan};
use crate::render::{self, markdown, Format};
use anyhow::Result;
use std::path::Path;

pub fn run(file: Option<&Path>, format: Format, md: &MarkdownArgs, color: bool) -> Result<i32> {
    let text = match file {
        Some(f) => {
            let plan = saved::load(f)?;
            render::plan(&plan, format, color, &markdown_options(&plan, md))
        }
        None => {
            let (spec, _, _) = compile(&VarArgs::default(), true)?;
            let doc = super::apply::backend(&spec)?.read(&spec.settings.name)?;
            render::state::view(&spec.settings.name, doc.as_ref(), format, color)
        }
    };
    print_rendered(text, format)?;
    Ok(EXIT_OK)
}

/// How the markdown of `plan` is fitted: `--max-bytes`, or the step summary's budget.
pub fn markdown_options(plan: &Plan, md: &MarkdownArgs) -> markdown::Options {
    markdown::Options {
        max_bytes: if md.summary {
            markdown::SUMMARY_MAX_BYTES
        } else {
            md.max_bytes
        },
        marker_dir: if md.summary {
            None
        } else {
            plan.directory.clone()
        },
        ..markdown::Options::default()
    }
}

/// The current directory relative to the root of the git repository it is
/// in (`.` at the root), or its name outside one: the same on every machine
/// that checks the repository out.
pub fn migration_directory() -> String {
    let Ok(cwd) = std::env::current_dir() else {
        return ".".into();
    };
    let root = cwd.ancestors().find(|d| d.join(".git").exists());
    match root.and_then(|r| cwd.strip_prefix(r).ok()) {
        Some(rel) if rel.as_os_str().is_empty() => ".".into(),
        Some(rel) => rel.display().to_string(),
        None => cwd
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| ".".into()),
    }
}
