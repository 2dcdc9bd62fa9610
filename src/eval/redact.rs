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
    let forms = [
        secret.to_string(),
        url_encode(secret),
        json.trim_matches('"').to_string(),
    ];
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
pub fn mask_owned(mut out: String) -> String {
    let Ok(known) = SECRETS.read() else {
        return out;
    };
    for s in known.iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), MASK);
        }
    }
    out
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
}
