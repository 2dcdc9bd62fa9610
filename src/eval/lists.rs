//! Terraform's list, set and numeric functions beyond what `for_each` needs
//! (`collections`): `alltrue`, `anytrue`, `chunklist`, `coalescelist`,
//! `compact`, `distinct`, `element`, `index`, `matchkeys`, `one`,
//! `reverse`, `setintersection`, `setsubtract`, `setunion`, `slice`,
//! `sort`, `sum`, `transpose`, `signum`, `log`, `pow`, `parseint`.

use super::collections::set;
use super::functions::num as number;
use hcl::eval::{FuncArgs, ParamType};
use hcl::Value;

pub(super) fn declare(ctx: &mut super::functions::Registry) {
    use ParamType::*;
    let s = super::functions::Builder::new;
    let mut f = |name: &str, def: super::functions::Def| ctx.declare_func(name, def);
    f("alltrue", s().param(Any).build(|a| truth(&a, true)));
    f("anytrue", s().param(Any).build(|a| truth(&a, false)));
    f("chunklist", s().params([Any, Number]).build(chunklist));
    f("coalescelist", s().variadic_param(Any).build(coalescelist));
    f("compact", s().param(Any).build(compact));
    f("distinct", s().param(Any).build(distinct));
    f("element", s().params([Any, Number]).build(element));
    f("index", s().params([Any, Any]).build(index));
    f("matchkeys", s().params([Any, Any, Any]).build(matchkeys));
    f("one", s().param(Any).build(one));
    f(
        "reverse",
        s().param(Any)
            .build(|a| Ok(Value::Array(items(&a[0])?.iter().rev().cloned().collect()))),
    );
    f(
        "setintersection",
        s().variadic_param(Any)
            .build(|a| sets(&a, |x, rest| rest.iter().all(|r| r.contains(x)))),
    );
    f("setsubtract", s().params([Any, Any]).build(setsubtract));
    f("setunion", s().variadic_param(Any).build(setunion));
    f("slice", s().params([Any, Number, Number]).build(slice));
    f("sort", s().param(Any).build(sort));
    f("sum", s().param(Any).build(sum));
    f("transpose", s().param(Any).build(transpose));
    f(
        "signum",
        s().param(Number)
            .build(|a| signum(a[0].as_f64().unwrap_or_default())),
    );
    f(
        "log",
        s().params([Number, Number]).build(|a| {
            number(a[0].as_f64().unwrap_or_default().ln() / a[1].as_f64().unwrap_or_default().ln())
        }),
    );
    f(
        "pow",
        s().params([Number, Number]).build(|a| {
            number(
                a[0].as_f64()
                    .unwrap_or_default()
                    .powf(a[1].as_f64().unwrap_or_default()),
            )
        }),
    );
    f("parseint", s().params([Any, Number]).build(parseint));
}

fn items(v: &Value) -> Result<&Vec<Value>, String> {
    match v {
        Value::Array(a) => Ok(a),
        Value::Null => Err("argument must not be null".into()),
        _ => Err("list or set required".into()),
    }
}

/// -1, 0 or 1 (Rust's `f64::signum` gives 1 for 0).
fn signum(x: f64) -> Result<Value, String> {
    number(if x == 0.0 { 0.0 } else { x.signum() })
}

fn index_arg(v: &Value) -> Result<usize, String> {
    let n = v.as_f64().ok_or("a number is required")?;
    if n < 0.0 || n.fract() != 0.0 {
        return Err("the index must be a whole number of at least 0".into());
    }
    Ok(n as usize)
}

fn truth(a: &FuncArgs, all: bool) -> Result<Value, String> {
    let mut out = all;
    for v in items(&a[0])? {
        let b = match v {
            Value::Bool(b) => *b,
            Value::String(s) if s == "true" || s == "false" => s == "true",
            _ => return Err("a list of bools is required".into()),
        };
        out = if all { out && b } else { out || b };
    }
    Ok(out.into())
}

fn chunklist(a: FuncArgs) -> Result<Value, String> {
    let list = items(&a[0])?;
    let size = index_arg(&a[1])?;
    if size == 0 {
        return Ok(Value::Array(vec![Value::Array(list.clone())]));
    }
    Ok(Value::Array(
        list.chunks(size)
            .map(|c| Value::Array(c.to_vec()))
            .collect(),
    ))
}

fn coalescelist(a: FuncArgs) -> Result<Value, String> {
    for v in a.variadic_args() {
        if !items(v)?.is_empty() {
            return Ok(v.clone());
        }
    }
    Err("no non-null arguments".into())
}

fn compact(a: FuncArgs) -> Result<Value, String> {
    Ok(Value::Array(
        items(&a[0])?
            .iter()
            .filter(|v| !matches!(v, Value::Null) && v.as_str() != Some(""))
            .cloned()
            .collect(),
    ))
}

fn distinct(a: FuncArgs) -> Result<Value, String> {
    let mut out: Vec<Value> = Vec::new();
    for v in items(&a[0])? {
        if !out.contains(v) {
            out.push(v.clone());
        }
    }
    Ok(Value::Array(out))
}

fn element(a: FuncArgs) -> Result<Value, String> {
    let list = items(&a[0])?;
    if list.is_empty() {
        return Err("cannot use element function with an empty list".into());
    }
    let i = index_arg(&a[1])?;
    Ok(list[i % list.len()].clone())
}

