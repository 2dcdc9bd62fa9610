//! go-yaml's block layout, as Terraform's `yamlencode` writes it.

use hcl::{Map, Value};

/// The line width after which a quoted string is folded at a space.
const WIDTH: usize = 80;

/// `v` as a YAML document.
pub fn encode(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => map(&mut out, m, 0, false),
        Value::Array(items) if !items.is_empty() => seq(&mut out, items, 0, false),
        Value::String(_) => {
            scalar(&mut out, v, 2);
            out.push('\n');
        }
        Value::Array(_) | Value::Object(_) => {
            scalar(&mut out, v, 2);
            out.push('\n');
        }
        // A plain scalar alone is closed with the document end marker.
        _ => {
            scalar(&mut out, v, 2);
            out.push_str("\n...\n");
        }
    }
    out
}

/// A block mapping whose keys start at column `indent`; `inline`: the first
/// key continues the current line (after `- `).
fn map(out: &mut String, m: &Map<String, Value>, indent: usize, inline: bool) {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    for (i, k) in keys.into_iter().enumerate() {
        if i > 0 || !inline {
            pad(out, indent);
        }
        if k.contains('\n') && block_allowed(k) {
            // A key of several lines is a complex key.
            out.push_str("? ");
            literal(out, k, indent + 2);
            out.push('\n');
            pad(out, indent);
        } else {
            quoted(out, k, indent + 2, false);
        }
        out.push(':');
        value(out, &m[k], indent, true);
    }
}

/// A block sequence whose dashes are at column `indent`.
fn seq(out: &mut String, items: &[Value], indent: usize, inline: bool) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 || !inline {
            pad(out, indent);
        }
        out.push('-');
        value(out, item, indent, false);
    }
}

/// What follows a key's colon (`in_map`) or a dash at column `indent`.
fn value(out: &mut String, v: &Value, indent: usize, in_map: bool) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            if in_map {
                out.push('\n');
                map(out, m, indent + 2, false);
            } else {
                out.push(' ');
                map(out, m, indent + 2, true);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            if in_map {
                // A sequence under a key is not indented.
                out.push('\n');
                seq(out, items, indent, false);
            } else {
                out.push(' ');
                seq(out, items, indent + 2, true);
            }
        }
        other => {
            out.push(' ');
            scalar(out, other, indent + 2);
            out.push('\n');
        }
    }
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// A scalar whose continuation lines start at column `indent`.
fn scalar(out: &mut String, v: &Value, indent: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&crate::lang::number::text(n)),
        Value::String(s) if s.contains('\n') && block_allowed(s) => literal(out, s, indent),
        Value::String(s) => quoted(out, s, indent, true),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

/// Whether go-yaml would write `s` as a literal block: no space before a
/// line break, no trailing space, nothing unprintable.
fn block_allowed(s: &str) -> bool {
    !s.ends_with(' ')
        && !s.contains(" \n")
        && !s.contains('\t')
        && s.chars()
            .all(|c| printable(c) && !matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}' | '\r'))
}

/// `|`, `|-` or `|+` and the lines, indented to `indent` (with an
/// indentation hint when the text starts with a space or a line break).
fn literal(out: &mut String, s: &str, indent: usize) {
    out.push('|');
    if s.starts_with([' ', '\n']) {
        out.push('2');
    }
    let body = if !s.ends_with('\n') {
        out.push('-');
        s
    } else {
        if s == "\n" || s.ends_with("\n\n") {
            out.push('+');
        }
        &s[..s.len() - 1]
    };
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            pad(out, indent);
            out.push_str(line);
        }
    }
}

fn printable(c: char) -> bool {
    // go-yaml counts nothing beyond the Basic Multilingual Plane as printable.
    matches!(c, '\n' | '\u{20}'..='\u{7E}' | '\u{85}' | '\u{A0}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        && c != '\u{FEFF}'
}

/// A double-quoted string; with `breaks`, folded at a space past column 80
/// onto a line indented to `indent`.
fn quoted(out: &mut String, s: &str, indent: usize, breaks: bool) {
    out.push('"');
    let chars: Vec<char> = s.chars().collect();
    let mut column = out.len() - out.rfind('\n').map_or(0, |i| i + 1);
    column = out[out.len() - column..].chars().count();
    let mut spaces = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if !printable(c)
            || c == '\u{FEFF}'
            || matches!(
                c,
                '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}' | '"' | '\\'
            )
        {
            let e = escape(c);
            column += e.chars().count();
            out.push_str(&e);
            spaces = false;
        } else if c == ' ' {
            if breaks && !spaces && column > WIDTH && i != 0 && i != chars.len() - 1 {
                out.push('\n');
                pad(out, indent);
                column = indent;
                if chars.get(i + 1) == Some(&' ') {
                    out.push('\\');
                    column += 1;
                }
            } else {
                out.push(' ');
                column += 1;
            }
            spaces = true;
        } else {
            out.push(c);
            column += 1;
            spaces = false;
        }
        i += 1;
    }
    out.push('"');
}

fn escape(c: char) -> String {
    let short = match c {
        '\0' => '0',
        '\u{7}' => 'a',
        '\u{8}' => 'b',
        '\t' => 't',
        '\n' => 'n',
        '\u{B}' => 'v',
        '\u{C}' => 'f',
        '\r' => 'r',
        '\u{1B}' => 'e',
        '"' => '"',
        '\\' => '\\',
        '\u{85}' => 'N',
        '\u{A0}' => '_',
        '\u{2028}' => 'L',
        '\u{2029}' => 'P',
        c if (c as u32) <= 0xFF => return format!("\\x{:02X}", c as u32),
        c if (c as u32) <= 0xFFFF => return format!("\\u{:04X}", c as u32),
        c => return format!("\\U{:08X}", c as u32),
    };
    format!("\\{short}")
}
