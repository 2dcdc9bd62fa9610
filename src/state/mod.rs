//! State: the lockfile that records what a migration has done — read by
//! plan, written by apply.
//!
//! `state` owns the lockfile model ([`lockfile`]), the journal of transitions
//! ([`journal`]), the lock that keeps two applies apart ([`lock`]) and the
//! backends that keep all three ([`backend`], [`local`]). Every backend
//! implements the same small traits and passes one conformance suite
//! ([`conformance`]). It knows no provider types: attributes are plain JSON.

pub mod backend;
pub mod conformance;
pub mod history;
pub mod journal;
#[cfg(feature = "kubernetes")]
pub mod kube;
pub mod local;
pub mod lock;
pub mod lockfile;
#[cfg(feature = "postgres")]
pub mod pg;
#[cfg(feature = "aws")]
pub mod s3;
pub mod worker;

pub use backend::{Backend, JournalStore, StateLocker, StateReader, StateWriter};
pub use journal::{Change, Record};
pub use lock::{LockGuard, LockInfo};
pub use lockfile::{JsonText, Lockfile, NodeState, NodeStatus, StateError};
