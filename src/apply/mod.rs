//! Apply: the one coordinator that executes a plan — the last pipeline step.
//!
//! # Design
//!
//! The plan decided what changes; apply only carries it out. One task, the
//! coordinator ([`coordinator`]), owns everything mutable: the pure
//! [`ReadySet`](crate::graph::ReadySet) that says which nodes may start, the
//! lockfile document and the journal. Workers are tokio tasks, one per
//! running node ([`execute`]); they talk to providers and send messages back.
//! They never print and never touch the state.
//!
//! Every transition is journaled durably before anything that depends on it
//! starts: a node's `started` record (with a resource's prior state) is
//! fsynced before the node runs, its `done` record before its dependents are
//! released. Completions that arrive together share one fsync. A node found
//! `started` after a crash is re-run only if it is idempotent or its
//! `done_when` says it is done; otherwise apply refuses before doing anything.
//!
//! When a node fails, its dependents are skipped, nothing new starts, and the
//! coordinator keeps draining the running nodes; then, with
//! `on_failure = "rollback"`, completed nodes are undone in reverse
//! topological order ([`undo`]). A first Ctrl-C stops starting nodes; a
//! second cancels the running ones (their process groups are killed).

pub mod approval;
mod context;
pub mod coordinator;
pub mod events;
mod execute;
mod fleets;
pub mod history;
pub mod notify;
mod recorder;
mod repeat;
mod resume;
pub mod undo;

pub use context::{ApplyError, Context};
pub use coordinator::{apply, ApplyOptions, Outcome};
pub use events::Event;
pub use undo::rollback;

/// Receives every event; the only way apply talks to the operator.
pub trait Reporter: Send {
    fn report(&mut self, event: &Event);
}

/// Passes every event through [`crate::eval::redact`] before the views and
/// webhooks behind it see it: no secret a step printed or a URL quoted
/// reaches a terminal, a `--json` stream or a webhook.
pub struct Redacting(pub Box<dyn Reporter>);

impl Reporter for Redacting {
    fn report(&mut self, event: &Event) {
        let original = serde_json::to_value(event).unwrap_or_default();
        let mut masked = original.clone();
        crate::eval::redact::mask_json(&mut masked);
        if masked == original {
            return self.0.report(event);
        }
        match serde_json::from_value::<Event>(masked.clone()) {
            Ok(e) => self.0.report(&e),
            // Never the unmasked event: say what happened, masked.
            Err(_) => self.0.report(&Event::Notice {
                text: masked.to_string(),
            }),
        }
    }
}

/// A point of no return apply is about to cross: a step that cannot be
/// undone once it has run, and what it will run.
pub struct Crossing<'a> {
    pub address: &'a str,
    /// The step's evaluated attributes (its SQL, command or script).
    pub runs: &'a crate::plan::Attributes,
}

/// Asks the operator whether to cross a point of no return.
pub trait Confirm: Send {
    fn confirm(&mut self, crossing: &Crossing) -> bool;
}

/// Says yes to everything (`-auto-approve`).
pub struct AutoApprove;

impl Confirm for AutoApprove {
    fn confirm(&mut self, _: &Crossing) -> bool {
        true
    }
}
