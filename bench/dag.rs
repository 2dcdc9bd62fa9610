//! Synthetic migrations: a DAG model, its shapes (layered, seeded random),
//! and its rendering as a cutover spec and as an equivalent Terraform
//! configuration (`terraform_data` with `depends_on` and `local-exec`).

use std::fmt::Write as _;
use std::path::Path;

/// What a node does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// `step "wait"` of `ms` (Terraform: `sleep`).
    Wait,
    /// `step "exec"` running `true` (Terraform: `true`).
    Exec,
    /// `resource "local_file"` (Terraform: `printf > file`).
    File,
}

impl Kind {
    pub fn parse_list(s: &str) -> Vec<Kind> {
        s.split(',')
            .filter_map(|k| match k.trim() {
                "wait" => Some(Kind::Wait),
                "exec" => Some(Kind::Exec),
                "local_file" | "file" => Some(Kind::File),
                _ => None,
            })
            .collect()
    }
}

pub struct Node {
    pub kind: Kind,
    pub deps: Vec<usize>,
    pub ms: u64,
}

/// A DAG whose edges always point from a lower index to a higher one.
pub struct Dag {
    pub nodes: Vec<Node>,
}

/// xorshift64: small, seeded, reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

impl Dag {
    /// `depth` layers of `width` nodes; each depends on two nodes of the layer before.
    pub fn layered(width: usize, depth: usize, kinds: &[Kind], ms: u64) -> Dag {
        let mut nodes = Vec::with_capacity(width * depth);
        for i in 0..width * depth {
            let layer = i / width;
            let deps = if layer == 0 {
                Vec::new()
            } else {
                let (base, pos) = ((layer - 1) * width, i % width);
                let mut d = vec![base + pos, base + (pos + 1) % width];
                d.dedup();
                d
            };
            nodes.push(Node {
                kind: kinds[i % kinds.len()],
                deps,
                ms,
            });
        }
        Dag { nodes }
    }

    /// `n` nodes; each earlier node is a dependency with probability `percent` %;
    /// durations drawn from 100 to 400 ms in steps of 10.
    pub fn random(n: usize, percent: u64, seed: u64, kinds: &[Kind]) -> Dag {
        let mut rng = Rng::new(seed);
        let mut nodes = Vec::with_capacity(n);
        for i in 0..n {
            let ms = 100 + (rng.next() % 31) * 10;
            let deps = (0..i).filter(|_| rng.next() % 100 < percent).collect();
            nodes.push(Node {
                kind: kinds[i % kinds.len()],
                deps,
                ms,
            });
        }
        Dag { nodes }
    }

    pub fn critical_path_ms(&self) -> u64 {
        let mut finish = vec![0u64; self.nodes.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            finish[i] = n.deps.iter().map(|d| finish[*d]).max().unwrap_or(0) + n.ms;
        }
        finish.into_iter().max().unwrap_or(0)
    }

    pub fn work_ms(&self) -> u64 {
        self.nodes.iter().map(|n| n.ms).sum()
    }

    /// The number of nodes in the widest wave.
    pub fn width(&self) -> usize {
        let mut wave = vec![1usize; self.nodes.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            wave[i] = n.deps.iter().map(|d| wave[*d] + 1).max().unwrap_or(1);
        }
        let mut count = std::collections::HashMap::new();
        for w in wave {
            *count.entry(w).or_insert(0usize) += 1;
        }
        count.into_values().max().unwrap_or(0)
    }

    fn address(&self, i: usize) -> String {
        match self.nodes[i].kind {
            Kind::File => format!("local_file.n{i}"),
            _ => format!("step.n{i}"),
        }
    }

    /// The cutover spec, 1,000 nodes per file; `expected` adds `expected_duration`.
    pub fn write_cutover(&self, dir: &Path, expected: bool) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let mut file =
            String::from("migration \"synthetic\" {\n  description = \"synthetic DAG\"\n}\n\n");
        for (i, n) in self.nodes.iter().enumerate() {
            let deps: Vec<String> = n.deps.iter().map(|d| self.address(*d)).collect();
            let deps = deps.join(", ");
            let exp = if expected && n.kind != Kind::Wait {
                format!("  expected_duration = \"{}ms\"\n", n.ms)
            } else {
                String::new()
            };
            let _ = match n.kind {
                Kind::Wait => writeln!(file, "step \"wait\" \"n{i}\" {{\n  duration   = \"{}ms\"\n  depends_on = [{deps}]\n}}\n", n.ms),
                Kind::Exec => writeln!(file, "step \"exec\" \"n{i}\" {{\n  command    = [\"true\", \"{i}\"]\n{exp}  depends_on = [{deps}]\n}}\n"),
                Kind::File => writeln!(file, "resource \"local_file\" \"n{i}\" {{\n  path       = \"out/n{i}.txt\"\n  content    = \"node {i}\"\n{exp}  depends_on = [{deps}]\n}}\n"),
            };
            if (i + 1) % 1000 == 0 || i + 1 == self.nodes.len() {
                std::fs::write(dir.join(format!("part{:04}.hcl", i / 1000)), &file)?;
                file.clear();
            }
        }
        Ok(())
    }

    /// The same graph for Terraform: `terraform_data` resources with
    /// `depends_on` and a `local-exec` provisioner doing the node's work.
    pub fn write_terraform(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir.join("out"))?;
        let mut tf = String::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let deps: Vec<String> = n
                .deps
                .iter()
                .map(|d| format!("terraform_data.n{d}"))
                .collect();
            let command = match n.kind {
                Kind::Wait => format!("sleep {}", n.ms as f64 / 1000.0),
                Kind::Exec => "true".to_string(),
                Kind::File => format!("printf 'node {i}' > out/n{i}.txt"),
            };
            let _ = writeln!(
                tf,
                "resource \"terraform_data\" \"n{i}\" {{\n  depends_on = [{}]\n  provisioner \"local-exec\" {{\n    command = \"{command}\"\n  }}\n}}\n",
                deps.join(", ")
            );
        }
        std::fs::write(dir.join("main.tf"), tf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_bounds() {
        let d = Dag::layered(3, 4, &[Kind::Wait], 100);
        assert_eq!(d.nodes.len(), 12);
        assert_eq!(d.width(), 3);
        assert_eq!(d.critical_path_ms(), 400);
        let r1 = Dag::random(30, 10, 7, &[Kind::Wait]);
        let r2 = Dag::random(30, 10, 7, &[Kind::Wait]);
        assert_eq!(r1.critical_path_ms(), r2.critical_path_ms(), "seeded");
        assert!(r1
            .nodes
            .iter()
            .enumerate()
            .all(|(i, n)| n.deps.iter().all(|d| *d < i)));
    }
}
