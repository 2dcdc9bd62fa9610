//! End-to-end tests of the `cutover` binary, one file per topic.

mod commands;
mod diagnostics;
mod plan;
mod support;
mod variables;
