//! Diagnostics: what is wrong with a spec, where, and how to fix it.
//!
//! A diagnostic carries a fixed summary (the same text for every problem of its
//! kind), a detail sentence that names the culprit and suggests the fix, and
//! the source range it is about. Every pass collects diagnostics instead of
//! stopping at the first; [`Diagnostics::sorted`] orders them by file and
//! position so that output is deterministic.

use std::fmt::Write as _;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One loaded source file; diagnostics point into it by byte range.
#[derive(Debug)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
    /// Where each line starts, found when a diagnostic first asks (most
    /// files never need it, and at 100,000 nodes it is megabytes).
    line_starts: std::sync::OnceLock<Vec<usize>>,
}

impl SourceFile {
    pub fn new(path: PathBuf, text: String) -> Arc<SourceFile> {
        Arc::new(SourceFile {
            path,
            text,
            line_starts: std::sync::OnceLock::new(),
        })
    }

    fn line_starts(&self) -> &[usize] {
        self.line_starts.get_or_init(|| {
            let mut starts = vec![0];
            starts.extend(self.text.match_indices('\n').map(|(i, _)| i + 1));
            starts
        })
    }

    /// Reads a `what` file ("spec", "variable"): UTF-8 text, a leading
    /// byte-order mark dropped; a located diagnostic when it is not UTF-8.
    pub fn read(path: &Path, what: &str) -> Result<Arc<SourceFile>, Box<Diagnostic>> {
        let bytes = std::fs::read(path).map_err(|e| {
            Diagnostic::error(
                format!("Cannot read {what} file"),
                format!("{}: {e}", path.display()),
            )
        })?;
        let bytes = match bytes.strip_prefix("\u{feff}".as_bytes()) {
            Some(rest) => rest.to_vec(),
            None => bytes,
        };
        match String::from_utf8(bytes) {
            Ok(text) => Ok(SourceFile::new(path.to_path_buf(), text)),
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
                let file = SourceFile::new(path.to_path_buf(), text);
                Err(Box::new(
                    Diagnostic::error(
                        "Invalid UTF-8",
                        format!("A {what} file must be UTF-8 text; the byte here is not. Convert the file to UTF-8."),
                    )
                    .at(Some(SourceSpan::new(&file, at..at + 1))),
                ))
            }
        }
    }

    /// One-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        // Spans from any source may fall inside a multi-byte character.
        let offset = self.text.floor_char_boundary(offset.min(self.text.len()));
        let starts = self.line_starts();
        let line = match starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = starts[line];
        let col = self.text[start..offset].chars().count() + 1;
        (line + 1, col)
    }

    /// The text of a one-based line, without its newline.
    pub fn line_text(&self, line: usize) -> &str {
        let starts = self.line_starts();
        let start = starts.get(line - 1).copied().unwrap_or(0);
        let end = starts.get(line).map(|e| e - 1).unwrap_or(self.text.len());
        self.text[start..end.max(start)].trim_end_matches('\r')
    }
}

/// A byte range inside one source file.
#[derive(Debug, Clone)]
pub struct SourceSpan {
    pub file: Arc<SourceFile>,
    pub range: Range<usize>,
}

impl SourceSpan {
    pub fn new(file: &Arc<SourceFile>, range: Range<usize>) -> SourceSpan {
        SourceSpan {
            file: Arc::clone(file),
            range,
        }
    }

    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// One-based line and column of the start of the span.
    pub fn start(&self) -> (usize, usize) {
        self.file.line_col(self.range.start)
    }
}

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in a spec.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Fixed text for the kind of problem ("Reference to undeclared node").
    pub summary: String,
    /// What exactly is wrong here and how to fix it.
    pub detail: String,
    pub span: Option<SourceSpan>,
}

impl Diagnostic {
    pub fn error(summary: impl Into<String>, detail: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            summary: summary.into(),
            detail: detail.into(),
            span: None,
        }
    }

    pub fn at(mut self, span: Option<SourceSpan>) -> Diagnostic {
        self.span = span;
        self
    }

    fn sort_key(&self) -> (PathBuf, usize, Severity, String, String) {
        match &self.span {
            Some(s) => (
                s.file.path.clone(),
                s.range.start,
                self.severity,
                self.summary.clone(),
                self.detail.clone(),
            ),
            None => (
                PathBuf::new(),
                0,
                self.severity,
                self.summary.clone(),
                self.detail.clone(),
            ),
        }
    }

    /// Renders the diagnostic as text: summary, location, snippet with carets, detail.
    pub fn render(&self, base: &Path) -> String {
        let mut out = String::new();
        let label = match self.severity {
            Severity::Error => "Error",
            Severity::Warning => "Warning",
        };
        let _ = writeln!(out, "{label}: {}", self.summary);
        if let Some(span) = &self.span {
            let (line, col) = span.start();
            let shown = span.path().strip_prefix(base).unwrap_or(span.path());
            let _ = writeln!(out, "  --> {}:{line}:{col}", shown.display());
            let text = span.file.line_text(line);
            let gutter = line.to_string().len();
            let _ = writeln!(out, "{:gutter$} |", "");
            let _ = writeln!(out, "{line} | {text}");
            let (end_line, end_col) = span.file.line_col(span.range.end);
            let width = if end_line == line && end_col > col {
                end_col - col
            } else {
                text.chars().count().saturating_sub(col - 1).max(1)
            };
            let _ = writeln!(
                out,
                "{:gutter$} | {}{}",
                "",
                " ".repeat(col - 1),
                "^".repeat(width)
            );
        }
        if !self.detail.is_empty() {
            let _ = writeln!(out, "\n{}", self.detail);
        }
        out
    }
}

/// An accumulating, sortable list of diagnostics.
#[derive(Debug, Default, Clone)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The diagnostics ordered by file, position, severity and text, duplicates removed.
    pub fn sorted(mut self) -> Diagnostics {
        self.0.sort_by_key(|d| d.sort_key());
        self.0.dedup_by(|a, b| a.sort_key() == b.sort_key());
        self
    }

    pub fn render(&self, base: &Path) -> String {
        self.0
            .iter()
            .map(|d| d.render(base))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl std::fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render(Path::new("")))
    }
}

impl std::error::Error for Diagnostics {}

/// The closest candidate to `name`, if one is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| b.1.cmp(a.1)))
        .map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_snippet_with_caret_under_span() {
        let file = SourceFile::new("main.hcl".into(), "a = 1\nstep \"x\" \"y\" {}\n".into());
        let d = Diagnostic::error("Bad thing", "Fix it.").at(Some(SourceSpan::new(&file, 12..15)));
        let text = d.render(Path::new(""));
        assert!(text.contains("--> main.hcl:2:7"), "{text}");
        assert!(text.contains("2 | step \"x\" \"y\" {}"), "{text}");
        assert!(text.contains("  |       ^^^"), "{text}");
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            did_you_mean("step.bakup", ["step.backup", "gate.health"]),
            Some("step.backup".into())
        );
        assert_eq!(did_you_mean("zzz", ["step.backup"]), None);
    }
}
