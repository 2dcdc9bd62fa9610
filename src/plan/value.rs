//! A planned value: known, unknown until apply, or sensitive.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A value as the plan knows it. Sensitive values are kept in memory for apply
/// but never serialized: a saved plan holds `{"sensitive": true}` instead.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedValue {
    /// `None`: known after apply.
    pub value: Option<serde_json::Value>,
    pub sensitive: bool,
}

impl PlannedValue {
    pub fn known(v: serde_json::Value) -> PlannedValue {
        PlannedValue {
            value: Some(v),
            sensitive: false,
        }
    }

    pub fn unknown() -> PlannedValue {
        PlannedValue {
            value: None,
            sensitive: false,
        }
    }

    pub fn is_known(&self) -> bool {
        self.value.is_some()
    }
}

#[derive(Serialize, Deserialize)]
struct Repr {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    unknown: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    sensitive: bool,
}

impl Serialize for PlannedValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let repr = match (&self.value, self.sensitive) {
            (_, true) => Repr {
                value: None,
                unknown: self.value.is_none(),
                sensitive: true,
            },
            (None, false) => Repr {
                value: None,
                unknown: true,
                sensitive: false,
            },
            (Some(v), false) => Repr {
                value: Some(v.clone()),
                unknown: false,
                sensitive: false,
            },
        };
        repr.serialize(s)
    }
}

impl<'de> Deserialize<'de> for PlannedValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = Repr::deserialize(d)?;
        let value = if r.unknown || r.sensitive {
            None
        } else {
            Some(r.value.unwrap_or(serde_json::Value::Null))
        };
        Ok(PlannedValue {
            value,
            sensitive: r.sensitive,
        })
    }
}
