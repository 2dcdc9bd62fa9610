//! Terraform's string, regular-expression, encoding and hash functions.
//! Strings are counted, cut and reversed by grapheme cluster, as Terraform
//! does; regular expressions are RE2's syntax (the `regex` crate's).

use base64::Engine as _;
use hcl::eval::{FuncArgs, ParamType};
use hcl::Value;
use sha2::Digest as _;
use unicode_segmentation::UnicodeSegmentation;

pub(super) fn declare(ctx: &mut super::functions::Registry) {
    use ParamType::*;
    let s = super::functions::Builder::new;
    let mut f = |name: &str, def: super::functions::Def| ctx.declare_func(name, def);
    f(
        "chomp",
        s().param(String).build(|a| Ok(chomp(text(&a, 0)).into())),
    );
    f(
        "startswith",
        s().params([String, String])
            .build(|a| Ok(text(&a, 0).starts_with(text(&a, 1)).into())),
    );
    f(
        "endswith",
        s().params([String, String])
            .build(|a| Ok(text(&a, 0).ends_with(text(&a, 1)).into())),
    );
    f(
        "strcontains",
        s().params([String, String])
            .build(|a| Ok(text(&a, 0).contains(text(&a, 1)).into())),
    );
    f("indent", s().params([Number, String]).build(indent));
    f(
        "strrev",
        s().param(String).build(|a| {
            Ok(text(&a, 0)
                .graphemes(true)
                .rev()
                .collect::<std::string::String>()
                .into())
        }),
    );
    f("substr", s().params([String, Number, Number]).build(substr));
    f(
        "title",
        s().param(String).build(|a| Ok(title(text(&a, 0)).into())),
    );
    f(
        "trim",
        s().params([String, String]).build(|a| {
            let cut: Vec<char> = text(&a, 1).chars().collect();
            Ok(text(&a, 0).trim_matches(cut.as_slice()).into())
        }),
    );
    f(
        "trimprefix",
        s().params([String, String]).build(|a| {
            Ok(text(&a, 0)
                .strip_prefix(text(&a, 1))
                .unwrap_or(text(&a, 0))
                .into())
        }),
    );
    f(
        "trimsuffix",
        s().params([String, String]).build(|a| {
            Ok(text(&a, 0)
                .strip_suffix(text(&a, 1))
                .unwrap_or(text(&a, 0))
                .into())
        }),
    );
    f("regex", s().params([String, String]).build(regex));
    f("regexall", s().params([String, String]).build(regexall));
    f(
        "base64encode",
        s().param(String)
            .build(|a| Ok(b64().encode(text(&a, 0)).into())),
    );
    f("base64decode", s().param(String).build(base64decode));
    f(
        "bcrypt",
        s().param(String).variadic_param(Number).build(bcrypt),
    );
    f(
        "urlencode",
        s().param(String)
            .build(|a| Ok(urlencode(text(&a, 0)).into())),
    );
    f(
        "md5",
        s().param(String)
            .build(|a| Ok(hex::encode(md5::Md5::digest(text(&a, 0))).into())),
    );
    f(
        "sha1",
        s().param(String)
            .build(|a| Ok(hex::encode(sha1::Sha1::digest(text(&a, 0))).into())),
    );
    f(
        "sha512",
        s().param(String)
            .build(|a| Ok(hex::encode(sha2::Sha512::digest(text(&a, 0))).into())),
    );
    f(
        "base64sha256",
        s().param(String)
            .build(|a| Ok(b64().encode(sha2::Sha256::digest(text(&a, 0))).into())),
    );
    f(
        "base64sha512",
        s().param(String)
            .build(|a| Ok(b64().encode(sha2::Sha512::digest(text(&a, 0))).into())),
    );
}

