//! A template's text as Terraform reads it around `~` strip markers and in
//! an indented (`<<-`) heredoc.
//!
//! Terraform strips and dedents the template's *tokens*, which its scanner
//! splits after each line's end and before each `$` and `%`: a `~` strips
//! the whitespace of the one token beside it (so never past a line's end in
//! a heredoc or a template file), and `<<-` removes the smallest indentation
//! of the lines' first tokens after stripping (a line opened by a sequence
//! counts as unindented; a line of spaces only does not count, and keeps
//! its spaces). The parser cutover uses works on the text as a whole; these
//! functions rewrite a template into one without `~` or indentation that
//! reads, in any parser, as Terraform reads the original.

use super::lex::{self, Kind, Token};
use unicode_segmentation::UnicodeSegmentation;

enum Part<'t, 'a> {
    Text(String),
    /// An interpolation or a directive, its tokens from `${` to `}`.
    Seq(&'t [Token<'a>]),
}

/// The parts of a template whose tokens start at `tokens[0]`, up to the
/// end of the template (a heredoc's closing marker, the end of input);
/// `None` when something else is found there.
fn parts<'t, 'a>(tokens: &'t [Token<'a>]) -> Option<Vec<Part<'t, 'a>>> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(t) = tokens.get(i) {
        match t.kind {
            Kind::StringLit => out.push(Part::Text(lex::unescape_sequences(&t.text))),
            Kind::TemplateInterp | Kind::TemplateControl => {
                let start = i;
                let mut depth = 0;
                loop {
                    depth += tokens.get(i)?.bracket_change();
                    if depth == 0 {
                        break;
                    }
                    i += 1;
                }
                out.push(Part::Seq(&tokens[start..=i]));
            }
            Kind::CHeredoc | Kind::Eof => return Some(out),
            _ => return None,
        }
        i += 1;
    }
    Some(out)
}

fn opens_stripping(seq: &[Token]) -> bool {
    seq.first().is_some_and(|t| t.text.ends_with('~'))
}

fn closes_stripping(seq: &[Token]) -> bool {
    seq.last().is_some_and(|t| t.text.starts_with('~'))
}

fn strips(p: &Part) -> bool {
    matches!(p, Part::Seq(s) if opens_stripping(s) || closes_stripping(s))
}

/// Applies the `~` markers to the text beside them, token by token.
fn strip(parts: &mut [Part]) {
    let mut trim_next = false;
    let mut after_text = false;
    for i in 0..parts.len() {
        let trim = std::mem::take(&mut trim_next);
        let can_trim_prev = std::mem::take(&mut after_text);
        match &mut parts[i] {
            Part::Text(s) => {
                if trim {
                    *s = s.trim_start().to_string();
                }
                after_text = true;
            }
            Part::Seq(seq) => {
                trim_next = closes_stripping(seq);
                if can_trim_prev && opens_stripping(seq) {
                    if let Some(Part::Text(prev)) = i.checked_sub(1).map(|p| &mut parts[p]) {
                        prev.truncate(prev.trim_end().len());
                    }
                }
            }
        }
    }
}

/// `<<-`: removes the smallest indentation of the lines' first parts.
fn flush(parts: &mut [Part]) {
    let mut least = usize::MAX;
    let mut line_start = true;
    let mut adjust = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        if std::mem::take(&mut line_start) {
            let spaces = match p {
                Part::Text(s) => {
                    let rest = s.trim_start();
                    match rest.is_empty() && s.ends_with('\n') {
                        true => usize::MAX,
                        false => {
                            adjust.push(i);
                            s[..s.len() - rest.len()].graphemes(true).count()
                        }
                    }
                }
                Part::Seq(_) => 0,
            };
            least = least.min(spaces);
        }
        if let Part::Text(s) = p {
            line_start = s.ends_with('\n');
        }
    }
    for i in adjust {
        if let Part::Text(s) = &mut parts[i] {
            let cut: usize = s.graphemes(true).take(least).map(str::len).sum();
            s.replace_range(..cut, "");
        }
    }
}

