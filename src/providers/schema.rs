//! Type schemas: which attributes each node type takes, their types, which
//! are required, which identify the real object, which are sensitive — and
//! the check of every block of a spec against them.

use crate::eval::duration;
use crate::spec::ast::{Body, Expr, NodeKind};
use crate::spec::load::{missing_attr, unexpected_attr, unexpected_block};
use crate::spec::{Diagnostic, Diagnostics, Spec};
use hcl::Value;

/// The type of an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Number,
    Bool,
    /// A list of strings (argv).
    StringList,
    /// A map of strings (env, headers).
    StringMap,
    /// A Go-style duration string.
    Duration,
    /// A whole number of at least 1.
    Count,
    /// A time window such as "Sat 01:00-05:00 UTC".
    Window,
    /// An octal file mode such as "0644".
    FileMode,
    Any,
}

impl AttrType {
    fn describe(self) -> &'static str {
        match self {
            AttrType::String => "a string",
            AttrType::Number => "a number",
            AttrType::Bool => "true or false",
            AttrType::StringList => "a list of strings",
            AttrType::StringMap => "a map of strings",
            AttrType::Duration => "a duration such as \"30s\" or \"15m\"",
            AttrType::Count => "a whole number of at least 1",
            AttrType::Window => "a time window such as \"Sat 01:00-05:00 UTC\"",
            AttrType::FileMode => "an octal file mode such as \"0644\"",
            AttrType::Any => "any value",
        }
    }

    /// Checks an evaluated value against the type.
    pub fn check(self, v: &Value) -> Result<(), String> {
        let ok = match (self, v) {
            (_, Value::Null) | (AttrType::Any, _) => true,
            (AttrType::String, Value::String(_) | Value::Number(_) | Value::Bool(_)) => true,
            (AttrType::Number, Value::Number(_)) => true,
            (AttrType::Bool, Value::Bool(_)) => true,
            (AttrType::StringList, Value::Array(items)) => {
                items.iter().all(|i| !i.is_array() && !i.is_object())
            }
            (AttrType::StringMap, Value::Object(m)) => {
                m.values().all(|i| !i.is_array() && !i.is_object())
            }
            (AttrType::Duration, Value::String(s)) => return duration::parse(s).map(|_| ()),
            (AttrType::Count, Value::Number(n)) => n.as_u64().is_some_and(|n| n >= 1),
            (AttrType::Window, Value::String(s)) => {
                return crate::eval::window::parse(s).map(|_| ())
            }
            (AttrType::FileMode, Value::String(s)) => parse_file_mode(s).is_some(),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "expected {}, got {}",
                self.describe(),
                crate::spec::variables::kind_of(v)
            ))
        }
    }
}

/// An octal file mode of at most 0o7777 ("0644", "755").
pub fn parse_file_mode(m: &str) -> Option<u32> {
    u32::from_str_radix(m.trim_start_matches("0o"), 8)
        .ok()
        .filter(|m| *m <= 0o7777)
}

impl AttrType {
    /// The value as the provider gets it: numbers and booleans given where
    /// strings are expected become strings, as Terraform converts them.
    pub fn coerce(self, v: &mut Value) {
        let stringify = |v: &mut Value| {
            if matches!(v, Value::Number(_) | Value::Bool(_)) {
                *v = Value::String(v.to_string());
            }
        };
        match (self, v) {
            (AttrType::String, v) => stringify(v),
            (AttrType::StringList, Value::Array(items)) => items.iter_mut().for_each(stringify),
            (AttrType::StringMap, Value::Object(m)) => m.values_mut().for_each(stringify),
            _ => {}
        }
    }
}

/// One attribute of a type.
#[derive(Debug, Clone)]
pub struct AttrSchema {
    pub name: &'static str,
    pub ty: AttrType,
    pub required: bool,
    /// Part of the identity of the real object (a path, an ARN).
    pub identity: bool,
    pub sensitive: bool,
    /// Sensitive when another attribute has this value (an SSM SecureString's value).
    pub sensitive_when: Option<(&'static str, &'static str)>,
}

