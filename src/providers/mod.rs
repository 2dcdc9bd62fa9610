//! Providers: the systems cutover reads and changes.
//!
//! `providers` owns the [`Provider`] trait, the [`Registry`] that maps a node
//! type to its provider, each type's [`schema`], and one sub-module per
//! provider, each behind a cargo feature. Providers see evaluated attributes
//! as JSON values; they never see the graph or the lockfile.

pub mod approval;
pub mod cancel;
pub mod schema;
pub mod supervise;
pub mod terraform;

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "kubernetes")]
pub mod kubernetes;
/// Compiled always: its file and process helpers (`write_atomic`,
/// `run_command`) serve the whole crate; the `local` feature only registers
/// its provider.
pub mod local;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "prometheus")]
pub mod prometheus;

use crate::spec::ast::NodeKind;
use async_trait::async_trait;
use schema::TypeSchema;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Evaluated attributes, or a resource's observed state, or a step's outputs:
/// a vector sorted by name. Most hold a handful of attributes, for which a
/// `BTreeMap` allocated a node with room for eleven (about 1 KB each).
pub type Attrs = litemap::LiteMap<String, serde_json::Value>;

/// The attribute apply adds to a step's attributes: an id for this run of the
/// step, which a provider may record atomically with the step's effect.
pub const RUN_ID: &str = "_cutover_run_id";

tokio::task_local! {
    /// The name the sessions a node opens carry (`cutover:<migration>:<address>`),
    /// set by apply around each node's work.
    pub static SESSION_NAME: String;
}

/// The current node's session name, if apply set one.
pub fn session_name() -> Option<String> {
    SESSION_NAME.try_with(|s| s.clone()).ok()
}

/// How many reads and changes run at once in this process (`-parallelism`):
/// connection pools hold at most this many connections.
static PARALLELISM: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(10);

/// Sets [`parallelism`]; the command line does, before it plans.
pub fn set_parallelism(n: usize) {
    PARALLELISM.store(n.max(1), std::sync::atomic::Ordering::Relaxed);
}

/// The run's parallelism (default 10).
pub fn parallelism() -> usize {
    PARALLELISM.load(std::sync::atomic::Ordering::Relaxed)
}

/// The run id of a step started at `started_at`.
pub fn run_id(lineage: &str, address: &str, started_at: &str) -> String {
    format!("{lineage}/{address}/{started_at}")
}

/// Why a provider call failed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("{0}")]
    Failed(String),
    #[error("timed out after {0}")]
    Timeout(String),
    #[error("{kind} \"{type_name}\" is not supported by the {provider} provider")]
    Unsupported {
        provider: String,
        kind: &'static str,
        type_name: String,
    },
    #[error("cancelled")]
    Cancelled,
}

impl ProviderError {
    pub fn failed(msg: impl Into<String>) -> ProviderError {
        ProviderError::Failed(msg.into())
    }

    pub fn unsupported(provider: &str, kind: &'static str, type_name: &str) -> ProviderError {
        ProviderError::Unsupported {
            provider: provider.into(),
            kind,
            type_name: type_name.into(),
        }
    }
}

/// How a step that a crash or an interrupt left `started` ended.
#[derive(Debug, Clone, PartialEq)]
pub enum RunVerdict {
    /// It completed (how the provider knows); the outputs it kept.
    Completed { why: String, outputs: Attrs },
    /// It certainly did not complete (why): safe to run again.
    NotCompleted(String),
    /// It is still running (what it is): apply waits for it.
    Running(String),
    /// It cannot be known (why): `idempotent`, `done_when` or the operator decide.
    Unknown(String),
}

/// One poll of a gate (or of a step's `done_when`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CheckOutcome {
    /// Whether the condition holds now.
    pub holds: bool,
    /// What was measured, for the operator: "HTTP 200, $.error_rate = 0.4".
    pub measured: String,
    /// The one number measured, when there is one: charted in reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The thresholds `value` is held against.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<Limit>,
}

/// A threshold a measured value is held against: `below = 0.05`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Limit {
    /// "below", "above", "at_most" or "at_least".
    pub op: String,
    pub value: f64,
}

impl CheckOutcome {
    /// A poll that measured no one number.
    pub fn new(holds: bool, measured: impl Into<String>) -> CheckOutcome {
        CheckOutcome {
            holds,
            measured: measured.into(),
            value: None,
            limits: Vec::new(),
        }
    }

    /// The number measured and the limits it is held against.
    pub fn with_value(mut self, value: f64, limits: Vec<Limit>) -> CheckOutcome {
        self.value = value.is_finite().then_some(value);
        self.limits = limits;
        self
    }
}

/// The systems cutover works with implement this.
#[async_trait]
pub trait Provider: Send + Sync {
    /// The provider's name, as in `provider "NAME" { … }`.
    fn name(&self) -> &'static str;

