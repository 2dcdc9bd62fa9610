//! The function library available to spec expressions.
//!
//! hcl-rs ships no standard library; these follow Terraform's functions of the
//! same names closely enough that a Terraform user's expectations hold.

use hcl::eval::{Context, FuncArgs, FuncDef, ParamType};
use hcl::Value;
use sha2::Digest;

/// The function library as the evaluator calls it.
pub struct Library {
    reg: Registry,
    refused: Option<&'static str>,
}

impl Library {
    pub fn new() -> Library {
        Library {
            reg: registry(),
            refused: None,
        }
    }

    /// The library, where calling `name` is an error (a template may not render templates).
    pub fn without(name: &'static str) -> Library {
        Library {
            refused: Some(name),
            ..Library::new()
        }
    }
}

impl Default for Library {
    fn default() -> Library {
        Library::new()
    }
}

impl crate::lang::Functions for Library {
    fn call(&self, name: &str, mut args: Vec<Value>) -> Option<Result<Value, String>> {
        use hcl::eval::{ErrorKind, Evaluate};
        if self.refused == Some(name) {
            return Some(Err(format!(
                "cannot recursively call {name} from inside another template function"
            )));
        }
        let sig = self.reg.sigs.get(name)?;
        for (i, a) in args.iter_mut().enumerate() {
            if let Some(t) = sig.params.get(i).or(sig.variadic.as_ref()) {
                convert_arg(a, t);
            }
        }
        // The definitions are hcl-rs's: called through a call of literal arguments.
        let call = args
            .into_iter()
            .fold(hcl::expr::FuncCall::builder(name), |c, a| c.arg(a))
            .build();
        match hcl::Expression::from(call).evaluate(&self.reg.ctx) {
            Ok(v) => Some(Ok(v)),
            Err(e) => match e.kind() {
                ErrorKind::UndefinedFunc(_) => None,
                ErrorKind::FuncCall(_, msg) => Some(Err(msg.clone())),
                other => Some(Err(other.to_string())),
            },
        }
    }
}

/// Converts a primitive argument to its parameter's type where Terraform
/// would (`upper(1)`, `max("3", "10")`); what does not convert is left for
/// the function's own type check to refuse.
fn convert_arg(v: &mut Value, t: &ParamType) {
    use crate::lang::convert;
    let converted = match (t, &*v) {
        (ParamType::String, Value::Number(_) | Value::Bool(_)) => {
            convert::to_string(v).ok().map(Value::String)
        }
        (ParamType::Number, Value::String(_)) => convert::to_number(v).ok().map(Value::Number),
        (ParamType::Bool, Value::String(_)) => convert::to_bool(v).ok().map(Value::Bool),
        (ParamType::Nullable(inner), _) => {
            return convert_arg(v, inner);
        }
        (ParamType::Array(inner), Value::Array(_)) => {
            if let Value::Array(items) = v {
                items.iter_mut().for_each(|i| convert_arg(i, inner));
            }
            None
        }
        (ParamType::Object(inner), Value::Object(_)) => {
            if let Value::Object(m) = v {
                m.values_mut().for_each(|i| convert_arg(i, inner));
            }
            None
        }
        _ => None,
    };
    if let Some(c) = converted {
        *v = c;
    }
}

/// Parameter types as declared, kept beside hcl-rs's definitions (which hide them).
pub(super) struct Sig {
    params: Vec<ParamType>,
    variadic: Option<ParamType>,
}

/// A function definition with its signature: [`Builder`] makes one.
pub(super) struct Def(FuncDef, Sig);

/// `FuncDef::builder()`, also recording the parameter types.
pub(super) struct Builder {
    def: hcl::eval::FuncDefBuilder,
    sig: Sig,
}

impl Builder {
    pub(super) fn new() -> Builder {
        Builder {
            def: FuncDef::builder(),
            sig: Sig {
                params: Vec::new(),
                variadic: None,
            },
        }
    }

    pub(super) fn param(mut self, t: ParamType) -> Builder {
        self.sig.params.push(t.clone());
        self.def = self.def.param(t);
        self
    }

    pub(super) fn params<const N: usize>(self, ts: [ParamType; N]) -> Builder {
        ts.into_iter().fold(self, Builder::param)
    }

