//! The spec: a directory of `*.hcl` files compiled into a flat list of node
//! instances with their scopes — pipeline step one.
//!
//! `spec` owns loading and merging the files ([`load`]), the typed AST
//! ([`ast`]), diagnostics ([`diagnostic`]), input variables ([`variables`]),
//! and the expansion of `module` calls and `rollout` stages into node
//! instances with stable addresses ([`expand`]). It resolves a reference
//! written in some scope to what it names ([`resolve`]). It performs no network
//! I/O; evaluating expressions is `eval`'s job.

pub mod arith;
pub mod ast;
pub mod diagnostic;
pub mod expand;
pub mod format;
pub mod load;
pub mod resolve;
pub mod settings;
pub mod variables;

use ast::{ModuleSource, NodeDecl};

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use diagnostic::{Diagnostic, Diagnostics, SourceSpan};
pub use settings::{MigrationSettings, OnFailure};
pub use variables::VarInputs;

/// Index of a node instance in [`Spec::nodes`].
pub type NodeId = usize;
/// Index of a scope in [`Spec::scopes`].
pub type ScopeId = usize;

/// A module instance: the root directory, or one `module` call.
#[derive(Debug)]
pub struct Scope {
    pub source: Arc<ModuleSource>,
    /// Address prefix of its nodes: "" for the root, "module.db." for a call.
    pub prefix: String,
    /// The calling scope and the index of the call in its `modules`.
    pub parent: Option<(ScopeId, usize)>,
    /// Module calls made from this scope, by name.
    pub children: BTreeMap<String, ScopeId>,
    /// Top-level nodes of this scope by local address (`step.backup`).
    pub nodes: HashMap<String, NodeId>,
    /// Rollouts of this scope by name.
    pub rollouts: BTreeMap<String, RolloutInstance>,
}

/// A rollout after expansion: the node ids of each stage.
#[derive(Debug, Clone)]
pub struct RolloutInstance {
    pub address: String,
    pub stage_values: Vec<hcl::Value>,
    /// Per stage: local address (`gate.errors`) → node id.
    pub stages: Vec<BTreeMap<String, NodeId>>,
}

/// Where a node sits in a rollout.
#[derive(Debug, Clone)]
pub struct StageRef {
    pub rollout: String,
    pub index: usize,
    pub value: hcl::Value,
}

/// One node after module and rollout expansion.
#[derive(Debug, Clone)]
pub struct NodeInstance {
    /// Full address: `module.db.rollout.traffic[10].gate.errors`.
    pub address: String,
    pub decl: Arc<NodeDecl>,
    pub scope: ScopeId,
    pub stage: Option<StageRef>,
}

/// A root variable's value.
#[derive(Debug, Clone)]
pub struct VarValue {
    pub value: hcl::Value,
    pub sensitive: bool,
}

/// A compiled migration: every node instance, every scope, the root variables.
#[derive(Debug)]
pub struct Spec {
    pub dir: PathBuf,
    pub settings: MigrationSettings,
    pub scopes: Vec<Scope>,
    pub nodes: Vec<NodeInstance>,
    pub variables: BTreeMap<String, VarValue>,
    /// sha256 over the spec files (path and content), module sources included.
    pub digest: String,
}

impl Spec {
    /// Loads, checks and expands the migration in `dir`. All problems are returned at once.
    pub fn load(dir: &Path, inputs: &VarInputs) -> Result<Spec, Diagnostics> {
        let mut diags = Diagnostics::default();
        let root = load::load_dir(dir, &mut diags);
        if diags.has_errors() {
            return Err(diags.sorted());
        }
        let variables = variables::resolve_root(&root, inputs, &mut diags);
        let settings = settings::MigrationSettings::from_decl(&root, &mut diags);
        let mut spec = Spec {
            dir: dir.to_path_buf(),
            settings,
            scopes: Vec::new(),
            nodes: Vec::new(),
            variables,
            digest: String::new(),
        };
        expand::expand(&mut spec, root, &mut diags);
        spec.digest = expand::digest(&spec);
        if diags.has_errors() {
            return Err(diags.sorted());
        }
        Ok(spec)
    }

    pub fn node_by_address(&self, address: &str) -> Option<NodeId> {
        self.nodes.iter().position(|n| n.address == address)
    }
}
