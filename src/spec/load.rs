//! Reading a directory of `*.hcl` files into a [`ModuleSource`].
//!
//! Files are parsed with `hcl-edit` (which keeps byte spans), then each block
//! is checked for its kind, labels and top-level shape. Schema checks of node
//! attributes happen later, once providers are known.

use super::ast::*;
use super::diagnostic::{did_you_mean, Diagnostic, Diagnostics, SourceFile, SourceSpan};
use hcl::edit::expr::{Expression as EExpr, TraversalOperator};
use hcl::edit::structure::{Block, Body as EBody, Structure};
use hcl::edit::visit::{self, Visit};
use hcl::edit::Span;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;

/// Arguments of a `module` call that are not inputs of the module.
const MODULE_META: &[&str] = &["source", "depends_on", "for_each", "count"];

const TOP_BLOCKS: &[&str] = &[
    "migration",
    "variable",
    "locals",
    "provider",
    "resource",
    "step",
    "gate",
    "data",
    "rollout",
    "module",
    "output",
];

/// Loads every `*.hcl` file of `dir` (sorted by name) into one module source.
pub fn load_dir(dir: &Path, diags: &mut Diagnostics) -> ModuleSource {
    let mut module = ModuleSource {
        dir: dir.to_path_buf(),
        ..ModuleSource::default()
    };
    let mut files: Vec<_> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| is_spec_file(p))
            .collect(),
        Err(e) => {
            diags.push(Diagnostic::error(
                "Cannot read migration directory",
                format!("{}: {e}", dir.display()),
            ));
            return module;
        }
    };
    files.sort();
    if files.is_empty() {
        diags.push(Diagnostic::error(
            "No spec files",
            format!(
                "{} holds no *.hcl files. Run `cutover init` to scaffold a migration, or pass -chdir DIR.",
                dir.display()
            ),
        ));
    }
    for (part, part_diags) in load_files(&files) {
        diags.extend(part_diags);
        merge(&mut module, part, diags);
    }
    module
}

/// Reads and loads each file on its own, on up to two threads (a large
/// migration's files are parsed side by side), in file order.
fn load_files(files: &[std::path::PathBuf]) -> Vec<(ModuleSource, Diagnostics)> {
    let load = |path: &std::path::PathBuf| {
        let (mut part, mut diags) = (ModuleSource::default(), Diagnostics::default());
        match SourceFile::read(path, "spec") {
            Ok(file) => load_source(&file, &mut part, &mut diags),
            Err(d) => diags.push(*d),
        }
        (part, diags)
    };
    if files.len() < 4 {
        return files.iter().map(load).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let worker = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(path) = files.get(i) else {
                return done;
            };
            done.push((i, load(path)));
        }
    };
    let mut all: Vec<(usize, (ModuleSource, Diagnostics))> = std::thread::scope(|s| {
        let other = s.spawn(worker);
        let mut mine = worker();
        // A panic in the other thread is a bug: resume it here.
        mine.extend(
            other
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p)),
        );
        mine
    });
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}

/// Adds one file's blocks to the module; a second `migration` block is an error.
fn merge(module: &mut ModuleSource, part: ModuleSource, diags: &mut Diagnostics) {
    module.files.extend(part.files);
    if let Some(m) = part.migration {
        match &module.migration {
            Some(prev) => diags.push(duplicate_migration(prev, m.span)),
            None => module.migration = Some(m),
        }
    }
    module.variables.extend(part.variables);
    module.locals.extend(part.locals);
    module.providers.extend(part.providers);
    module.nodes.extend(part.nodes);
    module.rollouts.extend(part.rollouts);
    module.modules.extend(part.modules);
    module.outputs.extend(part.outputs);
}

fn duplicate_migration(prev: &MigrationDecl, span: SourceSpan) -> Diagnostic {
    Diagnostic::error(
        "Duplicate migration block",
        format!(
            "A migration has one `migration` block; another is declared at {}:{}.",
            prev.span.path().display(),
            prev.span.start().0
        ),
    )
    .at(Some(span))
}