    pub(super) fn variadic_param(mut self, t: ParamType) -> Builder {
        self.sig.variadic = Some(t.clone());
        self.def = self.def.variadic_param(t);
        self
    }

    pub(super) fn build(self, func: hcl::eval::Func) -> Def {
        Def(self.def.build(func), self.sig)
    }
}

/// Every function: hcl-rs's definitions and their signatures.
pub(super) struct Registry {
    ctx: Context<'static>,
    sigs: std::collections::HashMap<String, Sig>,
}

impl Registry {
    pub(super) fn declare_func(&mut self, name: &str, Def(def, sig): Def) {
        self.ctx.declare_func(name, def);
        self.sigs.insert(name.to_string(), sig);
    }
}

fn registry() -> Registry {
    use ParamType::*;
    let mut ctx = Registry {
        ctx: Context::new(),
        sigs: Default::default(),
    };
    let mut f = |name: &str, def: Def| ctx.declare_func(name, def);
    let s = Builder::new;
    f(
        "format",
        s().param(String).variadic_param(Any).build(format),
    );
    f(
        "formatlist",
        s().param(String).variadic_param(Any).build(formatlist),
    );
    f("join", s().param(String).variadic_param(Any).build(join));
    f("split", s().params([String, String]).build(split));
    f(
        "lower",
        s().param(String)
            .build(|a| Ok(str_arg(&a, 0).to_lowercase().into())),
    );
    f(
        "upper",
        s().param(String)
            .build(|a| Ok(str_arg(&a, 0).to_uppercase().into())),
    );
    f(
        "trimspace",
        s().param(String)
            .build(|a| Ok(str_arg(&a, 0).trim().into())),
    );
    f(
        "replace",
        s().params([String, String, String]).build(replace),
    );
    f("length", s().param(Any).build(length));
    f(
        "lookup",
        s().params([Any, String]).variadic_param(Any).build(lookup),
    );
    f("merge", s().variadic_param(Any).build(merge));
    f("concat", s().variadic_param(Any).build(concat));
    f(
        "min",
        s().variadic_param(Number).build(|a| min_max(a, true)),
    );
    f(
        "max",
        s().variadic_param(Number).build(|a| min_max(a, false)),
    );
    f("tostring", s().param(Any).build(tostring));
    f("tonumber", s().param(Any).build(tonumber));
    f("tobool", s().param(Any).build(tobool));
    f("jsonencode", s().param(Any).build(jsonencode));
    f("jsondecode", s().param(String).build(jsondecode));
    f(
        "yamldecode",
        s().param(String)
            .build(|a| super::yaml::decode(str_arg(&a, 0))),
    );
    f(
        "yamlencode",
        s().param(Any)
            .build(|a| Ok(super::yaml::encode(&a[0]).into())),
    );
    f("file", s().param(String).build(file));
    f(
        "sha256",
        s().param(String)
            .build(|a| Ok(hex::encode(sha2::Sha256::digest(str_arg(&a, 0))).into())),
    );
    f("timeadd", s().params([String, String]).build(timeadd));
    f("contains", s().params([Any, Any]).build(contains));
    f("keys", s().param(Any).build(keys));
    f("coalesce", s().variadic_param(Any).build(coalesce));
    f(
        "abs",
        s().param(Number).build(|a| num(num_arg(&a, 0).abs())),
    );
    f(
        "floor",
        s().param(Number).build(|a| num(num_arg(&a, 0).floor())),
    );
    f(
        "ceil",
        s().param(Number).build(|a| num(num_arg(&a, 0).ceil())),
    );
    f("range", s().variadic_param(Number).build(range));
    super::collections::declare(&mut ctx);
    super::strings::declare(&mut ctx);
    super::lists::declare(&mut ctx);
    super::network::declare(&mut ctx);
    super::time::declare(&mut ctx);
    super::files::declare(&mut ctx);
    ctx
}

fn str_arg(a: &FuncArgs, i: usize) -> &str {
    a[i].as_str().unwrap_or_default()
}

fn num_arg(a: &FuncArgs, i: usize) -> f64 {
    a[i].as_f64().unwrap_or_default()
}

