//! What a reference names, seen from the scope it is written in.
//!
//! `step.backup.path` written in module `db` names node `module.db.step.backup`;
//! inside a rollout stage, `step.copy` names the same stage's instance when the
//! rollout declares one. Locals, module inputs and module outputs are named
//! here too; the graph follows them through to the nodes they reference.

use super::ast::{RefPart, Reference};
use super::diagnostic::{did_you_mean, Diagnostic};
use super::{Each, Inst, Instances, NodeId, ScopeId, Spec};

/// The thing a reference names.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// `var.NAME`: a root variable, or a module input when `scope` is a module call.
    Var {
        scope: ScopeId,
        name: String,
    },
    Local {
        scope: ScopeId,
        name: String,
    },
    /// `module.M.OUT`, `module.M["k"].OUT`: output `name` of module instance `scope`.
    ModuleOutput {
        scope: ScopeId,
        name: String,
        key_len: usize,
    },
    /// `module.M` (every instance) or `module.M["k"]` (one): as a value, the
    /// outputs; in `depends_on`, every node.
    Module {
        scopes: Instances<ScopeId>,
        key_len: usize,
    },
    /// One node; the first `key_len` reference parts name it, the rest select into it.
    Node {
        id: NodeId,
        key_len: usize,
    },
    /// Every instance of a block with `for_each` or `count`: a map or a list of nodes.
    Nodes {
        ids: Instances<NodeId>,
        key_len: usize,
    },
    /// `rollout.NAME` (in `depends_on`): its last stage.
    Rollout {
        scope: ScopeId,
        name: String,
    },
    /// `stage.value`, `stage.index` inside a rollout.
    Stage,
    /// `each.key`, `each.value` in a block with `for_each`.
    Each,
    /// `count.index` in a block with `count`.
    Count,
    /// `path.module`, `path.root`, `path.cwd`.
    Path,
}

fn unknown(r: &Reference, what: &str, suggestion: Option<String>) -> Diagnostic {
    let hint = suggestion
        .map(|s| format!(" Did you mean {s}?"))
        .unwrap_or_default();
    Diagnostic::error(
        "Reference to undeclared object",
        format!(
            "`{}` refers to {what} that is not declared.{hint}",
            r.display()
        ),
    )
    .at(Some(r.span.clone()))
}

impl Spec {
    /// Every name that can be referenced from `scope`, for suggestions.
    fn candidates(&self, scope: ScopeId, inst: &Inst) -> Vec<String> {
        let s = &self.scopes[scope];
        let mut c: Vec<String> = s.nodes.keys().cloned().collect();
        if let Some(stage) = self.stage_of(scope, inst) {
            c.extend(stage.nodes.keys().cloned());
            c.extend(stage.modules.keys().map(|m| format!("module.{m}")));
        }
        c.extend(s.source.variables.iter().map(|v| format!("var.{}", v.name)));
        c.extend(s.source.locals.iter().map(|l| format!("local.{}", l.name)));
        c.extend(s.children.keys().map(|m| format!("module.{m}")));
        c.extend(s.rollouts.values().map(|r| format!("rollout.{}", r.name)));
        c.sort();
        c
    }

    fn suggest(&self, r: &Reference, scope: ScopeId, inst: &Inst, len: usize) -> Option<String> {
        let written: Vec<&str> = r
            .parts
            .iter()
            .take(len)
            .filter_map(RefPart::as_attr)
            .collect();
        let written = written.join(".");
        let cands = self.candidates(scope, inst);
        did_you_mean(&written, cands.iter().map(String::as_str))
    }

    /// The rollout stage an expression written at `inst` sits in.
    fn stage_of(&self, scope: ScopeId, inst: &Inst) -> Option<&super::Stage> {
        let st = inst.stage.as_ref()?;
        self.scopes[scope]
            .rollouts
            .get(&st.rollout)
            .and_then(|r| r.stages.get(st.index))
    }

    /// The block `local` (`step.copy`) as seen from `scope`: the stage's own
    /// first, inside a rollout.
    fn node_in(&self, scope: ScopeId, inst: &Inst, local: &str) -> Option<&Instances<NodeId>> {
        self.stage_of(scope, inst)
            .and_then(|st| st.nodes.get(local))
            .or_else(|| self.scopes[scope].nodes.get(local))
    }

    fn module_in(&self, scope: ScopeId, inst: &Inst, name: &str) -> Option<&Instances<ScopeId>> {
        self.stage_of(scope, inst)
            .and_then(|st| st.modules.get(name))
            .or_else(|| self.scopes[scope].children.get(name))
    }

