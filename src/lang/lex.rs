//! HCL's tokens as Terraform's scanner reads them (`hclsyntax`'s
//! `scan_tokens.rl`), for layout: each token keeps its text and the number
//! of spaces before it, so writing them back gives the file again.

use std::borrow::Cow;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    OBrace,
    CBrace,
    OBrack,
    CBrack,
    OParen,
    CParen,
    OQuote,
    CQuote,
    OHeredoc,
    CHeredoc,
    Star,
    Slash,
    Plus,
    Minus,
    Percent,
    Equal,
    EqualOp,
    NotEqual,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
    Bang,
    Dot,
    Comma,
    DoubleColon,
    Ellipsis,
    FatArrow,
    Question,
    Colon,
    TemplateInterp,
    TemplateControl,
    TemplateSeqEnd,
    QuotedLit,
    QuotedNewline,
    StringLit,
    NumberLit,
    Ident,
    Comment,
    Newline,
    /// A character HCL has no use for (`&`, `;`, `~`, …), or text the scanner could not read.
    Invalid,
    Eof,
}

#[derive(Clone, Debug)]
pub struct Token<'a> {
    pub kind: Kind,
    pub text: Cow<'a, str>,
    /// Spaces written before the token (a tab read counts as one).
    pub spaces: usize,
}

impl Token<'_> {
    /// Whether the token ends its line (a `#` or `//` comment takes its line's end).
    pub fn ends_line(&self) -> bool {
        self.kind == Kind::Newline || (self.kind == Kind::Comment && self.text.ends_with('\n'))
    }

    /// How the token changes the bracket depth.
    pub fn bracket_change(&self) -> i64 {
        use Kind::*;
        match self.kind {
            OBrace | OBrack | OParen | TemplateControl | TemplateInterp => 1,
            CBrace | CBrack | CParen | TemplateSeqEnd => -1,
            _ => 0,
        }
    }
}

/// The text written out again: each token after its spaces.
pub fn write(tokens: &[Token]) -> String {
    let mut out = String::new();
    for t in tokens {
        out.extend(std::iter::repeat_n(' ', t.spaces));
        out.push_str(&t.text);
    }
    out
}

/// A quoted string's backslash escapes read (`\n`, `\"`, `\\`, `\u00e9`,
/// `\U0001F600`); `None` for an escape HCL has not.
pub fn unescape_quoted(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            '"' => '"',
            '\\' => '\\',
            u @ ('u' | 'U') => {
                let n = if u == 'u' { 4 } else { 8 };
                let hex: String = chars.by_ref().take(n).collect();
                char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?
            }
            _ => return None,
        });
    }
    Some(out)
}

/// A literal's template sequences read: `$${` is `${`, `%%{` is `%{`.
pub fn unescape_sequences(text: &str) -> String {
    text.replace("$${", "${").replace("%%{", "%{")
}

/// A string as Terraform writes it between quotes.
pub fn escape_quoted(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '$' | '%' => {
                out.push(c);
                if chars.peek() == Some(&'{') {
                    out.push(c);
                }
            }
            c if !printable(c) => match u32::from(c) {
                n if n < 0x10000 => out.push_str(&format!("\\u{n:04x}")),
                n => out.push_str(&format!("\\U{n:08x}")),
            },
            c => out.push(c),
        }
    }
    out
}

/// Go's `unicode.IsPrint`, for the characters a string holds in practice:
/// not a control, format or private-use character, nor a space but ` `.
fn printable(c: char) -> bool {
    c == ' '
        || !(c.is_control()
            || c.is_whitespace()
            || matches!(c, '\u{AD}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}' | '\u{E000}'..='\u{F8FF}'))
}

/// Where a heredoc is in a file, as Terraform's scanner reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeredocSpan {
    /// The byte offset of its `<<`.
    pub start: usize,
    /// The end of its closing marker (spaces after it excluded); `None`
    /// when no line holds its marker alone (Terraform cannot read the file).
    pub end: Option<usize>,
    /// Closed on the very next line.
    pub empty: bool,
}

/// The heredocs of `src`, in order.
pub fn heredocs(src: &str) -> Vec<HeredocSpan> {
    let mut out = Vec::new();
    if !src.contains("<<") {
        return out;
    }
    let tokens = lex(src);
    let mut open = Vec::new();
    let mut at = 0;
    for (i, t) in tokens.iter().enumerate() {
        let start = at + t.spaces;
        at = start + t.text.len();
        match t.kind {
            Kind::OHeredoc => {
                open.push(out.len());
                out.push(HeredocSpan {
                    start,
                    end: None,
                    empty: false,
                });
            }
            Kind::CHeredoc => {
                if let Some(h) = open.pop().and_then(|n| out.get_mut(n)) {
                    h.end = Some(start + t.text.trim_end().len());
                    h.empty = tokens[i - 1].kind == Kind::OHeredoc;
                }
            }
            _ => {}
        }
    }
    out
}