fn index(a: FuncArgs) -> Result<Value, String> {
    items(&a[0])?
        .iter()
        .position(|v| v == &a[1])
        .map(|i| Value::from(i as u64))
        .ok_or_else(|| "item not found".into())
}

fn matchkeys(a: FuncArgs) -> Result<Value, String> {
    let (values, keys, search) = (items(&a[0])?, items(&a[1])?, items(&a[2])?);
    if values.len() != keys.len() {
        return Err("length of keys and values should be equal".into());
    }
    Ok(Value::Array(
        values
            .iter()
            .zip(keys)
            .filter(|(_, k)| search.contains(k))
            .map(|(v, _)| v.clone())
            .collect(),
    ))
}

fn one(a: FuncArgs) -> Result<Value, String> {
    match items(&a[0])?.as_slice() {
        [] => Ok(Value::Null),
        [v] => Ok(v.clone()),
        _ => Err("must be a list, set, or tuple value with either zero or one elements".into()),
    }
}

/// The elements of the first set for which `keep(x, other sets)` holds.
fn sets(a: &FuncArgs, keep: impl Fn(&Value, &[Vec<Value>]) -> bool) -> Result<Value, String> {
    let all: Vec<Vec<Value>> = a
        .variadic_args()
        .map(|v| set(items(v)?))
        .collect::<Result<_, _>>()?;
    let Some((first, rest)) = all.split_first() else {
        return Ok(Value::Array(vec![]));
    };
    let kept: Vec<Value> = first.iter().filter(|x| keep(x, rest)).cloned().collect();
    set(&kept).map(Value::Array)
}

fn setsubtract(a: FuncArgs) -> Result<Value, String> {
    let (from, less) = (set(items(&a[0])?)?, set(items(&a[1])?)?);
    let kept: Vec<Value> = from.into_iter().filter(|x| !less.contains(x)).collect();
    Ok(Value::Array(kept))
}

fn setunion(a: FuncArgs) -> Result<Value, String> {
    let mut all = Vec::new();
    for v in a.variadic_args() {
        all.extend(items(v)?.iter().cloned());
    }
    set(&all).map(Value::Array)
}

fn slice(a: FuncArgs) -> Result<Value, String> {
    let list = items(&a[0])?;
    let (start, end) = (index_arg(&a[1])?, index_arg(&a[2])?);
    if start > end {
        return Err("the start index must be less than or equal to the end index".into());
    }
    if end > list.len() {
        return Err("end index must not be greater than the length of the list".into());
    }
    Ok(Value::Array(list[start..end].to_vec()))
}

/// Lexical order of strings; numbers are sorted as their strings, as Terraform converts them.
fn sort(a: FuncArgs) -> Result<Value, String> {
    let mut out: Vec<String> = items(&a[0])?
        .iter()
        .map(|v| match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            _ => Err("given list element is not a string".to_string()),
        })
        .collect::<Result<_, _>>()?;
    out.sort();
    Ok(Value::Array(out.into_iter().map(Value::from).collect()))
}

fn sum(a: FuncArgs) -> Result<Value, String> {
    let list = items(&a[0])?;
    if list.is_empty() {
        return Err("cannot sum an empty list".into());
    }
    let mut total = 0.0;
    for v in list {
        total += match v {
            Value::Number(n) => n.as_f64().unwrap_or_default(),
            Value::String(s) => s
                .parse()
                .map_err(|_| "argument must be list, set, or tuple of number values")?,
            _ => return Err("argument must be list, set, or tuple of number values".into()),
        };
    }
    // Decimal-looking sums: 0.1 + 0.2 is 0.3, as Terraform's arbitrary precision gives.
    number(crate::text::significant(total, 15).parse().unwrap_or(total))
}

fn transpose(a: FuncArgs) -> Result<Value, String> {
    let Value::Object(m) = &a[0] else {
        return Err("a map of lists of strings is required".into());
    };
    let mut out: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (k, v) in m {
        for item in items(v)? {
            let s = item
                .as_str()
                .ok_or("a map of lists of strings is required")?;
            out.entry(s.to_string()).or_default().push(k.clone());
        }
    }
    Ok(Value::Object(
        out.into_iter()
            .map(|(k, mut v)| {
                v.sort();
                (k, Value::Array(v.into_iter().map(Value::from).collect()))
            })
            .collect(),
    ))
}

fn parseint(a: FuncArgs) -> Result<Value, String> {
    let base = index_arg(&a[1])?;
    if !(2..=62).contains(&base) {
        return Err("base must be a whole number between 2 and 62 inclusive".into());
    }
    let text = match &a[0] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err("a string is required".into()),
    };
    let (negative, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text.strip_prefix('+').unwrap_or(&text)),
    };
    let mut n: i128 = 0;
    for c in digits.chars() {
        let d = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'a'..='z' => c as u32 - 'a' as u32 + 10,
            'A'..='Z' if base <= 36 => c as u32 - 'A' as u32 + 10,
            'A'..='Z' => c as u32 - 'A' as u32 + 36,
            _ => u32::MAX,
        };
        if d as usize >= base || digits.is_empty() {
            return Err(format!("cannot parse {text:?} as a base {base} integer"));
        }
        n = n
            .checked_mul(base as i128)
            .and_then(|n| n.checked_add(d as i128))
            .ok_or("the number is too large")?;
    }
    if digits.is_empty() {
        return Err(format!("cannot parse {text:?} as a base {base} integer"));
    }
    number(if negative { -(n as f64) } else { n as f64 })
}
