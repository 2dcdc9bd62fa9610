//! Attribute-level diff of a resource's desired state against its predicted prior state.

use super::{AttrChange, Attributes, PlannedValue};
use crate::providers::Attrs;

/// JSON equality that treats 1 and 1.0 as equal.
pub fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value::*;
    match (a, b) {
        (Number(x), Number(y)) => x.as_f64() == y.as_f64(),
        (Array(x), Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Object(x), Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// The changes that turn `prior` into `desired`. Only attributes the spec
/// sets are compared; an unknown desired value always counts as a change.
/// Without a prior state, none are listed: a created object's changes are
/// all of its attributes ([`super::PlannedNode::changes`]).
pub fn diff(
    desired: &Attributes,
    prior: Option<&Attrs>,
    sensitive: impl Fn(&str) -> bool,
) -> Vec<AttrChange> {
    let Some(prior) = prior else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(desired.len());
    for (name, want) in desired {
        let before = PlannedValue {
            value: Some(prior.get(name).cloned().unwrap_or(serde_json::Value::Null)),
            sensitive: want.sensitive || sensitive(name),
        };
        let changed = match &want.value {
            None => true,
            Some(w) => !same(before.value.as_ref().unwrap_or(&serde_json::Value::Null), w),
        };
        if changed {
            out.push(AttrChange {
                name: name.clone(),
                before: Some(before),
                after: Some(want.clone()),
            });
        }
    }
    out.shrink_to_fit();
    out
}

/// The state an object is predicted to be in after a block applied `desired` to `prior`.
pub fn predicted_after(desired: &Attributes, prior: Option<&Attrs>) -> Option<Attrs> {
    let mut out = prior.cloned().unwrap_or_default();
    for (k, v) in desired {
        match &v.value {
            Some(x) => {
                out.insert(k.clone(), x.clone());
            }
            // Unknown: the prediction can no longer say what this attribute holds.
            None => {
                out.insert(
                    k.clone(),
                    serde_json::json!({ "(known after apply)": true }),
                );
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compares_only_desired_attributes() {
        let desired: Attributes = [
            ("content".to_string(), PlannedValue::known(json!("b"))),
            ("path".to_string(), PlannedValue::known(json!("x"))),
        ]
        .into();
        let prior: Attrs = [
            ("content".to_string(), json!("a")),
            ("path".to_string(), json!("x")),
            ("mode".to_string(), json!("0644")),
        ]
        .into_iter()
        .collect();
        let d = diff(&desired, Some(&prior), |_| false);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].name, "content");
        assert!(same(&json!(1), &json!(1.0)));
    }
}
