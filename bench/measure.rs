//! Running commands and recording what they cost.

use std::path::{Path, PathBuf};
use std::time::Instant;

pub struct Run {
    pub wall_s: f64,
    pub peak_rss_mb: f64,
    pub code: i32,
}

/// Runs `program ARGS` in `dir`; wall time and the child's own peak RSS (from `wait4`).
pub fn measure_in(program: &Path, dir: &Path, args: &[&str]) -> Run {
    let start = Instant::now();
    let child = std::process::Command::new(program)
        .current_dir(dir)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    // The child is reaped by wait4 below, which also reports its peak RSS.
    let pid = child.id() as i32;
    std::mem::forget(child);
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child's pid, with valid pointers.
    unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    Run {
        wall_s: start.elapsed().as_secs_f64(),
        peak_rss_mb: usage.ru_maxrss as f64 / 1024.0,
        code: libc::WEXITSTATUS(status),
    }
}

/// The best (shortest) of `n` runs of `f`.
pub fn best_of(n: usize, mut f: impl FnMut() -> Run) -> Run {
    let mut best: Option<Run> = None;
    for _ in 0..n {
        let r = f();
        if best.as_ref().is_none_or(|b| r.wall_s < b.wall_s) {
            best = Some(r);
        }
    }
    best.expect("at least one run")
}

/// The least-squares slope of log(y) over log(x): y ∝ x^k.
pub fn exponent(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x.ln(), b + y.ln()));
    let (mx, my) = (sx / n, sy / n);
    let num: f64 = points
        .iter()
        .map(|(x, y)| (x.ln() - mx) * (y.ln() - my))
        .sum();
    let den: f64 = points.iter().map(|(x, _)| (x.ln() - mx).powi(2)).sum();
    num / den
}

pub fn write_results(out_dir: &Path, name: &str, json: serde_json::Value, md: &str) {
    std::fs::create_dir_all(out_dir).expect("results dir");
    std::fs::write(
        out_dir.join(format!("{name}.json")),
        serde_json::to_string_pretty(&json).unwrap_or_default(),
    )
    .expect("write json");
    std::fs::write(out_dir.join(format!("{name}.md")), md).expect("write md");
}

/// `terraform` on PATH, if it is 1.4 or newer (for `terraform_data`).
pub fn terraform() -> Option<PathBuf> {
    let out = std::process::Command::new("terraform")
        .arg("version")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text.split_whitespace().nth(1)?.trim_start_matches('v');
    let mut parts = v.split('.').filter_map(|p| p.parse::<u32>().ok());
    let (major, minor) = (parts.next()?, parts.next()?);
    ((major, minor) >= (1, 4)).then(|| PathBuf::from("terraform"))
}

/// A fresh scratch directory under the system's temporary directory.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cutover-bench-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}
