//! `cutover init`: scaffold a migration directory.

use super::EXIT_OK;
use anyhow::{bail, Context as _, Result};
use std::path::Path;

const MAIN: &str = r#"# A cutover migration. `cutover plan` shows what `cutover apply` would do.
migration "my-migration" {
  description = "Describe what this migration moves, and why"
  on_failure  = "rollback"
}

variable "version" {
  type    = string
  default = "v2"
}

# Keep a copy of what is about to change; the rollback puts it back.
step "exec" "backup" {
  shell = "cp app.conf app.conf.bak 2>/dev/null || true"
  rollback {
    shell = "test -f app.conf.bak && cp app.conf.bak app.conf || true"
  }
}

resource "local_file" "config" {
  path       = "app.conf"
  content    = "version = ${var.version}\n"
  depends_on = [step.backup]
}

# A gate must hold before anything that depends on it starts.
gate "exec" "config_ok" {
  shell   = "grep -q ${var.version} app.conf"
  timeout = "30s"
  depends_on = [local_file.config]
}
"#;

pub fn run(dir: &Path) -> Result<i32> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let existing = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok())
        .any(|e| e.path().extension().is_some_and(|x| x == "hcl"));
    if existing {
        bail!(
            "{} already holds *.hcl files; init leaves an existing migration alone",
            dir.display()
        );
    }
    let path = dir.join("main.hcl");
    std::fs::write(&path, crate::spec::format::format(MAIN))
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "Created {}. Next: `cutover validate`, then `cutover plan`.",
        path.display()
    );
    Ok(EXIT_OK)
}