/// How the HCL parser cutover uses reads a heredoc unlike Terraform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misread {
    /// Empty (`<<EOT` with `EOT` on the very next line) and followed later
    /// by another line `EOT`: Terraform ends it at once, the parser reads
    /// on to that later line.
    EmptyBeforeMarker,
    /// No line holds its marker alone (`EOT)` does not close it for
    /// Terraform, which then cannot read the file; the parser can).
    Unclosed,
    /// Ended at another line.
    Elsewhere,
}

/// The first heredoc of `body` (parsed from `text`) that the parser read
/// unlike Terraform's scanner, with the place of its `<<EOT`.
pub fn misread_heredoc(body: &EBody, text: &str) -> Option<(std::ops::Range<usize>, Misread)> {
    struct Spans(Vec<std::ops::Range<usize>>);
    impl Visit for Spans {
        fn visit_expr(&mut self, e: &EExpr) {
            if let (EExpr::HeredocTemplate(_), Some(span)) = (e, e.span()) {
                self.0.push(span);
            }
            visit::visit_expr(self, e);
        }
    }
    let terraform = crate::lang::lex::heredocs(text);
    if terraform.is_empty() {
        return None;
    }
    let mut parsed = Spans(Vec::new());
    parsed.visit_body(body);
    terraform.into_iter().find_map(|h| {
        let intro = h.start
            ..text[h.start..]
                .find('\n')
                .map_or(text.len(), |n| h.start + n);
        let same = parsed
            .0
            .iter()
            .any(|p| p.start == h.start && Some(p.end) == h.end);
        let how = match h.end {
            _ if same => return None,
            None => Misread::Unclosed,
            Some(_) if h.empty => Misread::EmptyBeforeMarker,
            Some(_) => Misread::Elsewhere,
        };
        Some((intro, how))
    })
}

/// The syntax of `file` (`what` names it in a message: "file", "variable
/// file"), or why it cannot be read as Terraform reads it.
pub fn parse(file: &Arc<SourceFile>, what: &str) -> Result<EBody, Box<Diagnostic>> {
    let body = hcl::edit::parser::parse_body(&file.text).map_err(|e| {
        let o = e.location().offset();
        Diagnostic::error(
            "Malformed HCL",
            format!("The {what} could not be parsed: {}.", e.message()),
        )
        .at(Some(SourceSpan::new(file, o..o + 1)))
    })?;
    if let Some((at, how)) = misread_heredoc(&body, &file.text) {
        let (summary, detail) = match how {
            Misread::EmptyBeforeMarker => ("Ambiguous empty heredoc", "This heredoc is empty (its closing marker is on the next line), and a later line holds the same marker: Terraform ends the heredoc at once, but the HCL parser cutover uses would read on to that later line. Write \"\" for an empty string, or give the heredoc a line of text."),
            Misread::Unclosed => ("Unterminated heredoc", "No line holds this heredoc's marker alone: Terraform ends a heredoc only at a line with nothing but its marker (and spaces), so put anything after it (`)`, `,`, a comment) on the next line."),
            Misread::Elsewhere => ("Ambiguous heredoc", "Terraform ends this heredoc at the first line holding its marker alone (spaces around it aside), but the HCL parser cutover uses ends it elsewhere: keep the closing marker alone on its line, and no line of the text equal to it."),
        };
        return Err(Box::new(
            Diagnostic::error(summary, detail).at(Some(SourceSpan::new(file, at))),
        ));
    }
    Ok(body)
}

