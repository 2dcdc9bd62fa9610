//! Values as the views print them: HCL-like literals, `(sensitive)`,
//! `(known after apply)`, and unified diffs of multi-line strings.

use crate::plan::PlannedValue;
use serde_json::Value;

pub const SENSITIVE: &str = "(sensitive)";
pub const UNKNOWN: &str = "(known after apply)";

/// A one-line literal of a JSON value.
pub fn literal(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(literal).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => {
            if m.is_empty() {
                return "{}".into();
            }
            let parts: Vec<String> = m
                .iter()
                .map(|(k, v)| {
                    let key = if crate::spec::load::is_identifier(k) {
                        k.clone()
                    } else {
                        format!("{k:?}")
                    };
                    format!("{key} = {}", literal(v))
                })
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }
        Value::Number(n) if n.is_f64() => n
            .as_f64()
            .map(|f| crate::text::significant(f, crate::text::VALUE_DIGITS))
            .unwrap_or_else(|| n.to_string()),
        other => other.to_string(),
    }
}

/// A planned value as one line.
pub fn show(v: &PlannedValue) -> String {
    match (&v.value, v.sensitive) {
        (_, true) => SENSITIVE.into(),
        (None, false) => UNKNOWN.into(),
        (Some(x), false) => literal(x),
    }
}

/// The multi-line string inside a planned value, when it is one and may be shown.
pub fn multiline(v: Option<&PlannedValue>) -> Option<&str> {
    match v {
        Some(PlannedValue {
            value: Some(Value::String(s)),
            sensitive: false,
        }) if s.contains('\n') => Some(s),
        _ => None,
    }
}

/// `name = value` as a line at `indent`; a multi-line string as a heredoc
/// block whose lines are indented four more and whose `EOT` lines up with `name`.
pub fn assignment(indent: usize, name: &str, v: &PlannedValue) -> String {
    let pad = " ".repeat(indent);
    match multiline(Some(v)) {
        Some(text) => {
            let mut out = format!("{pad}{name} = <<EOT\n");
            for line in text.lines() {
                if line.is_empty() {
                    out.push('\n');
                } else {
                    out.push_str(&format!("{pad}    {line}\n"));
                }
            }
            out.push_str(&format!("{pad}EOT\n"));
            out
        }
        None => format!("{pad}{name} = {}\n", show(v)),
    }
}

/// A fenced markdown code block of `text`, its fence longer than any run of
/// backticks inside, its language guessed from the attribute's name.
pub fn fenced(name: &str, text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    let lang = match name {
        "sql" | "query" | "until" | "remaining" => "sql",
        _ if name.ends_with("_sql") => "sql",
        "shell" | "script" | "command" => "sh",
        "json" => "json",
        "diff" => "diff",
        "hcl" => "hcl",
        _ => "",
    };
    let nl = if text.ends_with('\n') { "" } else { "\n" };
    format!("{fence}{lang}\n{text}{nl}{fence}\n")
}

/// One key's change inside a map: (key, before, after), `None` where the key is absent.
pub type KeyChange = (String, Option<String>, Option<String>);

/// Key by key, what changed between two maps (both known and not sensitive).
pub fn map_changes(
    before: Option<&PlannedValue>,
    after: Option<&PlannedValue>,
) -> Option<Vec<KeyChange>> {
    let (
        Some(PlannedValue {
            value: Some(Value::Object(b)),
            sensitive: false,
        }),
        Some(PlannedValue {
            value: Some(Value::Object(a)),
            sensitive: false,
        }),
    ) = (before, after)
    else {
        return None;
    };
    let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
    keys.sort();
    keys.dedup();
    let out: Vec<_> = keys
        .into_iter()
        .filter(|k| b.get(*k) != a.get(*k))
        .map(|k| (k.clone(), b.get(k).map(literal), a.get(k).map(literal)))
        .collect();
    Some(out)
}

/// A unified diff of two texts, without file headers.
pub fn unified(before: &str, after: &str) -> String {
    let diff = similar::TextDiff::from_lines(before, after);
    let mut out = String::new();
    for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
        out.push_str(&hunk.to_string());
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn literals_look_like_hcl() {
        assert_eq!(
            literal(&json!({"a b": [1, "x"], "ok": true})),
            "{ \"a b\" = [1, \"x\"], ok = true }"
        );
        assert_eq!(
            show(&PlannedValue {
                value: Some(json!("pw")),
                sensitive: true
            }),
            SENSITIVE
        );
        assert_eq!(show(&PlannedValue::unknown()), UNKNOWN);
    }

    #[test]
    fn multiline_values_read_as_blocks() {
        let sql = PlannedValue::known(json!("ALTER TABLE t;\n\nDROP x;\n"));
        assert_eq!(
            assignment(2, "sql", &sql),
            "  sql = <<EOT\n      ALTER TABLE t;\n\n      DROP x;\n  EOT\n"
        );
        assert_eq!(
            assignment(0, "n", &PlannedValue::known(json!(0.1 + 0.2))),
            "n = 0.3\n"
        );
        assert_eq!(fenced("sql", "a ``` b"), "````sql\na ``` b\n````\n");
    }

    #[test]
    fn multiline_strings_diff_as_hunks() {
        let d = unified("a\nb\nc\n", "a\nB\nc\n");
        assert_eq!(d, "@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n");
        assert!(multiline(Some(&PlannedValue::known(json!("x\ny")))).is_some());
        assert!(multiline(Some(&PlannedValue {
            value: Some(json!("x\ny")),
            sensitive: true
        }))
        .is_none());
    }
}