impl AttrSchema {
    pub const fn new(name: &'static str, ty: AttrType) -> AttrSchema {
        AttrSchema {
            name,
            ty,
            required: false,
            identity: false,
            sensitive: false,
            sensitive_when: None,
        }
    }
    pub const fn required(mut self) -> AttrSchema {
        self.required = true;
        self
    }
    pub const fn identity(mut self) -> AttrSchema {
        self.identity = true;
        self.required = true;
        self
    }
    /// Not required after all (an identity attribute with a default, such as
    /// a namespace the provider configuration supplies).
    pub const fn optional(mut self) -> AttrSchema {
        self.required = false;
        self
    }
    pub const fn sensitive(mut self) -> AttrSchema {
        self.sensitive = true;
        self
    }
    pub const fn sensitive_when(mut self, attr: &'static str, value: &'static str) -> AttrSchema {
        self.sensitive_when = Some((attr, value));
        self
    }
}

/// The names evaluation looks up on every node of a type, listed once per
/// type and shared by its nodes.
#[derive(Debug, Default)]
pub struct SchemaNames {
    pub attrs: Vec<&'static str>,
    pub outputs: Vec<&'static str>,
    pub sensitive_outputs: Vec<&'static str>,
}

impl SchemaNames {
    pub fn of(schema: &TypeSchema) -> SchemaNames {
        SchemaNames {
            attrs: schema.attrs.iter().map(|a| a.name).collect(),
            outputs: schema.outputs.clone(),
            sensitive_outputs: schema.sensitive_outputs.clone(),
        }
    }
}

/// The schema of one node type.
#[derive(Debug, Clone)]
pub struct TypeSchema {
    pub kind: NodeKind,
    pub type_name: &'static str,
    pub attrs: Vec<AttrSchema>,
    /// Groups of attributes of which exactly one must be set (`command` or `shell`).
    pub exactly_one_of: Vec<&'static [&'static str]>,
    /// Outputs known after the node ran (steps) or was read (data).
    pub outputs: Vec<&'static str>,
    /// Outputs that are secrets: sensitive wherever they flow, never stored in the clear.
    pub sensitive_outputs: Vec<&'static str>,
    /// The schema of the `rollback {}` block, for steps that support one.
    pub rollback: Option<Vec<AttrSchema>>,
}

impl TypeSchema {
    /// A type with these attributes and outputs, no exactly-one-of groups, no
    /// secret outputs and no rollback block.
    pub fn new(
        kind: NodeKind,
        type_name: &'static str,
        attrs: Vec<AttrSchema>,
        outputs: Vec<&'static str>,
    ) -> TypeSchema {
        TypeSchema {
            kind,
            type_name,
            attrs,
            exactly_one_of: vec![],
            outputs,
            sensitive_outputs: vec![],
            rollback: None,
        }
    }

    /// The same schema, with a `rollback {}` block of these attributes.
    pub fn with_rollback(mut self, attrs: Vec<AttrSchema>) -> TypeSchema {
        self.rollback = Some(attrs);
        self
    }

    pub fn attr(&self, name: &str) -> Option<&AttrSchema> {
        self.attrs.iter().find(|a| a.name == name)
    }

    /// Whether attribute `name` is a secret (an undeclared one is not).
    pub fn is_sensitive(&self, name: &str) -> bool {
        self.attr(name).is_some_and(|a| a.sensitive)
    }

    pub fn identity_attrs(&self) -> impl Iterator<Item = &AttrSchema> {
        self.attrs.iter().filter(|a| a.identity)
    }
}

/// Attributes every step, gate or resource takes, whatever its type.
pub fn common_attrs(kind: NodeKind) -> Vec<AttrSchema> {
    use AttrType::*;
    let mut v = vec![
        AttrSchema::new("depends_on", Any),
        AttrSchema::new("for_each", Any),
        AttrSchema::new("count", Any),
        AttrSchema::new("description", String),
        AttrSchema::new("expected_duration", Duration),
    ];
    match kind {
        NodeKind::Step => v.extend([
            AttrSchema::new("timeout", Duration),
            AttrSchema::new("idempotent", Bool),
            AttrSchema::new("irreversible", Bool),
            AttrSchema::new("done_when", Any),
        ]),
        NodeKind::Gate => v.extend([
            AttrSchema::new("timeout", Duration),
            AttrSchema::new("interval", Duration),
            AttrSchema::new("for", Duration),
            AttrSchema::new("failure_limit", Count),
        ]),
        NodeKind::Resource | NodeKind::Data => {}
    }
    v
}

