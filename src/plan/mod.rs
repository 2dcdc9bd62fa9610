//! The plan: what apply would do, as plain data — pipeline step three.
//!
//! `plan` owns the refresh of observed state through providers (concurrent,
//! bounded), the evaluation of every node in topological order with "known
//! after apply" values, the predicted-state chain for blocks that share one
//! real object, the diff with an action and a reason for every node, the
//! rollback plan, and the fingerprint that makes a saved plan detectably
//! stale. It prints nothing: `render` does.

mod diff;
pub(crate) mod evaluate;
mod planner;
pub mod rollback;
pub mod saved;
mod value;

pub use planner::{check, evaluate, plan, Evaluation, PlanError, PlanOptions, Planned};
pub use value::PlannedValue;

use crate::spec::ast::NodeKind;
use crate::spec::OnFailure;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Evaluated attributes by name, sorted by name. A node has a handful: a
/// vector searched in order is leaner and faster than any hashed or tree
/// map at that size, which matters at 100,000 nodes.
pub type Attributes = vecmap::VecMap<String, PlannedValue>;

/// The plan format this build writes.
pub const PLAN_FORMAT_VERSION: u32 = 1;

/// What apply will do with a node, with the symbol the plan shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// `+` the object does not exist and will be created.
    Create,
    /// `~` the object exists and some attributes will change.
    Update,
    /// `-` the object's block was removed from the spec; it is restored to its prior state.
    Delete,
    /// `=` nothing to do.
    NoChange,
    /// `>` the step will run.
    Run,
    /// `✓` already done (lockfile or `done_when`).
    Done,
    /// `!` changed since it was applied; not re-run unless replaced.
    Changed,
    /// `?` the gate will be checked.
    Check,
}

impl Action {
    pub fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Delete => "-",
            Action::NoChange => "=",
            Action::Run => ">",
            Action::Done => "✓",
            Action::Changed => "!",
            Action::Check => "?",
        }
    }

    /// Whether apply has work to do for this node.
    pub fn is_change(self) -> bool {
        !matches!(self, Action::NoChange | Action::Done | Action::Changed)
    }
}

/// One attribute's change on a resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttrChange {
    pub name: String,
    /// Absent when the object does not exist yet.
    pub before: Option<PlannedValue>,
    /// Absent when the object will be removed.
    pub after: Option<PlannedValue>,
}

/// Where a node sits in a rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageInfo {
    pub rollout: String,
    pub index: usize,
    pub value: serde_json::Value,
}

/// What the plan says about one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedNode {
    pub address: String,
    pub kind: NodeKind,
    #[serde(rename = "type")]
    pub type_name: String,
    pub wave: u32,
    /// Addresses this node waits for.
    pub depends_on: Vec<String>,
    pub action: Action,
    /// Why: "file does not exist", "definition changed since applied", …
    pub reason: String,
    /// The evaluated attributes (desired state of a resource, arguments of a step or gate).
    pub attributes: Attributes,
    /// Attribute-level changes of a resource, against its predicted prior
    /// state. Empty for a created object: its changes are all of its
    /// attributes, which [`PlannedNode::changes`] lists (and a plan's JSON shows).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<AttrChange>,
    /// The evaluated `rollback {}` block of a step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Box<Attributes>>,
    /// A step without rollback marked `irreversible = true`: a point of no return.
    #[serde(default)]
    pub irreversible: bool,
    /// The real object a resource names ("local_file path=\"config.json\"").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// The previous block in the spec that manages the same object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follows: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Box<StageInfo>>,
    /// Declared or recorded duration, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_duration_ms: Option<u64>,
    /// Where `expected_duration_ms` comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_source: Option<DurationSource>,
    /// sha256 of the evaluated definition (unknown values count as unknown).
    pub digest: String,
}

impl PlannedNode {
    /// Its attribute changes. A created object's are all of its attributes,
    /// from nothing: the plan keeps those once, as its attributes (at
    /// 100,000 nodes the copy was a tenth of a plan's memory).
    pub fn changes(&self) -> Cow<'_, [AttrChange]> {
        if self.action != Action::Create {
            return Cow::Borrowed(&self.changes);
        }
        let all = self.attributes.iter().map(|(name, value)| AttrChange {
            name: name.clone(),
            before: None,
            after: Some(value.clone()),
        });
        Cow::Owned(all.collect())
    }
}

/// A plan's nodes as its JSON shows them: a created object's changes listed.
fn changes_listed<S: serde::Serializer>(nodes: &[PlannedNode], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(nodes.iter().map(|n| match n.action {
        Action::Create => Cow::Owned(PlannedNode {
            changes: n.changes().into_owned(),
            ..n.clone()
        }),
        _ => Cow::Borrowed(n),
    }))
}