/// Parses one file and adds its blocks to `module`.
pub fn load_source(file: &Arc<SourceFile>, module: &mut ModuleSource, diags: &mut Diagnostics) {
    module.files.push(Arc::clone(file));
    let body = match parse(file, "file") {
        Ok(b) => b,
        Err(d) => {
            diags.push(*d);
            return;
        }
    };
    let cx = Cx { file };
    for structure in body.iter() {
        match structure {
            Structure::Attribute(a) => diags.push(
                Diagnostic::error(
                    "Unexpected attribute",
                    format!(
                        "`{}` cannot be set at the top level of a spec; attributes belong inside a block such as `locals {{ … }}`.",
                        a.key.as_str()
                    ),
                )
                .at(cx.span(a.span())),
            ),
            Structure::Block(b) => cx.top_block(b, module, diags),
        }
    }
}

struct Cx<'a> {
    file: &'a Arc<SourceFile>,
}

impl Cx<'_> {
    fn span(&self, range: Option<std::ops::Range<usize>>) -> Option<SourceSpan> {
        range.map(|r| SourceSpan::new(self.file, r))
    }

    fn must_span(&self, range: Option<std::ops::Range<usize>>) -> SourceSpan {
        SourceSpan::new(self.file, range.unwrap_or(0..0))
    }

    /// The span of a block's header: its keyword through its last label.
    fn header_span(&self, b: &Block) -> SourceSpan {
        let start = b.ident.span().map(|r| r.start).unwrap_or(0);
        let end = b
            .labels
            .last()
            .and_then(|l| l.span())
            .or_else(|| b.ident.span())
            .map(|r| r.end)
            .unwrap_or(start);
        SourceSpan::new(self.file, start..end)
    }

    fn labels(&self, b: &Block, want: &[&str], diags: &mut Diagnostics) -> Option<Vec<String>> {
        let labels: Vec<String> = b.labels.iter().map(|l| l.as_str().to_string()).collect();
        if labels.len() == want.len() {
            return Some(labels);
        }
        let kind = b.ident.as_str();
        let expected = if want.is_empty() {
            "no labels".to_string()
        } else {
            want.iter()
                .map(|w| format!("\"{w}\""))
                .collect::<Vec<_>>()
                .join(" ")
        };
        diags.push(
            Diagnostic::error(
                "Wrong number of block labels",
                format!(
                    "A `{kind}` block takes {} label(s): `{kind} {expected} {{ … }}`; this one has {}.",
                    want.len(),
                    labels.len()
                ),
            )
            .at(Some(self.header_span(b))),
        );
        None
    }

    fn top_block(&self, b: &Block, module: &mut ModuleSource, diags: &mut Diagnostics) {
        let kind = b.ident.as_str();
        let span = self.header_span(b);
        match kind {
            "migration" => {
                let Some(l) = self.labels(b, &["NAME"], diags) else {
                    return;
                };
                if let Some(prev) = &module.migration {
                    diags.push(duplicate_migration(prev, span));
                    return;
                }
                module.migration = Some(MigrationDecl {
                    name: l[0].clone(),
                    body: self.body(&b.body),
                    span,
                });
            }
            "variable" => {
                let Some(l) = self.labels(b, &["NAME"], diags) else {
                    return;
                };
                if let Some(v) = self.variable(&l[0], b, span, diags) {
                    module.variables.push(v);
                }
            }
            "locals" => {
                if self.labels(b, &[], diags).is_none() {
                    return;
                }
                let body = self.body(&b.body);
                for nb in &body.blocks {
                    diags.push(unexpected_block(&nb.kind, "locals", &[], &nb.span));
                }
                module.locals.extend(body.attrs);
            }
            "provider" => {
                let Some(l) = self.labels(b, &["NAME"], diags) else {
                    return;
                };
                module.providers.push(ProviderDecl {
                    name: l[0].clone(),
                    body: self.body(&b.body),
                    span,
                });
            }
            "resource" | "step" | "gate" | "data" => {
                if let Some(n) = self.node(b, diags) {
                    module.nodes.push(Arc::new(n));
                }
            }
            "rollout" => {
                let Some(l) = self.labels(b, &["NAME"], diags) else {
                    return;
                };
                module.rollouts.push(self.rollout(&l[0], b, span, diags));
            }
            "module" => {
                let Some(l) = self.labels(b, &["NAME"], diags) else {
                    return;
                };
                if let Some(m) = self.module_call(&l[0], b, span, diags) {
                    module.modules.push(Arc::new(m));
                }
            }
            "output" => {
                let Some(l) = self.labels(b, &["NAME"], diags) else {
                    return;
                };
                let body = self.body(&b.body);
                check_attrs(
                    &body,
                    &["value", "description", "sensitive"],
                    &[],
                    "output",
                    diags,
                );
                let Some(value) = body.attr("value").map(|a| a.value.clone()) else {
                    diags.push(missing_attr("value", "output", &span));
                    return;
                };
                module.outputs.push(OutputDecl {
                    name: l[0].clone(),
                    value,
                    description: literal_string(&body, "description", diags),
                    sensitive: literal_bool(&body, "sensitive", diags).unwrap_or(false),
                    span,
                });
            }
            _ => diags.push(unexpected_block(kind, "spec", TOP_BLOCKS, &span)),
        }
    }

    fn node(&self, b: &Block, diags: &mut Diagnostics) -> Option<NodeDecl> {
        let kind = match b.ident.as_str() {
            "resource" => NodeKind::Resource,
            "step" => NodeKind::Step,
            "gate" => NodeKind::Gate,
            "data" => NodeKind::Data,
            other => {
                diags.push(unexpected_block(
                    other,
                    "rollout",
                    &["resource", "step", "gate", "module"],
                    &self.header_span(b),
                ));
                return None;
            }
        };
        let l = self.labels(b, &["TYPE", "NAME"], diags)?;
        for (label, what) in b.labels.iter().zip(["type", "name"]) {
            if !is_identifier(label.as_str()) {
                diags.push(
                    Diagnostic::error(
                        "Invalid block label",
                        format!(
                            "A {what} label must be an identifier (letters, digits, `_` and `-`, not starting with a digit); got \"{}\".",
                            label.as_str()
                        ),
                    )
                    .at(self.span(label.span())),
                );
                return None;
            }
        }
        let body = self.body(&b.body);
        for f in body.blocks.iter().filter(|nb| nb.kind == "fleet") {
            check_fleet(f, diags);
        }
        Some(NodeDecl {
            kind,
            type_name: l[0].clone(),
            name: l[1].clone(),
            body,
            span: self.header_span(b),
            type_span: self.must_span(b.labels[0].span()),
        })
    }

    fn rollout(
        &self,
        name: &str,
        b: &Block,
        span: SourceSpan,
        diags: &mut Diagnostics,
    ) -> RolloutDecl {
        let mut r = RolloutDecl {
            name: name.to_string(),
            stages: None,
            depends_on: None,
            description: None,
            for_each: None,
            count: None,
            nodes: Vec::new(),
            modules: Vec::new(),
            span: span.clone(),
        };
        for s in b.body.iter() {
            match s {
                Structure::Attribute(a) => {
                    let attr = self.attr(a);
                    match attr.name.as_str() {
                        "stages" => r.stages = Some(attr.value),
                        "depends_on" => r.depends_on = Some(attr.value),
                        "description" => r.description = Some(attr.value),
                        "for_each" => r.for_each = Some(attr.value),
                        "count" => r.count = Some(attr.value),
                        other => diags.push(unexpected_attr(
                            other,
                            "rollout",
                            &["stages", "depends_on", "description", "for_each", "count"],
                            &attr.name_span,
                        )),
                    }
                }
                Structure::Block(nb) if nb.ident.as_str() == "module" => {
                    let Some(l) = self.labels(nb, &["NAME"], diags) else {
                        continue;
                    };
                    let span = self.header_span(nb);
                    if let Some(m) = self.module_call(&l[0], nb, span, diags) {
                        r.modules.push(Arc::new(m));
                    }
                }
                Structure::Block(nb) => {
                    if nb.ident.as_str() == "data" {
                        diags.push(
                            Diagnostic::error(
                                "Unsupported block type",
                                "`data` blocks are read once at plan time and cannot be staged; declare them outside the rollout.",
                            )
                            .at(Some(self.header_span(nb))),
                        );
                    } else if let Some(n) = self.node(nb, diags) {
                        r.nodes.push(Arc::new(n));
                    }
                }
            }
        }
        if r.stages.is_none() {
            diags.push(missing_attr("stages", "rollout", &span));
        }
        r
    }

    fn variable(
        &self,
        name: &str,
        b: &Block,
        span: SourceSpan,
        diags: &mut Diagnostics,
    ) -> Option<VariableDecl> {
        let body = self.body(&b.body);
        check_attrs(
            &body,
            &["type", "default", "description", "sensitive"],
            &["validation"],
            "variable",
            diags,
        );
        let mut validations = Vec::new();
        for v in body.blocks.iter().filter(|v| v.kind == "validation") {
            check_attrs(
                &v.body,
                &["condition", "error_message"],
                &[],
                "validation",
                diags,
            );
            let Some(condition) = v.body.attr("condition") else {
                diags.push(missing_attr("condition", "validation", &v.span));
                continue;
            };
            validations.push(Validation {
                condition: condition.value.clone(),
                error_message: literal_string(&v.body, "error_message", diags)
                    .unwrap_or_else(|| format!("Invalid value for variable \"{name}\".")),
            });
        }
        if let Some(d) = body.attr("default") {
            if !d.value.refs.is_empty() {
                diags.push(
                    Diagnostic::error(
                        "Variables not allowed",
                        "A variable's default must be a literal value; use a `locals` block to compute values.",
                    )
                    .at(Some(d.value.span.clone())),
                );
            }
        }
        Some(VariableDecl {
            name: name.to_string(),
            type_constraint: body.attr("type").map(|a| a.value.clone()),
            default: body.attr("default").map(|a| a.value.clone()),
            description: literal_string(&body, "description", diags),
            sensitive: literal_bool(&body, "sensitive", diags).unwrap_or(false),
            validations,
            span,
        })
    }

    fn module_call(
        &self,
        name: &str,
        b: &Block,
        span: SourceSpan,
        diags: &mut Diagnostics,
    ) -> Option<ModuleCall> {
        let body = self.body(&b.body);
        let mut fleet = None;
        for nb in &body.blocks {
            match nb.kind.as_str() {
                "fleet" if fleet.is_none() && nb.labels.is_empty() => {
                    check_fleet(nb, diags);
                    fleet = Some(FleetDecl::from_block(nb));
                }
                "fleet" => diags.push(
                    Diagnostic::error(
                        "Invalid fleet block",
                        "A module call takes one `fleet {}` block, without labels.",
                    )
                    .at(Some(nb.span.clone())),
                ),
                other => diags.push(unexpected_block(other, "module", &["fleet"], &nb.span)),
            }
        }
        let Some(source_attr) = body.attr("source") else {
            diags.push(missing_attr("source", "module", &span));
            return None;
        };
        let Some(source) = source_attr
            .value
            .literal()
            .and_then(|v| v.as_str().map(str::to_string))
        else {
            diags.push(
                Diagnostic::error(
                    "Invalid module source",
                    "`source` must be a literal path to a local directory, such as \"./modules/pg-verified-backup\".",
                )
                .at(Some(source_attr.value.span.clone())),
            );
            return None;
        };
        Some(ModuleCall {
            name: name.to_string(),
            source,
            source_span: source_attr.value.span.clone(),
            depends_on: body.attr("depends_on").map(|a| a.value.clone()),
            for_each: body.attr("for_each").map(|a| a.value.clone()),
            count: body.attr("count").map(|a| a.value.clone()),
            fleet,
            inputs: body
                .attrs
                .into_iter()
                .filter(|a| !MODULE_META.contains(&a.name.as_str()))
                .collect(),
            span,
        })
    }

    fn body(&self, body: &EBody) -> Body {
        let mut out = Body::default();
        for s in body.iter() {
            match s {
                // hcl-edit already rejects an attribute set twice in one body.
                Structure::Attribute(a) => out.attrs.push(self.attr(a)),
                Structure::Block(b) => out.blocks.push(NestedBlock {
                    kind: b.ident.as_str().to_string(),
                    labels: b.labels.iter().map(|l| l.as_str().to_string()).collect(),
                    body: self.body(&b.body),
                    span: self.header_span(b),
                }),
            }
        }
        // Bodies are many and small: a pushed Vec's spare capacity would be most of them.
        out.attrs.shrink_to_fit();
        out.blocks.shrink_to_fit();
        out
    }

    fn attr(&self, a: &hcl::edit::structure::Attribute) -> Attr {
        let name = a.key.as_str();
        let mut value = self.expr(&a.value);
        if name == "depends_on" && is_address_list(&a.value, &value) {
            // Nothing evaluates a list of bare addresses: its references are
            // all the graph reads (dropping the tree saves ~0.5 KB a node).
            value.expr = hcl::Expression::Null;
        }
        Attr {
            name: name.to_string(),
            name_span: self.must_span(a.key.span()),
            value,
        }
    }

    fn expr(&self, e: &EExpr) -> Expr {
        let mut finder = RefFinder {
            cx: self,
            refs: Vec::new(),
            bound: Vec::new(),
        };
        finder.visit_expr(e);
        finder.refs.shrink_to_fit();
        Expr {
            expr: super::ast::terraform_expr(e, &self.file.text),
            span: self.must_span(e.span()),
            refs: finder.refs,
        }
    }
}