const RETRY: &[&str] = &["attempts", "backoff"];

/// The `repeat {}` block of a step that runs in batches until done.
pub fn repeat_attrs() -> Vec<AttrSchema> {
    use AttrType::*;
    vec![
        AttrSchema::new("until", Any),
        AttrSchema::new("until_rows_affected", Number),
        AttrSchema::new("remaining", Any),
        AttrSchema::new("pause", Duration),
        AttrSchema::new("max_iterations", Count),
    ]
}

/// Checks every node of `spec` against the schemas in `registry`.
pub fn check_spec(spec: &Spec, registry: &super::Registry) -> Diagnostics {
    let mut diags = Diagnostics::default();
    for scope in &spec.scopes {
        for p in &scope.source.providers {
            let Some(provider) = registry.by_name(&p.name) else {
                let names = registry.provider_names();
                let hint =
                    match crate::spec::diagnostic::did_you_mean(&p.name, names.iter().copied()) {
                        Some(s) => format!(" Did you mean \"{s}\"?"),
                        None => format!(" This build has: {}.", names.join(", ")),
                    };
                diags.push(
                    Diagnostic::error(
                        "Unknown provider",
                        format!("No provider is named \"{}\".{hint}", p.name),
                    )
                    .at(Some(p.span.clone())),
                );
                continue;
            };
            let what = format!("provider \"{}\" block", p.name);
            check_body(
                &p.body,
                &provider.config_schema(),
                &[],
                &what,
                &p.span,
                &mut diags,
            );
        }
    }
    let mut seen_decls = std::collections::HashSet::new();
    for node in &spec.nodes {
        // Stages of one rollout share a declaration: check it once.
        if !seen_decls.insert(std::sync::Arc::as_ptr(&node.decl)) {
            continue;
        }
        let d = &node.decl;
        let Some(schema) = registry.schema(d.kind, &d.type_name) else {
            let known = registry.type_names(d.kind);
            let hint =
                match crate::spec::diagnostic::did_you_mean(&d.type_name, known.iter().copied()) {
                    Some(s) => format!(" Did you mean \"{s}\"?"),
                    None => format!(" Known {} types: {}.", d.kind.keyword(), known.join(", ")),
                };
            diags.push(
                Diagnostic::error(
                    "Unknown block type",
                    format!(
                        "No provider serves {} \"{}\".{hint}",
                        d.kind.keyword(),
                        d.type_name
                    ),
                )
                .at(Some(d.type_span.clone())),
            );
            continue;
        };
        let common = common_attrs(d.kind);
        let what = format!("{} \"{}\" block", d.kind.keyword(), d.type_name);
        check_body(&d.body, &schema.attrs, &common, &what, &d.span, &mut diags);
        for group in &schema.exactly_one_of {
            let set: Vec<&str> = group
                .iter()
                .copied()
                .filter(|a| d.body.attr(a).is_some())
                .collect();
            if set.len() != 1 {
                diags.push(
                    Diagnostic::error(
                        "Invalid combination of arguments",
                        format!(
                            "A {what} needs exactly one of {}; {}.",
                            group
                                .iter()
                                .map(|g| format!("`{g}`"))
                                .collect::<Vec<_>>()
                                .join(" or "),
                            if set.is_empty() {
                                "none is set".to_string()
                            } else {
                                format!("{} are set", set.join(" and "))
                            }
                        ),
                    )
                    .at(Some(d.span.clone())),
                );
            }
        }
        let repeats = d.kind == NodeKind::Step
            && registry
                .provider(d.kind, &d.type_name)
                .is_some_and(|p| p.repeats(&d.type_name));
        for b in &d.body.blocks {
            match (b.kind.as_str(), &schema.rollback) {
                ("rollback", Some(rb)) if d.kind == NodeKind::Step => {
                    check_body(&b.body, rb, &[], "rollback block", &b.span, &mut diags);
                }
                ("repeat", _) if repeats => {
                    check_body(
                        &b.body,
                        &repeat_attrs(),
                        &[],
                        "repeat block",
                        &b.span,
                        &mut diags,
                    );
                    for t in &b.body.blocks {
                        check_throttle(t, registry, &mut diags);
                    }
                    if b.body.attr("until").is_none()
                        && b.body.attr("until_rows_affected").is_none()
                    {
                        diags.push(
                            Diagnostic::error(
                                "Missing end of loop",
                                "A repeat block needs `until` (checked before each iteration) or `until_rows_affected`: something must end the loop.",
                            )
                            .at(Some(b.span.clone())),
                        );
                    }
                }
                // Checked by the loader and the expander.
                ("fleet", _) => {}
                ("retry", _) if d.kind != NodeKind::Resource => {
                    let attrs: Vec<AttrSchema> = vec![
                        AttrSchema::new(RETRY[0], AttrType::Number),
                        AttrSchema::new(RETRY[1], AttrType::Duration),
                    ];
                    check_body(&b.body, &attrs, &[], "retry block", &b.span, &mut diags);
                }
                (other, _) => {
                    let mut allowed = Vec::new();
                    if schema.rollback.is_some() {
                        allowed.push("rollback");
                    }
                    if d.kind != NodeKind::Resource {
                        allowed.push("retry");
                    }
                    if repeats {
                        allowed.push("repeat");
                    }
                    allowed.push("fleet");
                    diags.push(unexpected_block(other, &what, &allowed, &b.span));
                }
            }
        }
    }
    diags
}

