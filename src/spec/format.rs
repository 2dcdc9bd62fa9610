//! `cutover fmt`: canonical layout of a spec file, comments kept.
//!
//! Two-space indentation by nesting depth, `=` of consecutive one-line
//! attributes aligned, runs of blank lines collapsed to one, trailing spaces
//! removed, one final newline. Heredoc bodies are left exactly as written.

#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    Str,
    Interp(u32),
}

/// Scanner state carried from line to line.
#[derive(Default)]
struct Scan {
    stack: Vec<Ctx>,
    depth: i64,
    block_comment: bool,
    heredoc: Option<String>,
}

struct LineInfo {
    /// Closing brackets at the very start of the line (they dedent it).
    leading_closers: i64,
    /// Depth change across the line.
    net: i64,
    /// Byte offset of a top-level `=` that makes the line an attribute.
    assign_at: Option<usize>,
}

impl Scan {
    fn line(&mut self, line: &str) -> LineInfo {
        let start_depth = self.depth;
        let mut leading_closers = 0;
        let mut leading = true;
        let mut assign_at = None;
        let bytes = line.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            let next = bytes.get(i + 1).copied();
            if self.block_comment {
                if c == b'*' && next == Some(b'/') {
                    self.block_comment = false;
                    i += 1;
                }
                i += 1;
                continue;
            }
            match self.stack.last().copied() {
                Some(Ctx::Str) => match c {
                    b'\\' => i += 1,
                    b'"' => {
                        self.stack.pop();
                    }
                    b'$' | b'%' if next == Some(b'{') => {
                        self.stack.push(Ctx::Interp(0));
                        i += 1;
                    }
                    _ => {}
                },
                Some(Ctx::Interp(n)) => match c {
                    b'"' => self.stack.push(Ctx::Str),
                    b'{' => *self.stack.last_mut().expect("non-empty") = Ctx::Interp(n + 1),
                    b'}' if n == 0 => {
                        self.stack.pop();
                    }
                    b'}' => *self.stack.last_mut().expect("non-empty") = Ctx::Interp(n - 1),
                    _ => {}
                },
                None => {
                    if !c.is_ascii_whitespace() && !matches!(c, b'}' | b']' | b')') {
                        leading = false;
                    }
                    match c {
                        b'"' => self.stack.push(Ctx::Str),
                        b'#' => break,
                        b'/' if next == Some(b'/') => break,
                        b'/' if next == Some(b'*') => {
                            self.block_comment = true;
                            i += 1;
                        }
                        b'{' | b'[' | b'(' => self.depth += 1,
                        b'}' | b']' | b')' => {
                            self.depth -= 1;
                            if leading {
                                leading_closers += 1;
                            }
                        }
                        b'<' if next == Some(b'<') => {
                            let rest = line[i + 2..].trim_start_matches('-');
                            let marker: String = rest
                                .chars()
                                .take_while(|c| c.is_alphanumeric() || *c == '_')
                                .collect();
                            if !marker.is_empty() {
                                self.heredoc = Some(marker);
                                break;
                            }
                        }
                        b'=' if self.depth == start_depth
                            && assign_at.is_none()
                            && next != Some(b'=')
                            && i > 0
                            && !matches!(bytes[i - 1], b'!' | b'<' | b'>' | b'=') =>
                        {
                            assign_at = Some(i);
                        }
                        _ => {}
                    }
                }
            }
            i += 1;
        }
        LineInfo {
            leading_closers,
            net: self.depth - start_depth,
            assign_at,
        }
    }
}

/// Formats a spec file's text. The text must parse; callers check that first.
pub fn format(src: &str) -> String {
    let mut scan = Scan::default();
    // (indent, text, assignment offset in text, net depth change, verbatim)
    let mut lines: Vec<(usize, String, Option<usize>, i64, bool)> = Vec::new();
    for raw in src.lines() {
        if let Some(marker) = &scan.heredoc {
            let end = raw.trim() == marker.as_str();
            lines.push((0, raw.to_string(), None, 0, true));
            if end {
                scan.heredoc = None;
            }
            continue;
        }
        if scan.block_comment || !scan.stack.is_empty() {
            let _ = scan.line(raw);
            lines.push((0, raw.trim_end().to_string(), None, 0, true));
            continue;
        }
        let text = raw.trim();
        let depth_before = scan.depth;
        let info = scan.line(text);
        let indent = (depth_before - info.leading_closers).max(0) as usize;
        let key_ok = info
            .assign_at
            .map(|at| crate::spec::load::is_identifier(text[..at].trim()))
            .unwrap_or(false);
        lines.push((
            indent,
            text.to_string(),
            if key_ok { info.assign_at } else { None },
            info.net,
            false,
        ));
    }
    align(&mut lines);
    let mut out = String::new();
    let mut blank_run = 0;
    for (indent, text, _, _, verbatim) in &lines {
        if *verbatim {
            out.push_str(text);
            out.push('\n');
            blank_run = 0;
            continue;
        }
        if text.is_empty() {
            blank_run += 1;
            if blank_run > 1 || out.is_empty() {
                continue;
            }
            out.push('\n');
            continue;
        }
        blank_run = 0;
        out.push_str(&"  ".repeat(*indent));
        out.push_str(text);
        out.push('\n');
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// Aligns `=` across runs of consecutive attribute lines at one indent.
fn align(lines: &mut [(usize, String, Option<usize>, i64, bool)]) {
    let mut i = 0;
    while i < lines.len() {
        if lines[i].2.is_none() || lines[i].4 {
            i += 1;
            continue;
        }
        let indent = lines[i].0;
        let mut j = i;
        while j < lines.len() && lines[j].2.is_some() && lines[j].0 == indent && !lines[j].4 {
            j += 1;
            if lines[j - 1].3 != 0 {
                break;
            }
        }
        let width = lines[i..j]
            .iter()
            .map(|l| l.1[..l.2.unwrap_or(0)].trim_end().len())
            .max()
            .unwrap_or(0);
        for l in &mut lines[i..j] {
            let at = l.2.unwrap_or(0);
            let key = l.1[..at].trim_end().to_string();
            let value = l.1[at + 1..].trim_start().to_string();
            l.1 = if value.is_empty() {
                format!("{key:<width$} =")
            } else {
                format!("{key:<width$} = {value}")
            };
        }
        i = j.max(i + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::format;

    #[test]
    fn indents_aligns_and_keeps_comments() {
        let src = "step \"exec\" \"a\" {\n# why\ncommand = [\"true\"]\n    timeout=\"1m\"\n\n\n  env = {\nX = \"${upper(\"}\")}\"\n}\n}\n";
        let want = "step \"exec\" \"a\" {\n  # why\n  command = [\"true\"]\n  timeout = \"1m\"\n\n  env = {\n    X = \"${upper(\"}\")}\"\n  }\n}\n";
        assert_eq!(format(src), want);
        assert_eq!(format(want), want, "formatting is idempotent");
    }

    #[test]
    fn leaves_heredocs_alone() {
        let src = "locals {\nx = <<EOT\n   keep  me\nEOT\n}\n";
        assert_eq!(format(src), "locals {\n  x = <<EOT\n   keep  me\nEOT\n}\n");
    }
}
