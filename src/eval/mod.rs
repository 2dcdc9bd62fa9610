//! Evaluation of spec expressions — the step between the graph and the plan.
//!
//! `eval` owns the evaluation context, the function library ([`functions`]),
//! unknown ("known after apply") values and sensitive marking. An expression
//! that references any unknown value is unknown as a whole; one that
//! references any sensitive value is sensitive. Locals, module inputs and
//! module outputs are evaluated on first use and memoised.

pub mod collections;
pub mod duration;
mod files;
mod format;
pub mod functions;
mod lists;
mod network;
pub mod redact;
mod strings;
mod time;
pub mod window;
pub mod yaml;

use crate::lang::marks::Step;
use crate::spec::ast::{Expr, RefPart};
use crate::spec::resolve::Target;
use crate::spec::{Diagnostic, Each, Inst, Instances, NodeId, ScopeId, Spec};
use hcl::Value;
use std::cell::RefCell;
use std::collections::HashMap;

/// An evaluated expression: its value and whether it is sensitive.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluated {
    pub val: Option<Value>,
    pub sensitive: bool,
}

impl Evaluated {
    pub fn known(v: Value) -> Evaluated {
        Evaluated {
            val: Some(v),
            sensitive: false,
        }
    }

    pub fn unknown() -> Evaluated {
        Evaluated {
            val: None,
            sensitive: false,
        }
    }

    pub fn is_known(&self) -> bool {
        self.val.is_some()
    }
}

/// Where node values come from: the planner's predicted values, or nothing at all.
pub trait NodeValues {
    /// The attribute or output `attr` of node `id`; `None` when it has no such attribute.
    fn attr(&self, id: NodeId, attr: &str) -> Option<Evaluated>;
    /// The whole node as one object.
    fn object(&self, id: NodeId) -> Evaluated;
}

/// Node values when none are known yet (at spec time): every node value is unknown.
pub struct NoNodes;