enum Mode {
    Main,
    Quoted,
    Heredoc,
}

struct Heredoc<'a> {
    /// `None` in a bare template (a template file), which no marker closes.
    marker: Option<&'a str>,
    start_of_line: bool,
}

struct Scanner<'a> {
    src: &'a str,
    pos: usize,
    last_end: usize,
    out: Vec<Token<'a>>,
    modes: Vec<Mode>,
    braces: i64,
    returns: Vec<i64>,
    heredocs: Vec<Heredoc<'a>>,
}

/// The tokens of `src`, ending with [`Kind::Eof`]. Never fails: what HCL
/// cannot read becomes [`Kind::Invalid`].
pub fn lex(src: &str) -> Vec<Token<'_>> {
    scan(src, false)
}

/// The tokens of a bare template (a template file's text): its text is
/// [`Kind::StringLit`]s, split as a heredoc's are (after each line's end,
/// before each `$` and `%`).
pub fn lex_template(src: &str) -> Vec<Token<'_>> {
    scan(src, true)
}

fn scan(src: &str, template: bool) -> Vec<Token<'_>> {
    let body = src.strip_prefix('\u{feff}').unwrap_or(src);
    let bom = src.len() - body.len();
    let mut s = Scanner {
        src: body,
        pos: 0,
        last_end: 0,
        out: Vec::new(),
        modes: vec![Mode::Main],
        braces: 0,
        returns: Vec::new(),
        heredocs: Vec::new(),
    };
    if template {
        s.modes = vec![Mode::Heredoc];
        s.heredocs.push(Heredoc {
            marker: None,
            start_of_line: true,
        });
    }
    while s.pos < s.src.len() {
        let more = match s.modes.last() {
            Some(Mode::Quoted) => s.quoted(),
            Some(Mode::Heredoc) => s.heredoc(),
            _ => s.main(),
        };
        if !more {
            let start = s.pos;
            s.emit(Kind::Invalid, start, s.src.len());
        }
    }
    let end = s.src.len();
    s.emit(Kind::Eof, end, end);
    // Terraform's scanner counts a byte order mark as spaces before the first token.
    if let Some(first) = s.out.first_mut() {
        first.spaces += bom;
    }
    s.out
}

fn ident_start(c: char) -> bool {
    c == '_' || unicode_ident::is_xid_start(c)
}

fn ident_continue(c: char) -> bool {
    c == '-' || unicode_ident::is_xid_continue(c)
}

impl<'a> Scanner<'a> {
    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn emit(&mut self, kind: Kind, start: usize, end: usize) {
        self.out.push(Token {
            kind,
            text: Cow::Borrowed(&self.src[start..end]),
            spaces: start - self.last_end,
        });
        self.last_end = end;
        self.pos = end;
    }

    fn take(&mut self, kind: Kind, len: usize) {
        let start = self.pos;
        self.emit(kind, start, start + len);
    }

    /// The length of the identifier at the start of `s` (0 when none).
    fn ident_len(s: &str) -> usize {
        let mut chars = s.char_indices();
        match chars.next() {
            Some((_, c)) if ident_start(c) => {}
            _ => return 0,
        }
        chars
            .find(|(_, c)| !ident_continue(*c))
            .map_or(s.len(), |(i, _)| i)
    }

    fn number_len(s: &str) -> usize {
        let b = s.as_bytes();
        let mut i = 1;
        let mut end = 1;
        loop {
            match b.get(i) {
                Some(c) if c.is_ascii_digit() => i += 1,
                Some(b'.') => {
                    i += 1;
                    continue;
                }
                Some(b'e' | b'E') => {
                    let sign = usize::from(matches!(b.get(i + 1), Some(b'+' | b'-')));
                    match b.get(i + 1 + sign) {
                        Some(d) if d.is_ascii_digit() => i += 2 + sign,
                        _ => break,
                    }
                }
                _ => break,
            }
            end = i;
        }
        end
    }

    fn template_open(&mut self, kind: Kind, len: usize) {
        self.take(kind, len);
        self.braces += 1;
        self.returns.push(self.braces);
        if let Some(h) = self.heredocs.last_mut() {
            h.start_of_line = false;
        }
        self.modes.push(Mode::Main);
    }