/// Whether `e` is a non-empty list of bare addresses (`[step.a, gate.b]`),
/// one reference per element.
fn is_address_list(e: &EExpr, loaded: &Expr) -> bool {
    let EExpr::Array(items) = e else { return false };
    !items.is_empty()
        && items.len() == loaded.refs.len()
        && items
            .iter()
            .all(|i| matches!(i, EExpr::Traversal(_) | EExpr::Variable(_)))
}

/// Collects the traversals rooted at a variable, skipping `for` iteration variables.
struct RefFinder<'a, 'b> {
    cx: &'a Cx<'b>,
    refs: Vec<Reference>,
    bound: Vec<String>,
}

impl Visit for RefFinder<'_, '_> {
    fn visit_expr(&mut self, e: &EExpr) {
        match e {
            EExpr::Variable(v) => {
                let name = v.as_str();
                if !self.bound.iter().any(|b| b == name) {
                    self.refs.push(Reference {
                        parts: vec![RefPart::Attr(name.to_string())],
                        span: self.cx.must_span(v.span()),
                    });
                }
            }
            EExpr::Traversal(t) => {
                if let EExpr::Variable(v) = &t.expr {
                    if self.bound.iter().any(|b| b == v.as_str()) {
                        visit::visit_traversal(self, t);
                        return;
                    }
                    let mut parts = vec![RefPart::Attr(v.as_str().to_string())];
                    let mut end = v.span().map(|r| r.end).unwrap_or(0);
                    for op in &t.operators {
                        let part = match op.value() {
                            TraversalOperator::GetAttr(id) => {
                                RefPart::Attr(id.as_str().to_string())
                            }
                            TraversalOperator::Index(ix) => {
                                match hcl::Expression::from(ix.clone()) {
                                    hcl::Expression::Number(n) => {
                                        RefPart::Index(Box::new(hcl::Value::Number(n)))
                                    }
                                    hcl::Expression::String(s) => {
                                        RefPart::Index(Box::new(hcl::Value::String(s)))
                                    }
                                    _ => {
                                        self.visit_expr(ix);
                                        RefPart::Dynamic
                                    }
                                }
                            }
                            TraversalOperator::LegacyIndex(i) => {
                                RefPart::Index(Box::new(hcl::Value::from(*i.value())))
                            }
                            _ => RefPart::Dynamic,
                        };
                        let dynamic = part == RefPart::Dynamic;
                        parts.push(part);
                        if let Some(r) = op.span() {
                            end = r.end;
                        }
                        if dynamic {
                            break;
                        }
                    }
                    let start = v.span().map(|r| r.start).unwrap_or(0);
                    parts.shrink_to_fit();
                    self.refs.push(Reference {
                        parts,
                        span: SourceSpan::new(self.cx.file, start..end),
                    });
                } else {
                    visit::visit_traversal(self, t);
                }
            }
            EExpr::ForExpr(f) => {
                self.visit_expr(&f.intro.collection_expr);
                let n = self.bound.len();
                if let Some(k) = &f.intro.key_var {
                    self.bound.push(k.as_str().to_string());
                }
                self.bound.push(f.intro.value_var.as_str().to_string());
                if let Some(k) = &f.key_expr {
                    self.visit_expr(k);
                }
                self.visit_expr(&f.value_expr);
                if let Some(c) = &f.cond {
                    self.visit_expr(&c.expr);
                }
                self.bound.truncate(n);
            }
            _ => visit::visit_expr(self, e),
        }
    }

