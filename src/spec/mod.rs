//! The spec: a directory of `*.hcl` files compiled into a flat list of node
//! instances with their scopes — pipeline step one.
//!
//! `spec` owns loading and merging the files ([`load`]), the typed AST
//! ([`ast`]), diagnostics ([`diagnostic`]), input variables ([`variables`]),
//! and the data model of an expanded migration ([`Spec`], [`Scope`],
//! [`NodeInstance`], [`Instances`]), which the `expand` pass fills in. It
//! resolves a reference written in some scope to what it names ([`resolve`]).
//! It performs no network I/O and evaluates nothing: that is `eval`'s job.

pub mod ast;
pub mod diagnostic;
pub mod format;
pub mod load;
pub mod resolve;
pub mod settings;
pub mod variables;

use crate::addr;
use ast::{ModuleCall, ModuleSource, NodeDecl};

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

pub use diagnostic::{Diagnostic, Diagnostics, SourceSpan};
pub use settings::{MigrationSettings, OnFailure};
pub use variables::VarInputs;

/// sha256 and relative paths of the spec files: see [`load::digest`].
pub use load::{digest, relative};

/// Index of a node instance in [`Spec::nodes`].
pub type NodeId = usize;
/// Index of a scope in [`Spec::scopes`].
pub type ScopeId = usize;

/// A module instance: the root directory, or one instance of a `module` call.
#[derive(Debug)]
pub struct Scope {
    pub source: Arc<ModuleSource>,
    /// Address prefix of its nodes: "" for the root, `module.db.` or
    /// `module.tenant["b"].` for a call.
    pub prefix: String,
    /// The call that made this instance, for a module.
    pub parent: Option<ModuleParent>,
    /// Module calls made from this scope outside rollouts, by name.
    pub children: BTreeMap<String, Instances<ScopeId>>,
    /// Top-level nodes of this scope by local address (`step.backup`).
    pub nodes: HashMap<String, Instances<NodeId>>,
    /// Rollouts of this scope: by name, or by name and key for a rollout
    /// with `for_each` or `count` (`traffic["api"]`).
    pub rollouts: BTreeMap<String, RolloutInstance>,
    /// Every node of this scope and the modules it calls, which the expander
    /// numbers consecutively.
    pub all_nodes: std::ops::Range<NodeId>,
}

/// Where a module instance was called from.
#[derive(Debug, Clone)]
pub struct ModuleParent {
    pub scope: ScopeId,
    pub call: Arc<ModuleCall>,
    /// `each`, `count` and `stage` as seen by the call's arguments.
    pub inst: Inst,
}

/// The instances of one declared block, in key order.
#[derive(Debug, Clone, PartialEq)]
pub enum Instances<T> {
    /// No `for_each` or `count`: the block itself.
    Single(T),
    /// `count = N`: indexes 0..N.
    Count(Vec<T>),
    /// `for_each`: by key, in key order.
    ForEach(Vec<(String, T)>),
}

impl<T: Copy> Instances<T> {
    pub fn all(&self) -> Vec<T> {
        match self {
            Instances::Single(t) => vec![*t],
            Instances::Count(v) => v.clone(),
            Instances::ForEach(v) => v.iter().map(|(_, t)| *t).collect(),
        }
    }

    pub fn is_single(&self) -> bool {
        matches!(self, Instances::Single(_))
    }

    /// The instance an index expression `[v]` selects.
    pub fn get(&self, ix: &hcl::Value) -> Option<T> {
        match self {
            Instances::Single(_) => None,
            Instances::Count(v) => v
                .iter()
                .enumerate()
                .find(|(i, _)| addr::Key::Int(*i as i64).matches(ix))
                .map(|(_, t)| *t),
            Instances::ForEach(v) => {
                let k = ix.as_str()?;
                v.iter().find(|(key, _)| key == k).map(|(_, t)| *t)
            }
        }
    }

    /// The keys, as written in addresses: `[0]`, `["a"]`.
    pub fn keys(&self) -> Vec<String> {
        match self {
            Instances::Single(_) => Vec::new(),
            Instances::Count(v) => (0..v.len())
                .map(|i| addr::Key::Int(i as i64).to_string())
                .collect(),
            Instances::ForEach(v) => v
                .iter()
                .map(|(k, _)| addr::Key::Str(k.clone()).to_string())
                .collect(),
        }
    }
}

/// A rollout after expansion: what each stage holds.
#[derive(Debug, Clone)]
pub struct RolloutInstance {
    /// The rollout block's name (`traffic`), for every instance of it.
    pub name: String,
    pub address: String,
    pub stage_values: Vec<hcl::Value>,
    pub stages: Vec<Stage>,
}

/// One stage of a rollout: its nodes and module calls by local name.
#[derive(Debug, Clone, Default)]
pub struct Stage {
    pub nodes: HashMap<String, Instances<NodeId>>,
    pub modules: BTreeMap<String, Instances<ScopeId>>,
}