    /// `}` or `~}`: the end of a template sequence when it closes one.
    fn close_brace(&mut self, len: usize) {
        let ends_sequence = self.returns.last() == Some(&self.braces);
        let kind = match ends_sequence || len == 2 {
            true => Kind::TemplateSeqEnd,
            false => Kind::CBrace,
        };
        self.take(kind, len);
        self.braces -= 1;
        if ends_sequence {
            self.returns.pop();
            self.modes.pop();
        }
    }

    fn main(&mut self) -> bool {
        let rest = self.rest();
        let b = rest.as_bytes();
        let two = rest.get(..2).unwrap_or("");
        let Some(c) = rest.chars().next() else {
            return false;
        };
        match c {
            ' ' | '\t' => {
                self.pos += rest.find(|c| c != ' ' && c != '\t').unwrap_or(rest.len());
                return true;
            }
            '0'..='9' => return self.takes(Kind::NumberLit, Self::number_len(rest)),
            c if ident_start(c) => return self.takes(Kind::Ident, Self::ident_len(rest)),
            _ => {}
        }
        if let Some(len) = comment_len(rest) {
            return self.takes(Kind::Comment, len);
        }
        let fixed = match two {
            "\r\n" => Some((Kind::Newline, 2)),
            _ if rest.starts_with("...") => Some((Kind::Ellipsis, 3)),
            _ => pair(two).map(|kind| (kind, 2)),
        };
        if let Some((kind, len)) = fixed {
            return self.takes(kind, len);
        }
        if two == "<<" {
            if let Some(len) = self.heredoc_intro(rest) {
                self.take(Kind::OHeredoc, len);
                return self.open_heredoc(len);
            }
        }
        match c {
            '{' => {
                self.take(Kind::OBrace, 1);
                self.braces += 1;
            }
            '}' => self.close_brace(1),
            '~' if b.get(1) == Some(&b'}') => self.close_brace(2),
            '"' => {
                self.take(Kind::OQuote, 1);
                self.modes.push(Mode::Quoted);
            }
            _ => {
                let kind = single(c);
                self.take(kind, c.len_utf8());
            }
        }
        true
    }

    fn takes(&mut self, kind: Kind, len: usize) -> bool {
        self.take(kind, len);
        true
    }

    /// The length of `<<EOT\n` or `<<-EOT\r\n` at the start of `rest`.
    fn heredoc_intro(&self, rest: &str) -> Option<usize> {
        let dash = usize::from(rest[2..].starts_with('-'));
        let name = Self::ident_len(&rest[2 + dash..]);
        if name == 0 {
            return None;
        }
        let after = &rest[2 + dash + name..];
        let eol = match after {
            _ if after.starts_with('\n') => 1,
            _ if after.starts_with("\r\n") => 2,
            _ => return None,
        };
        Some(2 + dash + name + eol)
    }

    fn open_heredoc(&mut self, len: usize) -> bool {
        let intro = &self.src[self.pos - len..self.pos];
        let marker = intro[2..]
            .trim_start_matches('-')
            .trim_end_matches(['\r', '\n']);
        self.heredocs.push(Heredoc {
            marker: Some(marker),
            start_of_line: true,
        });
        self.modes.push(Mode::Heredoc);
        true
    }

    /// A template sequence's opening (`${`, `%{~`) at the start of `rest`.
    fn sequence(rest: &str) -> Option<(Kind, usize)> {
        let kind = match rest.get(..2)? {
            "${" => Kind::TemplateInterp,
            "%{" => Kind::TemplateControl,
            _ => return None,
        };
        Some((kind, 2 + usize::from(rest[2..].starts_with('~'))))
    }

    /// The length of a `$` or `%` that is text: `$${` (an escaped
    /// sequence, with its `~`), or the sign alone.
    fn escaped_sign(rest: &str) -> usize {
        match Self::sequence(&rest[1..]) {
            Some((_, len)) => 1 + len,
            None => 1,
        }
    }

