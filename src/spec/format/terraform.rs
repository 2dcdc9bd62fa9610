//! What `terraform fmt` rewrites beyond spaces, on the tokens of a file:
//! a body attribute's value that is one interpolation (`"${x}"`) becomes
//! the expression (`x`, in parentheses when it spans lines), block labels
//! are written quoted, and a top-level `variable`'s legacy type
//! (`"string"`, `list`) is written as a type expression.

use crate::lang::lex::{self, Kind, Token};
use std::borrow::Cow;
use std::ops::Range;

struct Edit<'a> {
    span: Range<usize>,
    with: Vec<Token<'a>>,
}

/// Rewrites `tokens` (a whole file's) in place.
pub(super) fn rewrite(tokens: &mut Vec<Token<'_>>) {
    let mut edits = Vec::new();
    body(tokens, 0, &mut Vec::new(), &mut edits);
    for e in edits.into_iter().rev() {
        tokens.splice(e.span, e.with);
    }
}

fn skip_trivia(t: &[Token], mut i: usize) -> usize {
    while i < t.len() && matches!(t[i].kind, Kind::Newline | Kind::Comment) {
        i += 1;
    }
    i
}

/// Walks the body starting at `i`; returns where it ends (its closing
/// brace, or the end of the file). Edits are pushed in token order.
fn body<'a>(
    t: &[Token<'a>],
    mut i: usize,
    blocks: &mut Vec<String>,
    edits: &mut Vec<Edit<'a>>,
) -> usize {
    loop {
        i = skip_trivia(t, i);
        let Some(tok) = t.get(i) else { return i };
        if tok.kind != Kind::Ident {
            return i;
        }
        let name = i;
        i += 1;
        if t.get(i).is_some_and(|x| x.kind == Kind::Equal) {
            let span = value(t, i + 1);
            i = span.end;
            let typed = blocks.len() == 1 && blocks[0] == "variable" && t[name].text == "type";
            let with = match typed {
                true => legacy_type(&t[span.clone()]),
                false => unwrapped(&t[span.clone()]),
            };
            if let Some(with) = with {
                edits.push(Edit { span, with });
            }
            continue;
        }
        let labels_start = i;
        while i < t.len() && matches!(t[i].kind, Kind::Ident | Kind::OQuote) {
            i = label_end(t, i);
        }
        if t.get(i).is_none_or(|x| x.kind != Kind::OBrace) {
            return i;
        }
        if let Some(with) = quoted_labels(&t[labels_start..i]) {
            edits.push(Edit {
                span: labels_start..i,
                with,
            });
        }
        blocks.push(t[name].text.to_string());
        i = body(t, i + 1, blocks, edits);
        blocks.pop();
        if t.get(i).is_none_or(|x| x.kind != Kind::CBrace) {
            return i;
        }
        i += 1;
    }
}

/// The tokens of an attribute's value starting at `i`: up to the end of
/// its line (or the `}` of a one-line block), a trailing comment excluded.
fn value(t: &[Token], start: usize) -> Range<usize> {
    let mut depth = 0;
    let mut i = start;
    while let Some(tok) = t.get(i) {
        let ends = tok.ends_line() || tok.kind == Kind::Eof;
        if depth == 0 && (ends || tok.kind == Kind::CBrace) {
            break;
        }
        depth += tok.bracket_change();
        i += 1;
    }
    while i > start && t[i - 1].kind == Kind::Comment {
        i -= 1;
    }
    start..i
}

fn label_end(t: &[Token], i: usize) -> usize {
    if t[i].kind == Kind::Ident {
        return i + 1;
    }
    let mut j = i + 1;
    while j < t.len() && t[j].kind == Kind::QuotedLit {
        j += 1;
    }
    match t.get(j) {
        Some(x) if x.kind == Kind::CQuote => j + 1,
        _ => t.len(),
    }
}

fn owned(kind: Kind, text: String) -> Token<'static> {
    Token {
        kind,
        text: Cow::Owned(text),
        spaces: 0,
    }
}

