//! `yamldecode` and `yamlencode`, as Terraform's: YAML 1.1's plain scalars
//! (`yes`, `y`, `on` are true; `0x1F` and `0o17` are numbers; a date is a
//! timestamp) read over yaml-rust2's event parser, which keeps each scalar's
//! style; and go-yaml's layout written by hand (every key and string
//! double-quoted, multi-line strings as `|` blocks, sequences under a key
//! not indented, long quoted strings folded after column 80).

use hcl::{Map, Number, Value};
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::TScalarStyle;

/// Deeper nesting is refused (as the spec loader refuses it), and so are
/// documents whose aliases expand to more nodes than this.
const MAX_DEPTH: usize = 64;
const MAX_NODES: usize = 1_000_000;

mod encode;
pub use encode::encode;

enum Open {
    Seq(Vec<Value>, usize),
    Map(Map<String, Value>, Option<String>, usize),
}

/// The value of a YAML document with exactly one document in it.
pub fn decode(src: &str) -> Result<Value, String> {
    let mut parser = Parser::new_from_str(src);
    let mut stack: Vec<Open> = Vec::new();
    let mut anchors: std::collections::HashMap<usize, Value> = Default::default();
    let mut docs = 0;
    let mut result = None;
    let mut nodes = 0usize;
    loop {
        let (event, mark) = parser.next_token().map_err(|e| {
            format!(
                "on line {}, column {}: {}",
                e.marker().line(),
                e.marker().col() + 1,
                e.info()
            )
        })?;
        let done = match event {
            Event::StreamEnd => break,
            Event::DocumentStart => {
                docs += 1;
                if docs > 1 {
                    // Counted from 0 here, as go-yaml's message does.
                    return Err(format!(
                        "on line {}, column 1: unexpected extra content after value",
                        mark.line().saturating_sub(1)
                    ));
                }
                None
            }
            Event::Scalar(text, style, anchor, tag) => {
                Some((scalar(text, style, tag.as_ref())?, anchor))
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some(v) => {
                    nodes += count(v);
                    Some((v.clone(), 0))
                }
                None => return Err("unknown anchor".into()),
            },
            Event::SequenceStart(anchor, _) => {
                stack.push(Open::Seq(Vec::new(), anchor));
                None
            }
            Event::MappingStart(anchor, _) => {
                stack.push(Open::Map(Map::new(), None, anchor));
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Open::Seq(items, anchor)) => Some((Value::Array(items), anchor)),
                _ => return Err("unbalanced sequence".into()),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Open::Map(m, _, anchor)) => Some((Value::Object(m), anchor)),
                _ => return Err("unbalanced mapping".into()),
            },
            _ => None,
        };
        if stack.len() > MAX_DEPTH {
            return Err(format!(
                "the document nests more than {MAX_DEPTH} levels deep"
            ));
        }
        let Some((value, anchor)) = done else {
            continue;
        };
        nodes += 1;
        if nodes > MAX_NODES {
            return Err(format!(
                "the document expands to more than {MAX_NODES} values"
            ));
        }
        if anchor > 0 {
            anchors.insert(anchor, value.clone());
        }
        match stack.last_mut() {
            None => result = Some(value),
            Some(Open::Seq(items, _)) => items.push(value),
            Some(Open::Map(m, key, _)) => match key.take() {
                None => match value {
                    Value::Null => return Err("mapping key cannot be null".into()),
                    Value::Array(_) | Value::Object(_) => {
                        return Err("only strings are allowed as mapping keys".into())
                    }
                    k => {
                        *key = Some(crate::lang::convert::to_string(&k).map_err(|e| e.to_string())?)
                    }
                },
                Some(k) => {
                    m.insert(k, value);
                }
            },
        }
    }
    result.ok_or_else(|| "on line 1, column 1: missing start of document".into())
}

fn count(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(count).sum::<usize>(),
        Value::Object(m) => 1 + m.values().map(count).sum::<usize>(),
        _ => 1,
    }
}

/// A scalar: quoted and block scalars are strings; plain ones resolve as YAML 1.1's do.
fn scalar(text: String, style: TScalarStyle, tag: Option<&Tag>) -> Result<Value, String> {
    if let Some(tag) = tag {
        return tagged(text, tag);
    }
    if style != TScalarStyle::Plain {
        return Ok(Value::String(text));
    }
    resolve(text)
}

fn tagged(text: String, tag: &Tag) -> Result<Value, String> {
    let bad = || format!("cannot decode {:?} as !!{}", text, tag.suffix);
    let standard = matches!(tag.handle.as_str(), "!!" | "tag:yaml.org,2002:");
    match (standard, tag.suffix.as_str()) {
        (true, "str") => Ok(Value::String(text)),
        (true, "null") => Ok(Value::Null),
        (true, "bool") => match resolve(text.clone())? {
            v @ Value::Bool(_) => Ok(v),
            _ => Err(bad()),
        },
        (true, "int" | "float") => match resolve(text.clone())? {
            v @ Value::Number(_) => Ok(v),
            _ => Err(bad()),
        },
        _ => Err(format!(
            "unsupported tag {:?}",
            format!("{}{}", tag.handle, tag.suffix)
        )),
    }
}