/// A number as a value: whole numbers as integers; not finite: an error.
pub(super) fn num(n: f64) -> Result<Value, String> {
    crate::lang::number::finite(n).map_err(|_| format!("{n} is not a finite number"))
}

/// The string form of a primitive value, as `tostring` and templates give it.
fn display(v: &Value) -> Result<String, String> {
    match v {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => {
            crate::lang::convert::to_string(v).map_err(|e| e.to_string())
        }
        Value::Null => Err("null cannot be converted to a string".into()),
        _ => Err("a collection cannot be converted to a string; use jsonencode".into()),
    }
}

fn format(a: FuncArgs) -> Result<Value, String> {
    let args: Vec<Value> = a.variadic_args().cloned().collect();
    super::format::format(str_arg(&a, 0), &args).map(Value::from)
}

/// `formatlist(spec, args…)`: `format` once per element; list arguments
/// must have one length, other arguments are used for every element.
fn formatlist(a: FuncArgs) -> Result<Value, String> {
    let args: Vec<Value> = a.variadic_args().cloned().collect();
    let mut len: Option<(usize, usize)> = None;
    for (i, v) in args.iter().enumerate() {
        if let Value::Array(items) = v {
            match len {
                Some((first, n)) if n != items.len() => {
                    return Err(format!(
                        "argument {} has length {}, which is inconsistent with argument {} of length {n}",
                        i + 1,
                        items.len(),
                        first + 1
                    ))
                }
                None => len = Some((i, items.len())),
                _ => {}
            }
        }
    }
    let len = len.map(|(_, n)| n);
    let rows = (0..len.unwrap_or(1)).map(|i| {
        let row: Vec<Value> = args
            .iter()
            .map(|v| match v {
                Value::Array(items) => items[i].clone(),
                other => other.clone(),
            })
            .collect();
        super::format::format(str_arg(&a, 0), &row).map(Value::from)
    });
    Ok(Value::Array(rows.collect::<Result<_, _>>()?))
}

fn join(a: FuncArgs) -> Result<Value, String> {
    let sep = str_arg(&a, 0).to_string();
    let mut parts = Vec::new();
    for list in a.variadic_args() {
        let items = list.as_array().ok_or("join takes lists of strings")?;
        for v in items {
            parts.push(display(v)?);
        }
    }
    Ok(parts.join(&sep).into())
}

/// Go's `strings.Split`: an empty string is one empty part; an empty
/// separator splits between characters.
fn split(a: FuncArgs) -> Result<Value, String> {
    let (sep, s) = (str_arg(&a, 0), str_arg(&a, 1));
    if sep.is_empty() {
        return Ok(Value::Array(
            s.chars().map(|c| Value::from(c.to_string())).collect(),
        ));
    }
    Ok(Value::Array(s.split(sep).map(Value::from).collect()))
}

/// A plain substring, or with `/…/` a regular expression whose `$1` and
/// `${name}` name its groups.
fn replace(a: FuncArgs) -> Result<Value, String> {
    let (s, find, with) = (str_arg(&a, 0), str_arg(&a, 1), str_arg(&a, 2));
    match find.strip_prefix('/').and_then(|f| f.strip_suffix('/')) {
        Some(pattern) if find.len() > 1 => {
            super::strings::replace_regex(s, pattern, with).map(Value::from)
        }
        _ => Ok(s.replace(find, with).into()),
    }
}

fn length(a: FuncArgs) -> Result<Value, String> {
    match &a[0] {
        Value::String(s) => Ok(Value::from(super::strings::length(s) as u64)),
        Value::Array(v) => Ok(Value::from(v.len() as u64)),
        Value::Object(m) => Ok(Value::from(m.len() as u64)),
        _ => Err("length takes a string, list or map".into()),
    }
}

fn lookup(a: FuncArgs) -> Result<Value, String> {
    let m = a[0].as_object().ok_or("lookup takes a map first")?;
    let key = str_arg(&a, 1);
    match (m.get(key), a.variadic_args().next()) {
        (Some(v), _) => Ok(v.clone()),
        (None, Some(default)) => Ok(default.clone()),
        (None, None) => Err(format!(
            "the map has no key \"{key}\" and no default was given"
        )),
    }
}

