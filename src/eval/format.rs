//! `format` and `formatlist`: Terraform's format verbs, flags, width,
//! precision and explicit argument indexes (`%[2]s`), with its conversions
//! and its errors.

use hcl::Value;

/// One `%…` directive.
#[derive(Default)]
struct Directive {
    plus: bool,
    minus: bool,
    space: bool,
    zero: bool,
    sharp: bool,
    width: Option<usize>,
    precision: Option<usize>,
    verb: char,
}

/// `format(spec, args…)`.
pub fn format(spec: &str, args: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    let mut next = 0usize;
    let mut used = 0usize;
    let mut rest = spec.char_indices().peekable();
    while let Some((at, c)) = rest.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        if let Some((_, '%')) = rest.peek() {
            rest.next();
            out.push('%');
            continue;
        }
        let mut d = Directive::default();
        while let Some(&(_, f)) = rest.peek() {
            match f {
                '+' => d.plus = true,
                '-' => d.minus = true,
                ' ' => d.space = true,
                '0' => d.zero = true,
                '#' => d.sharp = true,
                _ => break,
            }
            rest.next();
        }
        if let Some((_, '[')) = rest.peek() {
            rest.next();
            let mut n = String::new();
            for (_, ch) in rest.by_ref() {
                if ch == ']' {
                    break;
                }
                n.push(ch);
            }
            let index: usize = n.parse().ok().filter(|i| *i >= 1).ok_or_else(|| {
                format!("invalid argument index [{n}] in \"{spec}\" at offset {at}")
            })?;
            next = index - 1;
        }
        d.width = digits(&mut rest);
        if let Some((_, '.')) = rest.peek() {
            rest.next();
            d.precision = Some(digits(&mut rest).unwrap_or(0));
        }
        let limit = crate::text::MAX_PAD;
        if d.width.max(d.precision).is_some_and(|n| n > limit) {
            return Err(format!(
                "width or precision at offset {at} is more than {limit}"
            ));
        }
        let Some((verb_at, verb)) = rest.next() else {
            return Err(format!("unterminated format verb at the end of \"{spec}\""));
        };
        d.verb = verb;
        if !"vsqtdboxXeEfFgG".contains(verb) {
            return Err(format!(
                "unsupported format verb '{verb}' in \"{}\" at offset {at}",
                &spec[at..verb_at + verb.len_utf8()]
            ));
        }
        let arg = args.get(next).ok_or_else(|| {
            format!(
                "not enough arguments for \"%{verb}\" at {at}: need index {} but have {} total",
                next + 1,
                args.len()
            )
        })?;
        next += 1;
        used = used.max(next);
        let piece = directive(&d, arg)
            .map_err(|why| format!("unsupported value for \"%{verb}\" at {at}: {why}"))?;
        out.push_str(&pad(&d, piece));
    }
    if used < args.len() {
        return Err(format!(
            "too many arguments; only {used} used by format string"
        ));
    }
    Ok(out)
}

/// The number at the cursor, if digits are there (saturating: a width too
/// large for `usize` is too large anyway).
fn digits(rest: &mut std::iter::Peekable<std::str::CharIndices>) -> Option<usize> {
    let mut n: Option<usize> = None;
    while let Some(&(_, c)) = rest.peek() {
        let Some(d) = c.to_digit(10) else { break };
        n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize));
        rest.next();
    }
    n
}

/// The number in `v`, converting a string as Terraform does.
fn number(v: &Value) -> Result<f64, String> {
    match v {
        Value::Number(n) => n.as_f64().ok_or_else(|| "a number is required".into()),
        Value::String(s) => s.trim().parse().map_err(|_| "a number is required".into()),
        Value::Null => Err("null value cannot be formatted".into()),
        _ => Err("a number is required".into()),
    }
}

fn integer(v: &Value) -> Result<i128, String> {
    let n = number(v)?;
    if n.fract() != 0.0 || !n.is_finite() {
        return Err("an integer is required".into());
    }
    Ok(n as i128)
}

/// A primitive as Terraform writes it in a string.
fn text(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(number_text(n.as_f64().unwrap_or_default())),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Err("null value cannot be formatted".into()),
        _ => Err("string required".into()),
    }
}

/// A number converted to a string (`%s`, interpolation): its digits, no exponent.
fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e21 {
        return format!("{}", n as i128);
    }
    crate::text::significant(n, 15)
}

