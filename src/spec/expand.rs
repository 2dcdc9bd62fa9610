//! Expansion: module calls become scopes, rollout stages become node
//! instances, and every node gets its full address.
//!
//! `rollout "traffic" { stages = [10, 50] … gate "http" "ok" {…} }` yields
//! `rollout.traffic[10].gate.ok` and `rollout.traffic[50].gate.ok`; a module
//! call `module "db"` prefixes its nodes with `module.db.`.

use super::ast::{ModuleSource, NodeDecl};
use super::diagnostic::{Diagnostic, Diagnostics, SourceSpan};
use super::load::load_dir;
use super::{NodeInstance, RolloutInstance, Scope, ScopeId, Spec, StageRef};
use crate::eval::{value_key, Evaluator, NoNodes};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

const MAX_MODULE_DEPTH: usize = 16;

pub fn expand(spec: &mut Spec, root: ModuleSource, diags: &mut Diagnostics) {
    add_scope(spec, Arc::new(root), String::new(), None, 0, diags);
    let mut staged = Vec::new();
    {
        let ev = Evaluator::new(spec);
        for scope in 0..spec.scopes.len() {
            for r in &spec.scopes[scope].source.rollouts {
                if let Some(values) = stage_values(spec, &ev, scope, r, diags) {
                    staged.push((scope, r.name.clone(), values));
                }
            }
        }
    }
    for (scope, name, values) in staged {
        add_rollout(spec, scope, &name, values, diags);
    }
}

fn duplicate(what: &str, name: &str, first: &SourceSpan, again: &SourceSpan) -> Diagnostic {
    Diagnostic::error(
        "Duplicate block",
        format!(
            "{what} `{name}` is already declared at {}:{}; each needs a unique name.",
            first.path().display(),
            first.start().0
        ),
    )
    .at(Some(again.clone()))
}