fn merge(a: FuncArgs) -> Result<Value, String> {
    let mut out = hcl::Map::new();
    for m in a.variadic_args() {
        match m {
            Value::Object(m) => out.extend(m.clone()),
            Value::Null => {}
            _ => return Err("merge takes maps".into()),
        }
    }
    Ok(Value::Object(out))
}

fn concat(a: FuncArgs) -> Result<Value, String> {
    let mut out = Vec::new();
    for l in a.variadic_args() {
        out.extend(l.as_array().ok_or("concat takes lists")?.iter().cloned());
    }
    Ok(Value::Array(out))
}

fn min_max(a: FuncArgs, min: bool) -> Result<Value, String> {
    let nums: Vec<f64> = a.variadic_args().filter_map(Value::as_f64).collect();
    let pick = if min {
        nums.iter().copied().reduce(f64::min)
    } else {
        nums.iter().copied().reduce(f64::max)
    };
    num(pick.ok_or("needs at least one number")?)
}

/// `tostring(null)` is null, as Terraform's conversions keep null.
fn tostring(a: FuncArgs) -> Result<Value, String> {
    match &a[0] {
        Value::Null => Ok(Value::Null),
        other => display(other).map(Value::from),
    }
}

fn tobool(a: FuncArgs) -> Result<Value, String> {
    match &a[0] {
        Value::Null => Ok(Value::Null),
        Value::Bool(b) => Ok(Value::Bool(*b)),
        Value::String(s) if s == "true" || s == "false" => Ok(Value::Bool(s == "true")),
        other => {
            let mut shown = String::new();
            json(other, &mut shown);
            Err(format!(
                "cannot convert {shown} to bool; only the strings \"true\" or \"false\" are allowed"
            ))
        }
    }
}

fn tonumber(a: FuncArgs) -> Result<Value, String> {
    match &a[0] {
        Value::Null => Ok(Value::Null),
        Value::Number(n) => Ok(Value::Number(*n)),
        v @ Value::String(_) => crate::lang::convert::to_number(v)
            .map(Value::Number)
            .map_err(|e| e.to_string()),
        _ => Err("tonumber takes a number or a string".into()),
    }
}

/// Terraform's JSON: object keys sorted, `<`, `>`, `&`, U+2028 and U+2029
/// escaped as Go escapes them, whole numbers without an exponent.
fn jsonencode(a: FuncArgs) -> Result<Value, String> {
    let mut out = String::new();
    json(&a[0], &mut out);
    Ok(out.into())
}

fn json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&i.to_string()),
            (_, Some(u), _) => out.push_str(&u.to_string()),
            (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 1e21 => {
                out.push_str(&format!("{}", f as i128))
            }
            // Rust's shortest decimal, never an exponent: 0.000001, as Terraform writes it.
            (_, _, f) => out.push_str(&format!("{}", f.unwrap_or_default())),
        },
        Value::String(s) => json_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json(item, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(k, out);
                out.push(':');
                json(&m[k], out);
            }
            out.push('}');
        }
    }
}

fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn jsondecode(a: FuncArgs) -> Result<Value, String> {
    serde_json::from_str::<Value>(str_arg(&a, 0)).map_err(|e| format!("invalid JSON: {e}"))
}

fn file(a: FuncArgs) -> Result<Value, String> {
    let p = str_arg(&a, 0);
    std::fs::read_to_string(p)
        .map(Value::from)
        .map_err(|e| format!("cannot read file \"{p}\": {e}"))
}

fn timeadd(a: FuncArgs) -> Result<Value, String> {
    let t = super::time::timestamp(str_arg(&a, 0))?;
    let d = super::duration::parse(str_arg(&a, 1).trim_start_matches('-'))?;
    let d = chrono::Duration::from_std(d).map_err(|e| e.to_string())?;
    let t = if str_arg(&a, 1).starts_with('-') {
        t - d
    } else {
        t + d
    };
    Ok(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
        .into())
}

fn contains(a: FuncArgs) -> Result<Value, String> {
    let list = a[0].as_array().ok_or("contains takes a list first")?;
    Ok(Value::Bool(list.contains(&a[1])))
}