    /// The schema of every type this provider serves.
    fn schemas(&self) -> Vec<TypeSchema>;

    /// The attributes its `provider "NAME" { … }` block takes.
    fn config_schema(&self) -> Vec<schema::AttrSchema> {
        Vec::new()
    }

    /// Reads the object a resource or data block names; `None` if it does not
    /// exist. By default: this provider has no resources or data sources.
    async fn read(
        &self,
        _kind: NodeKind,
        type_name: &str,
        _attrs: &Attrs,
    ) -> Result<Option<Attrs>, ProviderError> {
        Err(ProviderError::unsupported(
            self.name(),
            "read of",
            type_name,
        ))
    }

    /// Whether [`Provider::read_many`] reads any object of `type_name` itself
    /// (the plan then gathers their arguments up front; otherwise it builds
    /// each read's arguments only when the read starts).
    fn reads_many(&self, _type_name: &str) -> bool {
        false
    }

    /// Reads many objects of one type at once, as plan's refresh does, in
    /// fewer calls than one each (a list per namespace); the results in the
    /// order of `items`, `None` for each the caller should [`Provider::read`]
    /// itself. By default: every one is left to the caller.
    async fn read_many(
        &self,
        _kind: NodeKind,
        _type_name: &str,
        items: &[Attrs],
    ) -> Vec<Option<Result<Option<Attrs>, ProviderError>>> {
        items.iter().map(|_| None).collect()
    }

    /// Makes the object match `desired` (or removes it when `desired` is `None`);
    /// returns its new observed state. By default: no resources.
    async fn apply(
        &self,
        type_name: &str,
        _desired: Option<&Attrs>,
        _identity: &Attrs,
    ) -> Result<Option<Attrs>, ProviderError> {
        Err(ProviderError::unsupported(
            self.name(),
            "resource",
            type_name,
        ))
    }

    /// Runs a step once; returns its outputs. By default: no steps.
    async fn run_step(&self, type_name: &str, _attrs: &Attrs) -> Result<Attrs, ProviderError> {
        Err(ProviderError::unsupported(self.name(), "step", type_name))
    }

    /// Called before a step's start is journaled, with the run id it will
    /// carry: a provider that records runs outside cutover (the exec
    /// supervisor) makes its record here, so that a run with no record
    /// certainly never started.
    fn prepare_run(&self, _type_name: &str, _run_id: &str) -> Result<(), ProviderError> {
        Ok(())
    }

    /// Whether steps of this type take a `repeat {}` block (run in batches
    /// until `until` holds).
    fn repeats(&self, _type_name: &str) -> bool {
        false
    }

    /// Reads a number the step's `repeat { remaining = … }` names (a query's
    /// first value, a command's output). By default: nothing to read.
    async fn measure(
        &self,
        type_name: &str,
        _attrs: &Attrs,
        _probe: &serde_json::Value,
    ) -> Result<f64, ProviderError> {
        Err(ProviderError::unsupported(
            self.name(),
            "remaining of",
            type_name,
        ))
    }

    /// A step's `dry_run` at plan time: what it would do, for the plan to
    /// show, changing nothing. By default: not supported.
    async fn dry_run(
        &self,
        type_name: &str,
        _attrs: &Attrs,
        _how: &serde_json::Value,
    ) -> Result<String, ProviderError> {
        Err(ProviderError::unsupported(
            self.name(),
            "dry_run of",
            type_name,
        ))
    }

    /// Polls a gate once. By default: no gates.
    async fn check(&self, type_name: &str, _attrs: &Attrs) -> Result<CheckOutcome, ProviderError> {
        Err(ProviderError::unsupported(self.name(), "gate", type_name))
    }

    /// Attributes a provider derives from the evaluated ones and that belong to
    /// the node's definition (the content of a SQL `file`, say): they enter the
    /// digest and the plan.
    fn derived(&self, _type_name: &str, _attrs: &Attrs) -> Attrs {
        Attrs::new()
    }

    /// Runs a step's `rollback {}` block: by default, the step's own type with
    /// the block's attributes (the step's `env`, `dir`, `database`, … inherited).
    async fn run_rollback(
        &self,
        type_name: &str,
        _step: &Attrs,
        rollback: &Attrs,
    ) -> Result<Attrs, ProviderError> {
        self.run_step(type_name, rollback).await
    }

    /// After a crash or an interrupt, how a step left `started` under run id
    /// `run_id` (`LINEAGE/ADDRESS/STARTED_AT`) ended — as far as its provider can tell.
    async fn interrupted(
        &self,
        _type_name: &str,
        _attrs: &Attrs,
        _run_id: &str,
    ) -> Result<RunVerdict, ProviderError> {
        Ok(RunVerdict::Unknown(
            "the provider cannot tell whether it completed".into(),
        ))
    }

