//! cutover: production migration runbooks as code.
//!
//! The pipeline, one module per arrow:
//!
//! ```text
//! *.hcl ─▶ spec ─▶ graph ─┬─▶ plan ─▶ render
//!          lockfile (state) ┤         └──▶ apply
//!          providers.read ──┘
//! ```
//!
//! [`spec`] reads a directory, [`expand`] turns its blocks into node
//! instances (named by [`addr`]), [`graph`] orders them,
//! [`eval`] evaluates expressions, [`plan`] refreshes through [`providers`]
//! and diffs, [`render`] prints, [`apply`] executes and [`state`] records.

pub mod addr;
pub mod apply;
pub mod cli;
pub mod eval;
pub mod expand;
pub mod graph;
pub mod plan;
pub mod providers;
pub mod render;
pub mod spec;
pub mod state;
pub mod text;

use spec::{Diagnostics, Spec, VarInputs};
use std::path::Path;

/// Loads the spec in `dir`, configures the providers from its `provider`
/// blocks, checks every block against their schemas and builds the graph:
/// everything `validate` reports short of evaluating nodes.
pub fn compile(
    dir: &Path,
    inputs: &VarInputs,
) -> Result<(Spec, graph::Graph, providers::Registry), Diagnostics> {
    let spec = expand::load(dir, inputs)?;
    let configs = provider_configs(&spec)?;
    let registry = providers::Registry::builtin(&configs);
    let mut diags = providers::schema::check_spec(&spec, &registry);
    match graph::Graph::build(&spec) {
        Ok(g) if !diags.has_errors() => Ok((spec, g, registry)),
        Ok(_) => Err(diags.sorted()),
        Err(d) => {
            diags.extend(d);
            Err(diags.sorted())
        }
    }
}

/// Everything `validate` checks, as rendered diagnostics (empty when the
/// spec in `dir` is valid): compiling and evaluating every node with missing
/// variables left unknown, touching no real system. The fuzz target's entry.
pub fn validate(dir: &Path) -> String {
    let inputs = VarInputs {
        allow_missing: true,
        ..VarInputs::default()
    };
    let diags = match compile(dir, &inputs) {
        Ok((spec, graph, registry)) => plan::check(&spec, &graph, &registry),
        Err(d) => d,
    };
    diags.render(dir)
}

/// The root `provider` blocks, evaluated (they may use variables and locals,
/// not node values); nested blocks become objects.
fn provider_configs(
    spec: &Spec,
) -> Result<std::collections::BTreeMap<String, providers::Attrs>, Diagnostics> {
    let ev = eval::Evaluator::new(spec);
    let mut diags = Diagnostics::default();
    let mut out = std::collections::BTreeMap::new();
    let Some(root) = spec.scopes.first() else {
        return Ok(out);
    };
    let body_json = |body: &spec::ast::Body, diags: &mut Diagnostics| -> providers::Attrs {
        let mut attrs = providers::Attrs::new();
        for a in &body.attrs {
            match ev.eval(&a.value, 0, &spec::Inst::NONE, &eval::NoNodes) {
                Ok(v) => {
                    if let Some(v) = v.val {
                        attrs.insert(a.name.clone(), eval::to_json(&v));
                    }
                }
                Err(d) => diags.push(d),
            }
        }
        attrs
    };
    for p in &root.source.providers {
        let mut attrs = body_json(&p.body, &mut diags);
        for b in &p.body.blocks {
            let inner = body_json(&b.body, &mut diags);
            attrs.insert(
                b.kind.clone(),
                serde_json::Value::Object(inner.into_iter().collect()),
            );
        }
        out.insert(p.name.clone(), attrs);
    }
    if diags.has_errors() {
        return Err(diags.sorted());
    }
    Ok(out)
}
