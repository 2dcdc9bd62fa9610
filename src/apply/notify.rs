//! Webhook notifications: the `notify {}` blocks of the `migration` block.
//!
//! [`Notifier`] wraps the operator's [`Reporter`]: every event still goes to
//! it, and the start, wave, approval, failure, rollback and finish events are also
//! posted, as Slack-compatible JSON (`text`, plus the event itself under
//! `cutover`), to each webhook that asked for them. Posting happens on a
//! thread of its own, so a slow webhook never holds apply up; a webhook that
//! fails is a warning on stderr (naming its host, never the URL, which is a
//! secret), never a failed migration. Dropping the notifier waits for what
//! is queued, each post bounded by a timeout.

use super::{Event, Reporter};
use serde_json::json;
use std::sync::mpsc;
use std::time::Duration;

/// One webhook and the kinds of event it receives.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub url: String,
    pub kinds: Vec<String>,
}

/// The kind of an event for notification, if it is one webhooks receive;
/// `approvals` are the addresses of the approval gates (whose start means a
/// person is needed).
pub fn kind(event: &Event, approvals: &[String]) -> Option<&'static str> {
    match event {
        Event::ApplyStarted { .. } => Some("start"),
        Event::NodeStarted { address, .. } if approvals.contains(address) => Some("approval"),
        Event::WaveDone { .. } => Some("wave"),
        Event::NodeFailed {
            retry_in_ms: None, ..
        } => Some("failure"),
        Event::RollbackStarted { .. } | Event::RollbackFailed { .. } => Some("rollback"),
        Event::Finished { .. } => Some("finish"),
        _ => None,
    }
}

/// The one-line text a person reads in the channel.
pub fn text(migration: &str, event: &Event) -> String {
    let what = match event {
        Event::ApplyStarted { nodes, waves, .. } => format!(
            "started: {} in {}",
            crate::text::count(*nodes, "node"),
            crate::text::count(*waves as usize, "wave")
        ),
        Event::WaveDone { wave } => format!("wave {wave} done"),
        Event::NodeStarted { address, .. } => {
            format!(
                "{address} waits for approval: run `cutover approve {}`",
                crate::addr::shell(address)
            )
        }
        Event::NodeFailed { address, error, .. } => format!("{address} failed: {error}"),
        Event::RollbackStarted { nodes } => {
            format!("rolling back {}", crate::text::count(*nodes, "node"))
        }
        Event::RollbackFailed {
            address,
            error,
            left,
        } => format!(
            "rollback stopped at {address}: {error}; left to undo by hand: {}",
            left.join(", ")
        ),
        Event::Finished { ok: true, summary } => format!("finished: {summary}"),
        Event::Finished { ok: false, summary } => format!("FAILED: {summary}"),
        other => format!("{other:?}"),
    };
    format!("[cutover] {migration}: {what}")
}

/// The JSON body posted for an event.
pub fn payload(migration: &str, event: &Event) -> serde_json::Value {
    let mut detail = serde_json::to_value(event).unwrap_or_default();
    detail["migration"] = json!(migration);
    json!({ "text": text(migration, event), "cutover": detail })
}

fn host_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "an unparsable URL".into())
}

/// A [`Reporter`] that also posts to webhooks.
pub struct Notifier {
    inner: Box<dyn Reporter>,
    migration: String,
    hooks: Vec<Webhook>,
    approvals: Vec<String>,
    queue: Option<mpsc::Sender<(String, serde_json::Value)>>,
    poster: Option<std::thread::JoinHandle<()>>,
}

impl Notifier {
    pub fn new(
        inner: Box<dyn Reporter>,
        migration: &str,
        hooks: Vec<Webhook>,
        approvals: Vec<String>,
    ) -> Notifier {
        let (tx, rx) = mpsc::channel::<(String, serde_json::Value)>();
        let poster = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                eprintln!("warning: notify: could not start the webhook poster");
                return;
            };
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .user_agent(concat!("cutover/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default();
            for (url, body) in rx {
                let sent = rt.block_on(async { client.post(&url).json(&body).send().await });
                let problem = match sent {
                    Ok(r) if r.status().is_success() => None,
                    Ok(r) => Some(format!("HTTP {}", r.status().as_u16())),
                    Err(e) => Some(crate::providers::error_chain(&e)),
                };
                if let Some(p) = problem {
                    // The URL is a secret (Slack's carries the token): name the host only.
                    eprintln!(
                        "warning: notify: the webhook at {} did not take the event: {}",
                        host_of(&url),
                        p.replace(&url, "<webhook>")
                    );
                }
            }
        });
        Notifier {
            inner,
            migration: migration.to_string(),
            hooks,
            approvals,
            queue: Some(tx),
            poster: Some(poster),
        }
    }
}

impl Reporter for Notifier {
    fn report(&mut self, event: &Event) {
        self.inner.report(event);
        let Some(k) = kind(event, &self.approvals) else {
            return;
        };
        let body = payload(&self.migration, event);
        for h in &self.hooks {
            if h.kinds.iter().any(|x| x == k) {
                if let Some(q) = &self.queue {
                    let _ = q.send((h.url.clone(), body.clone()));
                }
            }
        }
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        // Closing the queue ends the poster once it has sent what is queued.
        self.queue.take();
        if let Some(p) = self.poster.take() {
            let _ = p.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_become_slack_text_with_the_event_beside_it() {
        let e = Event::NodeFailed {
            address: "gate.errors".into(),
            error: "did not hold within 5m".into(),
            retry_in_ms: None,
        };
        assert_eq!(kind(&e, &[]), Some("failure"));
        let p = payload("cutover-demo", &e);
        assert_eq!(
            p["text"],
            "[cutover] cutover-demo: gate.errors failed: did not hold within 5m"
        );
        assert_eq!(p["cutover"]["event"], "node_failed");
        assert_eq!(p["cutover"]["migration"], "cutover-demo");
        // A failed attempt that will be retried is not a failure yet.
        let retry = Event::NodeFailed {
            address: "step.x".into(),
            error: "exit 1".into(),
            retry_in_ms: Some(1000),
        };
        assert_eq!(kind(&retry, &[]), None);
        assert_eq!(kind(&Event::WaveDone { wave: 2 }, &[]), Some("wave"));
        assert_eq!(
            text(
                "m",
                &Event::ApplyStarted {
                    migration: "m".into(),
                    nodes: 1,
                    waves: 1
                }
            ),
            "[cutover] m: started: 1 node in 1 wave"
        );
    }
}