    /// Resolves `r`, written in `scope` where `each`, `count` and `stage` are `inst`.
    pub fn resolve(
        &self,
        r: &Reference,
        scope: ScopeId,
        inst: &Inst,
    ) -> Result<Target, Diagnostic> {
        let s = &self.scopes[scope];
        let need = |i: usize, what: &str| need(r, i, what);
        match r.root() {
            "var" => {
                let name = need(1, "a variable name, as in var.NAME")?;
                if s.source.variables.iter().any(|v| v.name == name) {
                    Ok(Target::Var {
                        scope,
                        name: name.into(),
                    })
                } else {
                    Err(unknown(r, "an input variable", self.suggest(r, scope, inst, 2)))
                }
            }
            "local" => {
                let name = need(1, "a local name, as in local.NAME")?;
                if s.source.locals.iter().any(|l| l.name == name) {
                    Ok(Target::Local {
                        scope,
                        name: name.into(),
                    })
                } else {
                    Err(unknown(r, "a local value", self.suggest(r, scope, inst, 2)))
                }
            }
            "module" => self.resolve_module(r, scope, inst),
            "rollout" => self.resolve_rollout(r, scope),
            "stage" if inst.stage.is_some() => Ok(Target::Stage),
            "stage" => Err(invalid(
                r,
                "`stage` is only available inside a rollout block, where it holds the current stage's value and index.",
            )),
            "each" => match (inst.each.as_deref(), r.attr(1)) {
                (Some(Each::ForEach { .. }), Some("key" | "value")) => Ok(Target::Each),
                (Some(Each::ForEach { .. }), _) => Err(invalid(r, "`each` has two attributes: each.key and each.value.")),
                _ => Err(invalid(r, "`each` is only available in a block with `for_each`, where it holds the instance's key and value.")),
            },
            "count" => match (inst.each.as_deref(), r.attr(1)) {
                (Some(Each::Count(_)), Some("index")) => Ok(Target::Count),
                (Some(Each::Count(_)), _) => Err(invalid(r, "`count` has one attribute: count.index.")),
                _ => Err(invalid(r, "`count.index` is only available in a block with `count`.")),
            },
            "path" => Ok(Target::Path),
            "self" => Err(invalid(r, "`self` is not supported; refer to the block by its address.")),
            root => {
                let (local, key_len) = match root {
                    "step" | "gate" => (format!("{root}.{}", need(1, "a name")?), 2),
                    "data" => (
                        format!("data.{}.{}", need(1, "a data type")?, need(2, "a name")?),
                        3,
                    ),
                    t => match r.attr(1) {
                        Some(n) => (format!("{t}.{n}"), 2),
                        None => {
                            return Err(unknown(r, "a value", self.suggest(r, scope, inst, 1)));
                        }
                    },
                };
                match self.node_in(scope, inst, &local) {
                    Some(group) => select_node(r, group, key_len),
                    None => Err(unknown(r, "a block", self.suggest(r, scope, inst, key_len))),
                }
            }
        }
    }

    fn resolve_module(
        &self,
        r: &Reference,
        scope: ScopeId,
        inst: &Inst,
    ) -> Result<Target, Diagnostic> {
        let m = need(r, 1, "a module name, as in module.NAME")?;
        let Some(group) = self.module_in(scope, inst, m) else {
            return Err(unknown(r, "a module call", self.suggest(r, scope, inst, 2)));
        };
        let (one, key_len) = match (group, r.parts.get(2)) {
            (Instances::Single(s), _) => (Some(*s), 2),
            (g, Some(RefPart::Index(v))) => match g.get(v) {
                Some(s) => (Some(s), 3),
                None => return Err(no_instance(r, v, &g.keys())),
            },
            _ => (None, 2),
        };
        let Some(child) = one else {
            return Ok(Target::Module {
                scopes: group.clone(),
                key_len,
            });
        };
        match r.attr(key_len) {
            None => Ok(Target::Module {
                scopes: Instances::Single(child),
                key_len,
            }),
            Some(out)
                if self.scopes[child]
                    .source
                    .outputs
                    .iter()
                    .any(|o| o.name == out) =>
            {
                Ok(Target::ModuleOutput {
                    scope: child,
                    name: out.into(),
                    key_len: key_len + 1,
                })
            }
            Some(out) => {
                let outs = self.scopes[child]
                    .source
                    .outputs
                    .iter()
                    .map(|o| o.name.as_str());
                let hint = did_you_mean(out, outs).map(|s| format!("module.{m}.{s}"));
                Err(unknown(r, "a module output", hint))
            }
        }
    }

