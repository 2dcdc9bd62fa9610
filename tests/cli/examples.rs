//! Every seed runbook's example, planned and applied against local stand-ins.

use crate::support::{free_port, Project};

#[test]
fn phase1_rollout_applies_and_rolls_back() {
    // Seed runbook 004: flag 0 → 10 → 50 → 100 % with monitoring windows.
    let p = Project::example("examples/phase1-rollout");
    let port = format!("port={}", free_port());
    let (code, out, err) = p.run(&["plan", "-var-file", "fast.vars.hcl", "-var", &port]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("+ rollout.phase1_flag[0].local_file.flag"),
        "{out}"
    );
    assert!(
        out.contains("? rollout.phase1_flag[10].gate.monitoring_window"),
        "{out}"
    );
    let (code, out, err) = p.run(&[
        "apply",
        "-auto-approve",
        "-var-file",
        "fast.vars.hcl",
        "-var",
        &port,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        p.read("state/flags.env"),
        "PHASE_1_ROLLOUT_PERCENTAGE=100\n"
    );
    assert_eq!(p.read("state/api/VERSION"), "phase1\n");
    assert_eq!(p.read("state/webapp/VERSION"), "phase1\n");
    assert!(
        out.contains("done     rollout.phase1_flag[50].gate.monitoring_window in 1s: held for 1s"),
        "{out}"
    );

    // The same deploy where the app degrades at 50 %: everything goes back.
    let p = Project::example("examples/phase1-rollout");
    let port = format!("port={}", free_port());
    let (code, out, _) = p.run(&[
        "apply",
        "-auto-approve",
        "-var-file",
        "fast.vars.hcl",
        "-var",
        &port,
        "-var",
        "fail_at=50",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAILED   rollout.phase1_flag[50].gate.monitoring_window: did not hold within 4s; last measured: HTTP 200, /rollout_percentage = 50, /error_rate = 0.12, /p95_latency_ms = 850"), "{out}");
    assert!(
        !p.dir.join("state/flags.env").exists(),
        "the flag file did not exist before the deploy"
    );
    assert_eq!(p.read("state/api/VERSION"), "v0\n");
    assert_eq!(p.read("state/webapp/VERSION"), "v0\n");
    assert!(out.contains("Apply failed at rollout.phase1_flag[50].gate.monitoring_window; rolled back: 7 undone, 1 kept, 6 gates to check again."), "{out}");
}

#[test]
fn devmatrix_v2_migrates_and_restores_from_its_backup_when_a_gate_fails() {
    // Seed runbook 003 against a real PostgreSQL.
    use crate::postgres::{fresh_db, psql};
    let snapshot = |db: &str| {
        psql(db, "SELECT (SELECT string_agg(masterplan_id || name, ',' ORDER BY masterplan_id) FROM masterplans) || '|' || (SELECT string_agg(task_id || ':' || masterplan_id || ':' || title || ':' || status, ',' ORDER BY task_id) FROM masterplan_tasks)")
    };
    let tables = "SELECT count(*) FROM pg_tables WHERE tablename IN ('atomic_units', 'atom_dependencies', 'dependency_graphs', 'validation_results', 'execution_waves', 'atom_retry_history', 'human_review_queue')";

    let db = fresh_db("mge");
    let p = Project::example("examples/devmatrix-v2");
    let fixture = p.dir.join("fixtures/mvp.sql");
    psql(&db, &std::fs::read_to_string(&fixture).unwrap());
    let vars = ["-var-file", "fast.vars.hcl", "-var"];
    let dbv = format!("db={db}");
    let port = format!("port={}", free_port());
    let with = |extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = ["apply", "-auto-approve"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(vars.iter().map(|s| s.to_string()));
        a.push(dbv.clone());
        a.push("-var".into());
        a.push(port.clone());
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run = |p: &Project, args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        p.run(&refs)
    };
    // The smoke run: just the first wave.
    let (code, out, err) = run(&p, with(&["--max-waves", "1"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("stopped after wave 1 as asked (--max-waves 1)"),
        "{out}"
    );
    assert_eq!(psql(&db, tables), "0");
    let (code, out, err) = run(&p, with(&[]));
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(psql(&db, tables), "7");
    assert_eq!(psql(&db, "SELECT count(*) FROM atomic_units"), "320");
    assert!(
        out.contains(": 4 iterations, 320 rows\n"),
        "the tasks were converted ten at a time: {out}"
    );
    assert_eq!(p.read("state/maintenance"), "off\n");
    assert_eq!(p.read("state/release"), "v2.0.0\n");
    let (_, out, _) = p.run(&["output", "backup_sha256"]);
    assert_eq!(out.trim().len(), 64, "{out}");

    // The same migration with a stricter integrity gate: it fails after the
    // data migration, and the database comes back exactly as it was.
    let db = fresh_db("mge_fail");
    psql(&db, &std::fs::read_to_string(&fixture).unwrap());
    let before = snapshot(&db);
    let p = Project::example("examples/devmatrix-v2");
    let dbv = format!("db={db}");
    let mut args = with(&["-var", "min_completeness=0.99"]);
    let i = args.iter().position(|a| a.starts_with("db=")).unwrap();
    args[i] = dbv;
    let (code, out, _) = run(&p, args);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "FAILED   gate.context_complete: did not hold within 2s; last measured: value 0.955"
        ),
        "{out}"
    );
    assert!(
        out.contains("undone   module.backup.step.dump: ran its rollback block"),
        "{out}"
    );
    assert_eq!(psql(&db, tables), "0", "the V2 tables are gone");
    assert_eq!(snapshot(&db), before, "the MVP data is exactly as before");
    assert!(
        !p.dir.join("state/maintenance").exists(),
        "maintenance mode was lifted"
    );
}

#[test]
fn every_example_and_module_is_valid_and_formatted() {
    let repo = crate::support::repo();
    let mut checked = 0;
    for parent in ["examples", "modules"] {
        for entry in std::fs::read_dir(repo.join(parent)).unwrap() {
            let dir = entry.unwrap().path();
            if !dir.is_dir() {
                continue;
            }
            let rel = format!("{parent}/{}", dir.file_name().unwrap().to_string_lossy());
            if rel == "examples/ci" {
                continue; // pipeline files, not a migration (tests/cli/ci.rs checks them)
            }
            let p = Project::example(&rel);
            let (code, out, err) = p.run(&["fmt", "-check", "-diff"]);
            assert_eq!(code, 0, "{rel} is not formatted:\n{out}{err}");
            if rel == "examples/from-terraform" {
                // Its for_each reads Terraform's state, which `terraform apply` writes.
                std::fs::copy(
                    repo.join("tests/fixtures/terraform-state/green.tfstate"),
                    p.dir.join("infra/terraform.tfstate"),
                )
                .unwrap();
            }
            if parent == "examples" {
                let (code, out, err) = p.run(&["validate"]);
                assert_eq!(code, 0, "{rel}:\n{out}{err}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 9, "{checked}");
}

#[test]
fn tenant_column_rename_renames_the_column_in_every_tenant_database() {
    use crate::postgres::{fresh_db, psql};
    // Three tenant databases on one server, each with 2,500 accounts.
    let tenants: Vec<String> = (0..3).map(|i| fresh_db(&format!("tenant{i}"))).collect();
    let (server, _) = tenants[0].rsplit_once('/').unwrap();
    let names: Vec<&str> = tenants
        .iter()
        .map(|t| t.rsplit_once('/').unwrap().1)
        .collect();
    for t in &tenants {
        psql(t, "CREATE TABLE accounts (id serial PRIMARY KEY, login text); INSERT INTO accounts (login) SELECT 'user' || g FROM generate_series(1, 2500) g");
    }
    let p = Project::example("examples/tenant-column-rename");
    let server_var = format!("server={server}");
    let tenants_var = format!(
        "tenants=[{}]",
        names
            .iter()
            .map(|n| format!("\"{n}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let args = ["-var", &server_var, "-var", &tenants_var];
    let (code, out, err) = p.run(&[&["plan"][..], &args].concat());
    assert_eq!(code, 0, "{err}");
    for n in &names {
        assert!(
            out.contains(&format!("> module.tenant[\"{n}\"].step.contract")),
            "{out}"
        );
    }
    assert!(!out.contains(server), "the server URL is sensitive: {out}");
    let (code, out, err) = p.run(&[&["apply", "-auto-approve"][..], &args].concat());
    assert_eq!(code, 0, "{out}{err}");
    for t in &tenants {
        assert_eq!(
            psql(t, "SELECT count(*) || '/' || count(username) FROM accounts"),
            "2500/2500"
        );
        assert_eq!(
            psql(t, "SELECT string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.columns WHERE table_name = 'accounts'"),
            "id,username",
            "login is gone"
        );
    }
    // A fleet of batches [1, "100%"]: the first tenant is done before another starts.
    let at = |addr: &str, field: &str| -> String {
        let (_, out, _) = p.run(&["state", "show", addr]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v[field].as_str().unwrap().to_string()
    };
    let canary_done = at(
        &format!("module.tenant[\"{}\"].step.contract", names[0]),
        "finished_at",
    );
    for n in &names[1..] {
        let started = at(&format!("module.tenant[\"{n}\"].step.expand"), "started_at");
        assert!(
            canary_done <= started,
            "{n} started at {started}, before the canary finished at {canary_done}"
        );
    }
    let (_, out, _) = p.run(&["output", "renamed", "-json"]);
    let want: Vec<String> = names
        .iter()
        .map(|n| format!("{n}: accounts.username"))
        .collect();
    assert_eq!(serde_json::from_str::<Vec<String>>(&out).unwrap(), want);
    let (code, out, _) = p.run(&[&["plan"][..], &args].concat());
    assert_eq!(code, 0);
    assert!(
        out.ends_with("Plan: No changes. 13 done, 0 unchanged.\n"),
        "{out}"
    );
}
