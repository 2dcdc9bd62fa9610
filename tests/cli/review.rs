//! Plans for review: `cutover show` renders a saved plan exactly as `plan`
//! printed it, markdown fits a pull-request comment, multi-line values read
//! as blocks, and the state can be shown.

use crate::support::Project;

fn review() -> Project {
    Project::example("tests/fixtures/review")
}

#[test]
fn show_prints_a_saved_plan_exactly_as_plan_printed_it() {
    let p = review();
    for format in ["human", "markdown", "json"] {
        let (code, planned, err) = p.run(&["plan", "--format", format, "-out", "plan.out"]);
        assert_eq!(code, 0, "{err}");
        let (code, shown, err) = p.run(&["show", "--format", format, "plan.out"]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(shown, planned, "show --format {format}");
    }
    let (code, _, err) = p.run(&["show", "missing.out"]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("Error: cannot read plan file missing.out: "),
        "{err}"
    );
}

#[test]
fn multi_line_values_render_as_blocks() {
    let p = review();
    let (code, human, err) = p.run(&["plan"]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!("review_human", human);
    let (code, md, err) = p.run(&["plan", "--format", "markdown"]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!("review_markdown", md);
}

#[test]
fn show_without_a_plan_file_shows_the_state() {
    let p = review();
    let (_, before, _) = p.run(&["show"]);
    assert_eq!(
        before,
        "No state for migration \"rename_column\": nothing has been applied.\n"
    );
    let (code, out, err) = p.run(&["apply", "-auto-approve"]);
    assert_eq!(code, 0, "{out}{err}");
    let timestamps = regex_lite(&p.run(&["show", "-no-color"]).1);
    insta::assert_snapshot!("review_state_human", timestamps);
    let md = regex_lite(&p.run(&["show", "--format", "markdown"]).1);
    insta::assert_snapshot!("review_state_markdown", md);
    let (_, json, _) = p.run(&["show", "--format", "json"]);
    let state: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(state["migration"], "rename_column");
    assert_eq!(state["nodes"]["step.contract"]["status"], "done");
}

/// Timestamps (`2026-12-02T20:26:28.965Z`) and the lineage replaced, for snapshots.
fn regex_lite(text: &str) -> String {
    text.split('\n')
        .map(|line| {
            line.split(' ')
                .map(|w| {
                    let w2 = w.trim_matches(|c| c == '`' || c == '.');
                    if w2.len() >= 20 && w2.as_bytes()[4] == b'-' && w2.ends_with('Z') {
                        "[time]".to_string()
                    } else if w2.len() == 32 && w2.chars().all(|c| c.is_ascii_hexdigit()) {
                        "[lineage]".to_string()
                    } else {
                        w.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A migration of `n` tenants, each with three nodes (a step with a
/// rollback, a resource, a gate), as one for_each module.
fn fleet_of(n: usize) -> Project {
    Project::new()
        .file(
            "main.hcl",
            &format!(
                "migration \"tenants\" {{}}\nmodule \"tenant\" {{\n  source   = \"./tenant\"\n  for_each = {{ for i in range({n}) : \"tenant-${{i}}\" => i }}\n  name     = each.key\n}}\n"
            ),
        )
        .file(
            "tenant/main.hcl",
            "variable \"name\" {\n  type = string\n}\nstep \"exec\" \"copy\" {\n  shell = \"echo copy ${var.name}\"\n  rollback {\n    shell = <<EOT\necho \"DELETE FROM copies\"\necho \"  WHERE tenant = '${var.name}'\"\nEOT\n  }\n}\nresource \"local_file\" \"mark\" {\n  path    = \"marks/${var.name}\"\n  content = \"copied\\n\"\n  depends_on = [step.copy]\n}\ngate \"exec\" \"check\" {\n  shell      = \"test -f marks/${var.name}\"\n  depends_on = [local_file.mark]\n}\n",
        )
}

#[test]
fn a_3000_node_plan_fits_a_comment_with_its_summary_and_rollback_plan() {
    let p = fleet_of(1000);
    let (code, md, err) = p.run(&["plan", "--format", "markdown"]);
    assert_eq!(code, 0, "{err}");
    assert!(md.len() <= 65_000, "{} bytes", md.len());
    assert!(md.starts_with("<!-- cutover:plan:tenants:mig -->\n### cutover plan: `tenants`\n\n**Plan:** 1000 to create, 0 to update, 0 to delete, 1000 steps to run, 1000 gates to check; 0 done, 0 unchanged.\n"), "{md}");
    let rollback = &md[md.find("#### Rollback plan").expect("rollback plan")..];
    let rollback = &rollback[..rollback.find("#### Waves").unwrap_or(rollback.len())];
    insta::assert_snapshot!("fleet_rollback_markdown", rollback);
    // With a smaller budget the middle is cut, the summary and the rollback plan stay.
    let (code, small, err) = p.run(&["plan", "--format", "markdown", "--max-bytes", "3000"]);
    assert_eq!(code, 0, "{err}");
    assert!(small.len() <= 3000, "{} bytes", small.len());
    assert!(small.contains(rollback), "{small}");
    insta::assert_snapshot!("fleet_markdown_3000_bytes", small);
    let (_, summary, _) = p.run(&["plan", "--format", "markdown", "--summary"]);
    assert!(
        summary.starts_with("### cutover plan: `tenants`\n"),
        "{summary}"
    );
    assert!(summary.len() < 1 << 20);
}

#[test]
fn a_plan_of_3000_distinct_nodes_is_cut_to_the_budget_saying_what_was_left_out() {
    let mut spec = String::from("migration \"many\" {}\n");
    for i in 0..3000 {
        spec.push_str(&format!(
            "step \"exec\" \"s{i}\" {{\n  shell = \"echo {i}\"\n}}\n"
        ));
    }
    let p = Project::new().file("main.hcl", &spec);
    let (code, md, err) = p.run(&["plan", "--format", "markdown", "-out", "plan.out"]);
    assert_eq!(code, 0, "{err}");
    assert!(md.len() <= 65_000, "{} bytes", md.len());
    let note = md
        .lines()
        .find(|l| l.starts_with("> This plan is "))
        .expect("a note");
    assert!(
        note.ends_with("more than the 65000 a comment may hold, so parts of it are left out: 1425 wave table rows, 3000 node details, 1 graph. Read the whole plan with `cutover show --format markdown PLANFILE`, or the CI log."),
        "{note}"
    );
    assert!(
        md.contains("| 1–3000 | 1 | 3000 nodes: `step.s2999`, `step.s2998`"),
        "{md}"
    );
    let (_, shown, _) = p.run(&["show", "--format", "markdown", "plan.out"]);
    assert_eq!(shown, md);
    let (_, whole, _) = p.run(&[
        "show",
        "--format",
        "markdown",
        "--max-bytes",
        "100000000",
        "plan.out",
    ]);
    assert!(whole.len() > 65_000);
    assert!(!whole.contains("left out"));
}