    fn quoted(&mut self) -> bool {
        let rest = self.rest();
        if let Some((kind, len)) = Self::sequence(rest) {
            self.template_open(kind, len);
            return true;
        }
        let b = rest.as_bytes();
        match b[0] {
            b'"' => {
                self.take(Kind::CQuote, 1);
                self.modes.pop();
                return true;
            }
            b'\r' | b'\n' => {
                let len = rest.find(|c| c != '\r' && c != '\n').unwrap_or(rest.len());
                return self.takes(Kind::QuotedNewline, len);
            }
            _ => {}
        }
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'$' | b'%' if i == 0 => i += Self::escaped_sign(rest),
                b'\\' => match rest[i + 1..].chars().next() {
                    Some(c) if c != '\r' && c != '\n' => i += 1 + c.len_utf8(),
                    _ => break,
                },
                b'$' | b'%' | b'"' | b'\r' | b'\n' => break,
                _ => i += 1,
            }
        }
        if i == 0 {
            // A backslash before a line's end is nothing HCL can read.
            return self.takes(Kind::Invalid, 1);
        }
        while !rest.is_char_boundary(i) {
            i += 1;
        }
        self.takes(Kind::QuotedLit, i)
    }

    fn heredoc(&mut self) -> bool {
        let rest = self.rest();
        if let Some((kind, len)) = Self::sequence(rest) {
            self.template_open(kind, len);
            return true;
        }
        let text = match rest.as_bytes()[0] {
            b'$' | b'%' => Self::escaped_sign(rest),
            _ => rest.find(['$', '%', '\r', '\n']).unwrap_or(rest.len()),
        };
        let after = &rest[text..];
        let eol = match after {
            _ if after.starts_with('\n') => 1,
            _ if after.starts_with("\r\n") => 2,
            _ if after.starts_with('\r') && text == 0 => return false,
            _ => 0,
        };
        let Some(doc) = self.heredocs.last_mut() else {
            return false;
        };
        if eol == 0 {
            doc.start_of_line = false;
            return self.takes(Kind::StringLit, text);
        }
        if doc.start_of_line && doc.marker == Some(rest[..text].trim()) {
            self.take(Kind::CHeredoc, text);
            self.take(Kind::Newline, eol);
            self.heredocs.pop();
            self.modes.pop();
            return true;
        }
        doc.start_of_line = true;
        self.takes(Kind::StringLit, text + eol)
    }
}

/// The length of the comment at the start of `rest`: a `#` or `//` one
/// with its line's end, a `/* */` one when it is closed.
fn comment_len(rest: &str) -> Option<usize> {
    if rest.starts_with('#') || rest.starts_with("//") {
        return Some(rest.find('\n').map_or(rest.len(), |i| i + 1));
    }
    let body = rest.strip_prefix("/*")?;
    body.find("*/").map(|i| i + 4)
}

/// The operator of two characters `two` is, if any.
fn pair(two: &str) -> Option<Kind> {
    Some(match two {
        "==" => Kind::EqualOp,
        "!=" => Kind::NotEqual,
        ">=" => Kind::Ge,
        "<=" => Kind::Le,
        "&&" => Kind::And,
        "||" => Kind::Or,
        "::" => Kind::DoubleColon,
        "=>" => Kind::FatArrow,
        _ => return None,
    })
}

fn single(c: char) -> Kind {
    use Kind::*;
    match c {
        '[' => OBrack,
        ']' => CBrack,
        '(' => OParen,
        ')' => CParen,
        '.' => Dot,
        ',' => Comma,
        '*' => Star,
        '/' => Slash,
        '%' => Percent,
        '+' => Plus,
        '-' => Minus,
        '=' => Equal,
        '<' => Lt,
        '>' => Gt,
        '!' => Bang,
        '?' => Question,
        ':' => Colon,
        '\n' => Newline,
        _ => Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::{lex, write, Kind};

    fn kinds(src: &str) -> Vec<Kind> {
        lex(src).iter().map(|t| t.kind).collect()
    }

    #[test]
    fn writing_the_tokens_gives_the_text_back() {
        for src in [
            "a = 1 # c\n",
            "x = \"a${b}c$${d}%%{e}\\\"\"\r\n",
            "h = <<-EOT\n  ${x}\n  EOT\n",
            "/* multi\n line */ y = [ 1, 2 ]",
            "n = 1..2e+3e",
        ] {
            assert_eq!(write(&lex(src)), src);
        }
        // Spaces are counted, so a tab between tokens is written as a space.
        assert_eq!(write(&lex("\t a\t=\t1  ")), "  a = 1  ");
    }

    #[test]
    fn reads_templates_heredocs_and_numbers() {
        use Kind::*;
        assert_eq!(
            kinds("a = \"x${ {} }\"\n"),
            [
                Ident,
                Equal,
                OQuote,
                QuotedLit,
                TemplateInterp,
                OBrace,
                CBrace,
                TemplateSeqEnd,
                CQuote,
                Newline,
                Eof
            ]
        );
        assert_eq!(
            kinds("h = <<EOT\nEOTX\n EOT \n"),
            [Ident, Equal, OHeredoc, StringLit, CHeredoc, Newline, Eof]
        );
        assert_eq!(kinds("1.5e3..."), [NumberLit, Ellipsis, Eof]);
        assert_eq!(kinds("a=>b"), [Ident, FatArrow, Ident, Eof]);
    }
}
