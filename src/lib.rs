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
//! [`spec`] compiles a directory into node instances, [`graph`] orders them,
//! [`eval`] evaluates expressions, [`plan`] refreshes through [`providers`]
//! and diffs, [`render`] prints, [`apply`] executes and [`state`] records.

pub mod apply;
pub mod cli;
pub mod eval;
pub mod graph;
pub mod plan;
pub mod providers;
pub mod render;
pub mod spec;
pub mod state;

use spec::{Diagnostics, Spec, VarInputs};
use std::path::Path;

/// Loads the spec in `dir`, builds its graph and checks every block against
/// the providers' schemas: everything `validate` reports short of evaluation.
pub fn compile(
    dir: &Path,
    inputs: &VarInputs,
    registry: &providers::Registry,
) -> Result<(Spec, graph::Graph), Diagnostics> {
    let spec = Spec::load(dir, inputs)?;
    let mut diags = providers::schema::check_spec(&spec, registry);
    match graph::Graph::build(&spec) {
        Ok(g) if !diags.has_errors() => Ok((spec, g)),
        Ok(_) => Err(diags.sorted()),
        Err(d) => {
            diags.extend(d);
            Err(diags.sorted())
        }
    }
}