    fn resolve_rollout(&self, r: &Reference, scope: ScopeId) -> Result<Target, Diagnostic> {
        let name = need(r, 1, "a rollout name, as in rollout.NAME")?;
        let rollouts = &self.scopes[scope].rollouts;
        if !rollouts.values().any(|ro| ro.name == name) {
            return Err(unknown(
                r,
                "a rollout",
                self.suggest(r, scope, &Inst::NONE, 2),
            ));
        }
        // A repeated rollout is selected by key first: rollout.traffic["api"][10].
        let (id, at) = match (rollouts.get(name), r.parts.get(2)) {
            (Some(_), _) => (name.to_string(), 2),
            (None, Some(RefPart::Index(v))) => match crate::addr::Key::from_value(v) {
                Some(k) => (format!("{name}{k}"), 3),
                None => return Err(unknown(r, "a rollout instance", None)),
            },
            (None, _) => (name.to_string(), 2),
        };
        let Some(ro) = rollouts.get(&id) else {
            return match r.parts.get(at) {
                None => Ok(Target::Rollout { scope, name: id }),
                Some(_) => Err(unknown(r, "a rollout instance", None)),
            };
        };
        match r.parts.get(at) {
            None => Ok(Target::Rollout { scope, name: id }),
            Some(RefPart::Index(v)) => {
                let Some(ix) = ro.stage_values.iter().position(|sv| sv == v.as_ref()) else {
                    return Err(unknown(r, "a rollout stage", None));
                };
                let stage = &ro.stages[ix];
                let kind = need(r, at + 1, "a node address")?;
                if kind == "module" {
                    let m = need(r, at + 2, "a module name")?;
                    return match stage.modules.get(m) {
                        Some(g) => Ok(Target::Module { scopes: g.clone(), key_len: at + 3 }),
                        None => Err(unknown(r, "a rollout module call", None)),
                    };
                }
                let local = match kind {
                    "data" => return Err(unknown(r, "a rollout node", None)),
                    t => format!("{t}.{}", need(r, at + 2, "a name")?),
                };
                match stage.nodes.get(&local) {
                    Some(g) => select_node(r, g, at + 3),
                    None => Err(unknown(r, "a rollout node", None)),
                }
            }
            Some(_) => Err(invalid(
                r,
                &format!("`{}`: a rollout stage is selected with a literal stage value, as in rollout.{name}[10].", r.display()),
            )),
        }
    }
}

fn need<'r>(r: &'r Reference, i: usize, what: &str) -> Result<&'r str, Diagnostic> {
    r.attr(i).ok_or_else(|| {
        Diagnostic::error(
            "Invalid reference",
            format!("`{}` is incomplete: expected {what} after it.", r.display()),
        )
        .at(Some(r.span.clone()))
    })
}

fn invalid(r: &Reference, detail: &str) -> Diagnostic {
    Diagnostic::error("Invalid reference", detail).at(Some(r.span.clone()))
}

fn no_instance(r: &Reference, v: &hcl::Value, keys: &[String]) -> Diagnostic {
    let shown: Vec<&str> = keys.iter().take(8).map(String::as_str).collect();
    let more = if keys.len() > 8 { ", …" } else { "" };
    Diagnostic::error(
        "Reference to undeclared instance",
        format!(
            "`{}` selects the instance {}, which does not exist; the instances are {}{more}.",
            r.display(),
            match crate::addr::Key::from_value(v) {
                Some(k) => k.to_string(),
                None => "[…]".to_string(),
            },
            if shown.is_empty() {
                "none".to_string()
            } else {
                shown.join(", ")
            },
        ),
    )
    .at(Some(r.span.clone()))
}

/// A node block named by the first `key_len` parts of `r`: one instance when
/// the block is not repeated or an index follows, else all of them.
fn select_node(
    r: &Reference,
    group: &Instances<NodeId>,
    key_len: usize,
) -> Result<Target, Diagnostic> {
    match (group, r.parts.get(key_len)) {
        (Instances::Single(id), _) => Ok(Target::Node { id: *id, key_len }),
        (g, Some(RefPart::Index(v))) => match g.get(v) {
            Some(id) => Ok(Target::Node {
                id,
                key_len: key_len + 1,
            }),
            None => Err(no_instance(r, v, &g.keys())),
        },
        (g, _) => Ok(Target::Nodes {
            ids: g.clone(),
            key_len,
        }),
    }
}