    /// `%{ for k, v in COLLECTION }…%{ endfor }`: the collection's references
    /// count (hcl-edit's default visit skips it), and `k`, `v` are bound
    /// inside the loop's template.
    fn visit_for_template_expr(&mut self, f: &hcl::edit::template::ForTemplateExpr) {
        self.visit_expr(&f.collection_expr);
        let n = self.bound.len();
        if let Some(k) = &f.key_var {
            self.bound.push(k.as_str().to_string());
        }
        self.bound.push(f.value_var.as_str().to_string());
        self.visit_template(&f.template);
        self.bound.truncate(n);
    }
}

/// `*.hcl` files, except variable files (`*.vars.hcl`), which only `-var-file` reads.
pub fn is_spec_file(p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    name.ends_with(".hcl") && !name.ends_with(".vars.hcl") && p.is_file()
}

pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

pub fn unexpected_block(
    kind: &str,
    inside: &str,
    allowed: &[&str],
    span: &SourceSpan,
) -> Diagnostic {
    let hint = match did_you_mean(kind, allowed.iter().copied()) {
        Some(s) => format!(" Did you mean `{s}`?"),
        None if allowed.is_empty() => String::new(),
        None => format!(" Expected one of: {}.", allowed.join(", ")),
    };
    Diagnostic::error(
        "Unsupported block type",
        format!("Blocks of type `{kind}` are not expected in a {inside}.{hint}"),
    )
    .at(Some(span.clone()))
}