/// A plan's nodes read back: a created object's changes left to its attributes.
fn changes_kept_once<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<PlannedNode>, D::Error> {
    let mut nodes = Vec::<PlannedNode>::deserialize(d)?;
    for n in nodes.iter_mut().filter(|n| n.action == Action::Create) {
        n.changes = Vec::new();
    }
    Ok(nodes)
}

/// Where a node's expected duration comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DurationSource {
    /// `expected_duration`, a wait's `duration`, a gate's `for`.
    Declared,
    /// How long it took the last time it ran (the run history).
    Recorded,
    /// An approval gate's `timeout`: it may take less.
    UpperBound,
}

/// The longest chain of dependent nodes by duration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CriticalPath {
    pub duration_ms: u64,
    pub nodes: Vec<String>,
}

/// What a rollback does for one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum RollbackAction {
    /// Put the object back as it was before the migration (`absent`: remove it).
    Restore { object: String, absent: bool },
    /// Run the step's `rollback {}` block.
    RunRollback,
    /// The step cannot be undone once it has run.
    Irreversible,
    /// The step has no rollback block; its effects stay.
    NoRollback,
}

/// One entry of the rollback plan, in the order rollback would run them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackEntry {
    pub address: String,
    /// The wave the node runs in: a failure in a later wave undoes this entry.
    pub wave: u32,
    pub action: RollbackAction,
    /// The points of no return that depend on this node: once one of them
    /// has run, a failure no longer undoes this entry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept_after: Vec<String>,
}

/// Counts per action.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub run: usize,
    pub check: usize,
    pub done: usize,
    pub changed: usize,
    pub unchanged: usize,
}

impl Summary {
    pub fn has_changes(&self) -> bool {
        self.create + self.update + self.delete + self.run + self.check > 0
    }
}

/// The plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub cutover_version: String,
    pub migration: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The migration's directory, relative to its repository's root when it
    /// is in one (set by the command line; names the plan's comment marker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<String>,
    pub on_failure: OnFailure,
    pub spec_digest: String,
    /// The lockfile lineage this plan belongs to (new when there is no lockfile yet);
    /// it salts the digests of sensitive values.
    pub lineage: String,
    /// Serial of the lockfile the plan was made against (absent: no lockfile yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lockfile_serial: Option<u64>,
    /// `-target` addresses, if the plan is limited to them and their dependencies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// `-exclude` addresses: these and everything that depends on them are left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excludes: Vec<String>,
    /// The nodes `-exclude` left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded: Vec<String>,
    pub waves: u32,
    /// Nodes in topological order.
    #[serde(
        serialize_with = "changes_listed",
        deserialize_with = "changes_kept_once"
    )]
    pub nodes: Vec<PlannedNode>,
    pub critical_path: CriticalPath,
    /// Entries in the order a rollback would run them (reverse topological).
    pub rollback: Vec<RollbackEntry>,
    /// Repeated module calls rolled out as targets in batches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fleets: Vec<PlannedFleet>,
    pub outputs: BTreeMap<String, PlannedValue>,
    pub summary: Summary,
    /// Digest of each observed object and check, by address.
    pub observed: BTreeMap<String, String>,
    /// sha256 over the spec digest, variables, lockfile serial and everything observed.
    pub fingerprint: String,
}

/// A fleet as the plan shows it: its targets, batch by batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedFleet {
    pub address: String,
    /// Target addresses per batch, in the order they start.
    pub batches: Vec<Vec<String>>,
    pub max_concurrency: usize,
    pub max_errors: usize,
    pub pause_ms: u64,
}

impl PlannedFleet {
    pub fn of(fleet: &crate::spec::Fleet) -> PlannedFleet {
        PlannedFleet {
            address: fleet.address.clone(),
            batches: (0..fleet.batches.len())
                .map(|b| {
                    fleet.targets[fleet.batch(b)]
                        .iter()
                        .map(|t| t.address.clone())
                        .collect()
                })
                .collect(),
            max_concurrency: fleet.max_concurrency,
            max_errors: fleet.max_errors,
            pause_ms: fleet.pause.as_millis() as u64,
        }
    }

    pub fn targets(&self) -> usize {
        self.batches.iter().map(Vec::len).sum()
    }
}

impl Plan {
    /// Whether `-target` or `-exclude` limit the plan to part of the spec.
    pub fn is_partial(&self) -> bool {
        !self.targets.is_empty() || !self.excludes.is_empty()
    }

    pub fn node(&self, address: &str) -> Option<&PlannedNode> {
        self.nodes.iter().find(|n| n.address == address)
    }
}
