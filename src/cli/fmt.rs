//! `cutover fmt`: rewrite, check or diff spec files.

use super::{report, EXIT_OK, EXIT_UNFORMATTED};
use crate::spec::diagnostic::{Diagnostic, Diagnostics, SourceFile, SourceSpan};
use anyhow::{Context as _, Result};
use std::path::{Path, PathBuf};

fn files(paths: &[PathBuf], recursive: bool) -> Result<Vec<PathBuf>> {
    let roots: Vec<PathBuf> = if paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        paths.to_vec()
    };
    let mut out = Vec::new();
    for r in roots {
        match r.is_dir() {
            true => in_dir(&r, recursive, &mut out)?,
            false => out.push(r),
        }
    }
    Ok(out)
}

/// The spec files in `dir`, and with `recursive` in the directories inside;
/// names Terraform ignores (`.hidden`, `backup~`) are skipped.
fn in_dir(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default();
            !name.starts_with('.') && !name.ends_with('~')
        })
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if recursive {
                in_dir(&p, recursive, out)?;
            }
        } else if p.is_file() && p.extension().is_some_and(|x| x == "hcl") {
            out.push(p);
        }
    }
    Ok(())
}

pub fn run(paths: &[PathBuf], check: bool, diff: bool, recursive: bool) -> Result<i32> {
    let mut diags = Diagnostics::default();
    let mut changed = Vec::new();
    for path in files(paths, recursive)? {
        let file = match SourceFile::read(&path, "spec") {
            Ok(f) => f,
            Err(d) => {
                diags.push(*d);
                continue;
            }
        };
        let text = file.text.clone();
        if let Err(d) = crate::spec::load::parse(&file, "file") {
            diags.push(*d);
            continue;
        }
        let Some(formatted) = crate::spec::format::format_checked(&text) else {
            diags.push(
                Diagnostic::error(
                    "Formatting failed",
                    "cutover's layout of this file would change what it means, so the file is left as it is (a bug in cutover fmt: please report it with the file).",
                )
                .at(Some(SourceSpan::new(&file, 0..0))),
            );
            continue;
        };
        // The loaded text has no byte order mark; the file may (fmt drops it).
        let bom = std::fs::read(&path).is_ok_and(|b| b.starts_with("\u{feff}".as_bytes()));
        if formatted != text || bom {
            changed.push((path, text, formatted));
        }
    }
    if diags.has_errors() {
        return Err(report(&diags.sorted()));
    }
    for (path, before, after) in &changed {
        let shown = path.strip_prefix("./").unwrap_or(path);
        if diff {
            let d = similar::TextDiff::from_lines(before, after);
            print!(
                "{}",
                d.unified_diff().header(
                    &format!("a/{}", shown.display()),
                    &format!("b/{}", shown.display())
                )
            );
        } else {
            println!("{}", shown.display());
        }
        if !check {
            crate::providers::local::write_atomic(Path::new(path), after.as_bytes(), None)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    if check && !changed.is_empty() {
        return Ok(EXIT_UNFORMATTED);
    }
    Ok(EXIT_OK)
}