fn text(a: &FuncArgs, i: usize) -> &str {
    a[i].as_str().unwrap_or_default()
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// The number of grapheme clusters in `s`, as Terraform's `length` counts.
pub fn length(s: &str) -> usize {
    s.graphemes(true).count()
}

fn chomp(s: &str) -> &str {
    s.trim_end_matches(['\n', '\r'])
}

fn indent(a: FuncArgs) -> Result<Value, std::string::String> {
    let n = a[0].as_f64().unwrap_or_default();
    if n < 0.0 || n.fract() != 0.0 || n > crate::text::MAX_PAD as f64 {
        return Err(format!(
            "the number of spaces must be a whole number from 0 to {}",
            crate::text::MAX_PAD
        ));
    }
    let pad = format!("\n{}", " ".repeat(n as usize));
    Ok(text(&a, 1).replace('\n', &pad).into())
}

fn substr(a: FuncArgs) -> Result<Value, std::string::String> {
    let g: Vec<&str> = text(&a, 0).graphemes(true).collect();
    let whole = |i: usize| -> Result<i64, std::string::String> {
        let n = a[i].as_f64().unwrap_or_default();
        if n.fract() != 0.0 {
            return Err("offset and length must be whole numbers".into());
        }
        Ok(n as i64)
    };
    let (offset, length) = (whole(1)?, whole(2)?);
    let len = g.len() as i64;
    let start = if offset < 0 { len + offset } else { offset };
    if start < 0 || start > len {
        return Err("offset must be within the string's length".into());
    }
    let end = match length {
        -1 => len,
        n if n < -1 => return Err("length must be -1 or at least 0".into()),
        n => (start + n).min(len),
    };
    Ok(g[start as usize..end as usize].concat().into())
}

/// Each word's first letter upper-cased (Go's `strings.Title`).
fn title(s: &str) -> std::string::String {
    let mut out = std::string::String::with_capacity(s.len());
    // Go's separators: ASCII other than letters, digits and `_`; beyond
    // ASCII, white space.
    let separator = |c: char| match c {
        '_' => false,
        c if c.is_ascii() => !c.is_ascii_alphanumeric(),
        c => !c.is_alphanumeric() && c.is_whitespace(),
    };
    let mut after_separator = true;
    for c in s.chars() {
        if after_separator {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        after_separator = separator(c);
    }
    out
}

fn compile(pattern: &str) -> Result<regex::Regex, std::string::String> {
    regex::Regex::new(pattern).map_err(|e| format!("invalid regexp pattern: {e}"))
}

/// A match as Terraform returns it: the matched text without capture
/// groups, a list of the groups when they are unnamed, a map when named.
fn captures(re: &regex::Regex, c: &regex::Captures) -> Value {
    let group = |m: Option<regex::Match>| m.map(|m| Value::from(m.as_str())).unwrap_or(Value::Null);
    if re.captures_len() == 1 {
        return group(c.get(0));
    }
    let names: Vec<Option<&str>> = re.capture_names().skip(1).collect();
    if names.iter().any(Option::is_some) {
        let mut m = hcl::Map::new();
        for (i, name) in names.iter().enumerate() {
            if let Some(n) = name {
                m.insert((*n).to_string(), group(c.get(i + 1)));
            }
        }
        return Value::Object(m);
    }
    Value::Array((1..re.captures_len()).map(|i| group(c.get(i))).collect())
}

fn regex(a: FuncArgs) -> Result<Value, std::string::String> {
    let re = compile(text(&a, 0))?;
    let c = re
        .captures(text(&a, 1))
        .ok_or("pattern did not match any part of the given string")?;
    Ok(captures(&re, &c))
}

fn regexall(a: FuncArgs) -> Result<Value, std::string::String> {
    let re = compile(text(&a, 0))?;
    Ok(Value::Array(
        re.captures_iter(text(&a, 1))
            .map(|c| captures(&re, &c))
            .collect(),
    ))
}

/// `replace` with a `/pattern/` substring: a regular-expression replace,
/// `$1` and `${name}` naming groups.
pub fn replace_regex(
    s: &str,
    pattern: &str,
    with: &str,
) -> Result<std::string::String, std::string::String> {
    Ok(compile(pattern)?.replace_all(s, with).into_owned())
}

fn base64decode(a: FuncArgs) -> Result<Value, std::string::String> {
    let bytes = b64()
        .decode(text(&a, 0))
        .map_err(|e| format!("failed to decode base64 data \"{}\": {e}", text(&a, 0)))?;
    std::string::String::from_utf8(bytes)
        .map(Value::from)
        .map_err(|_| "the result of decoding the provided string is not valid UTF-8".into())
}

/// Go's `url.QueryEscape`: letters, digits and `-_.~` stay, a space is `+`.
fn urlencode(s: &str) -> std::string::String {
    let mut out = std::string::String::new();
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// A bcrypt hash (`$2a$`), a fresh salt each call; a cost below 4 means
/// the default 10, as in Go's bcrypt. The errors are Terraform's, spelling included.
fn bcrypt(a: FuncArgs) -> Result<Value, String> {
    let password = text(&a, 0);
    let cost = match a.get(1).and_then(Value::as_f64) {
        None => 10.0,
        Some(c) if c < 4.0 => 10.0,
        Some(c) if c > 31.0 || c.fract() != 0.0 => {
            return Err(format!(
                "error occured generating password crypto/bcrypt: cost {c} is outside allowed range (4,31)"
            ))
        }
        Some(c) => c,
    };
    if a.len() > 2 {
        return Err(format!(
            "bcrypt() takes no more than two arguments, but got {}",
            a.len()
        ));
    }
    if password.len() > 72 {
        return Err(
            "error occured generating password bcrypt: password length exceeds 72 bytes".into(),
        );
    }
    bcrypt::hash_with_result(password, cost as u32)
        .map(|h| h.format_for_version(bcrypt::Version::TwoA).into())
        .map_err(|e| format!("error occured generating password {e}"))
}