impl Stage {
    /// Every node of the stage, those of its module calls included.
    pub fn all_nodes(&self, spec: &Spec) -> Vec<NodeId> {
        let mut out: Vec<NodeId> = self.nodes.values().flat_map(Instances::all).collect();
        for m in self.modules.values() {
            for s in m.all() {
                out.extend(spec.scopes[s].all_nodes.clone());
            }
        }
        out.sort_unstable();
        out
    }
}

/// Where a node sits in a rollout.
#[derive(Debug, Clone, PartialEq)]
pub struct StageRef {
    /// The rollout instance's key in [`Scope::rollouts`].
    pub rollout: String,
    pub index: usize,
    pub value: hcl::Value,
}

/// What `each`, `count` and `stage` hold where an expression is written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inst {
    /// Boxed: most nodes have neither, and every node holds an `Inst`.
    pub stage: Option<Box<StageRef>>,
    pub each: Option<Box<Each>>,
}

impl Inst {
    pub const NONE: Inst = Inst {
        stage: None,
        each: None,
    };
}

/// The repetition of a block with `for_each` or `count`.
#[derive(Debug, Clone, PartialEq)]
pub enum Each {
    ForEach { key: String, value: hcl::Value },
    Count(u64),
}

/// One node after expansion.
#[derive(Debug, Clone)]
pub struct NodeInstance {
    /// Full address: `module.db.rollout.traffic[10].gate.errors`, `step.copy["a"]`.
    pub address: String,
    pub decl: Arc<NodeDecl>,
    pub scope: ScopeId,
    pub inst: Inst,
    /// The fleet and target this node belongs to, if any.
    pub fleet: Option<(FleetId, usize)>,
}

/// Index of a fleet in [`Spec::fleets`].
pub type FleetId = usize;

/// A repeated module call rolled out as targets in batches (`fleet {}`).
#[derive(Debug, Clone)]
pub struct Fleet {
    /// The call's address: `module.tenant`.
    pub address: String,
    /// One target per instance, in key order.
    pub targets: Vec<FleetTarget>,
    /// Cumulative target counts: batch k holds targets `batches[k-1]..batches[k]`.
    pub batches: Vec<usize>,
    pub max_concurrency: usize,
    /// Failed targets tolerated; one more stops the fleet.
    pub max_errors: usize,
    /// Soak time after each batch before the next starts.
    pub pause: std::time::Duration,
    /// The fleet's gates after batch k (k from 0), which batch k+1 waits for.
    pub gates: Vec<Vec<NodeId>>,
}

/// One instance of a fleet's module call: all of its nodes.
#[derive(Debug, Clone)]
pub struct FleetTarget {
    /// `module.tenant["b"]`.
    pub address: String,
    pub nodes: std::ops::Range<NodeId>,
}

impl Fleet {
    /// The targets of batch `b`.
    pub fn batch(&self, b: usize) -> std::ops::Range<usize> {
        let start = if b == 0 { 0 } else { self.batches[b - 1] };
        start..self.batches[b]
    }
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
    pub fleets: Vec<Fleet>,
    pub variables: BTreeMap<String, VarValue>,
    /// sha256 over the spec files (path and content), module sources included.
    pub digest: String,
}

impl Spec {
    pub fn node_by_address(&self, address: &str) -> Option<NodeId> {
        self.nodes.iter().position(|n| n.address == address)
    }

    /// Frees what only evaluation reads: each declaration's body (its
    /// expressions and the references found in them), each scope's locals,
    /// outputs and other declarations, and the names a scope resolves. What a
    /// plan's diff reads stays: addresses, kinds, types, spans, instances,
    /// fleets, settings, the digest. At 100,000 nodes this is most of the
    /// spec. Nothing of the spec can be evaluated afterwards.
    pub fn release_syntax(&mut self) {
        // Sources first: a declaration held by its node alone is emptied in place.
        let mut sources: HashMap<*const ModuleSource, Arc<ModuleSource>> = HashMap::new();
        for s in &mut self.scopes {
            s.nodes = HashMap::new();
            if let Some(source) = Arc::get_mut(&mut s.source) {
                *source = source.without_declarations();
                continue;
            }
            let shell = sources
                .entry(Arc::as_ptr(&s.source))
                .or_insert_with(|| Arc::new(s.source.without_declarations()));
            s.source = Arc::clone(shell);
        }
        let mut decls: HashMap<*const NodeDecl, Arc<NodeDecl>> = HashMap::new();
        for n in &mut self.nodes {
            if let Some(decl) = Arc::get_mut(&mut n.decl) {
                decl.body = ast::Body::default();
                continue;
            }
            let shell = decls
                .entry(Arc::as_ptr(&n.decl))
                .or_insert_with(|| Arc::new(n.decl.without_body()));
            n.decl = Arc::clone(shell);
        }
    }
}