fn add_scope(
    spec: &mut Spec,
    source: Arc<ModuleSource>,
    prefix: String,
    parent: Option<(ScopeId, usize)>,
    depth: usize,
    diags: &mut Diagnostics,
) -> ScopeId {
    let id = spec.scopes.len();
    spec.scopes.push(Scope {
        source: Arc::clone(&source),
        prefix: prefix.clone(),
        parent,
        children: BTreeMap::new(),
        nodes: HashMap::new(),
        rollouts: BTreeMap::new(),
    });
    for decl in &source.nodes {
        let local = decl.local_address();
        if let Some(&first) = spec.scopes[id].nodes.get(&local) {
            diags.push(duplicate(
                "The block",
                &local,
                &spec.nodes[first].decl.span,
                &decl.span,
            ));
            continue;
        }
        let node = spec.nodes.len();
        spec.nodes.push(NodeInstance {
            address: format!("{prefix}{local}"),
            decl: Arc::clone(decl),
            scope: id,
            stage: None,
        });
        spec.scopes[id].nodes.insert(local, node);
    }
    let mut seen: HashMap<&str, &SourceSpan> = HashMap::new();
    for v in &source.variables {
        if let Some(first) = seen.insert(&v.name, &v.span) {
            diags.push(duplicate("The variable", &v.name, first, &v.span));
        }
    }
    let mut seen: HashMap<&str, &SourceSpan> = HashMap::new();
    for l in &source.locals {
        if let Some(first) = seen.insert(&l.name, &l.name_span) {
            diags.push(duplicate("The local", &l.name, first, &l.name_span));
        }
    }
    let mut seen: HashMap<&str, &SourceSpan> = HashMap::new();
    for r in &source.rollouts {
        if let Some(first) = seen.insert(&r.name, &r.span) {
            diags.push(duplicate("The rollout", &r.name, first, &r.span));
        }
    }
    if parent.is_some() {
        if let Some(m) = &source.migration {
            diags.push(
                Diagnostic::error(
                    "Migration block in a module",
                    "Only the root directory declares the `migration` block; remove it from the module.",
                )
                .at(Some(m.span.clone())),
            );
        }
    }
    for (i, call) in source.modules.iter().enumerate() {
        if spec.scopes[id].children.contains_key(&call.name) {
            diags.push(duplicate(
                "The module call",
                &call.name,
                &call.span,
                &call.span,
            ));
            continue;
        }
        if depth >= MAX_MODULE_DEPTH {
            diags.push(
                Diagnostic::error(
                    "Modules nested too deeply",
                    format!("Module calls nest more than {MAX_MODULE_DEPTH} levels deep; a module probably calls itself."),
                )
                .at(Some(call.span.clone())),
            );
            continue;
        }
        let dir = source.dir.join(&call.source);
        if !dir.is_dir() {
            diags.push(
                Diagnostic::error(
                    "Module not found",
                    format!(
                        "The module source \"{}\" is not a directory (looked in {}).",
                        call.source,
                        dir.display()
                    ),
                )
                .at(Some(call.source_span.clone())),
            );
            continue;
        }
        let mut child_diags = Diagnostics::default();
        let child = load_dir(&dir, &mut child_diags);
        let failed = child_diags.has_errors();
        diags.extend(child_diags);
        if failed {
            continue;
        }
        for input in &call.inputs {
            if !child.variables.iter().any(|v| v.name == input.name) {
                let names = child.variables.iter().map(|v| v.name.as_str());
                let hint = super::diagnostic::did_you_mean(&input.name, names)
                    .map(|s| format!(" Did you mean `{s}`?"))
                    .unwrap_or_default();
                diags.push(
                    Diagnostic::error(
                        "Unsupported argument",
                        format!(
                            "The module \"{}\" declares no variable `{}`.{hint}",
                            call.name, input.name
                        ),
                    )
                    .at(Some(input.name_span.clone())),
                );
            }
        }
        for v in &child.variables {
            if v.default.is_none() && !call.inputs.iter().any(|a| a.name == v.name) {
                diags.push(
                    Diagnostic::error(
                        "Missing required argument",
                        format!(
                            "The module \"{}\" requires the input `{}`, which has no default.",
                            call.name, v.name
                        ),
                    )
                    .at(Some(call.span.clone())),
                );
            }
        }
        let child_prefix = format!("{prefix}module.{}.", call.name);
        let child_id = add_scope(
            spec,
            Arc::new(child),
            child_prefix,
            Some((id, i)),
            depth + 1,
            diags,
        );
        spec.scopes[id].children.insert(call.name.clone(), child_id);
    }
    id
}

fn stage_values(
    spec: &Spec,
    ev: &Evaluator,
    scope: ScopeId,
    r: &super::ast::RolloutDecl,
    diags: &mut Diagnostics,
) -> Option<Vec<hcl::Value>> {
    let stages = r.stages.as_ref()?;
    let bad = |detail: String| {
        Diagnostic::error("Invalid rollout stages", detail).at(Some(stages.span.clone()))
    };
    let v = match ev.eval(stages, scope, None, &NoNodes) {
        Ok(v) => v,
        Err(d) => {
            diags.push(d);
            return None;
        }
    };
    let Some(v) = v.val else {
        diags.push(bad(
            "`stages` must be known at plan time; it cannot depend on values produced by apply."
                .into(),
        ));
        return None;
    };
    let _ = spec;
    let Some(items) = v.as_array() else {
        diags.push(bad(
            "`stages` must be a list of numbers or strings, as in [10, 50, 100].".into(),
        ));
        return None;
    };
    if items.is_empty() {
        diags.push(bad(
            "`stages` is empty; a rollout needs at least one stage.".into(),
        ));
        return None;
    }
    let mut seen = Vec::new();
    for it in items {
        if !(it.is_number() || it.is_string()) {
            diags.push(bad(format!(
                "stage {} is not a number or string.",
                crate::eval::short(it)
            )));
            return None;
        }
        if seen.contains(it) {
            diags.push(bad(format!(
                "stage {} appears twice; each stage value must be unique.",
                crate::eval::short(it)
            )));
            return None;
        }
        seen.push(it.clone());
    }
    Some(seen)
}