pub fn unexpected_attr(
    name: &str,
    inside: &str,
    allowed: &[&str],
    span: &SourceSpan,
) -> Diagnostic {
    let hint = match did_you_mean(name, allowed.iter().copied()) {
        Some(s) => format!(" Did you mean `{s}`?"),
        None if allowed.is_empty() => String::new(),
        None => format!(" Expected one of: {}.", allowed.join(", ")),
    };
    Diagnostic::error(
        "Unsupported argument",
        format!("An argument named `{name}` is not expected in a {inside}.{hint}"),
    )
    .at(Some(span.clone()))
}

pub fn missing_attr(name: &str, inside: &str, span: &SourceSpan) -> Diagnostic {
    Diagnostic::error(
        "Missing required argument",
        format!("The argument `{name}` is required in a {inside}, but no definition was found."),
    )
    .at(Some(span.clone()))
}

/// Reports attributes and nested blocks that are not in the allowed lists.
/// A `fleet {}` block: its attributes, and `gate "TYPE" "NAME"` blocks.
fn check_fleet(f: &NestedBlock, diags: &mut Diagnostics) {
    check_attrs(&f.body, FleetDecl::ATTRS, &["gate"], "fleet", diags);
    for g in f.body.blocks.iter().filter(|g| g.kind == "gate") {
        if g.labels.len() != 2 || !g.labels.iter().all(|l| is_identifier(l)) {
            diags.push(
                Diagnostic::error(
                    "Invalid gate in a fleet",
                    "A fleet's gate is written `gate \"TYPE\" \"NAME\" { … }`, as anywhere else.",
                )
                .at(Some(g.span.clone())),
            );
        }
    }
}

