//! Terraform's time functions beyond `timeadd`: `formatdate` (its own
//! format verbs, not strftime), `timecmp`, `timestamp` (now, at each call)
//! and `plantimestamp` (one instant for the whole run).

use chrono::{DateTime, Datelike, FixedOffset, Timelike};
use hcl::eval::{FuncArgs, ParamType};
use hcl::Value;

pub(super) fn declare(ctx: &mut super::functions::Registry) {
    use ParamType::*;
    let s = super::functions::Builder::new;
    let mut f = |name: &str, def: super::functions::Def| ctx.declare_func(name, def);
    f("formatdate", s().params([String, String]).build(formatdate));
    f("timecmp", s().params([String, String]).build(timecmp));
    f(
        "timestamp",
        s().build(|_| Ok(rfc3339(chrono::Utc::now()).into())),
    );
    f(
        "plantimestamp",
        s().build(|_| Ok(rfc3339(*PLAN_TIME).into())),
    );
}

/// When this run started: `plantimestamp()` is the same everywhere in one plan.
static PLAN_TIME: std::sync::LazyLock<DateTime<chrono::Utc>> =
    std::sync::LazyLock::new(chrono::Utc::now);

/// Terraform's timestamps: UTC, whole seconds, `Z`.
fn rfc3339(t: DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// An RFC 3339 timestamp, as Terraform's functions take it.
pub fn timestamp(text: &str) -> Result<DateTime<FixedOffset>, String> {
    if !text.contains('T') {
        return Err(format!(
            "not a valid RFC3339 timestamp: missing required time introducer 'T' in {text:?}"
        ));
    }
    DateTime::parse_from_rfc3339(text)
        .map_err(|e| format!("not a valid RFC3339 timestamp: {text:?}: {e}"))
}

fn arg(a: &FuncArgs, i: usize) -> &str {
    a[i].as_str().unwrap_or_default()
}

fn timecmp(a: FuncArgs) -> Result<Value, String> {
    let (x, y) = (timestamp(arg(&a, 0))?, timestamp(arg(&a, 1))?);
    Ok(Value::from(x.cmp(&y) as i64))
}

/// One piece of a `formatdate` spec: a verb (a run of one letter) or literal text.
enum Piece {
    Verb(char, usize),
    Text(String),
}

fn pieces(spec: &str) -> Result<Vec<Piece>, String> {
    let chars: Vec<char> = spec.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            let mut text = String::new();
            i += 1;
            loop {
                match (chars.get(i), chars.get(i + 1)) {
                    (None, _) => return Err("unterminated literal '".into()),
                    (Some('\''), Some('\'')) => {
                        text.push('\'');
                        i += 2;
                    }
                    (Some('\''), _) => {
                        i += 1;
                        break;
                    }
                    (Some(c), _) => {
                        text.push(*c);
                        i += 1;
                    }
                }
            }
            out.push(Piece::Text(text));
        } else if c.is_ascii_alphabetic() {
            let n = chars[i..].iter().take_while(|x| **x == c).count();
            out.push(Piece::Verb(c, n));
            i += n;
        } else {
            out.push(Piece::Text(c.to_string()));
            i += 1;
        }
    }
    Ok(out)
}

fn formatdate(a: FuncArgs) -> Result<Value, String> {
    let spec = pieces(arg(&a, 0))?;
    let t = timestamp(arg(&a, 1))?;
    let mut out = String::new();
    for p in spec {
        match p {
            Piece::Text(s) => out.push_str(&s),
            Piece::Verb(c, n) => out.push_str(&verb(&t, c, n)?),
        }
    }
    Ok(out.into())
}

fn verb(t: &DateTime<FixedOffset>, c: char, n: usize) -> Result<String, String> {
    let hour12 = match t.hour() % 12 {
        0 => 12,
        h => h,
    };
    let offset = t.offset().local_minus_utc();
    let zone = |colon: bool| {
        let (sign, m) = if offset < 0 {
            ('-', -offset / 60)
        } else {
            ('+', offset / 60)
        };
        let sep = if colon { ":" } else { "" };
        format!("{sign}{:02}{sep}{:02}", m / 60, m % 60)
    };
    Ok(match (c, n) {
        ('Y', 4) => format!("{:04}", t.year()),
        ('Y', 2) => format!("{:02}", t.year().rem_euclid(100)),
        ('M', 4) => t.format("%B").to_string(),
        ('M', 3) => t.format("%b").to_string(),
        ('M', 2) => format!("{:02}", t.month()),
        ('M', 1) => t.month().to_string(),
        ('D', 2) => format!("{:02}", t.day()),
        ('D', 1) => t.day().to_string(),
        ('E', 4) => t.format("%A").to_string(),
        ('E', 3) => t.format("%a").to_string(),
        ('h', 2) => format!("{:02}", t.hour()),
        ('h', 1) => t.hour().to_string(),
        ('H', 2) => format!("{hour12:02}"),
        ('H', 1) => hour12.to_string(),
        ('A', 2) => (if t.hour() < 12 { "AM" } else { "PM" }).into(),
        ('a', 2) => (if t.hour() < 12 { "am" } else { "pm" }).into(),
        ('m', 2) => format!("{:02}", t.minute()),
        ('m', 1) => t.minute().to_string(),
        ('s', 2) => format!("{:02}", t.second()),
        ('s', 1) => t.second().to_string(),
        ('Z', 5) => zone(true),
        ('Z', 4) => zone(false),
        ('Z', 3) if offset == 0 => "UTC".into(),
        ('Z', 3) => zone(false),
        ('Z', 1) if offset == 0 => "Z".into(),
        ('Z', 1) => zone(true),
        _ => {
            return Err(format!(
                "invalid date format verb {:?}",
                std::iter::repeat_n(c, n).collect::<String>()
            ))
        }
    })
}
