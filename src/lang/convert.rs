//! Terraform's automatic conversions between primitive values, and value equality.

use super::{number, Error, Result};
use hcl::{Number, Value};

/// A primitive as a string: numbers as Terraform writes them, bools as `true`/`false`.
pub fn to_string(v: &Value) -> Result<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(number::text(n)),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(Error(format!(
            "cannot convert {} to string",
            type_name(other)
        ))),
    }
}

/// A number, or a string that spells one.
pub fn to_number(v: &Value) -> Result<Number> {
    match v {
        Value::Number(n) => Ok(*n),
        Value::String(s) => number::parse(s).ok_or_else(|| {
            Error(format!(
                "cannot convert {s:?} to number; given string must be a decimal representation of a number"
            ))
        }),
        other => Err(Error(format!(
            "cannot convert {} to number",
            type_name(other)
        ))),
    }
}

/// A bool, or the string `"true"` or `"false"`.
pub fn to_bool(v: &Value) -> Result<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" || s == "false" => Ok(s == "true"),
        Value::String(s) => Err(Error(format!(
            "cannot convert {s:?} to bool; only the strings \"true\" or \"false\" are allowed"
        ))),
        other => Err(Error(format!(
            "cannot convert {} to bool",
            type_name(other)
        ))),
    }
}

/// A value's type, as Terraform's messages name it.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "tuple",
        Value::Object(_) => "object",
    }
}

/// Terraform's `==`: same type and value; numbers by value.
pub fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number::compare(x, y).is_eq(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| equal(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => a == b,
    }
}

/// The chosen result of a conditional, converted to the type both results
/// share: a number or bool beside a string becomes a string; a number
/// beside a bool has no common type.
pub fn unify(chosen: Value, other: &Value, chose_true: bool) -> Result<Value> {
    match (&chosen, other) {
        (Value::Number(_) | Value::Bool(_), Value::String(_)) => {
            to_string(&chosen).map(Value::String)
        }
        (Value::Number(_), Value::Bool(_)) | (Value::Bool(_), Value::Number(_)) => {
            let (t, f) = if chose_true {
                (type_name(&chosen), type_name(other))
            } else {
                (type_name(other), type_name(&chosen))
            };
            Err(Error(format!(
                "Inconsistent conditional result types: The true and false result expressions must have consistent types. The 'true' value is {t}, but the 'false' value is {f}"
            )))
        }
        _ => Ok(chosen),
    }
}

/// Gives a collection's elements one type, as Terraform does when it makes
/// a list, set or map of them: primitives beside a string become strings;
/// a number beside a bool, or a primitive beside a collection, has no common
/// type (`what` names the collection for the message). Nulls stay null.
pub fn unify_elements<'v>(items: impl Iterator<Item = &'v mut Value>, what: &str) -> Result<()> {
    let mut items: Vec<&mut Value> = items.filter(|v| !v.is_null()).collect();
    let has = |f: fn(&Value) -> bool, items: &[&mut Value]| items.iter().any(|v| f(v));
    let strings = has(Value::is_string, &items);
    let numbers = has(Value::is_number, &items);
    let bools = has(Value::is_boolean, &items);
    let collections = has(|v| v.is_array() || v.is_object(), &items);
    let primitives = strings || numbers || bools;
    if (collections && primitives) || (numbers && bools && !strings) {
        return Err(Error(format!("cannot convert {what} of any single type")));
    }
    if strings && (numbers || bools) {
        for v in items.iter_mut() {
            **v = Value::String(to_string(v)?);
        }
    }
    Ok(())
}