/// YAML 1.1's implicit types for a plain scalar.
fn resolve(text: String) -> Result<Value, String> {
    const TRUE: [&str; 11] = [
        "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON",
    ];
    const FALSE: [&str; 11] = [
        "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF",
    ];
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Ok(Value::Null),
        t if TRUE.contains(&t) => return Ok(Value::Bool(true)),
        t if FALSE.contains(&t) => return Ok(Value::Bool(false)),
        ".nan" | ".NaN" | ".NAN" => return Err("floating point NaN is not supported".into()),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF" => {
            return Err("floating point infinity is not supported".into())
        }
        _ => {}
    }
    if let Some(n) = integer(&text) {
        return Ok(n);
    }
    if let Some(n) = crate::lang::number::parse(&text) {
        return Ok(Value::Number(n));
    }
    if let Some(ts) = timestamp(&text) {
        return Ok(Value::String(ts));
    }
    Ok(Value::String(text))
}

/// `0x1F`, `0o17` (with an optional sign); decimal digits are left to the number parser.
fn integer(text: &str) -> Option<Value> {
    let (neg, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (radix, digits) = if let Some(h) = body.strip_prefix("0x") {
        (16, h)
    } else if let Some(o) = body.strip_prefix("0o") {
        (8, o)
    } else {
        return None;
    };
    let n = i64::from_str_radix(digits, radix).ok()?;
    Some(Value::Number(Number::from(if neg { -n } else { n })))
}

/// A YAML timestamp, as Terraform gives it back (RFC 3339 to the second):
/// `2001-12-14` is `2001-12-14T00:00:00Z`, `2001-12-14 10:00:00.5 -05:00`
/// is `2001-12-14T10:00:00-05:00`.
fn timestamp(text: &str) -> Option<String> {
    static RE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:(?:[Tt]|[ \t]+)(\d{1,2}):(\d{2}):(\d{2})(?:\.\d*)?(?:[ \t]*(Z|[-+]\d{1,2}(?::?\d{2})?))?)?$",
        )
        .expect("a valid pattern")
    });
    let c = RE.captures(text)?;
    let n = |i: usize| c.get(i).map_or(Some(0), |m| m.as_str().parse::<u32>().ok());
    let date = chrono::NaiveDate::from_ymd_opt(c[1].parse().ok()?, n(2)?, n(3)?)?;
    let time = chrono::NaiveTime::from_hms_opt(n(4)?, n(5)?, n(6)?)?;
    let zone = match c.get(7).map(|m| m.as_str()) {
        None | Some("Z") => "Z".to_string(),
        Some(z) => {
            let (sign, rest) = z.split_at(1);
            let (h, m) = rest
                .split_once(':')
                .unwrap_or((&rest[..rest.len().min(2)], &rest[rest.len().min(2)..]));
            format!(
                "{sign}{:02}:{:02}",
                h.parse::<u32>().ok()?,
                m.parse::<u32>().unwrap_or(0)
            )
        }
    };
    Some(format!(
        "{}T{}{zone}",
        date.format("%Y-%m-%d"),
        time.format("%H:%M:%S")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_scalars_resolve_as_yaml_1_1() {
        let v =
            decode("a: yes\nb: 0x1F\nc: '0x1F'\nd: 017\ne: ~\nf: 1_000\ng: 2001-12-14\n").unwrap();
        assert_eq!(
            v,
            hcl::value!({ a = true, b = 31, c = "0x1F", d = 17, e = null, f = "1_000", g = "2001-12-14T00:00:00Z" })
        );
    }

    #[test]
    fn bad_documents_are_errors() {
        assert!(decode("").is_err());
        assert!(decode("a: 1\n---\nb: 2\n").is_err());
        assert!(decode("? [1]\n: 2\n").is_err());
        assert!(decode("a: .nan").is_err());
        assert!(decode(&"[".repeat(100)).is_err());
    }

    #[test]
    fn what_is_written_reads_back() {
        // The fuzzer's find: a lone line break needs `|2+`, not `|`.
        for s in [
            "\n", "\n\n", "\nabc", " a\nb", "a\n b", "x\u{1}\n", "yes", "1.5", "",
        ] {
            let v = hcl::value!({ a = (s), (s) = [(s)] });
            assert_eq!(decode(&encode(&v)), Ok(v), "{s:?}");
        }
    }

    #[test]
    fn aliases_expand_within_a_limit() {
        assert_eq!(
            decode("a: &x [1]\nb: *x\n").unwrap(),
            hcl::value!({ a = [1], b = [1] })
        );
        let mut laughs = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            laughs.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        assert!(decode(&laughs).unwrap_err().contains("more than"));
    }
}
