//! Views of apply's events: a live view on a TTY (indicatif), one plain line
//! per transition otherwise, or one JSON object per line (`--json`).

use super::human::Style;
use crate::apply::{Event, Reporter};
use crate::eval::duration;
use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

fn dur(ms: u64) -> String {
    duration::format(Duration::from_millis(ms))
}

/// The text of a transition, or `None` for events a view shows otherwise.
pub fn line(e: &Event, st: Style) -> Option<String> {
    Some(match e {
        Event::ApplyStarted { migration, nodes, waves } => st.bold(&format!("Applying \"{migration}\": {} in {}", super::count(*nodes, "node"), super::count(*waves as usize, "wave"))),
        Event::NodeStarted { address, wave, .. } => format!("  {} {address} (wave {wave})", st.paint("36", "started ")),
        Event::GatePolled { address, holds, measured, held_ms, for_ms, remaining_ms, .. } => {
            let state = if *holds && *for_ms > 0 {
                format!("holds for {} of {}", dur(*held_ms), dur(*for_ms))
            } else if *holds {
                "holds".to_string()
            } else {
                "not yet".to_string()
            };
            format!("  {} {address}: {state}: {measured} ({} left)", st.paint("34", "polled  "), dur(*remaining_ms))
        }
        Event::StepProgress { address, iteration, total_rows, remaining, rows_per_s, iterations_per_s, eta_ms, .. } => {
            let left = match (remaining, eta_ms) {
                (Some(r), Some(eta)) => format!(", {r} remaining, about {} left", dur(*eta)),
                (Some(r), None) => format!(", {r} remaining"),
                _ => String::new(),
            };
            format!(
                "  {} {address}: iteration {iteration}, {total_rows} rows ({rows_per_s:.0} rows/s, {iterations_per_s:.1} iterations/s){left}",
                st.paint("34", "progress")
            )
        }
        Event::StepThrottled { address, throttle, measured, waited_ms, max_wait_ms } => format!(
            "  {} {address}: paused by its throttle \"{throttle}\" for {} (at most {}): {measured}",
            st.paint("33", "throttle"),
            dur(*waited_ms),
            dur(*max_wait_ms)
        ),
        Event::NodeDone { address, elapsed_ms, detail } => {
            let detail = if detail.is_empty() { String::new() } else { format!(": {detail}") };
            format!("  {} {address} in {}{detail}", st.paint("32", "done    "), dur(*elapsed_ms))
        }
        Event::NodeUnchanged { address, reason } => format!("  {} {address}: {reason}", st.paint("2", "ok      ")),
        Event::NodeFailed { address, error, retry_in_ms: Some(ms) } => {
            format!("  {} {address}: {error}; retrying in {}", st.paint("33", "retry   "), dur(*ms))
        }
        Event::NodeFailed { address, error, retry_in_ms: None } => format!("  {} {address}: {error}", st.paint("31", "FAILED  ")),
        Event::NodeSkipped { address, because } => format!("  {} {address}: {because}", st.paint("33", "skipped ")),
        Event::WaveDone { wave } => format!("  wave {wave} done"),
        Event::Interrupted { running, second: false, grace_ms } => match running.len() {
            0 => "Interrupted: starting nothing new.".to_string(),
            n => format!(
                "Interrupted: starting nothing new; waiting up to {} for {} to finish. Interrupt again to cancel {}.",
                dur(*grace_ms),
                running.join(", "),
                if n == 1 { "it" } else { "them" }
            ),
        },
        Event::Interrupted { running, second: true, .. } => format!("Cancelling {}.", if running.is_empty() { "nothing".to_string() } else { running.join(", ") }),
        Event::NodeAbandoned { address } => format!("  {} {address}: abandoned by the interrupt; checked again on resume", st.paint("33", "stopped ")),
        Event::NodeInterrupted { address, reason } => format!("  {} {address}: {reason}; apply resumes it as a step found running after a crash", st.paint("33", "stopped ")),
        Event::Stopped { reason } => format!("Stopped: {reason}"),
        Event::Notice { text } => format!("  {} {text}", st.paint("33", "notice  ")),
        Event::RollbackStarted { nodes } => st.bold(&format!("Rolling back: {nodes} nodes to visit, newest first")),
        Event::NodeRolledBack { address, detail } => format!("  {} {address}: {detail}", st.paint("35", "undone  ")),
        Event::RollbackKept { address, reason } => format!("  {} {address}: {reason}", st.paint("2", "kept    ")),
        Event::NodeInvalidated { address, because } => format!("  {} {address}: {because}; it runs again on the next apply", st.paint("33", "invalid ")),
        Event::RollbackFailed { address, error, left } => format!(
            "  {} {address}: {error}\nRollback stopped. Still to undo: {}",
            st.paint("31", "FAILED  "),
            left.join(", ")
        ),
        Event::Finished { summary, .. } => st.bold(summary),
        // The gate's poll already says who approved; the question says the rest.
        Event::Approved { .. } | Event::PointOfNoReturn { .. } | Event::Asking { .. } => return None,
        Event::FleetTargetStarted { target, batch, .. } => format!("  {} {target} (batch {})", st.paint("36", "target  "), batch + 1),
        Event::FleetTargetFinished { target, ok: true, .. } => format!("  {} {target}", st.paint("32", "target ✓")),
        Event::FleetTargetFinished { target, ok: false, .. } => format!("  {} {target}: failed", st.paint("31", "target ✗")),
        Event::FleetProgress { fleet, batch, batches, in_flight, succeeded, failed, budget_left, stopped, pause_ms } => {
            let at = if batch > batches { "all batches done".to_string() } else { format!("batch {batch}/{batches}") };
            let mut line = format!("  {} {fleet}: {at}, {in_flight} in flight, {succeeded} succeeded, {failed} failed, {}", st.paint("36", "fleet   "), if *stopped { "error budget exceeded: stopped".to_string() } else { format!("{budget_left} more failure{} tolerated", if *budget_left == 1 { "" } else { "s" }) });
            if let Some(ms) = pause_ms {
                line.push_str(&format!("; next batch in {}", crate::eval::duration::format(std::time::Duration::from_millis(*ms))));
            }
            line
        }
    })
}