/// The parts written as a template's source, `escape` writing the text.
fn write(parts: &[Part], escape: impl Fn(&str, &mut String)) -> String {
    let mut out = String::new();
    for p in parts {
        match p {
            Part::Text(s) => escape(s, &mut out),
            Part::Seq(seq) => {
                // A `$` or `%` just before `${` or `%{` would read as an escape (`$${`).
                let signs = out.len() - out.trim_end_matches(['$', '%']).len();
                for sign in out.split_off(out.len() - signs).chars() {
                    out.push_str(&format!("${{\"{sign}\"}}"));
                }
                let last = seq.len() - 1;
                for (j, t) in seq.iter().enumerate() {
                    out.extend(std::iter::repeat_n(' ', if j == 0 { 0 } else { t.spaces }));
                    match j {
                        0 => out.push_str(t.text.trim_end_matches('~')),
                        _ if j == last => out.push_str(t.text.trim_start_matches('~')),
                        _ => out.push_str(&t.text),
                    }
                }
            }
        }
    }
    // A lone interpolation would be its value, not a string.
    let kept: Vec<&Part> = parts
        .iter()
        .filter(|p| !matches!(p, Part::Text(s) if s.is_empty()))
        .collect();
    if parts.len() > 1
        && matches!(kept[..], [Part::Seq(seq)] if seq[0].kind == Kind::TemplateInterp)
    {
        out.push_str("${\"\"}");
    }
    out
}

fn escape_template(s: &str, out: &mut String) {
    out.push_str(&s.replace("${", "$${").replace("%{", "%%{"));
}

fn escape_quoted(s: &str, out: &mut String) {
    out.push_str(&lex::escape_quoted(s));
}

/// A template file's text as Terraform reads it, with its `~` applied and removed.
pub fn template(src: &str) -> String {
    let tokens = lex::lex_template(src);
    match parts(&tokens) {
        Some(mut parts) if parts.iter().any(strips) => {
            strip(&mut parts);
            write(&parts, escape_template)
        }
        _ => src.to_string(),
    }
}

/// A heredoc expression (`<<-EOT` … `EOT`) as a quoted string that reads as
/// Terraform reads the heredoc; `None` when it has nothing to change or
/// cannot be read.
pub fn heredoc(src: &str) -> Option<String> {
    let text = format!("{src}\n");
    let tokens = lex::lex(&text);
    let intro = tokens.first().filter(|t| t.kind == Kind::OHeredoc)?;
    let indented = intro.text.starts_with("<<-");
    let mut parts = parts(&tokens[1..])?;
    if !indented && !parts.iter().any(strips) {
        return None;
    }
    strip(&mut parts);
    if indented {
        flush(&mut parts);
    }
    Some(format!("\"{}\"", write(&parts, escape_quoted)))
}

#[cfg(test)]
mod tests {
    use super::{heredoc, template};

    #[test]
    fn a_strip_marker_stops_at_the_line_end_and_indentation_counts_after_it() {
        // `~` strips only "  " (its own line's token), not "hello  \n".
        assert_eq!(
            heredoc("<<EOT\nhello  \n  %{~ if ok ~}\n  world\n  %{~ endif ~}\nEOT").as_deref(),
            Some("\"hello  \\n%{ if ok }  world\\n%{ endif }\"")
        );
        // The stripped first line counts as unindented: nothing is removed.
        assert_eq!(
            heredoc("<<-EOT\n    a\n    %{~ if true }\n    b\n    %{ endif ~}\n    c\n  EOT")
                .as_deref(),
            Some("\"    a\\n%{ if true }\\n    b\\n    %{ endif }    c\\n\"")
        );
    }

    #[test]
    fn blank_lines_keep_their_spaces_and_do_not_count() {
        assert_eq!(
            heredoc("<<-EOT\n    a\n  \n    b\n  EOT").as_deref(),
            Some("\"a\\n  \\nb\\n\"")
        );
        assert_eq!(heredoc("<<EOT\nplain ${x}\nEOT"), None, "nothing to change");
    }

    #[test]
    fn text_stays_text() {
        assert_eq!(
            heredoc("<<-EOT\n  $${x} 100% \"q\" \\ $\n  EOT").as_deref(),
            Some("\"$${x} 100% \\\"q\\\" \\\\ $\\n\"")
        );
        // A `$` left just before a sequence is not read as an escape.
        assert_eq!(template("$ ${~x}"), "${\"$\"}${x}");
        assert_eq!(
            template("a$$ %{~ if x }%{ endif }"),
            "a${\"$\"}${\"$\"}%{ if x }%{ endif }"
        );
        assert_eq!(template("${x~}\n"), "${x}${\"\"}");
        assert_eq!(template("${x} $${y}"), "${x} $${y}", "nothing to change");
    }
}
