//! End-to-end tests of the `cutover` binary, one file per topic.

mod apply;
mod aws;
mod ci;
mod commands;
mod diagnostics;
mod examples;
mod fleet;
mod formatting;
mod history;
mod instances;
mod interrupt;
mod journal;
mod kubernetes;
mod language;
mod plan;
mod postgres;
mod prometheus;
mod repeat;
mod resume;
mod review;
mod rollback;
mod secrets;
mod support;
mod terraform;
mod variables;