fn keys(a: FuncArgs) -> Result<Value, String> {
    let m = a[0].as_object().ok_or("keys takes a map")?;
    let mut k: Vec<&String> = m.keys().collect();
    k.sort();
    Ok(Value::Array(
        k.into_iter().map(|s| Value::from(s.clone())).collect(),
    ))
}

fn coalesce(a: FuncArgs) -> Result<Value, String> {
    // Terraform gives all the arguments one type first (`coalesce(1, "a")` is "1").
    let mut args: Vec<Value> = a.variadic_args().cloned().collect();
    super::collections::unify(args.iter_mut(), "arguments to a value")?;
    args.into_iter()
        .find(|v| !v.is_null() && v.as_str() != Some(""))
        .ok_or_else(|| "no non-null, non-empty argument".into())
}

fn range(a: FuncArgs) -> Result<Value, String> {
    let n: Vec<f64> = a.variadic_args().filter_map(Value::as_f64).collect();
    let (start, end, step) = match n.as_slice() {
        [e] => (0.0, *e, 1.0),
        [s, e] => (*s, *e, 1.0),
        [s, e, st] => (*s, *e, *st),
        _ => return Err("range takes one to three numbers".into()),
    };
    if step == 0.0 {
        return Err("range step must not be zero".into());
    }
    let mut out = Vec::new();
    let mut x = start;
    while (step > 0.0 && x < end) || (step < 0.0 && x > end) {
        out.push(num(x)?);
        x += step;
        if out.len() > 100_000 {
            return Err("range would produce more than 100000 elements".into());
        }
    }
    Ok(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(src: &str) -> Result<Value, String> {
        let e: hcl::Expression = src.parse().map_err(|e: hcl::Error| e.to_string())?;
        let none: hcl::Map<String, Value> = hcl::Map::new();
        crate::lang::evaluate(&e, &none, &Library::new()).map_err(|e| e.to_string())
    }

    #[test]
    fn string_functions() {
        assert_eq!(
            eval(r#"format("%s-%03d %.1f%%", "v", 7, 2.25)"#).unwrap(),
            Value::from("v-007 2.2%")
        );
        assert_eq!(
            eval(r#"join(",", ["a", "b"], ["c"])"#).unwrap(),
            Value::from("a,b,c")
        );
        assert_eq!(
            eval(r#"split(",", "a,b")"#).unwrap(),
            Value::from(vec!["a", "b"])
        );
        assert_eq!(eval(r#"upper(lower("AbC"))"#).unwrap(), Value::from("ABC"));
        assert_eq!(
            eval(r#"sha256("abc")"#).unwrap(),
            Value::from("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
    }

    #[test]
    fn collection_functions() {
        assert_eq!(
            eval(r#"length({a = 1, b = 2})"#).unwrap(),
            Value::from(2u64)
        );
        assert_eq!(eval(r#"lookup({a = 1}, "b", 9)"#).unwrap(), Value::from(9));
        assert!(eval(r#"lookup({a = 1}, "b")"#).is_err());
        assert_eq!(
            eval(r#"merge({a = 1}, {a = 2, b = 3})["a"]"#).unwrap(),
            Value::from(2)
        );
        assert_eq!(
            eval(r#"length(concat([1], [2, 3]))"#).unwrap(),
            Value::from(3u64)
        );
        assert_eq!(eval("max(1, 5, 3)").unwrap(), Value::from(5));
        assert_eq!(eval("min(4, 2.5)").unwrap(), Value::from(2.5));
    }

    #[test]
    fn conversions_and_json() {
        assert_eq!(eval(r#"tonumber("42")"#).unwrap(), Value::from(42));
        assert_eq!(eval("tostring(42)").unwrap(), Value::from("42"));
        assert_eq!(
            eval(r#"jsonencode({a = [1, true]})"#).unwrap(),
            Value::from(r#"{"a":[1,true]}"#)
        );
        assert_eq!(
            eval(r#"jsondecode("{\"x\": 2}")["x"]"#).unwrap(),
            Value::from(2)
        );
        assert!(eval(r#"tonumber("x")"#).is_err());
    }

    #[test]
    fn timeadd_adds_go_durations() {
        assert_eq!(
            eval(r#"timeadd("2026-01-01T00:00:00Z", "1h30m")"#).unwrap(),
            Value::from("2026-01-01T01:30:00Z")
        );
    }
}