/// One plain line per transition (no TTY); a repeating step's progress
/// every [`PROGRESS_EVERY`] iterations or [`PROGRESS_SECONDS`] seconds.
pub struct Plain<W: Write + Send> {
    out: W,
    style: Style,
    last_progress: HashMap<String, std::time::Instant>,
    /// Approval gates whose wait was announced.
    waiting: std::collections::HashSet<String>,
}

/// A repeating step's progress is printed every this many iterations…
pub const PROGRESS_EVERY: u64 = 10;
/// …or after this many seconds without a line, whichever comes first.
pub const PROGRESS_SECONDS: u64 = 10;

impl<W: Write + Send> Plain<W> {
    pub fn new(out: W, style: Style) -> Plain<W> {
        Plain {
            out,
            style,
            last_progress: HashMap::new(),
            waiting: Default::default(),
        }
    }

    /// Whether this progress event gets a line (`iteration` 0: only by time).
    fn due(&mut self, address: &str, iteration: u64) -> bool {
        let now = std::time::Instant::now();
        let last = self.last_progress.get(address).copied();
        let due = iteration == 1
            || (iteration > 0 && iteration.is_multiple_of(PROGRESS_EVERY))
            || last.is_none_or(|t| now - t >= Duration::from_secs(PROGRESS_SECONDS));
        if due {
            self.last_progress.insert(address.to_string(), now);
        }
        due
    }
}

impl<W: Write + Send> Reporter for Plain<W> {
    fn report(&mut self, e: &Event) {
        let due = match e {
            Event::StepProgress {
                address, iteration, ..
            } => self.due(address, *iteration),
            // A paused loop: the first poll, then one line every PROGRESS_SECONDS.
            Event::StepThrottled { address, .. } => self.due(&format!("throttle {address}"), 0),
            // A waiting approval gate: one line when it starts waiting, not one a poll.
            Event::GatePolled {
                address,
                approval: true,
                holds: false,
                ..
            } => self.waiting.insert(address.clone()),
            _ => true,
        };
        if !due {
            return;
        }
        if let Some(l) = line(e, self.style) {
            let _ = writeln!(self.out, "{l}");
            let _ = self.out.flush();
        }
    }
}

/// One JSON object per line.
pub struct JsonLines<W: Write + Send> {
    pub out: W,
}

impl<W: Write + Send> Reporter for JsonLines<W> {
    fn report(&mut self, e: &Event) {
        let mut v = serde_json::to_value(e).unwrap_or_default();
        if let serde_json::Value::Object(m) = &mut v {
            m.insert(
                "time".into(),
                serde_json::Value::String(
                    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                ),
            );
        }
        let _ = writeln!(self.out, "{v}");
        let _ = self.out.flush();
    }
}

/// A running gate's line: elapsed, the time left until its timeout (counted
/// down at every tick, not only at polls), and the last measurement.
fn countdown(remaining_ms: u64) -> indicatif::ProgressStyle {
    let deadline = std::time::Instant::now() + Duration::from_millis(remaining_ms);
    indicatif::ProgressStyle::with_template(
        "  {spinner} {prefix} {elapsed} ({left} left) {wide_msg}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner())
    .with_key(
        "left",
        move |_: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let _ = write!(
                w,
                "{}",
                duration::format(Duration::from_secs(left.as_secs()))
            );
        },
    )
}

/// The live view: an overall bar, a spinner per running node with its elapsed
/// time and, for gates, the last measured value and the countdown.
pub struct Live {
    multi: indicatif::MultiProgress,
    total: indicatif::ProgressBar,
    running: HashMap<String, indicatif::ProgressBar>,
    style: Style,
}

