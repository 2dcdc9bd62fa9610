//! The report as one self-contained HTML page: inline CSS, SVG drawn here,
//! no scripts and nothing loaded from elsewhere, so that it can be attached
//! to a postmortem and opened anywhere.

use super::report::{clock, took, Report, Series};
use std::fmt::Write;

const LABEL_W: f64 = 340.0;
const PLOT_W: f64 = 640.0;
const ROW_H: f64 = 22.0;
const AXIS_H: f64 = 24.0;

/// Text safe in HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#1b1f24;background:#fff}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}code{font-family:ui-monospace,monospace;font-size:.92em}
.outcome-succeeded{color:#1a7f37}.outcome-failed,.outcome-error,.outcome-rolled_back{color:#cf222e}
svg text{font:12px ui-monospace,monospace;fill:#1b1f24}
.bar{stroke:none}.done,.unchanged{fill:#54aeff}.failed{fill:#cf222e}.rolled_back{fill:#fb8f44}
.skipped,.abandoned{fill:#d0d7de}.interrupted{fill:#bf8700}.running{fill:#8250df}
.critical{stroke:#1b1f24;stroke-width:2}.wave{fill:#f6f8fa}.grid{stroke:#d0d7de}
.series{fill:none;stroke:#0969da;stroke-width:2}.limit{stroke:#cf222e;stroke-dasharray:6 4}
.holds{fill:#1a7f37}.not{fill:#cf222e}.legend rect{stroke:none}";

/// The whole page.
pub fn page(r: &Report) -> String {
    let mut out = String::new();
    let run = &r.run;
    let outcome = run.outcome.map_or("still running", |o| o.as_str());
    let class = run.outcome.map_or("running".to_string(), |o| {
        serde_json::to_value(o)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    });
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} run {} of {}</title><style>{STYLE}</style></head><body>\n<h1>{} run <code>{}</code> of <code>{}</code>: <span class=\"outcome-{class}\">{}</span></h1>\n",
        escape(&run.command),
        escape(&run.id),
        escape(&r.migration),
        escape(&run.command),
        escape(&run.id),
        escape(&r.migration),
        escape(outcome)
    );
    summary(&mut out, r);
    out.push_str("<h2>Timeline</h2>\n");
    out.push_str(&gantt(r));
    for g in r.charted() {
        let _ = writeln!(out, "<h2>Gate <code>{}</code></h2>", escape(&g.address));
        out.push_str(&chart(g));
    }
    tables(&mut out, r);
    out.push_str("</body></html>\n");
    crate::eval::redact::mask(&out)
}

fn summary(out: &mut String, r: &Report) {
    let run = &r.run;
    let s = &run.summary;
    let mut rows = vec![
        ("started", run.started_at.clone()),
        (
            "finished",
            run.finished_at.clone().unwrap_or_else(|| "—".into()),
        ),
        ("took", took(r.duration_ms)),
        ("by", format!("{}@{}", run.by.user, run.by.host)),
    ];
    if let Some(ci) = &run.by.ci {
        rows.push(("CI job", ci.clone()));
    }
    if let Some(p) = &run.plan {
        rows.push(("plan", p.clone()));
    }
    rows.push((
        "nodes",
        format!(
            "{} done, {} unchanged, {} failed, {} skipped, {} rolled back",
            s.done, s.unchanged, s.failed, s.skipped, s.rolled_back
        ),
    ));
    if let Some(m) = &run.message {
        rows.push(("result", m.clone()));
    }
    if s.dropped_events > 0 {
        rows.push((
            "events",
            format!(
                "{} beyond the run's limit (history {{ events }}) were counted, not kept",
                s.dropped_events
            ),
        ));
    }
    out.push_str("<table class=\"summary\">\n");
    for (k, v) in rows {
        let _ = writeln!(out, "<tr><th>{k}</th><td>{}</td></tr>", escape(&v));
    }
    out.push_str("</table>\n");
}

fn x(r_ms: u64, total: u64) -> f64 {
    LABEL_W + PLOT_W * r_ms as f64 / total.max(1) as f64
}

/// The timeline: one bar per node, waves banded, the critical path outlined.
pub fn gantt(r: &Report) -> String {
    let total = r.duration_ms.max(1);
    let height = AXIS_H + ROW_H * r.nodes.len() as f64 + 30.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"gantt\" width=\"{}\" height=\"{height}\" viewBox=\"0 0 {} {height}\" role=\"img\">\n",
        LABEL_W + PLOT_W + 20.0,
        LABEL_W + PLOT_W + 20.0
    );
    // Wave bands, alternating.
    let mut row = 0usize;
    while row < r.nodes.len() {
        let wave = r.nodes[row].wave;
        let end = row + r.nodes[row..].iter().take_while(|n| n.wave == wave).count();
        if wave.is_some_and(|w| w % 2 == 0) {
            let _ = writeln!(
                s,
                "<rect class=\"wave\" x=\"0\" y=\"{}\" width=\"{}\" height=\"{}\"/>",
                AXIS_H + ROW_H * row as f64,
                LABEL_W + PLOT_W,
                ROW_H * (end - row) as f64
            );
        }
        row = end;
    }
    for i in 0..=4u64 {
        let t = total * i / 4;
        let _ = writeln!(
            s,
            "<line class=\"grid\" x1=\"{0}\" x2=\"{0}\" y1=\"{AXIS_H}\" y2=\"{1}\"/><text x=\"{0}\" y=\"16\" text-anchor=\"middle\">{2}</text>",
            x(t, total),
            height - 30.0,
            escape(&took(t))
        );
    }
    for (i, n) in r.nodes.iter().enumerate() {
        s.push_str(&bar(r, i, n));
    }
    legend(&mut s, height - 16.0);
    s.push_str("</svg>\n");
    s
}

/// One node's row: its label and its bar, with the exact times on hover.
fn bar(r: &Report, i: usize, n: &super::report::Span) -> String {
    let total = r.duration_ms.max(1);
    let y = AXIS_H + ROW_H * i as f64;
    let (x0, x1) = (x(n.start_ms, total), x(n.end_ms, total));
    let status = serde_json::to_value(n.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let wave = n
        .wave
        .map_or("not run".to_string(), |w| format!("wave {w}"));
    format!(
        "<text x=\"4\" y=\"{}\">{}</text><rect class=\"bar {status}{}\" x=\"{x0:.1}\" y=\"{}\" width=\"{:.1}\" height=\"{}\"><title>{} — {}, {wave}: {} → {} ({}){}{}</title></rect>",
        y + 15.0,
        escape(&ellipsized(&n.address, 44)),
        if n.critical { " critical" } else { "" },
        y + 4.0,
        (x1 - x0).max(2.0),
        ROW_H - 8.0,
        escape(&n.address),
        n.status.as_str(),
        escape(&clock_at(r, n.start_ms)),
        escape(&clock_at(r, n.end_ms)),
        escape(&took(n.end_ms - n.start_ms)),
        if n.attempts > 1 { format!(", {} attempts", n.attempts) } else { String::new() },
        n.detail.as_deref().map(|d| format!(": {}", escape(d))).unwrap_or_default()
    ) + "\n"
}

fn legend(s: &mut String, y: f64) {
    s.push_str("<g class=\"legend\">");
    let items = [
        ("done", "done"),
        ("failed", "failed"),
        ("rolled_back", "rolled back"),
        ("skipped", "skipped"),
        ("running", "running"),
    ];
    for (i, (class, text)) in items.iter().enumerate() {
        let lx = LABEL_W + 110.0 * i as f64;
        let _ = write!(
            s,
            "<rect class=\"{class}\" x=\"{lx}\" y=\"{}\" width=\"12\" height=\"12\"/><text x=\"{}\" y=\"{}\">{text}</text>",
            y - 10.0,
            lx + 16.0,
            y
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"4\" y=\"{y}\">outlined: critical path</text></g>"
    );
}

fn clock_at(r: &Report, t_ms: u64) -> String {
    chrono::DateTime::parse_from_rfc3339(&r.run.started_at)
        .map(|t| {
            (t + chrono::Duration::milliseconds(t_ms as i64))
                .format("%H:%M:%S%.3f")
                .to_string()
        })
        .unwrap_or_default()
}

fn ellipsized(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let tail: String = s
        .chars()
        .rev()
        .take(max - 1)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("…{tail}")
}

/// A gate's measurements as a line chart, its thresholds dashed.
pub fn chart(g: &Series) -> String {
    const W: f64 = 640.0;
    const H: f64 = 200.0;
    const L: f64 = 70.0;
    let pts: Vec<(u64, f64, bool, &str, &str)> = g
        .points
        .iter()
        .filter_map(|p| {
            Some((
                p.t_ms,
                p.value?,
                p.holds,
                p.at.as_str(),
                p.measured.as_str(),
            ))
        })
        .collect();
    let (t0, t1) = (
        pts.first().map_or(0, |p| p.0),
        pts.last().map_or(1, |p| p.0),
    );
    let mut lo = pts.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let mut hi = pts.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    for l in &g.limits {
        lo = lo.min(l.value);
        hi = hi.max(l.value);
    }
    if (hi - lo).abs() < f64::EPSILON {
        hi = lo + 1.0;
    }
    let px = |t: u64| L + (W - L - 10.0) * (t - t0) as f64 / (t1 - t0).max(1) as f64;
    let py = |v: f64| 10.0 + (H - 40.0) * (1.0 - (v - lo) / (hi - lo));
    let show = |v: f64| crate::text::significant(v, crate::text::MEASURED_DIGITS);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\">\n<text x=\"4\" y=\"{}\">{}</text><text x=\"4\" y=\"{}\">{}</text>\n",
        py(hi) + 4.0,
        escape(&show(hi)),
        py(lo) + 4.0,
        escape(&show(lo))
    );
    for l in &g.limits {
        let _ = writeln!(
            s,
            "<line class=\"limit\" x1=\"{L}\" x2=\"{}\" y1=\"{1:.1}\" y2=\"{1:.1}\"><title>{2} {3}</title></line>",
            W - 10.0,
            py(l.value),
            escape(&l.op.replace('_', " ")),
            escape(&show(l.value))
        );
    }
    let line: Vec<String> = pts
        .iter()
        .map(|p| format!("{:.1},{:.1}", px(p.0), py(p.1)))
        .collect();
    let _ = writeln!(
        s,
        "<polyline class=\"series\" points=\"{}\"/>",
        line.join(" ")
    );
    for p in &pts {
        let _ = writeln!(
            s,
            "<circle class=\"{}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\"><title>{}: {}</title></circle>",
            if p.2 { "holds" } else { "not" },
            px(p.0),
            py(p.1),
            escape(&clock(p.3)),
            escape(p.4)
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{L}\" y=\"{}\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n</svg>",
        H - 8.0,
        escape(&clock(pts.first().map_or("", |p| p.3))),
        W - 10.0,
        H - 8.0,
        escape(&clock(pts.last().map_or("", |p| p.3)))
    );
    s
}

fn tables(out: &mut String, r: &Report) {
    if !r.approvals.is_empty() || !r.points_of_no_return.is_empty() {
        out.push_str("<h2>Approvals</h2>\n<table><tr><th>time</th><th>what</th><th>who</th><th>comment</th></tr>\n");
        for a in &r.approvals {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>approved <code>{}</code></td><td>{}</td><td>{}</td></tr>",
                escape(&a.at),
                escape(&a.address),
                escape(&a.by),
                escape(a.comment.as_deref().unwrap_or(""))
            );
        }
        for c in &r.points_of_no_return {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{} the point of no return <code>{}</code></td><td>{}@{}</td><td></td></tr>",
                escape(&c.at),
                if c.confirmed { "crossed" } else { "declined" },
                escape(&c.address),
                escape(&r.run.by.user),
                escape(&r.run.by.host)
            );
        }
        out.push_str("</table>\n");
    }
    if !r.rollback.is_empty() {
        out.push_str("<h2>Rollback</h2>\n<table><tr><th>time</th><th>node</th><th>what</th><th>detail</th></tr>\n");
        for u in &r.rollback {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                escape(&clock(&u.at)),
                escape(&u.address),
                escape(&u.what),
                escape(&u.detail)
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("<h2>Events</h2>\n<table><tr><th>time</th><th>event</th></tr>\n");
    for e in &r.events {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td></tr>",
            escape(&clock(&e.at)),
            escape(&e.text)
        );
    }
    out.push_str("</table>\n");
}