fn add_rollout(
    spec: &mut Spec,
    scope: ScopeId,
    name: &str,
    values: Vec<hcl::Value>,
    diags: &mut Diagnostics,
) {
    let source = Arc::clone(&spec.scopes[scope].source);
    let Some(decl) = source.rollouts.iter().find(|r| r.name == name) else {
        return;
    };
    let prefix = spec.scopes[scope].prefix.clone();
    let address = format!("{prefix}rollout.{name}");
    let mut locals: HashMap<String, &Arc<NodeDecl>> = HashMap::new();
    for n in &decl.nodes {
        let local = n.local_address();
        if let Some(first) = locals.get(&local) {
            diags.push(duplicate("The block", &local, &first.span, &n.span));
            continue;
        }
        if let Some(&outer) = spec.scopes[scope].nodes.get(&local) {
            diags.push(duplicate(
                "The block",
                &local,
                &spec.nodes[outer].decl.span,
                &n.span,
            ));
            continue;
        }
        locals.insert(local, n);
    }
    let mut stages = Vec::new();
    for (index, value) in values.iter().enumerate() {
        let mut m = BTreeMap::new();
        for n in &decl.nodes {
            let local = n.local_address();
            if locals.get(&local).map(|d| Arc::ptr_eq(d, n)) != Some(true) {
                continue;
            }
            let id = spec.nodes.len();
            spec.nodes.push(NodeInstance {
                address: format!("{address}[{}].{local}", value_key(value)),
                decl: Arc::clone(n),
                scope,
                stage: Some(StageRef {
                    rollout: name.to_string(),
                    index,
                    value: value.clone(),
                }),
            });
            m.insert(local, id);
        }
        stages.push(m);
    }
    spec.scopes[scope].rollouts.insert(
        name.to_string(),
        RolloutInstance {
            address,
            stage_values: values,
            stages,
        },
    );
}

/// sha256 over every spec file read (path relative to the root, and content).
pub fn digest(spec: &Spec) -> String {
    let mut files: Vec<(String, &str)> = spec
        .scopes
        .iter()
        .flat_map(|s| s.source.files.iter())
        .map(|f| (relative(&f.path, &spec.dir), f.text.as_str()))
        .collect();
    files.sort();
    files.dedup();
    let mut h = Sha256::new();
    for (p, t) in files {
        h.update(p.as_bytes());
        h.update([0]);
        h.update(t.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// `path` relative to `base`, lexically (no file system access), so that the
/// digest does not depend on where the migration directory lives.
pub fn relative(path: &std::path::Path, base: &std::path::Path) -> String {
    use std::path::Component;
    fn norm(p: &std::path::Path) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in p.components() {
            match c {
                Component::CurDir => {}
                Component::ParentDir if out.last().is_some_and(|l| l != "..") => {
                    out.pop();
                }
                other => out.push(other.as_os_str().to_string_lossy().into_owned()),
            }
        }
        out
    }
    let (p, b) = (norm(path), norm(base));
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".to_string(); b.len() - common];
    parts.extend(p[common..].iter().cloned());
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::relative;
    use std::path::Path;

    #[test]
    fn relative_paths_are_lexical() {
        assert_eq!(
            relative(Path::new("./main.hcl"), Path::new(".")),
            "main.hcl"
        );
        assert_eq!(
            relative(Path::new("./../../modules/m/a.hcl"), Path::new(".")),
            "../../modules/m/a.hcl"
        );
        assert_eq!(
            relative(
                Path::new("/x/ex/q/../../modules/m/a.hcl"),
                Path::new("/x/ex/q")
            ),
            "../../modules/m/a.hcl"
        );
    }
}