pub fn check_attrs(
    body: &Body,
    attrs: &[&str],
    blocks: &[&str],
    inside: &str,
    diags: &mut Diagnostics,
) {
    for a in &body.attrs {
        if !attrs.contains(&a.name.as_str()) {
            diags.push(unexpected_attr(&a.name, inside, attrs, &a.name_span));
        }
    }
    for b in &body.blocks {
        if !blocks.contains(&b.kind.as_str()) {
            diags.push(unexpected_block(&b.kind, inside, blocks, &b.span));
        }
    }
}

fn literal_string(body: &Body, name: &str, diags: &mut Diagnostics) -> Option<String> {
    let a = body.attr(name)?;
    match a.value.literal() {
        Some(hcl::Value::String(s)) => Some(s),
        _ => {
            diags.push(type_mismatch(&a.value, "a literal string"));
            None
        }
    }
}

fn literal_bool(body: &Body, name: &str, diags: &mut Diagnostics) -> Option<bool> {
    let a = body.attr(name)?;
    match a.value.literal() {
        Some(hcl::Value::Bool(b)) => Some(b),
        _ => {
            diags.push(type_mismatch(&a.value, "true or false"));
            None
        }
    }
}

pub fn type_mismatch(e: &Expr, expected: &str) -> Diagnostic {
    Diagnostic::error(
        "Incorrect attribute value type",
        format!("Expected {expected}, got `{}`.", e.source()),
    )
    .at(Some(e.span.clone()))
}

