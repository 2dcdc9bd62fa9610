//! The operator's terminal during apply. One thread reads stdin lines and
//! hands each to whoever waits for one: a question apply asks (crossing a
//! point of no return) gets the next line; otherwise `yes` approves the
//! approval gate that waits now (`approve ADDR` picks one when several
//! wait), recorded exactly as `cutover approve` records it.

use super::apply::backend_of;
use super::state::record_approval;
use crate::apply::{Confirm, Event, Reporter};
use crate::spec::MigrationSettings;
use std::io::{BufRead, IsTerminal, Write};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

type Pending = Arc<Mutex<Option<mpsc::Sender<String>>>>;

/// The shared state of the reader thread.
#[derive(Clone)]
pub struct Terminal {
    /// A question waiting for its answer.
    pending: Pending,
    /// Approval gates waiting now.
    waiting: Arc<Mutex<Vec<String>>>,
    approvals: Vec<String>,
}

impl Terminal {
    /// Starts reading stdin when it is a terminal and the migration has
    /// approval gates; `None` otherwise.
    pub fn start(settings: &MigrationSettings, approvals: Vec<String>) -> Option<Terminal> {
        if approvals.is_empty() || !std::io::stdin().is_terminal() {
            return None;
        }
        let t = Terminal {
            pending: Arc::new(Mutex::new(None)),
            waiting: Arc::new(Mutex::new(Vec::new())),
            approvals,
        };
        let (reader, settings) = (t.clone(), settings.clone());
        // Detached: it ends with the process, blocked on stdin or not.
        std::thread::spawn(move || reader.read(&settings));
        Some(t)
    }

    fn read(&self, settings: &MigrationSettings) {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { return };
            let line = line.trim().to_string();
            if let Some(answer) = self.pending.lock().ok().and_then(|mut p| p.take()) {
                let _ = answer.send(line);
                continue;
            }
            let waiting = self.waiting.lock().map(|w| w.clone()).unwrap_or_default();
            let address = match line.strip_prefix("approve ") {
                Some(a) => a.trim().to_string(),
                None if matches!(line.as_str(), "yes" | "y" | "approve") => {
                    match waiting.as_slice() {
                        [one] => one.clone(),
                        [] => {
                            eprintln!("Nothing waits for approval now.");
                            continue;
                        }
                        many => {
                            eprintln!(
                                "Several gates wait: type `approve ADDR` with one of {}.",
                                many.join(", ")
                            );
                            continue;
                        }
                    }
                }
                None if line.is_empty() => continue,
                None => {
                    if let [one] = waiting.as_slice() {
                        eprintln!("Type `yes` to approve {one}.");
                    }
                    continue;
                }
            };
            if !self.approvals.contains(&address) {
                eprintln!("{address} is not an approval gate of this migration.");
                continue;
            }
            let recorded = backend_of(settings).and_then(|b| {
                record_approval(
                    b.as_ref(),
                    &settings.name,
                    &address,
                    None,
                    " at the apply's terminal",
                )
            });
            match recorded {
                Ok((by, _)) => eprintln!("Approved {address} as {by}."),
                Err(e) => eprintln!("Could not approve {address}: {e:#}"),
            }
        }
    }

    /// Asks apply's questions through the reader.
    pub fn confirm(&self) -> Box<dyn Confirm> {
        Box::new(TerminalConfirm(self.pending.clone()))
    }

    /// Wraps the operator's view: an approval gate that starts waiting says
    /// how to approve it.
    pub fn reporter(&self, inner: Box<dyn Reporter>) -> Box<dyn Reporter> {
        Box::new(Prompting {
            inner,
            terminal: self.clone(),
        })
    }
}

struct TerminalConfirm(Pending);

impl Confirm for TerminalConfirm {
    fn confirm(&mut self, crossing: &crate::apply::Crossing) -> bool {
        let question = crate::eval::redact::mask(&crate::render::human::crossing(crossing));
        let (tx, rx) = mpsc::channel();
        if let Ok(mut p) = self.0.lock() {
            *p = Some(tx);
        }
        eprint!("{question}\n  Only 'yes' will be accepted: ");
        let _ = std::io::stderr().flush();
        rx.recv().map(|a| a == "yes").unwrap_or(false)
    }
}

struct Prompting {
    inner: Box<dyn Reporter>,
    terminal: Terminal,
}

impl Reporter for Prompting {
    fn report(&mut self, event: &Event) {
        self.inner.report(event);
        let approvals = &self.terminal.approvals;
        match event {
            Event::NodeStarted { address, .. } if approvals.contains(address) => {
                if let Ok(mut w) = self.terminal.waiting.lock() {
                    w.push(address.clone());
                }
                self.inner.report(&Event::Notice {
                    text: format!("{address} waits for approval: type yes and Enter here, or run `cutover approve {}` from any terminal", crate::addr::shell(address)),
                });
            }
            Event::NodeDone { address, .. }
            | Event::NodeFailed {
                address,
                retry_in_ms: None,
                ..
            }
            | Event::NodeSkipped { address, .. } => {
                if let Ok(mut w) = self.terminal.waiting.lock() {
                    w.retain(|a| a != address);
                }
            }
            _ => {}
        }
    }
}