/// Go's `%g` of a non-negative `n` (cty's `format` is Go's): the shortest
/// digits, or `prec` significant ones, in `%e` form when the exponent is
/// below -4 or at least the precision (6 for the shortest), else `%f` form,
/// trailing zeros dropped.
fn go_g(n: f64, prec: Option<usize>) -> String {
    let sci = match prec {
        Some(p) => format!("{:.*e}", p.max(1) - 1, n),
        None => format!("{:e}", n),
    };
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = match digits.trim_end_matches('0') {
        "" => "0".to_string(),
        d => d.to_string(),
    };
    let (nd, dp) = (digits.len() as i32, exp + 1);
    let mut eprec = prec.map(|p| p.max(1) as i32).unwrap_or(6);
    if prec.is_some() && eprec > nd && nd >= dp {
        eprec = nd;
    }
    if prec.is_none() {
        eprec = 6;
    }
    if exp < -4 || exp >= eprec {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{first}{dot}{rest}e{sign}{:02}", exp.abs());
    }
    format!("{:.*}", (nd - dp).max(0) as usize, n)
}

/// Rust's `1.5e3` as Go's `1.5e+03`.
fn go_exp(rust: &str, e: char) -> String {
    let (mantissa, exp) = rust.split_once('e').unwrap_or((rust, "0"));
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    format!("{mantissa}{e}{sign}{digits:0>2}")
}

fn directive(d: &Directive, v: &Value) -> Result<String, String> {
    let signed = |s: String, negative: bool| {
        if negative {
            s
        } else if d.plus {
            format!("+{s}")
        } else if d.space {
            format!(" {s}")
        } else {
            s
        }
    };
    Ok(match d.verb {
        'v' if d.sharp => {
            serde_json::to_string(&crate::eval::to_json(v)).map_err(|e| e.to_string())?
        }
        'v' => match v {
            Value::Array(_) | Value::Object(_) => {
                serde_json::to_string(&crate::eval::to_json(v)).map_err(|e| e.to_string())?
            }
            Value::Number(n) => {
                let f = n.as_f64().unwrap_or_default();
                let body = go_g(f.abs(), None);
                if f < 0.0 {
                    format!("-{body}")
                } else {
                    body
                }
            }
            other => text(other)?,
        },
        's' => {
            let s = text(v)?;
            match d.precision {
                Some(p) => s.chars().take(p).collect(),
                None => s,
            }
        }
        'q' => serde_json::to_string(&text(v)?).map_err(|e| e.to_string())?,
        't' => match v {
            Value::Bool(b) => b.to_string(),
            Value::String(s) if s == "true" || s == "false" => s.clone(),
            _ => return Err("a bool is required".into()),
        },
        'd' | 'b' | 'o' | 'x' | 'X' => {
            let i = integer(v)?;
            let (neg, abs) = (i < 0, i.unsigned_abs());
            let body = match d.verb {
                'b' => format!("{abs:b}"),
                'o' => format!("{}{abs:o}", if d.sharp { "0" } else { "" }),
                'x' => format!("{}{abs:x}", if d.sharp { "0x" } else { "" }),
                'X' => format!("{}{abs:X}", if d.sharp { "0X" } else { "" }),
                _ => abs.to_string(),
            };
            signed(format!("{}{body}", if neg { "-" } else { "" }), neg)
        }
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' => {
            let n = number(v)?;
            let body = float(d, n.abs());
            signed(format!("{}{body}", if n < 0.0 { "-" } else { "" }), n < 0.0)
        }
        other => return Err(format!("unsupported format verb '{other}'")),
    })
}

fn float(d: &Directive, n: f64) -> String {
    match d.verb {
        'e' | 'E' => {
            let s = go_exp(&format!("{:.*e}", d.precision.unwrap_or(6), n), 'e');
            if d.verb == 'E' {
                s.to_uppercase()
            } else {
                s
            }
        }
        'f' | 'F' => format!("{:.*}", d.precision.unwrap_or(6), n),
        _ => {
            let s = go_g(n, d.precision);
            if d.verb == 'G' {
                s.to_uppercase()
            } else {
                s
            }
        }
    }
}

/// Width: spaces on the left, on the right with `-`, zeros after the sign with `0`.
fn pad(d: &Directive, s: String) -> String {
    let Some(width) = d.width else { return s };
    let len = s.chars().count();
    if len >= width {
        return s;
    }
    let fill = width - len;
    if d.minus {
        return format!("{s}{}", " ".repeat(fill));
    }
    let numeric = matches!(
        d.verb,
        'd' | 'b' | 'o' | 'x' | 'X' | 'e' | 'E' | 'f' | 'F' | 'g' | 'G'
    );
    if d.zero && numeric {
        let split = s.find(|c: char| c.is_ascii_digit()).unwrap_or(0);
        let (sign, digits) = s.split_at(split);
        return format!("{sign}{}{digits}", "0".repeat(fill));
    }
    format!("{}{s}", " ".repeat(fill))
}
