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
    if recursive {
        with_called_modules(&mut out)?;
    }
    // A file reached twice (a module inside the tree) is formatted once.
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(p.canonicalize().unwrap_or_else(|_| p.clone())));
    Ok(out)
}

/// `a/b/../c` as `a/c` (for the names printed; the files are the same).
fn tidy(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// Adds the files of the local modules the files call (`source =
/// "../modules/x"`), and of the modules those call, wherever they are.
fn with_called_modules(files: &mut Vec<PathBuf>) -> Result<()> {
    let mut i = 0;
    let mut dirs = std::collections::HashSet::new();
    while i < files.len() {
        let file = files[i].clone();
        i += 1;
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let Ok(body) = hcl::edit::parser::parse_body(&text) else {
            continue;
        };
        for call in body.get_blocks("module") {
            let source = call
                .body
                .get_attribute("source")
                .and_then(|a| a.value.as_str());
            let Some(source) = source.filter(|s| s.starts_with("./") || s.starts_with("../"))
            else {
                continue;
            };
            let dir = tidy(&file.parent().unwrap_or(Path::new(".")).join(source));
            if dir.is_dir() && dirs.insert(dir.canonicalize()?) {
                in_dir(&dir, true, files)?;
            }
        }
    }
    Ok(())
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