/// A `throttle "GATE_TYPE" { … }` block inside `repeat {}`: any gate type's
/// condition, which pauses the loop while it does not hold.
fn check_throttle(
    t: &crate::spec::ast::NestedBlock,
    registry: &super::Registry,
    diags: &mut Diagnostics,
) {
    if t.kind != "throttle" {
        diags.push(unexpected_block(
            &t.kind,
            "repeat block",
            &["throttle"],
            &t.span,
        ));
        return;
    }
    let Some(schema) = t
        .labels
        .first()
        .and_then(|l| registry.schema(NodeKind::Gate, l))
    else {
        let known = registry.type_names(NodeKind::Gate);
        diags.push(
            Diagnostic::error(
                "Unknown throttle type",
                format!(
                    "A throttle block takes one label, a gate type: one of {}.",
                    known.join(", ")
                ),
            )
            .at(Some(t.span.clone())),
        );
        return;
    };
    let common = [
        AttrSchema::new("interval", AttrType::Duration),
        AttrSchema::new("max_wait", AttrType::Duration),
    ];
    let what = format!("throttle \"{}\" block", schema.type_name);
    check_body(&t.body, &schema.attrs, &common, &what, &t.span, diags);
}

fn check_body(
    body: &Body,
    attrs: &[AttrSchema],
    common: &[AttrSchema],
    what: &str,
    span: &crate::spec::SourceSpan,
    diags: &mut Diagnostics,
) {
    let all = || attrs.iter().chain(common.iter());
    for a in &body.attrs {
        match all().find(|s| s.name == a.name) {
            Some(s) => {
                if let Some(v) = a.value.literal() {
                    if let Err(e) = s.ty.check(&v) {
                        diags.push(type_error(&a.value, &a.name, &e));
                    }
                }
            }
            None => {
                let names: Vec<&str> = all().map(|s| s.name).collect();
                diags.push(unexpected_attr(&a.name, what, &names, &a.name_span));
            }
        }
    }
    for s in attrs.iter().filter(|s| s.required) {
        if body.attr(s.name).is_none() {
            diags.push(missing_attr(s.name, what, span));
        }
    }
}

pub fn type_error(e: &Expr, name: &str, err: &str) -> Diagnostic {
    Diagnostic::error(
        "Incorrect attribute value type",
        format!("Invalid value for `{name}`: {err}."),
    )
    .at(Some(e.span.clone()))
}