/// The labels written quoted and escaped as Terraform escapes them; `None`
/// when they already are (or cannot be read).
fn quoted_labels<'a>(labels: &[Token<'a>]) -> Option<Vec<Token<'a>>> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut changed = false;
    while i < labels.len() {
        let end = label_end(labels, i);
        let text = match labels[i].kind {
            Kind::Ident => labels[i].text.to_string(),
            _ => {
                let raw: String = labels[i + 1..end - 1]
                    .iter()
                    .map(|x| x.text.as_ref())
                    .collect();
                let canonical = lex::escape_quoted(&unescape(&raw)?);
                changed |= canonical != raw;
                canonical
            }
        };
        changed |= labels[i].kind == Kind::Ident || labels[i].spaces != 1;
        out.push(Token {
            spaces: 1,
            ..owned(Kind::OQuote, "\"".into())
        });
        if !text.is_empty() {
            out.push(owned(Kind::QuotedLit, text));
        }
        out.push(owned(Kind::CQuote, "\"".into()));
        i = end;
    }
    changed.then_some(out)
}

/// A quoted literal's text read (`\n`, `\u00e9`, `$${`); `None` for an
/// escape HCL has not.
fn unescape(raw: &str) -> Option<String> {
    lex::unescape_quoted(raw).map(|text| lex::unescape_sequences(&text))
}

/// `"${x}"` as `x`: Terraform's test is on tokens (no other sequence and no
/// text outside nested quotes); a value spanning lines gets parentheses.
fn unwrapped<'a>(v: &[Token<'a>]) -> Option<Vec<Token<'a>>> {
    use Kind::*;
    let n = v.len();
    if n < 5
        || v[0].kind != OQuote
        || v[1].kind != TemplateInterp
        || v[n - 2].kind != TemplateSeqEnd
        || v[n - 1].kind != CQuote
    {
        return None;
    }
    let inside = &v[2..n - 2];
    let mut quotes = 0;
    for tok in inside {
        match tok.kind {
            OQuote => quotes += 1,
            CQuote => quotes -= 1,
            _ if quotes > 0 => {}
            TemplateInterp | TemplateSeqEnd | QuotedLit => return None,
            _ => {}
        }
    }
    let first = inside
        .iter()
        .position(|x| x.kind != Newline)
        .unwrap_or(inside.len());
    let last = inside
        .iter()
        .rposition(|x| x.kind != Newline)
        .map_or(first, |i| i + 1);
    let trimmed = &inside[first..last.max(first)];
    let multi_line = trimmed.iter().any(|x| x.kind == Newline);
    let parenthesised = trimmed.first().is_some_and(|x| x.kind == OParen)
        && trimmed.last().is_some_and(|x| x.kind == CParen)
        && trimmed.len() > 1;
    let mut out = trimmed.to_vec();
    if multi_line && !parenthesised {
        out.insert(0, owned(OParen, "(".into()));
        out.push(owned(CParen, ")".into()));
    }
    Some(out)
}

/// Terraform 0.11's types (`"string"`, `"list"`, `"map"`) and a bare
/// collection keyword (`list`: of `any`) as type expressions.
fn legacy_type<'a>(v: &[Token<'a>]) -> Option<Vec<Token<'a>>> {
    use Kind::*;
    let call = |name: &str, of: &str| {
        vec![
            owned(Ident, name.into()),
            owned(OParen, "(".into()),
            owned(Ident, of.into()),
            owned(CParen, ")".into()),
        ]
    };
    match v {
        [kw] if kw.kind == Ident && matches!(kw.text.as_ref(), "list" | "map" | "set") => {
            Some(call(&kw.text, "any"))
        }
        [o, s, c] if o.kind == OQuote && s.kind == QuotedLit && c.kind == CQuote => {
            match s.text.as_ref() {
                "string" => Some(vec![owned(Ident, "string".into())]),
                "list" | "map" => Some(call(&s.text, "string")),
                _ => None,
            }
        }
        _ => None,
    }
}