impl NodeValues for NoNodes {
    fn attr(&self, _: NodeId, _: &str) -> Option<Evaluated> {
        Some(Evaluated::unknown())
    }
    fn object(&self, _: NodeId) -> Evaluated {
        Evaluated::unknown()
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
enum MemoKey {
    Local(ScopeId, String),
    Var(ScopeId, String),
    Output(ScopeId, String),
}

/// Evaluates expressions of one spec against one source of node values.
pub struct Evaluator<'s> {
    spec: &'s Spec,
    /// The function library, built once (building it per expression was
    /// most of a large plan's allocations).
    library: functions::Library,
    memo: RefCell<HashMap<MemoKey, Result<Evaluated, Diagnostic>>>,
    in_progress: RefCell<Vec<MemoKey>>,
}

impl<'s> Evaluator<'s> {
    pub fn new(spec: &'s Spec) -> Evaluator<'s> {
        for v in spec.variables.values().filter(|v| v.sensitive) {
            redact::remember_value(&v.value);
        }
        Evaluator {
            spec,
            library: functions::Library::new(),
            memo: RefCell::default(),
            in_progress: RefCell::default(),
        }
    }

    /// Evaluates `e`, written in `scope` where `each`, `count` and `stage` are `inst`.
    pub fn eval(
        &self,
        e: &Expr,
        scope: ScopeId,
        inst: &Inst,
        nodes: &dyn NodeValues,
    ) -> Result<Evaluated, Diagnostic> {
        let mut roots: HashMap<String, Value> = HashMap::new();
        let mut sensitive = false;
        let mut secrets = Vec::new();
        for r in &e.refs {
            let target = self.spec.resolve(r, scope, inst)?;
            let (key_len, ev) = self.target_value(&target, r, scope, inst, nodes)?;
            sensitive |= ev.sensitive;
            let Some(v) = ev.val else {
                return Ok(Evaluated {
                    val: None,
                    sensitive,
                });
            };
            let mut keys = Vec::new();
            for p in &r.parts[..key_len.min(r.parts.len())] {
                keys.push(match p {
                    RefPart::Attr(a) => Step::Name(a.clone()),
                    RefPart::Index(i) if i.is_string() => Step::Name(i.as_str().unwrap_or_default().to_string()),
                    RefPart::Index(i) => match i.as_u64() {
                        Some(n) if n < 100_000 => Step::Pos(n as usize),
                        _ => {
                            return Err(Diagnostic::error(
                                "Invalid reference",
                                format!("`{}`: only whole-number or string stage values can be referenced by index.", r.display()),
                            )
                            .at(Some(r.span.clone())))
                        }
                    },
                    RefPart::Dynamic => Step::Name(String::new()),
                });
            }
            if ev.sensitive {
                secrets.push(keys.clone());
            }
            insert_path(&mut roots, &keys, v);
        }
        // `sensitive()`, `nonsensitive()` and `issensitive()` decide for
        // themselves; otherwise reading any sensitive value makes the result sensitive.
        if e.source().contains("sensitive") && crate::lang::marks::uses_marks(&e.expr) {
            sensitive = crate::lang::marks::reads_sensitive(&e.expr, &secrets);
        }
        // Every root `e` reads is in `roots`: the loader found each free variable.
        let result = crate::lang::evaluate_marked(&e.expr, &roots, &self.library, &secrets);
        match result {
            Ok(v) => {
                if sensitive {
                    remember_sensitive(&e.expr, &v, &secrets);
                }
                Ok(Evaluated {
                    val: Some(v),
                    sensitive,
                })
            }
            Err(err) => Err(Diagnostic::error(
                "Invalid expression",
                format!("Evaluating `{}` failed: {err}.", e.source()),
            )
            .at(Some(e.span.clone()))),
        }
    }

    /// The value a resolved reference names, and how many of its parts name it.
    fn target_value(
        &self,
        target: &Target,
        r: &crate::spec::ast::Reference,
        scope: ScopeId,
        inst: &Inst,
        nodes: &dyn NodeValues,
    ) -> Result<(usize, Evaluated), Diagnostic> {
        Ok(match target {
            Target::Var { scope, name } => (2, self.var(*scope, name, nodes)?),
            Target::Local { scope, name } => (2, self.local(*scope, name, nodes)?),
            Target::ModuleOutput {
                scope,
                name,
                key_len,
            } => (*key_len, self.output(*scope, name, nodes)?),
            Target::Module { scopes, key_len } => (*key_len, self.module_value(scopes, nodes)?),
            Target::Node { id, key_len } => match r.attr(*key_len) {
                Some(a) => match nodes.attr(*id, a) {
                    Some(v) => (key_len + 1, v),
                    None => {
                        return Err(Diagnostic::error(
                            "Unsupported attribute",
                            format!(
                                "`{}` has no attribute or output named `{a}`.",
                                self.spec.nodes[*id].address
                            ),
                        )
                        .at(Some(r.span.clone())))
                    }
                },
                None => (*key_len, nodes.object(*id)),
            },
            Target::Nodes { ids, key_len } => (*key_len, collect(ids, |id| Ok(nodes.object(id)))?),
            Target::Stage => {
                let mut m = hcl::Map::new();
                if let Some(st) = &inst.stage {
                    m.insert("value".into(), st.value.clone());
                    m.insert("index".into(), Value::from(st.index as u64));
                }
                (1, Evaluated::known(Value::Object(m)))
            }
            Target::Each | Target::Count => {
                let mut m = hcl::Map::new();
                match inst.each.as_deref() {
                    Some(Each::ForEach { key, value }) => {
                        m.insert("key".into(), Value::from(key.clone()));
                        m.insert("value".into(), value.clone());
                    }
                    Some(Each::Count(i)) => {
                        m.insert("index".into(), Value::from(*i));
                    }
                    None => {}
                }
                (1, Evaluated::known(Value::Object(m)))
            }
            Target::Path => (1, Evaluated::known(self.paths(scope))),
            Target::Rollout { .. } => {
                return Err(Diagnostic::error(
                    "Invalid reference",
                    format!("`{}` can only be used in depends_on.", r.display()),
                )
                .at(Some(r.span.clone())))
            }
        })
    }

    /// A module instance as a value: an object of its outputs; a repeated
    /// call: a list or map of such objects.
    fn module_value(
        &self,
        scopes: &Instances<ScopeId>,
        nodes: &dyn NodeValues,
    ) -> Result<Evaluated, Diagnostic> {
        collect(scopes, |scope| {
            let mut m = hcl::Map::new();
            let mut sensitive = false;
            for o in &self.spec.scopes[scope].source.outputs {
                let ev = self.output(scope, &o.name, nodes)?;
                sensitive |= ev.sensitive;
                match ev.val {
                    Some(v) => m.insert(o.name.clone(), v),
                    None => return Ok(Evaluated::unknown()),
                };
            }
            Ok(Evaluated {
                val: Some(Value::Object(m)),
                sensitive,
            })
        })
    }

    fn memoised(
        &self,
        key: MemoKey,
        span_of_cycle: impl FnOnce() -> Diagnostic,
        compute: impl FnOnce() -> Result<Evaluated, Diagnostic>,
    ) -> Result<Evaluated, Diagnostic> {
        if let Some(v) = self.memo.borrow().get(&key) {
            return v.clone();
        }
        if self.in_progress.borrow().contains(&key) {
            return Err(span_of_cycle());
        }
        self.in_progress.borrow_mut().push(key.clone());
        let v = compute();
        self.in_progress.borrow_mut().retain(|k| k != &key);
        self.memo.borrow_mut().insert(key, v.clone());
        v
    }

    fn local(
        &self,
        scope: ScopeId,
        name: &str,
        nodes: &dyn NodeValues,
    ) -> Result<Evaluated, Diagnostic> {
        let attr = self.spec.scopes[scope]
            .source
            .locals
            .iter()
            .find(|l| l.name == name)
            .expect("resolve checked the local");
        self.memoised(
            MemoKey::Local(scope, name.into()),
            || cycle("local", name, &attr.value),
            || self.eval(&attr.value, scope, &Inst::NONE, nodes),
        )
    }

    fn var(
        &self,
        scope: ScopeId,
        name: &str,
        nodes: &dyn NodeValues,
    ) -> Result<Evaluated, Diagnostic> {
        let s = &self.spec.scopes[scope];
        let sensitive_decl = s
            .source
            .variables
            .iter()
            .any(|v| v.name == name && v.sensitive);
        match &s.parent {
            None => Ok(self
                .spec
                .variables
                .get(name)
                .map(|v| Evaluated {
                    val: Some(v.value.clone()),
                    sensitive: v.sensitive,
                })
                .unwrap_or_else(Evaluated::unknown)),
            Some(parent) => match parent.call.inputs.iter().find(|a| a.name == name) {
                Some(input) => self
                    .memoised(
                        MemoKey::Var(scope, name.into()),
                        || cycle("variable", name, &input.value),
                        || self.eval(&input.value, parent.scope, &parent.inst, nodes),
                    )
                    .map(|mut ev| {
                        ev.sensitive |= sensitive_decl;
                        ev
                    }),
                None => {
                    let decl = s.source.variables.iter().find(|v| v.name == name);
                    match decl
                        .and_then(|d| d.default.as_ref())
                        .and_then(|d| d.literal())
                    {
                        Some(v) => Ok(Evaluated {
                            val: Some(v),
                            sensitive: sensitive_decl,
                        }),
                        None => Ok(Evaluated {
                            val: Some(Value::Null),
                            sensitive: sensitive_decl,
                        }),
                    }
                }
            },
        }
    }

    fn output(
        &self,
        scope: ScopeId,
        name: &str,
        nodes: &dyn NodeValues,
    ) -> Result<Evaluated, Diagnostic> {
        let out = self.spec.scopes[scope]
            .source
            .outputs
            .iter()
            .find(|o| o.name == name)
            .expect("resolve checked the output");
        self.memoised(
            MemoKey::Output(scope, name.into()),
            || cycle("output", name, &out.value),
            || {
                self.eval(&out.value, scope, &Inst::NONE, nodes)
                    .map(|mut ev| {
                        ev.sensitive |= out.sensitive;
                        ev
                    })
            },
        )
    }

    fn paths(&self, scope: ScopeId) -> Value {
        let mut m = hcl::Map::new();
        let module_dir = self.spec.scopes[scope].source.dir.display().to_string();
        m.insert("module".into(), Value::from(module_dir));
        m.insert(
            "root".into(),
            Value::from(self.spec.dir.display().to_string()),
        );
        m.insert("cwd".into(), Value::from(".".to_string()));
        Value::Object(m)
    }
}

/// The values of every instance as one value: itself for a single block, a
/// list for `count`, an object by key for `for_each`. Unknown when any is.
fn collect<T: Copy>(
    group: &Instances<T>,
    value: impl Fn(T) -> Result<Evaluated, Diagnostic>,
) -> Result<Evaluated, Diagnostic> {
    let mut sensitive = false;
    let mut one = |t: T| -> Result<Option<Value>, Diagnostic> {
        let ev = value(t)?;
        sensitive |= ev.sensitive;
        Ok(ev.val)
    };
    let val = match group {
        Instances::Single(t) => one(*t)?,
        Instances::Count(v) => v
            .iter()
            .map(|t| one(*t))
            .collect::<Result<Option<Vec<Value>>, _>>()?
            .map(Value::Array),
        Instances::ForEach(v) => v
            .iter()
            .map(|(k, t)| Ok(one(*t)?.map(|x| (k.clone(), x))))
            .collect::<Result<Option<hcl::Map<String, Value>>, _>>()?
            .map(Value::Object),
    };
    Ok(Evaluated { val, sensitive })
}

fn cycle(what: &str, name: &str, e: &Expr) -> Diagnostic {
    Diagnostic::error(
        "Cycle in values",
        format!("The {what} `{name}` depends on itself through the values it references."),
    )
    .at(Some(e.span.clone()))
}

/// Remembers the strings of `v`, the sensitive value of `e`, for masking.
/// Of a list or object written out in `e`, only the elements that read a
/// secret (`["curl", "-H", "Bearer ${var.token}"]` leaves `curl` and `-H`
/// printable elsewhere); of any other expression, all of it.
fn remember_sensitive(e: &hcl::Expression, v: &Value, secrets: &[Vec<Step>]) {
    use crate::lang::marks::reads_sensitive;
    let secret = |x: &hcl::Expression| reads_sensitive(x, secrets);
    let mut any = false;
    match (e, v) {
        (hcl::Expression::Array(items), Value::Array(values)) if items.len() == values.len() => {
            for (x, value) in items.iter().zip(values) {
                if secret(x) {
                    remember_sensitive(x, value, secrets);
                    any = true;
                }
            }
        }
        (hcl::Expression::Object(entries), Value::Object(values))
            if entries.len() == values.len() =>
        {
            for ((key, x), (name, value)) in entries.iter().zip(values) {
                if matches!(key, hcl::ObjectKey::Expression(k) if secret(k)) {
                    redact::remember(name);
                    redact::remember_value(value);
                    any = true;
                } else if secret(x) {
                    remember_sensitive(x, value, secrets);
                    any = true;
                }
            }
        }
        _ => {}
    }
    if !any {
        redact::remember_value(v);
    }
}

/// Puts `v` at `keys` inside the context roots, creating objects and arrays on the way.
fn insert_path(roots: &mut HashMap<String, Value>, keys: &[Step], v: Value) {
    let Some((Step::Name(first), rest)) = keys.split_first() else {
        return;
    };
    let mut cur = roots.entry(first.clone()).or_insert(Value::Null);
    for k in rest {
        cur = match k {
            Step::Name(name) => {
                if !cur.is_object() {
                    *cur = Value::Object(hcl::Map::new());
                }
                let Value::Object(m) = cur else { return };
                m.entry(name.clone()).or_insert(Value::Null)
            }
            Step::Pos(i) => {
                if !cur.is_array() {
                    *cur = Value::Array(Vec::new());
                }
                let Value::Array(a) = cur else { return };
                if a.len() <= *i {
                    a.resize(i + 1, Value::Null);
                }
                &mut a[*i]
            }
        };
    }
    *cur = v;
}

/// Converts an HCL value to JSON (the plan's and lockfile's value model).
pub fn to_json(v: &Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// Converts JSON to an HCL value.
pub fn from_json(v: &serde_json::Value) -> Value {
    serde_json::from_value(v.clone()).unwrap_or(Value::Null)
}

/// A short, single-line rendering of a value for messages.
pub fn short(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => serde_json::to_string(&to_json(other)).unwrap_or_default(),
    }
}
