//! Attribute access, indexing and splats.

use super::{convert, fail, Env, Error, Result};
use hcl::expr::TraversalOperator as Op;
use hcl::Value;

impl Env<'_> {
    /// `base` followed by `ops` (`.a`, `[i]`, `.0`, `.*`, `[*]`).
    pub(super) fn traverse(&mut self, mut base: Value, ops: &[Op]) -> Result<Value> {
        let mut i = 0;
        while i < ops.len() {
            base = match &ops[i] {
                Op::GetAttr(name) => attr(base, name)?,
                Op::LegacyIndex(n) => index(base, Value::from(*n))?,
                Op::Index(e) => {
                    let key = self.eval(e)?;
                    index(base, key)?
                }
                Op::AttrSplat => {
                    // `.*` applies the attribute accesses right after it to each element.
                    let end = ops[i + 1..]
                        .iter()
                        .position(|o| !matches!(o, Op::GetAttr(_)))
                        .map_or(ops.len(), |p| i + 1 + p);
                    let v = self.splat(base, &ops[i + 1..end])?;
                    i = end;
                    base = v;
                    continue;
                }
                Op::FullSplat => return self.splat(base, &ops[i + 1..]),
            };
            i += 1;
        }
        Ok(base)
    }

    fn splat(&mut self, base: Value, ops: &[Op]) -> Result<Value> {
        Ok(Value::Array(match base {
            Value::Null => Vec::new(),
            Value::Array(items) => items
                .into_iter()
                .map(|v| self.traverse(v, ops))
                .collect::<Result<_>>()?,
            other => vec![self.traverse(other, ops)?],
        }))
    }
}

fn attr(base: Value, name: &str) -> Result<Value> {
    match base {
        Value::Object(mut m) => m.swap_remove(name).ok_or_else(|| {
            Error(format!(
                "Unsupported attribute: This object does not have an attribute named {name:?}"
            ))
        }),
        Value::Null => fail(format!(
            "Attempt to get attribute from null value: This value is null, so it does not have any attributes (reading {name:?})"
        )),
        Value::Array(_) => fail(format!(
            "Unsupported attribute: This value does not have any attributes. Did you mean to access attribute {name:?} for a specific element of the list, or across all elements of the list?"
        )),
        other => fail(format!(
            "Unsupported attribute: Can't access attributes on a primitive-typed value ({})",
            convert::type_name(&other)
        )),
    }
}

fn index(base: Value, key: Value) -> Result<Value> {
    const INVALID: &str =
        "Invalid index: The given key does not identify an element in this collection value";
    match base {
        Value::Array(mut items) => {
            let n = match &key {
                Value::Null => return fail("Invalid index: Can't use a null value as an indexing key"),
                k => convert::to_number(k).map_err(|_| {
                    Error("Invalid index: The given key does not identify an element in this collection value: a number is required".into())
                })?,
            };
            let Some(f) = n.as_f64() else {
                return fail(INVALID);
            };
            if f < 0.0 {
                return fail(format!(
                    "{INVALID}: a negative number is not a valid index for a sequence"
                ));
            }
            if f.fract() != 0.0 {
                return fail(format!("{INVALID}: indexing a sequence requires a whole number, but the given index has a fractional part"));
            }
            if f >= items.len() as f64 {
                return fail(format!("{INVALID}: the given index is greater than or equal to the length of the collection"));
            }
            Ok(items.swap_remove(f as usize))
        }
        Value::Object(mut m) => {
            let k = match &key {
                Value::Null => {
                    return fail("Invalid index: Can't use a null value as an indexing key")
                }
                k => convert::to_string(k)
                    .map_err(|_| Error(format!("{INVALID}: a string is required")))?,
            };
            m.swap_remove(&k).ok_or_else(|| Error(INVALID.to_string()))
        }
        Value::Null => {
            fail("Attempt to index null value: This value is null, so it does not have any indices")
        }
        other => fail(format!(
            "Invalid index: This value does not have any indices ({})",
            convert::type_name(&other)
        )),
    }
}