/// sha256 over every spec file read (path relative to the root, and content).
pub fn digest(spec: &super::Spec) -> String {
    let mut files: Vec<(String, &str)> = spec
        .scopes
        .iter()
        .flat_map(|s| s.source.files.iter())
        .map(|f| (relative(&f.path, &spec.dir), f.text.as_str()))
        .collect();
    files.sort();
    files.dedup();
    let mut h = Sha256::new();
    for (p, t) in files {
        h.update(p.as_bytes());
        h.update([0]);
        h.update(t.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// `path` relative to `base`, lexically (no file system access), so that the
/// digest does not depend on where the migration directory lives.
pub fn relative(path: &std::path::Path, base: &std::path::Path) -> String {
    use std::path::Component;
    fn norm(p: &std::path::Path) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in p.components() {
            match c {
                Component::CurDir => {}
                Component::ParentDir if out.last().is_some_and(|l| l != "..") => {
                    out.pop();
                }
                other => out.push(other.as_os_str().to_string_lossy().into_owned()),
            }
        }
        out
    }
    let (p, b) = (norm(path), norm(base));
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = vec!["..".to_string(); b.len() - common];
    parts.extend(p[common..].iter().cloned());
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::relative;
    use std::path::Path;

    #[test]
    fn relative_paths_are_lexical() {
        assert_eq!(
            relative(Path::new("./main.hcl"), Path::new(".")),
            "main.hcl"
        );
        assert_eq!(
            relative(Path::new("./../../modules/m/a.hcl"), Path::new(".")),
            "../../modules/m/a.hcl"
        );
        assert_eq!(
            relative(
                Path::new("/x/ex/q/../../modules/m/a.hcl"),
                Path::new("/x/ex/q")
            ),
            "../../modules/m/a.hcl"
        );
    }
}
