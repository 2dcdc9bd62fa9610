//! State: the lockfile that records what a migration has done.
//!
//! `state` owns the lockfile model ([`lockfile`]), reading and writing it,
//! the journal of transitions and the backends that keep it. It knows no
//! provider types: attributes are plain JSON.

pub mod lockfile;

pub use lockfile::{Lockfile, NodeState, NodeStatus, StateError};
