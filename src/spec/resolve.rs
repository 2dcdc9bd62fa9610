//! What a reference names, seen from the scope it is written in.
//!
//! `step.backup.path` written in module `db` names node `module.db.step.backup`;
//! inside a rollout stage, `step.copy` names the same stage's instance when the
//! rollout declares one. Locals, module inputs and module outputs are named
//! here too; the graph follows them through to the nodes they reference.

use super::ast::{RefPart, Reference};
use super::diagnostic::{did_you_mean, Diagnostic};
use super::{NodeId, ScopeId, Spec, StageRef};

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
    /// `module.M.OUT`: output `name` of the child scope `scope`.
    ModuleOutput {
        scope: ScopeId,
        name: String,
    },
    /// `module.M` as a whole (in `depends_on`): every node of the module.
    Module {
        scope: ScopeId,
    },
    /// A node; the first `key_len` reference parts name it, the rest select into it.
    Node {
        id: NodeId,
        key_len: usize,
    },
    /// `rollout.NAME` (in `depends_on`): its last stage.
    Rollout {
        scope: ScopeId,
        name: String,
    },
    /// `stage.value`, `stage.index` inside a rollout.
    Stage,
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
    fn candidates(&self, scope: ScopeId, stage: Option<&StageRef>) -> Vec<String> {
        let s = &self.scopes[scope];
        let mut c: Vec<String> = s.nodes.keys().cloned().collect();
        if let Some(st) = stage {
            if let Some(r) = s.rollouts.get(&st.rollout) {
                c.extend(r.stages[st.index].keys().cloned());
            }
        }
        c.extend(s.source.variables.iter().map(|v| format!("var.{}", v.name)));
        c.extend(s.source.locals.iter().map(|l| format!("local.{}", l.name)));
        c.extend(s.children.keys().map(|m| format!("module.{m}")));
        c.extend(s.rollouts.keys().map(|r| format!("rollout.{r}")));
        c.sort();
        c
    }

    fn suggest(
        &self,
        r: &Reference,
        scope: ScopeId,
        stage: Option<&StageRef>,
        len: usize,
    ) -> Option<String> {
        let written: Vec<&str> = r
            .parts
            .iter()
            .take(len)
            .filter_map(RefPart::as_attr)
            .collect();
        let written = written.join(".");
        let cands = self.candidates(scope, stage);
        did_you_mean(&written, cands.iter().map(String::as_str))
    }

    fn node_in(&self, scope: ScopeId, stage: Option<&StageRef>, local: &str) -> Option<NodeId> {
        let s = &self.scopes[scope];
        if let Some(st) = stage {
            if let Some(id) = s
                .rollouts
                .get(&st.rollout)
                .and_then(|r| r.stages.get(st.index))
                .and_then(|m| m.get(local))
            {
                return Some(*id);
            }
        }
        s.nodes.get(local).copied()
    }

    /// Resolves `r`, written in `scope` (and in rollout stage `stage`, if any).
    pub fn resolve(
        &self,
        r: &Reference,
        scope: ScopeId,
        stage: Option<&StageRef>,
    ) -> Result<Target, Diagnostic> {
        let s = &self.scopes[scope];
        let need = |i: usize, what: &str| -> Result<&str, Diagnostic> {
            r.attr(i).ok_or_else(|| {
                Diagnostic::error(
                    "Invalid reference",
                    format!("`{}` is incomplete: expected {what} after it.", r.display()),
                )
                .at(Some(r.span.clone()))
            })
        };
        match r.root() {
            "var" => {
                let name = need(1, "a variable name, as in var.NAME")?;
                if s.source.variables.iter().any(|v| v.name == name) {
                    Ok(Target::Var {
                        scope,
                        name: name.into(),
                    })
                } else {
                    Err(unknown(
                        r,
                        "an input variable",
                        self.suggest(r, scope, stage, 2),
                    ))
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
                    Err(unknown(
                        r,
                        "a local value",
                        self.suggest(r, scope, stage, 2),
                    ))
                }
            }
            "module" => {
                let m = need(1, "a module name, as in module.NAME")?;
                let Some(&child) = s.children.get(m) else {
                    return Err(unknown(
                        r,
                        "a module call",
                        self.suggest(r, scope, stage, 2),
                    ));
                };
                match r.attr(2) {
                    None => Ok(Target::Module { scope: child }),
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
            "rollout" => {
                let name = need(1, "a rollout name, as in rollout.NAME")?;
                let Some(ro) = s.rollouts.get(name) else {
                    return Err(unknown(r, "a rollout", self.suggest(r, scope, stage, 2)));
                };
                match r.parts.get(2) {
                    None => Ok(Target::Rollout { scope, name: name.into() }),
                    Some(RefPart::Index(v)) => {
                        let Some(ix) = ro.stage_values.iter().position(|sv| sv == v.as_ref()) else {
                            return Err(unknown(r, "a rollout stage", None));
                        };
                        let kind = need(3, "a node address")?;
                        let (local, key_len) = match kind {
                            "data" => return Err(unknown(r, "a rollout node", None)),
                            "step" | "gate" => (format!("{kind}.{}", need(4, "a name")?), 5),
                            t => (format!("{t}.{}", need(4, "a name")?), 5),
                        };
                        match ro.stages[ix].get(&local) {
                            Some(&id) => Ok(Target::Node { id, key_len }),
                            None => Err(unknown(r, "a rollout node", None)),
                        }
                    }
                    Some(_) => Err(Diagnostic::error(
                        "Invalid reference",
                        format!("`{}`: a rollout stage is selected with a literal stage value, as in rollout.{name}[10].", r.display()),
                    )
                    .at(Some(r.span.clone()))),
                }
            }
            "stage" => {
                if stage.is_some() {
                    Ok(Target::Stage)
                } else {
                    Err(Diagnostic::error(
                        "Invalid reference",
                        "`stage` is only available inside a rollout block, where it holds the current stage's value and index.",
                    )
                    .at(Some(r.span.clone())))
                }
            }
            "path" => Ok(Target::Path),
            "count" | "each" | "self" => Err(Diagnostic::error(
                "Invalid reference",
                format!(
                    "`{}` is not supported; use a rollout for repeated blocks.",
                    r.root()
                ),
            )
            .at(Some(r.span.clone()))),
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
                            return Err(unknown(r, "a value", self.suggest(r, scope, stage, 1)));
                        }
                    },
                };
                match self.node_in(scope, stage, &local) {
                    Some(id) => Ok(Target::Node { id, key_len }),
                    None => Err(unknown(
                        r,
                        "a block",
                        self.suggest(r, scope, stage, key_len),
                    )),
                }
            }
        }
    }
}
