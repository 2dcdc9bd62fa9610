//! Addresses of node instances: `step.copy[2]`, `module.tenant["b"].step.migrate`,
//! `rollout.traffic[50].gate.healthy`.
//!
//! A block repeated by `for_each`, `count` or a rollout stage is told apart by
//! an instance [`Key`]; an address is the chain of names and keys from the
//! root. Addresses are kept as their canonical text (what the plan prints,
//! what the lockfile is keyed by); this module writes that text and reads it
//! back, so that `-target 'module.t["a"]'` and the plan agree on spelling.

use std::fmt;

/// Which repetition of a block: `[2]` for `count`, `["b"]` for `for_each`,
/// `[10]` or `["blue"]` for a rollout stage.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    Int(i64),
    Str(String),
    /// A stage value that is a number but not a whole one: `[2.5]`.
    Num(String),
}

impl Key {
    /// The key a stage value or `for_each` key stands for; `None` for values
    /// that cannot key an instance (lists, objects, null, bools).
    pub fn from_value(v: &hcl::Value) -> Option<Key> {
        match v {
            hcl::Value::String(s) => Some(Key::Str(s.clone())),
            hcl::Value::Number(n) => Some(match n.as_i64() {
                Some(i) => Key::Int(i),
                None => Key::Num(n.to_string()),
            }),
            _ => None,
        }
    }

    /// Whether this key is what an index expression `[v]` selects.
    pub fn matches(&self, v: &hcl::Value) -> bool {
        match (self, v) {
            (Key::Str(s), hcl::Value::String(w)) => s == w,
            (Key::Int(i), hcl::Value::Number(n)) => n.as_i64() == Some(*i),
            (Key::Int(i), hcl::Value::String(w)) => w.parse::<i64>().ok() == Some(*i),
            (Key::Num(s), hcl::Value::Number(n)) => &n.to_string() == s,
            _ => false,
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Int(i) => write!(f, "[{i}]"),
            Key::Num(n) => write!(f, "[{n}]"),
            Key::Str(s) => write!(f, "[{}]", quote(s)),
        }
    }
}

/// An HCL string literal: `"a\"b"`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // `${` and `%{` would start a template: written `$${`, `%%{`.
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `address` as typed on a POSIX shell: as it is when it needs no quoting,
/// else in single quotes (`'module.t["a"]'`).
pub fn shell(address: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if address.chars().all(plain) {
        return address.to_string();
    }
    format!("'{}'", address.replace('\'', "'\\''"))
}

/// Whether `address` is `group` itself or one of its instances or members:
/// `step.copy` contains `step.copy["a"]`, `module.t` contains
/// `module.t[1].step.x`, but `step.copy` does not contain `step.copy2`.
pub fn contains(group: &str, address: &str) -> bool {
    match address.strip_prefix(group) {
        Some(rest) => rest.is_empty() || rest.starts_with('.') || rest.starts_with('['),
        None => false,
    }
}

/// An address with every instance key replaced by `[*]`, and the keys in
/// order: `module.t["a"].step.x[2]` → (`module.t[*].step.x[*]`, [`["a"]`, `[2]`]).
/// Instances of one block share a pattern, so that long lists of them can
/// be shown as one line.
pub fn pattern(address: &str) -> (String, Vec<String>) {
    let mut out = String::with_capacity(address.len());
    let mut keys = Vec::new();
    let mut chars = address.chars();
    while let Some(c) = chars.next() {
        if c != '[' {
            out.push(c);
            continue;
        }
        let mut key = String::from("[");
        let mut quoted = false;
        let mut escaped = false;
        for k in chars.by_ref() {
            key.push(k);
            match k {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                ']' if !quoted => break,
                _ => {}
            }
        }
        out.push_str("[*]");
        keys.push(key);
    }
    (out, keys)
}

/// Why an address given on the command line cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{address}` is not an address: {why}")]
pub struct AddrError {
    pub address: String,
    pub why: String,
}

