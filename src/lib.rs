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
//! [`eval`] evaluates expressions (in [`lang`], Terraform's expression
//! language), [`plan`] refreshes through [`providers`]
//! and diffs, [`render`] prints, [`apply`] executes and [`state`] records.

pub mod addr;
pub mod apply;
pub mod cli;
pub mod eval;
pub mod expand;
pub mod graph;
pub mod lang;
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
    compile_reading(dir, inputs, true)
}

/// [`compile`], reading the data sources that decide how many instances a
/// block has (`for_each = keys(jsondecode(data.local_file.t.content))`)
/// when `read`; otherwise such a block is a diagnostic.
fn compile_reading(
    dir: &Path,
    inputs: &VarInputs,
    read: bool,
) -> Result<(Spec, graph::Graph, providers::Registry), Diagnostics> {
    let spec = if read {
        load_reading_data(dir, inputs)?
    } else {
        expand::load(dir, inputs)?
    };
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
    // The fuzz target reads nothing: no file, no network.
    let diags = match compile_reading(dir, &inputs, false) {
        Ok((spec, graph, registry)) => plan::check(&spec, &graph, &registry),
        Err(d) => d,
    };
    diags.render(dir)
}

/// Expands, reads the data sources a `for_each` or `count` needs, and
/// expands again with their values (a few rounds, for data sources whose
/// own instances depend on other data sources).
fn load_reading_data(dir: &Path, inputs: &VarInputs) -> Result<Spec, Diagnostics> {
    let mut data = expand::ReadData::default();
    for _ in 0..4 {
        let (spec, pending) = expand::load_with(dir, inputs, &data)?;
        if pending.is_empty() {
            return Ok(spec);
        }
        read_data(&spec, &pending, &mut data)?;
    }
    expand::load(dir, inputs)
}

/// Reads the data sources `ids` of a partly expanded spec into `data`.
fn read_data(
    spec: &Spec,
    ids: &[spec::NodeId],
    data: &mut expand::ReadData,
) -> Result<(), Diagnostics> {
    let configs = provider_configs(spec)?;
    let registry = providers::Registry::builtin(&configs);
    let ev = eval::Evaluator::new(spec);
    let none = vec![None; spec.nodes.len()];
    let mut diags = Diagnostics::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            let mut d = Diagnostics::default();
            d.push(spec::Diagnostic::error(
                "Cannot read data sources",
                e.to_string(),
            ));
            d
        })?;
    for &id in ids {
        let node = &spec.nodes[id];
        let ne = plan::evaluate::evaluate_node(
            spec,
            &ev,
            &plan::evaluate::Values(&none),
            id,
            &registry,
            &mut diags,
        );
        let fail = |detail: String| {
            spec::Diagnostic::error("Cannot read data source", detail)
                .at(Some(node.decl.span.clone()))
        };
        if !ne.attrs.values().all(eval::Evaluated::is_known) {
            diags.push(fail(format!("{} decides how many instances a block has, so its arguments must be known before apply.", node.address)));
            continue;
        }
        let Some(p) = registry.provider(node.decl.kind, &node.decl.type_name) else {
            continue;
        };
        let attrs = plan::evaluate::known_attrs(&ne);
        match runtime.block_on(p.read(spec::ast::NodeKind::Data, &node.decl.type_name, &attrs)) {
            Ok(out) => {
                let out = out.unwrap_or_default();
                ne.remember_sensitive(&out);
                data.sensitive.insert(
                    node.address.clone(),
                    ne.sensitive_outputs()
                        .iter()
                        .map(|k| k.to_string())
                        .collect(),
                );
                data.outputs.insert(node.address.clone(), out);
            }
            Err(e) => diags.push(fail(format!("reading {} failed: {e}", node.address))),
        }
    }
    if diags.has_errors() {
        return Err(diags.sorted());
    }
    Ok(())
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
