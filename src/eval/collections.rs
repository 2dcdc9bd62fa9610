//! The collection functions `for_each` code needs: `toset`, `tolist`,
//! `tomap`, `values`, `flatten`, `setproduct`, `zipmap`, with Terraform's
//! semantics where the value model allows (a set is a list without
//! duplicates, ordered as Terraform orders sets of strings and numbers).

use hcl::eval::{FuncArgs, ParamType};
use hcl::Value;

pub(super) fn declare(ctx: &mut super::functions::Registry) {
    use ParamType::Any;
    let s = super::functions::Builder::new;
    ctx.declare_func("toset", s().param(Any).build(toset));
    ctx.declare_func("tolist", s().param(Any).build(tolist));
    ctx.declare_func("tomap", s().param(Any).build(tomap));
    ctx.declare_func("values", s().param(Any).build(values));
    ctx.declare_func("flatten", s().param(Any).build(flatten));
    ctx.declare_func("setproduct", s().variadic_param(Any).build(setproduct));
    ctx.declare_func("zipmap", s().params([Any, Any]).build(zipmap));
}

fn list<'a>(v: &'a Value, f: &str) -> Result<&'a Vec<Value>, String> {
    match v {
        Value::Array(a) => Ok(a),
        Value::Null => Err(format!("{f}: the argument is null")),
        _ => Err(format!("{f} takes a list or set")),
    }
}

/// Terraform's set order: strings lexically, numbers by value, otherwise as given.
fn set_order(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(std::cmp::Ordering::Equal),
        _ => std::cmp::Ordering::Equal,
    }
}

fn toset(a: FuncArgs) -> Result<Value, String> {
    set(list(&a[0], "toset")?).map(Value::Array)
}

/// `items` as a Terraform set: duplicates dropped, in set order, mixed
/// primitives unified to strings.
pub(super) fn set(items: &[Value]) -> Result<Vec<Value>, String> {
    if items.iter().any(Value::is_null) {
        return Err("toset: a set cannot contain null".into());
    }
    let mut items = items.to_vec();
    unify(items.iter_mut(), "tuple to set")?;
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for v in items {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out.sort_by(set_order);
    Ok(out)
}

fn tolist(a: FuncArgs) -> Result<Value, String> {
    let mut items = list(&a[0], "tolist")?.clone();
    unify(items.iter_mut(), "tuple to list")?;
    Ok(Value::Array(items))
}

fn tomap(a: FuncArgs) -> Result<Value, String> {
    match &a[0] {
        Value::Object(m) => {
            let mut m = m.clone();
            unify(m.values_mut(), "object to map")?;
            m.sort_keys();
            Ok(Value::Object(m))
        }
        _ => Err("tomap takes an object or map".into()),
    }
}

/// Elements given one type (see [`crate::lang::convert::unify_elements`]).
pub(super) fn unify<'v>(
    items: impl Iterator<Item = &'v mut Value>,
    what: &str,
) -> Result<(), String> {
    crate::lang::convert::unify_elements(items, what).map_err(|e| e.to_string())
}

fn values(a: FuncArgs) -> Result<Value, String> {
    match &a[0] {
        Value::Object(m) => {
            let mut items: Vec<(&String, &Value)> = m.iter().collect();
            items.sort_by(|x, y| x.0.cmp(y.0));
            Ok(Value::Array(
                items.into_iter().map(|(_, v)| v.clone()).collect(),
            ))
        }
        _ => Err("values takes a map".into()),
    }
}

fn flatten(a: FuncArgs) -> Result<Value, String> {
    fn go(v: &[Value], out: &mut Vec<Value>, depth: usize) -> Result<(), String> {
        if depth > 64 {
            return Err("flatten: lists nest more than 64 deep".into());
        }
        for x in v {
            match x {
                Value::Array(inner) => go(inner, out, depth + 1)?,
                other => out.push(other.clone()),
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    go(list(&a[0], "flatten")?, &mut out, 0)?;
    Ok(Value::Array(out))
}

fn setproduct(a: FuncArgs) -> Result<Value, String> {
    let sets: Vec<&Vec<Value>> = a
        .variadic_args()
        .map(|v| list(v, "setproduct"))
        .collect::<Result<_, _>>()?;
    if sets.len() < 2 {
        return Err("setproduct takes at least two lists or sets".into());
    }
    let total: usize = sets.iter().map(|s| s.len()).product();
    if total > 1_000_000 {
        return Err(format!(
            "setproduct would have {total} elements; the limit is 1000000"
        ));
    }
    let mut out: Vec<Vec<Value>> = vec![Vec::new()];
    for s in sets {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                s.iter().map(move |v| {
                    let mut p = prefix.clone();
                    p.push(v.clone());
                    p
                })
            })
            .collect();
    }
    Ok(Value::Array(out.into_iter().map(Value::Array).collect()))
}

fn zipmap(a: FuncArgs) -> Result<Value, String> {
    let keys = list(&a[0], "zipmap")?;
    let vals = list(&a[1], "zipmap")?;
    if keys.len() != vals.len() {
        return Err(format!(
            "zipmap: {} keys but {} values; the lists must be as long as each other",
            keys.len(),
            vals.len()
        ));
    }
    let mut m = hcl::Map::new();
    for (k, v) in keys.iter().zip(vals) {
        let k = match k {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return Err("zipmap: keys must be strings".into()),
        };
        m.insert(k, v.clone());
    }
    m.sort_keys();
    Ok(Value::Object(m))
}

#[cfg(test)]
mod tests {
    use hcl::Value;

    fn eval(src: &str) -> Result<Value, String> {
        let e: hcl::Expression = src.parse().map_err(|e: hcl::Error| e.to_string())?;
        let none: hcl::Map<String, Value> = hcl::Map::new();
        crate::lang::evaluate(&e, &none, &crate::eval::functions::Library::new())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn sets_drop_duplicates_and_sort() {
        assert_eq!(
            eval(r#"toset(["b", "a", "b"])"#).unwrap(),
            hcl::value!(["a", "b"])
        );
        assert_eq!(eval("toset([3, 1, 3])").unwrap(), hcl::value!([1, 3]));
        assert_eq!(eval(r#"toset(["a", 1])"#).unwrap(), hcl::value!(["1", "a"]));
    }

    #[test]
    fn maps_give_keys_and_values_in_key_order() {
        assert_eq!(eval("values({b = 2, a = 1})").unwrap(), hcl::value!([1, 2]));
        assert_eq!(
            eval(r#"zipmap(["b", "a"], [2, 1])"#).unwrap(),
            hcl::value!({ a = 1, b = 2 })
        );
        assert!(eval(r#"zipmap(["a"], [])"#)
            .unwrap_err()
            .contains("as long as"));
        assert!(eval("tomap([1])").is_err());
    }

    #[test]
    fn lists_flatten_and_multiply() {
        assert_eq!(
            eval("flatten([[1, [2]], 3, []])").unwrap(),
            hcl::value!([1, 2, 3])
        );
        assert_eq!(
            eval(r#"setproduct(["a", "b"], [1, 2])"#).unwrap(),
            hcl::value!([["a", 1], ["a", 2], ["b", 1], ["b", 2]])
        );
        assert!(eval("setproduct([1])").is_err());
    }
}
