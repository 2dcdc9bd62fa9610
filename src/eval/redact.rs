//! Redaction: the one path every value and message takes before cutover
//! prints it, posts it to a webhook or stores it.
//!
//! Values marked sensitive are rendered as `(sensitive)` and stored as
//! salted digests where they are known to be sensitive (attributes, outputs).
//! What is left is free text: a command's stdout and stderr, an error that
//! quotes a URL, a measurement. For that, every sensitive string value
//! cutover learns — a sensitive variable's value, any value evaluated from
//! one (an interpolated URL, a base64 encoding), a provider's secret output
//! — is remembered here, and [`mask`] replaces each occurrence in a text
//! with `(sensitive)`, also as it appears URL-encoded and JSON-escaped.
//! Values shorter than [`MIN_LEN`] characters are not masked in free text
//! (they would mask every occurrence of a common word).

use std::sync::RwLock;

/// What a masked secret becomes.
pub const MASK: &str = "(sensitive)";

/// The shortest secret masked in free text.
pub const MIN_LEN: usize = 4;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Remembers a sensitive string, and the forms it takes in URLs and JSON.
pub fn remember(secret: &str) {
    if secret.chars().count() < MIN_LEN {
        return;
    }
    let Ok(mut known) = SECRETS.write() else {
        return;
    };
    let json = serde_json::to_string(secret).unwrap_or_default();
    // Without its two quotes (`trim_matches` would also take an escaped one's).
    let escaped = json
        .strip_prefix('"')
        .and_then(|j| j.strip_suffix('"'))
        .unwrap_or(&json);
    let forms = [secret.to_string(), url_encode(secret), escaped.to_string()];
    for f in forms {
        if !known.contains(&f) {
            known.push(f);
        }
    }
    // Longest first, so that a secret containing another is masked whole.
    known.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// Remembers every string inside a sensitive HCL value.
pub fn remember_value(v: &hcl::Value) {
    match v {
        hcl::Value::String(s) => remember(s),
        hcl::Value::Array(items) => items.iter().for_each(remember_value),
        hcl::Value::Object(m) => m.values().for_each(remember_value),
        _ => {}
    }
}

/// Remembers every string inside a sensitive JSON value.
pub fn remember_json(v: &serde_json::Value) {
    match v {
        serde_json::Value::String(s) => remember(s),
        serde_json::Value::Array(items) => items.iter().for_each(remember_json),
        serde_json::Value::Object(m) => m.values().for_each(remember_json),
        _ => {}
    }
}

/// `text` with every remembered secret replaced by `(sensitive)`.
pub fn mask(text: &str) -> String {
    mask_owned(text.to_string())
}

/// [`mask`] of a text the caller gives up: copied only where a secret is
/// replaced (a 100,000-node plan's text is 16 MB).
pub fn mask_owned(out: String) -> String {
    let Ok(known) = SECRETS.read() else {
        return out;
    };
    replace_known(&known, out)
}

/// [`mask_owned`] for a JSON document: secrets are replaced inside its
/// strings (keys and values) only, so that a secret spelled like one of
/// the document's own tokens (`true`, `null`, a number) cannot break it.
pub fn mask_json_text(text: String) -> String {
    let Ok(known) = SECRETS.read() else {
        return text;
    };
    if !known.iter().any(|s| text.contains(s.as_str())) {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(open) = rest.find('"') {
        out.push_str(&rest[..=open]);
        rest = &rest[open + 1..];
        let end = string_end(rest);
        out.push_str(&replace_known(&known, rest[..end].to_string()));
        // The closing quote, unless the document ends inside a string.
        out.push_str(&rest[end..(end + 1).min(rest.len())]);
        rest = &rest[(end + 1).min(rest.len())..];
    }
    out.push_str(rest);
    out
}

/// Where the JSON string whose content `s` starts ends: the index of its
/// closing quote (past escaped ones), or `s`'s length.
fn string_end(s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// `text` with every secret of `known` (longest first) replaced.
fn replace_known(known: &[String], mut text: String) -> String {
    for s in known {
        if text.contains(s.as_str()) {
            text = text.replace(s.as_str(), MASK);
        }
    }
    text
}

/// Masks every string (and key) inside a JSON value, in place.
pub fn mask_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => {
            let masked = mask(s);
            if masked != *s {
                *s = masked;
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(mask_json),
        serde_json::Value::Object(m) => {
            let entries = std::mem::take(m);
            for (k, mut x) in entries {
                mask_json(&mut x);
                m.insert(mask(&k), x);
            }
        }
        _ => {}
    }
}

fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_secrets_are_masked_in_any_text() {
        remember("Zq9-secret/value");
        assert_eq!(
            mask("curl http://u:Zq9-secret/value@h/?t=Zq9-secret%2Fvalue"),
            "curl http://u:(sensitive)@h/?t=(sensitive)"
        );
        remember("abc");
        assert_eq!(mask("abc"), "abc", "too short to mask in free text");
        let mut v =
            serde_json::json!({"error": "exit 1: Zq9-secret/value", "n": [1, "Zq9-secret/value"]});
        mask_json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"error": "exit 1: (sensitive)", "n": [1, "(sensitive)"]})
        );
    }

    #[test]
    fn a_json_document_is_masked_inside_its_strings_only() {
        // A sensitive list's literal parts are remembered with it.
        remember("true");
        remember("8080");
        remember("Kp2\"quoted\"");
        let doc =
            r#"{"true": true, "port": 8080, "cmd": ["true", "x8080"], "s": "a Kp2\"quoted\" b"}"#;
        let masked = mask_json_text(doc.to_string());
        assert_eq!(
            masked,
            r#"{"(sensitive)": true, "port": 8080, "cmd": ["(sensitive)", "x(sensitive)"], "s": "a (sensitive) b"}"#
        );
        assert!(serde_json::from_str::<serde_json::Value>(&masked).is_ok());
        // A document cut inside a string is masked up to its end.
        assert_eq!(mask_json_text(r#"["true"#.into()), r#"["(sensitive)"#);
        assert_eq!(mask_json_text("[1, 2]".into()), "[1, 2]");
    }
}