/// Rewrites an address typed by a person into its canonical spelling:
/// spaces inside brackets dropped, `[ 'a' ]`-style quoting rejected with a
/// hint, numbers written without leading zeros.
pub fn canonical(address: &str) -> Result<String, AddrError> {
    let err = |why: &str| AddrError {
        address: address.to_string(),
        why: why.to_string(),
    };
    let mut out = String::with_capacity(address.len());
    let mut chars = address.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if c != '[' {
            if c.is_whitespace() {
                return Err(err("it contains a space outside brackets"));
            }
            out.push(c);
            continue;
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let key = match chars.peek() {
            Some('"') => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            Some('r') => s.push('\r'),
                            Some(c) => s.push(c),
                            None => return Err(err("a quoted key is not closed")),
                        },
                        Some(c) => s.push(c),
                        None => return Err(err("a quoted key is not closed")),
                    }
                }
                Key::Str(s)
            }
            Some('\'') => {
                return Err(err(
                    "instance keys are quoted with double quotes; on a shell, wrap the whole address in single quotes: 'module.t[\"a\"]'",
                ))
            }
            _ => {
                let mut s = String::new();
                while chars.peek().is_some_and(|c| *c != ']' && !c.is_whitespace()) {
                    s.extend(chars.next());
                }
                if let Ok(i) = s.parse::<i64>() {
                    Key::Int(i)
                } else if s.parse::<f64>().is_ok_and(f64::is_finite) {
                    Key::Num(s)
                } else if s.is_empty() {
                    return Err(err("empty brackets"));
                } else {
                    return Err(err(&format!(
                        "the key {s} must be a number or a double-quoted string, as in [\"{s}\"] (on a shell: '…[\"{s}\"]')"
                    )));
                }
            }
        };
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some(']') {
            return Err(err("a bracket is not closed"));
        }
        out.push_str(&key.to_string());
    }
    if out.is_empty() {
        return Err(err("it is empty"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_hide_instance_keys() {
        assert_eq!(
            pattern(r#"module.t["a]\"b"].step.x[2]"#),
            (
                "module.t[*].step.x[*]".to_string(),
                vec![r#"["a]\"b"]"#.to_string(), "[2]".to_string()]
            )
        );
        assert_eq!(pattern("step.a"), ("step.a".to_string(), vec![]));
    }

    #[test]
    fn keys_print_as_hcl_indexes() {
        assert_eq!(Key::Int(2).to_string(), "[2]");
        assert_eq!(Key::Str("b".into()).to_string(), "[\"b\"]");
        assert_eq!(Key::Str("a\"b\\".into()).to_string(), r#"["a\"b\\"]"#);
        assert_eq!(
            Key::from_value(&hcl::Value::from(2.5)),
            Some(Key::Num("2.5".into()))
        );
        assert_eq!(
            Key::from_value(&hcl::Value::from(10u64)),
            Some(Key::Int(10))
        );
        assert_eq!(Key::from_value(&hcl::Value::Bool(true)), None);
    }

    #[test]
    fn addresses_are_quoted_for_the_shell_only_when_needed() {
        assert_eq!(shell("gate.go"), "gate.go");
        assert_eq!(shell("gate.go[\"a\"]"), "'gate.go[\"a\"]'");
        assert_eq!(shell("step.x[\"it's\"]"), "'step.x[\"it'\\''s\"]'");
    }

    #[test]
    fn groups_contain_their_instances_only() {
        assert!(contains("step.copy", "step.copy"));
        assert!(contains("step.copy", "step.copy[\"a\"]"));
        assert!(contains("module.t", "module.t[1].step.x"));
        assert!(contains("module.t[1]", "module.t[1].step.x"));
        assert!(!contains("module.t[1]", "module.t[10].step.x"));
        assert!(!contains("step.copy", "step.copy2"));
    }

    #[test]
    fn typed_addresses_become_canonical() {
        assert_eq!(
            canonical("module.t[ \"a\" ].step.x").unwrap(),
            "module.t[\"a\"].step.x"
        );
        assert_eq!(canonical("step.copy[007]").unwrap(), "step.copy[7]");
        assert_eq!(canonical("rollout.r[2.5]").unwrap(), "rollout.r[2.5]");
        assert!(canonical("module.t[a]")
            .unwrap_err()
            .why
            .contains("[\"a\"]"));
        assert!(canonical("module.t['a']").is_err());
        assert!(canonical("module.t[\"a").is_err());
        assert!(canonical("").is_err());
    }
}
