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
    /// The heredoc began on the line just scanned: the next line is its first.
    heredoc_fresh: bool,
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
                                self.heredoc_fresh = true;
                                break;
                            }
                        }
                        b'=' if self.depth == start_depth
                            && assign_at.is_none()
                            && !matches!(next, Some(b'=' | b'>'))
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

/// Formats `src` and proves that only the layout changed: the result parses
/// to the same syntax tree. `None` when it would not (a formatter bug,
/// which must never reach a user's file).
pub fn format_checked(src: &str) -> Option<String> {
    let out = format(src);
    match (tree(src), tree(&out)) {
        (Some(before), Some(after)) if before == after => Some(out),
        _ => None,
    }
}

/// The syntax tree of `src`, with `"${x}"` read as `x` (the same value:
/// `fmt` writes it so).
fn tree(src: &str) -> Option<hcl::Body> {
    use hcl::edit::visit_mut::{visit_expr_mut, VisitMut};
    struct Unwrap;
    impl VisitMut for Unwrap {
        fn visit_expr_mut(&mut self, e: &mut hcl::edit::expr::Expression) {
            visit_expr_mut(self, e);
            if let Some(inner) = sole_interpolation(e) {
                *e = inner.clone();
            }
        }
        // A bare label and the same label quoted are one label.
        fn visit_block_mut(&mut self, b: &mut hcl::edit::structure::Block) {
            use hcl::edit::structure::BlockLabel;
            for l in b.labels.iter_mut() {
                if let BlockLabel::Ident(i) = l {
                    *l = BlockLabel::String(hcl::edit::Decorated::new(i.as_str().to_string()));
                }
            }
            hcl::edit::visit_mut::visit_block_mut(self, b);
        }
    }
    let mut body = hcl::edit::parser::parse_body(src).ok()?;
    Unwrap.visit_body_mut(&mut body);
    Some(hcl::Body::from(body))
}

/// The expression of a string that is one interpolation and nothing else
/// (`"${x}"`; a strip marker there has nothing to strip).
fn sole_interpolation(e: &hcl::edit::expr::Expression) -> Option<&hcl::edit::expr::Expression> {
    use hcl::edit::template::Element;
    let hcl::edit::expr::Expression::StringTemplate(t) = e else {
        return None;
    };
    match (t.len(), t.get(0)) {
        (1, Some(Element::Interpolation(i))) => Some(&i.expr),
        _ => None,
    }
}

/// A block header (`resource aws_instance web`, without its `{`) as
/// `terraform fmt` writes it: labels quoted, one space apart; `None` when
/// the line is not a block header.
fn quote_labels(header: &str) -> Option<String> {
    let ident = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    let mut words: Vec<(bool, &str)> = Vec::new();
    let mut rest = header.trim();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('"') {
            let mut end = None;
            let mut escaped = false;
            for (i, c) in after.char_indices() {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let end = end? + 2;
            words.push((true, &rest[..end]));
            rest = rest[end..].trim_start();
        } else {
            let end = rest.find(|c: char| !ident(c)).unwrap_or(rest.len());
            if end == 0 {
                return None;
            }
            words.push((false, &rest[..end]));
            rest = rest[end..].trim_start();
        }
    }
    let (first, labels) = words.split_first()?;
    if first.0 {
        return None;
    }
    let mut out = first.1.to_string();
    for (quoted, w) in labels {
        out.push(' ');
        match quoted {
            true => out.push_str(w),
            false => out.push_str(&format!("\"{w}\"")),
        }
    }
    out.push_str(" {");
    Some(out)
}

/// An attribute's value written `"${x}"`, as `x` (what `terraform fmt` does
/// to a block's attributes); `None` for any other value.
fn unwrapped(value: &str) -> Option<&str> {
    let e: hcl::edit::expr::Expression = value.parse().ok()?;
    sole_interpolation(&e)?;
    let inner = value.strip_prefix("\"${")?.strip_suffix("}\"")?;
    let inner = inner
        .trim()
        .trim_start_matches('~')
        .trim_end_matches('~')
        .trim();
    (!inner.is_empty()).then_some(inner)
}

/// What follows a heredoc's closing `marker` on `line` (`EOT )`, a comment),
/// when the line closes it.
fn closing<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.trim_start()
        .strip_prefix(marker)
        .filter(|r| !r.starts_with(|c: char| c.is_alphanumeric() || c == '_' || c == '-'))
}

/// Whether `src` is well-formed HCL (what [`format_checked`] can prove a layout of).
pub fn parses(src: &str) -> bool {
    tree(src).is_some()
}