    /// Like [`Provider::interrupted`], but waits while the step is still running.
    async fn await_run(
        &self,
        type_name: &str,
        attrs: &Attrs,
        run_id: &str,
    ) -> Result<RunVerdict, ProviderError> {
        self.interrupted(type_name, attrs, run_id).await
    }

    /// Evaluates a step's `done_when` (a command, a query, …) against the real system.
    async fn step_done(
        &self,
        type_name: &str,
        _attrs: &Attrs,
        _done_when: &serde_json::Value,
    ) -> Result<CheckOutcome, ProviderError> {
        Err(ProviderError::unsupported(
            self.name(),
            "done_when on step",
            type_name,
        ))
    }
}

/// The numeric comparisons gates share, as attribute names.
#[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
pub(crate) const COMPARISONS: [&str; 4] = ["below", "above", "at_most", "at_least"];

/// Whether `value` satisfies comparison `op` (one of [`COMPARISONS`])
/// against `limit`; `None` when `op` is not one of them.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) fn compare(op: &str, value: f64, limit: f64) -> Option<bool> {
    Some(match op {
        "below" => value < limit,
        "above" => value > limit,
        "at_most" => value <= limit,
        "at_least" => value >= limit,
        _ => return None,
    })
}

/// An error with its causes, "a: b: c" (reqwest's top-level message alone
/// hides the reason a connection failed).
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// Maps node types to the providers that serve them.
#[derive(Clone, Default)]
pub struct Registry {
    providers: Vec<Arc<dyn Provider>>,
    by_type: BTreeMap<NodeKind, BTreeMap<&'static str, Served>>,
}

/// A node type: the provider that serves it and its schema.
#[derive(Clone)]
struct Served {
    provider: usize,
    schema: TypeSchema,
    names: Arc<schema::SchemaNames>,
}

impl Registry {
    /// Every provider compiled in, configured from the spec's `provider` blocks.
    pub fn builtin(configs: &BTreeMap<String, Attrs>) -> Registry {
        let mut r = Registry::default();
        #[cfg(feature = "aws")]
        r.add(Arc::new(aws::AwsProvider::new(
            configs.get("aws").cloned().unwrap_or_default(),
        )));
        #[cfg(feature = "local")]
        r.add(Arc::new(local::LocalProvider));
        #[cfg(feature = "http")]
        r.add(Arc::new(http::HttpProvider::new()));
        #[cfg(feature = "postgres")]
        r.add(Arc::new(postgres::PostgresProvider));
        #[cfg(feature = "kubernetes")]
        r.add(Arc::new(kubernetes::KubernetesProvider::new(
            configs.get("kubernetes").cloned().unwrap_or_default(),
        )));
        r.add(Arc::new(approval::ApprovalProvider));
        r.add(Arc::new(terraform::TerraformProvider::new(
            configs.get("aws").cloned().unwrap_or_default(),
        )));
        #[cfg(feature = "prometheus")]
        r.add(Arc::new(prometheus::PrometheusProvider::new(
            configs.get("prometheus").cloned().unwrap_or_default(),
        )));
        r
    }

    pub fn add(&mut self, p: Arc<dyn Provider>) {
        let ix = self.providers.len();
        for s in p.schemas() {
            let served = Served {
                provider: ix,
                names: Arc::new(schema::SchemaNames::of(&s)),
                schema: s,
            };
            self.by_type
                .entry(served.schema.kind)
                .or_default()
                .insert(served.schema.type_name, served);
        }
        self.providers.push(p);
    }

    pub fn provider_names(&self) -> Vec<&'static str> {
        self.providers.iter().map(|p| p.name()).collect()
    }

    /// The provider named `name` in a `provider` block.
    pub fn by_name(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.providers.iter().find(|p| p.name() == name)
    }

    /// The entry for a type, looked up without building a key (it runs
    /// several times for every node).
    fn served(&self, kind: NodeKind, type_name: &str) -> Option<&Served> {
        self.by_type.get(&kind)?.get(type_name)
    }

    pub fn schema(&self, kind: NodeKind, type_name: &str) -> Option<&TypeSchema> {
        self.served(kind, type_name).map(|s| &s.schema)
    }

    /// The names of a type's attributes and outputs, shared by its nodes.
    pub fn names(&self, kind: NodeKind, type_name: &str) -> Option<&Arc<schema::SchemaNames>> {
        self.served(kind, type_name).map(|s| &s.names)
    }

    pub fn provider(&self, kind: NodeKind, type_name: &str) -> Option<&Arc<dyn Provider>> {
        self.served(kind, type_name)
            .map(|s| &self.providers[s.provider])
    }

    /// The type names known for a kind of block, for suggestions.
    pub fn type_names(&self, kind: NodeKind) -> Vec<&str> {
        self.by_type
            .get(&kind)
            .map(|types| types.keys().copied().collect())
            .unwrap_or_default()
    }
}