impl Live {
    pub fn new(color: bool) -> Live {
        let multi = indicatif::MultiProgress::new();
        let total = multi.add(indicatif::ProgressBar::new(0));
        total.set_style(
            indicatif::ProgressStyle::with_template(
                "{prefix} [{bar:30}] {pos}/{len} nodes, {elapsed}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        // The elapsed time counts on while nothing reports (a long gate, an approval).
        total.enable_steady_tick(Duration::from_millis(500));
        Live {
            multi,
            total,
            running: HashMap::new(),
            style: Style { color },
        }
    }

    fn spinner(&mut self, address: &str) -> indicatif::ProgressBar {
        let pb = self.multi.add(indicatif::ProgressBar::new_spinner());
        pb.set_style(
            indicatif::ProgressStyle::with_template("  {spinner} {prefix} {elapsed} {wide_msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        pb.set_prefix(address.to_string());
        pb.enable_steady_tick(Duration::from_millis(120));
        self.running.insert(address.to_string(), pb.clone());
        pb
    }

    fn end(&mut self, address: &str) {
        if let Some(pb) = self.running.remove(address) {
            pb.finish_and_clear();
            self.multi.remove(&pb);
        }
        self.total.inc(1);
    }
}

impl Reporter for Live {
    fn report(&mut self, e: &Event) {
        match e {
            Event::ApplyStarted { nodes, .. } => {
                self.total.set_length(*nodes as u64);
                self.total.set_prefix("apply");
            }
            Event::RollbackStarted { nodes } => {
                self.total.set_position(0);
                self.total.set_length(*nodes as u64);
                self.total.set_prefix("rollback");
            }
            // The question is printed on a terminal free of bars, which come back after the answer.
            Event::Asking { .. } => {
                let _ = self.multi.clear();
                self.multi
                    .set_draw_target(indicatif::ProgressDrawTarget::hidden());
                return;
            }
            Event::PointOfNoReturn { .. } => {
                self.multi
                    .set_draw_target(indicatif::ProgressDrawTarget::stderr());
                return;
            }
            Event::NodeStarted { address, wave, .. } => {
                let pb = self.spinner(address);
                pb.set_message(format!("wave {wave}"));
                return;
            }
            Event::GatePolled {
                address,
                holds,
                measured,
                held_ms,
                for_ms,
                remaining_ms,
                ..
            } => {
                if let Some(pb) = self.running.get(address) {
                    let hold = if *for_ms > 0 {
                        format!(" held {}/{}", dur(*held_ms), dur(*for_ms))
                    } else {
                        String::new()
                    };
                    // The countdown ticks between polls (an approval may poll rarely).
                    pb.set_style(countdown(*remaining_ms));
                    pb.set_message(format!(
                        "{} {measured}{hold}",
                        if *holds { "✓" } else { "…" },
                    ));
                }
                return;
            }
            // With `remaining`, the spinner becomes a bar of rows whose rate
            // and ETA indicatif recomputes at every tick, between iterations too.
            Event::StepProgress {
                address,
                iteration,
                total_rows,
                remaining: Some(left),
                rows_per_s,
                ..
            } => {
                if let Some(pb) = self.running.get(address) {
                    if pb.length().is_none() {
                        pb.set_style(
                            indicatif::ProgressStyle::with_template(
                                "  {spinner} {prefix} {elapsed} [{bar:20}] {human_pos}/{human_len} rows, ETA {eta}, {msg}",
                            )
                            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                            .progress_chars("=> "),
                        );
                    }
                    pb.set_length(total_rows + left.max(0.0) as u64);
                    pb.set_position(*total_rows);
                    pb.set_message(format!("iteration {iteration}, {rows_per_s:.0} rows/s"));
                }
                return;
            }
            Event::StepProgress { address, .. } | Event::StepThrottled { address, .. } => {
                if let (Some(pb), Some(l)) = (self.running.get(address), line(e, self.style)) {
                    pb.set_message(l.trim().to_string());
                }
                return;
            }
            Event::NodeDone { address, .. }
            | Event::NodeFailed {
                address,
                retry_in_ms: None,
                ..
            }
            | Event::NodeUnchanged { address, .. }
            | Event::NodeSkipped { address, .. }
            | Event::NodeRolledBack { address, .. }
            | Event::RollbackKept { address, .. }
            | Event::NodeAbandoned { address }
            | Event::NodeInterrupted { address, .. } => self.end(address),
            _ => {}
        }
        if let Some(l) = line(e, self.style) {
            let _ = self.multi.println(l);
        }
        if matches!(e, Event::Finished { .. }) {
            self.total.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_polls_show_the_countdown_and_the_bake_time() {
        let e = Event::GatePolled {
            address: "gate.g".into(),
            holds: true,
            measured: "HTTP 200".into(),
            held_ms: 1500,
            for_ms: 120_000,
            remaining_ms: 600_000,
            value: None,
            limits: Vec::new(),
            approval: false,
        };
        assert_eq!(
            line(&e, Style { color: false }).unwrap(),
            "  polled   gate.g: holds for 1s of 2m: HTTP 200 (10m left)"
        );
    }

    #[test]
    fn json_lines_are_tagged_and_timestamped() {
        let mut out = Vec::new();
        JsonLines { out: &mut out }.report(&Event::WaveDone { wave: 2 });
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["event"], "wave_done");
        assert_eq!(v["wave"], 2);
        assert!(v["time"].is_string());
    }
}