/// Formats a spec file's text. The text must parse; callers check that first.
pub fn format(src: &str) -> String {
    // A byte order mark goes, as `terraform fmt` drops it.
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let mut scan = Scan::default();
    // For each open bracket: whether it opened a block's body (not an expression).
    let mut bodies: Vec<bool> = Vec::new();
    // (indent, text, assignment offset in text, net depth change, verbatim)
    let mut lines: Vec<(usize, String, Option<usize>, i64, bool)> = Vec::new();
    // Each line keeps its own ending (`\r\n` stays `\r\n`); the last gets one.
    let mut eols: Vec<&str> = Vec::new();
    let pieces: Vec<&str> = src.split_inclusive('\n').collect();
    for (n, piece) in pieces.iter().enumerate() {
        let piece = *piece;
        let (raw, eol) = match piece.strip_suffix('\n') {
            Some(r) => match r.strip_suffix('\r') {
                Some(r) => (r, "\r\n"),
                None => (r, "\n"),
            },
            None => (piece, "\n"),
        };
        eols.push(eol);
        if let Some(marker) = &scan.heredoc {
            let first = std::mem::take(&mut scan.heredoc_fresh);
            let mut rest = closing(raw, marker);
            // The parser cutover reads specs with takes a marker on the body's
            // first line as text when the marker closes a later line too.
            if first
                && pieces[n + 1..]
                    .iter()
                    .any(|p| closing(p.trim_end(), marker).is_some())
            {
                rest = None;
            }
            lines.push((0, raw.to_string(), None, 0, true));
            if let Some(rest) = rest {
                scan.heredoc = None;
                let _ = scan.line(rest);
            }
            continue;
        }
        if scan.block_comment || !scan.stack.is_empty() {
            // Inside a string every character is the string's; a comment's trailing spaces are not.
            let kept = match scan.block_comment {
                true => raw.trim_end(),
                false => raw,
            };
            let _ = scan.line(raw);
            lines.push((0, kept.to_string(), None, 0, true));
            continue;
        }
        let depth_before = scan.depth;
        let info = scan.line(raw.trim_start());
        // A line that ends inside a string keeps its trailing spaces: they are the string's.
        let text = match scan.stack.is_empty() {
            true => raw.trim(),
            false => raw.trim_start(),
        };
        let indent = (depth_before - info.leading_closers).max(0) as usize;
        // A key: a name, a quoted string or a parenthesised expression.
        let key_ok = info.assign_at.is_some_and(|at| {
            let key = text[..at].trim();
            crate::spec::load::is_identifier(key)
                || (key.len() > 1 && key.starts_with('"') && key.ends_with('"'))
                || (key.starts_with('(') && key.ends_with(')'))
        });
        let mut text = text.to_string();
        let mut assign_at = info.assign_at.filter(|_| key_ok);
        if let Some(at) = assign_at.filter(|_| info.net == 0 && bodies.iter().all(|b| *b)) {
            let key = text[..at].trim().to_string();
            if crate::spec::load::is_identifier(&key) {
                if let Some(inner) = unwrapped(text[at + 1..].trim()) {
                    text = format!("{key} = {inner}");
                    assign_at = Some(key.len() + 1);
                }
            }
        }
        let opens_body = info.assign_at.is_none() && text.ends_with('{');
        if opens_body && info.net == 1 && bodies.iter().all(|b| *b) {
            if let Some(quoted) = quote_labels(&text[..text.len() - 1]) {
                text = quoted;
            }
        }
        match info.net {
            n if n > 0 => {
                bodies.extend(std::iter::repeat_n(false, n as usize - 1));
                bodies.push(opens_body);
            }
            n => bodies.truncate(bodies.len().saturating_sub(n.unsigned_abs() as usize)),
        }
        lines.push((indent, text, assign_at, info.net, false));
    }
    align(&mut lines);
    let mut out = String::new();
    let mut blank_run = 0;
    for ((indent, text, _, _, verbatim), eol) in lines.iter().zip(eols) {
        if *verbatim {
            out.push_str(text);
            out.push_str(eol);
            blank_run = 0;
            continue;
        }
        if text.is_empty() {
            blank_run += 1;
            if blank_run > 1 || out.is_empty() {
                continue;
            }
            out.push_str(eol);
            continue;
        }
        blank_run = 0;
        out.push_str(&"  ".repeat(*indent));
        out.push_str(text);
        out.push_str(eol);
    }
    // No blank lines at the end.
    loop {
        let trimmed = out.trim_end_matches(['\r', '\n']);
        let last_eol = out[trimmed.len()..]
            .find('\n')
            .map(|i| trimmed.len() + i + 1);
        match last_eol {
            Some(end) if end < out.len() => out.truncate(end),
            _ => break,
        }
    }
    out
}

