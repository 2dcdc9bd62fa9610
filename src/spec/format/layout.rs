//! The spaces between tokens, as Terraform's formatter (`hclwrite`) sets
//! them: each line's indentation from its net brackets, the spaces between
//! tokens from their kinds, and `=` and trailing comments aligned across
//! consecutive lines. Only spaces change; every token is kept.

use crate::lang::lex::{Kind, Token};
use std::ops::Range;
use unicode_segmentation::UnicodeSegmentation;

/// One line's tokens in up to three cells: `lead`, then from an `=` that
/// assigns a whole one-line value (`assign`), then a trailing comment.
struct Line {
    lead: Range<usize>,
    assign: Option<Range<usize>>,
    comment: Option<Range<usize>>,
}

/// Sets every token's spaces but the end of file's.
pub(super) fn layout(t: &mut [Token]) {
    let lines = lines(t);
    indent(t, &lines);
    space(t, &lines);
    align(t, &lines);
}

fn lines(t: &[Token]) -> Vec<Line> {
    let mut spans = Vec::new();
    let mut start = 0;
    for (i, tok) in t.iter().enumerate() {
        if tok.kind == Kind::Eof {
            break;
        }
        if tok.ends_line() {
            spans.push(start..i + 1);
            start = i + 1;
        }
    }
    let end = t
        .iter()
        .position(|x| x.kind == Kind::Eof)
        .unwrap_or(t.len());
    spans.push(start..end.max(start));
    spans.into_iter().map(|span| cells(t, span)).collect()
}

fn cells(t: &[Token], mut lead: Range<usize>) -> Line {
    let mut line = Line {
        lead: lead.clone(),
        assign: None,
        comment: None,
    };
    if lead.len() > 1 && t[lead.end - 1].kind == Kind::Comment {
        line.comment = Some(lead.end - 1..lead.end);
        lead.end -= 1;
    }
    if let Some(eq) = (lead.start + 1..lead.end).find(|&i| t[i].kind == Kind::Equal) {
        let net: i64 = t[eq..lead.end].iter().map(Token::bracket_change).sum();
        if net == 0 {
            line.assign = Some(eq..lead.end);
            lead.end = eq;
        }
    }
    line.lead = lead;
    line
}

fn indent(t: &mut [Token], lines: &[Line]) {
    let mut indents: Vec<i64> = Vec::new();
    for line in lines {
        if line.lead.is_empty() {
            continue;
        }
        let first = line.lead.start;
        if t[first].kind == Kind::Newline {
            t[first].spaces = 0;
            continue;
        }
        let mut net = 0;
        for tok in &t[line.lead.clone()] {
            net += tok.bracket_change();
            if tok.kind == Kind::OHeredoc {
                break;
            }
        }
        net += line
            .assign
            .clone()
            .map_or(0, |a| t[a].iter().map(Token::bracket_change).sum());
        if net > 0 {
            t[first].spaces = 2 * indents.len();
            indents.push(net);
            continue;
        }
        let mut closed = -net;
        while closed > 0 {
            let Some(top) = indents.last_mut() else { break };
            if closed < *top {
                *top -= closed;
                break;
            }
            closed -= *top;
            indents.pop();
        }
        t[first].spaces = 2 * indents.len();
    }
}

fn space(t: &mut [Token], lines: &[Line]) {
    for line in lines {
        space_cell(t, line.lead.clone());
        if let Some(assign) = line.assign.clone() {
            t[assign.start].spaces = 1;
            space_cell(t, assign);
        }
    }
}

fn space_cell(t: &mut [Token], cell: Range<usize>) {
    for i in cell.start..cell.end.saturating_sub(1) {
        let before = (i > cell.start).then(|| &t[i - 1]);
        let spaced = space_after(&t[i], before, &t[i + 1]);
        t[i + 1].spaces = usize::from(spaced);
    }
}

/// Whether `subject` takes a space after it, between `before` (`None` at a
/// cell's start) and `after`.
fn space_after(subject: &Token, before: Option<&Token>, after: &Token) -> bool {
    use Kind::*;
    let (s, a) = (subject.kind, after.kind);
    match () {
        _ if a == Newline || a == Eof => false,
        _ if s == Ident && a == OParen => false,
        _ if (s == Ident && a == DoubleColon) || (s == DoubleColon && a == Ident) => false,
        _ if s == Dot || a == Dot => false,
        _ if a == Comma || a == Ellipsis => false,
        _ if s == Comma => true,
        _ if matches!(s, QuotedLit | StringLit | OQuote | OHeredoc)
            || matches!(a, QuotedLit | StringLit | CQuote | CHeredoc) =>
        {
            false
        }
        _ if s == Ident && subject.text == "in" && before.is_some_and(|b| b.kind == Ident) => true,
        _ if a == OBrack && (s == Ident || s == NumberLit || subject.bracket_change() < 0) => false,
        _ if s == Bang => false,
        _ if s == Minus => minus_is_binary(before.map(|b| b.kind)),
        _ if s == OBrace || a == CBrace => !(s == OBrace && a == CBrace),
        _ if matches!(s, TemplateInterp | TemplateControl) && a == OBrace => true,
        _ if s == CBrace && a == TemplateSeqEnd => true,
        _ if s == TemplateSeqEnd && matches!(a, TemplateInterp | TemplateControl) => false,
        _ if subject.bracket_change() > 0 => false,
        _ if after.bracket_change() < 0 => false,
        _ => true,
    }
}

/// A minus after something that ends an operand subtracts (a space after
/// it); anywhere else it negates.
fn minus_is_binary(before: Option<Kind>) -> bool {
    use Kind::*;
    !matches!(
        before,
        None | Some(
            OParen
                | OBrace
                | OBrack
                | Equal
                | Colon
                | Comma
                | Question
                | Plus
                | Star
                | Slash
                | Percent
                | Minus
                | EqualOp
                | NotEqual
                | Gt
                | Ge
                | Lt
                | Le
                | And
                | Or
                | Bang
        )
    )
}

fn columns(t: &[Token], cell: Option<Range<usize>>) -> usize {
    cell.map_or(0, |c| {
        t[c].iter()
            .map(|x| x.spaces + x.text.graphemes(true).count())
            .sum()
    })
}

/// Aligns the `=` of consecutive assignment lines, then the comments
/// trailing consecutive lines.
fn align(t: &mut [Token], lines: &[Line]) {
    let assign_width = |t: &[Token], l: &Line| columns(t, Some(l.lead.clone()));
    for run in runs(lines, |l| l.assign.is_some()) {
        let widest = run.iter().map(|l| assign_width(t, l)).max().unwrap_or(0);
        for l in run {
            let pad = widest - assign_width(t, l) + 1;
            if let Some(a) = &l.assign {
                t[a.start].spaces = pad;
            }
        }
    }
    let comment_width =
        |t: &[Token], l: &Line| columns(t, Some(l.lead.clone())) + columns(t, l.assign.clone());
    for run in runs(lines, |l| l.comment.is_some()) {
        let widest = run.iter().map(|l| comment_width(t, l)).max().unwrap_or(0);
        for l in run {
            let pad = widest - comment_width(t, l) + 1;
            if let Some(c) = &l.comment {
                t[c.start].spaces = pad;
            }
        }
    }
}

/// The runs of consecutive lines that have a cell.
fn runs(lines: &[Line], has: impl Fn(&Line) -> bool + Copy) -> impl Iterator<Item = &[Line]> {
    lines
        .chunk_by(move |a, b| has(a) == has(b))
        .filter(move |run| has(&run[0]))
}