/// Aligns `=` across runs of consecutive attribute lines, as `terraform fmt`
/// does: a line whose value opens a bracket it does not close (`tags = {`)
/// is not in a run and ends the one before it; its `=` gets one space each side.
fn align(lines: &mut [(usize, String, Option<usize>, i64, bool)]) {
    let in_run = |l: &(usize, String, Option<usize>, i64, bool)| l.2.is_some() && l.3 == 0 && !l.4;
    let mut i = 0;
    while i < lines.len() {
        if !in_run(&lines[i]) {
            if lines[i].2.is_some() && !lines[i].4 {
                space_assignment(&mut lines[i], 0);
            }
            i += 1;
            continue;
        }
        let indent = lines[i].0;
        let mut j = i;
        while j < lines.len() && in_run(&lines[j]) && lines[j].0 == indent {
            j += 1;
        }
        let width = lines[i..j]
            .iter()
            .map(|l| l.1[..l.2.unwrap_or(0)].trim_end().len())
            .max()
            .unwrap_or(0);
        for l in &mut lines[i..j] {
            space_assignment(l, width);
        }
        i = j.max(i + 1);
    }
}

/// `key = value`, the key padded to `width`.
fn space_assignment(l: &mut (usize, String, Option<usize>, i64, bool), width: usize) {
    let at = l.2.unwrap_or(0);
    let key = l.1[..at].trim_end().to_string();
    let value = l.1[at + 1..].trim_start().to_string();
    l.1 = if value.is_empty() {
        format!("{key:<width$} =")
    } else {
        format!("{key:<width$} = {value}")
    };
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
    fn a_value_opening_a_bracket_is_not_aligned_and_ends_the_run() {
        let src = "gate \"http\" \"x\" {\n  url = \"u\"\n  json = {\n    a      = 1\n    \"/b\" = 2\n  }\n  timeout  =  \"1m\"\n  every = \"5s\"\n}\n";
        let want = "gate \"http\" \"x\" {\n  url = \"u\"\n  json = {\n    a    = 1\n    \"/b\" = 2\n  }\n  timeout = \"1m\"\n  every   = \"5s\"\n}\n";
        assert_eq!(format(src), want);
    }

    #[test]
    fn a_for_arrow_is_not_an_assignment() {
        let src = "locals {\n  m = {\n    for name, v in var.x :\n    name => {\n      a = 1\n    }\n  }\n}\n";
        assert_eq!(super::format_checked(src).as_deref(), Some(src));
    }

    #[test]
    fn line_endings_and_strings_are_kept() {
        let src = "a   = 1\r\nb = \"x  \r\n  y\"\r\n\r\n\r\n";
        assert_eq!(
            super::format_checked(src).as_deref(),
            Some("a = 1\r\nb = \"x  \r\n  y\"\r\n")
        );
    }

    #[test]
    fn a_lone_interpolation_in_a_block_is_unwrapped() {
        let src = "step \"exec\" \"a\" {\n  x = \"${var.a}\"\n  y = \"${f(\"${b}\")}\"\n  z = \"a${b}\"\n  m = {\n    k = \"${var.k}\"\n  }\n}\n";
        let want = "step \"exec\" \"a\" {\n  x = var.a\n  y = f(\"${b}\")\n  z = \"a${b}\"\n  m = {\n    k = \"${var.k}\"\n  }\n}\n";
        assert_eq!(super::format_checked(src).as_deref(), Some(want));
    }

    #[test]
    fn bare_block_labels_are_quoted() {
        let src = "resource aws_instance web {\n  a = 1\n}\nstep  \"exec\"   x-y {\n}\nlocals {\n  m = {\n    k = 1\n  }\n}\n";
        let want = "resource \"aws_instance\" \"web\" {\n  a = 1\n}\nstep \"exec\" \"x-y\" {\n}\nlocals {\n  m = {\n    k = 1\n  }\n}\n";
        assert_eq!(super::format_checked(src).as_deref(), Some(want));
    }

    #[test]
    fn leaves_heredocs_alone() {
        let src = "locals {\nx = <<EOT\n   keep  me\nEOT\n}\n";
        assert_eq!(format(src), "locals {\n  x = <<EOT\n   keep  me\nEOT\n}\n");
    }
}
