//! The typed AST of a migration directory: blocks with their source spans.
//!
//! Expressions stay unevaluated ([`Expr`]) beside the references they contain,
//! so that the graph can draw edges and `eval` can evaluate them later.

use super::diagnostic::{SourceFile, SourceSpan};
use std::path::PathBuf;
use std::sync::Arc;

/// One step of a reference path: `step.backup.path` is `[Attr(step), Attr(backup), Attr(path)]`.
#[derive(Debug, Clone, PartialEq)]
pub enum RefPart {
    Attr(String),
    /// A literal index: `rollout.traffic[10]`.
    Index(Box<hcl::Value>),
    /// An index whose value is computed: the reference stops being static here.
    Dynamic,
}

impl RefPart {
    pub fn as_attr(&self) -> Option<&str> {
        match self {
            RefPart::Attr(a) => Some(a),
            _ => None,
        }
    }
}

/// A traversal found inside an expression.
#[derive(Debug, Clone)]
pub struct Reference {
    pub parts: Vec<RefPart>,
    pub span: SourceSpan,
}

impl Reference {
    pub fn root(&self) -> &str {
        self.parts.first().and_then(RefPart::as_attr).unwrap_or("")
    }

    pub fn attr(&self, i: usize) -> Option<&str> {
        self.parts.get(i).and_then(RefPart::as_attr)
    }

    /// The reference as written: `step.backup.path`, `rollout.traffic[10]`.
    pub fn display(&self) -> String {
        let mut s = String::new();
        for (i, p) in self.parts.iter().enumerate() {
            match p {
                RefPart::Attr(a) if i == 0 => s.push_str(a),
                RefPart::Attr(a) => {
                    s.push('.');
                    s.push_str(a);
                }
                RefPart::Index(v) => match crate::addr::Key::from_value(v) {
                    Some(k) => s.push_str(&k.to_string()),
                    None => s.push_str("[…]"),
                },
                RefPart::Dynamic => s.push_str("[…]"),
            }
        }
        s
    }
}

/// An unevaluated expression with its span and the references inside it.
#[derive(Debug, Clone)]
pub struct Expr {
    pub expr: hcl::Expression,
    pub span: SourceSpan,
    pub refs: Vec<Reference>,
}

impl Expr {
    /// The literal value of the expression, when it needs no evaluation context.
    pub fn literal(&self) -> Option<hcl::Value> {
        if !self.refs.is_empty() {
            return None;
        }
        constant(&self.expr).ok()
    }

    /// The source text of the expression.
    pub fn source(&self) -> &str {
        self.span
            .file
            .text
            .get(self.span.range.clone())
            .unwrap_or("")
    }
}

/// `name = expr` inside a block.
#[derive(Debug, Clone)]
pub struct Attr {
    pub name: String,
    pub name_span: SourceSpan,
    pub value: Expr,
}

/// A nested block such as `rollback { … }` or `retry { … }`.
#[derive(Debug, Clone)]
pub struct NestedBlock {
    pub kind: String,
    pub labels: Vec<String>,
    pub body: Body,
    pub span: SourceSpan,
}

/// The attributes and nested blocks of a block, in source order.
#[derive(Debug, Clone, Default)]
pub struct Body {
    pub attrs: Vec<Attr>,
    pub blocks: Vec<NestedBlock>,
}

impl Body {
    pub fn attr(&self, name: &str) -> Option<&Attr> {
        self.attrs.iter().find(|a| a.name == name)
    }

    pub fn block(&self, kind: &str) -> Option<&NestedBlock> {
        self.blocks.iter().find(|b| b.kind == kind)
    }
}

/// What a node block is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    Resource,
    Step,
    Gate,
    Data,
}

impl NodeKind {
    pub fn keyword(self) -> &'static str {
        match self {
            NodeKind::Resource => "resource",
            NodeKind::Step => "step",
            NodeKind::Gate => "gate",
            NodeKind::Data => "data",
        }
    }

    /// The local part of a node's address: `step.NAME`, `TYPE.NAME`, `data.TYPE.NAME`.
    pub fn local_address(self, type_name: &str, name: &str) -> String {
        match self {
            NodeKind::Resource => format!("{type_name}.{name}"),
            NodeKind::Step => format!("step.{name}"),
            NodeKind::Gate => format!("gate.{name}"),
            NodeKind::Data => format!("data.{type_name}.{name}"),
        }
    }
}

/// `resource|step|gate|data "TYPE" "NAME" { … }`.
#[derive(Debug, Clone)]
pub struct NodeDecl {
    pub kind: NodeKind,
    pub type_name: String,
    pub name: String,
    pub body: Body,
    /// The block's header (keyword and labels).
    pub span: SourceSpan,
    pub type_span: SourceSpan,
}

impl NodeDecl {
    /// The declaration with an empty body: see [`crate::spec::Spec::release_syntax`].
    pub fn without_body(&self) -> NodeDecl {
        NodeDecl {
            kind: self.kind,
            type_name: self.type_name.clone(),
            name: self.name.clone(),
            body: Body::default(),
            span: self.span.clone(),
            type_span: self.type_span.clone(),
        }
    }

    pub fn local_address(&self) -> String {
        self.kind.local_address(&self.type_name, &self.name)
    }
}

/// `rollout "NAME" { stages = [...]  <node blocks>  depends_on = [...] }`.
#[derive(Debug, Clone)]
pub struct RolloutDecl {
    pub name: String,
    pub stages: Option<Expr>,
    pub depends_on: Option<Expr>,
    pub description: Option<Expr>,
    pub for_each: Option<Expr>,
    pub count: Option<Expr>,
    pub nodes: Vec<Arc<NodeDecl>>,
    /// Module calls made in every stage.
    pub modules: Vec<Arc<ModuleCall>>,
    pub span: SourceSpan,
}

/// `variable "NAME" { type, default, description, sensitive, validation {…} }`.
#[derive(Debug, Clone)]
pub struct VariableDecl {
    pub name: String,
    pub type_constraint: Option<Expr>,
    pub default: Option<Expr>,
    pub description: Option<String>,
    pub sensitive: bool,
    pub validations: Vec<Validation>,
    pub span: SourceSpan,
}

#[derive(Debug, Clone)]
pub struct Validation {
    pub condition: Expr,
    pub error_message: String,
}

/// `module "NAME" { source = "./modules/x"  for_each|count  depends_on  inputs… }`.
#[derive(Debug, Clone)]
pub struct ModuleCall {
    pub name: String,
    pub source: String,
    pub source_span: SourceSpan,
    pub inputs: Vec<Attr>,
    pub depends_on: Option<Expr>,
    pub for_each: Option<Expr>,
    pub count: Option<Expr>,
    /// `fleet { … }`: roll the instances out as targets in batches.
    pub fleet: Option<FleetDecl>,
    pub span: SourceSpan,
}

/// `fleet { batches, max_concurrency, max_errors, pause }` in a repeated
/// module call or node block.
#[derive(Debug, Clone)]
pub struct FleetDecl {
    pub batches: Option<Expr>,
    pub max_concurrency: Option<Expr>,
    pub max_errors: Option<Expr>,
    pub pause: Option<Expr>,
    /// `gate "TYPE" "NAME" {}` blocks that must hold after each batch before the next starts.
    pub gates: Vec<Arc<NodeDecl>>,
    pub span: SourceSpan,
}

impl FleetDecl {
    /// The attributes a `fleet {}` block takes.
    pub const ATTRS: &'static [&'static str] =
        &["batches", "max_concurrency", "max_errors", "pause"];

    pub fn from_block(b: &NestedBlock) -> FleetDecl {
        let get = |n: &str| b.body.attr(n).map(|a| a.value.clone());
        FleetDecl {
            batches: get("batches"),
            max_concurrency: get("max_concurrency"),
            max_errors: get("max_errors"),
            pause: get("pause"),
            gates: b
                .body
                .blocks
                .iter()
                .filter(|g| g.kind == "gate" && g.labels.len() == 2)
                .map(|g| {
                    Arc::new(NodeDecl {
                        kind: NodeKind::Gate,
                        type_name: g.labels[0].clone(),
                        name: g.labels[1].clone(),
                        body: g.body.clone(),
                        span: g.span.clone(),
                        type_span: g.span.clone(),
                    })
                })
                .collect(),
            span: b.span.clone(),
        }
    }
}

/// `output "NAME" { value, description, sensitive }`.
#[derive(Debug, Clone)]
pub struct OutputDecl {
    pub name: String,
    pub value: Expr,
    pub description: Option<String>,
    pub sensitive: bool,
    pub span: SourceSpan,
}

/// `provider "NAME" { … }`.
#[derive(Debug, Clone)]
pub struct ProviderDecl {
    pub name: String,
    pub body: Body,
    pub span: SourceSpan,
}

/// `migration "NAME" { description, on_failure, parallelism, state "…" {…}, notify {…} }`.
#[derive(Debug, Clone)]
pub struct MigrationDecl {
    pub name: String,
    pub body: Body,
    pub span: SourceSpan,
}

/// One directory of `*.hcl` files: the root migration or a module's source.
#[derive(Debug, Clone, Default)]
pub struct ModuleSource {
    pub dir: PathBuf,
    /// The files read, in name order.
    pub files: Vec<Arc<SourceFile>>,
    pub migration: Option<MigrationDecl>,
    pub variables: Vec<VariableDecl>,
    pub locals: Vec<Attr>,
    pub providers: Vec<ProviderDecl>,
    pub nodes: Vec<Arc<NodeDecl>>,
    pub rollouts: Vec<RolloutDecl>,
    pub modules: Vec<Arc<ModuleCall>>,
    pub outputs: Vec<OutputDecl>,
}

impl ModuleSource {
    /// The module's directory and files, without its declarations: see
    /// [`crate::spec::Spec::release_syntax`].
    pub fn without_declarations(&self) -> ModuleSource {
        ModuleSource {
            dir: self.dir.clone(),
            files: self.files.clone(),
            ..ModuleSource::default()
        }
    }
}

/// The value of an expression that reads no names and calls no functions
/// (a literal, a `-var` value, a variable file's value).
pub fn constant(e: &hcl::Expression) -> Result<hcl::Value, crate::lang::Error> {
    let none: hcl::Map<String, hcl::Value> = hcl::Map::new();
    crate::lang::evaluate(e, &none, &crate::lang::NoFunctions)
}

/// `e` as the evaluator holds it, each heredoc read as Terraform reads it
/// (its `~` markers and `<<-` indentation: [`crate::lang::strip`]);
/// `source` is the text `e`'s spans point into.
pub fn terraform_expr(e: &hcl::edit::expr::Expression, source: &str) -> hcl::Expression {
    use hcl::edit::Span;
    // Only the expression's own text is searched (the file's, per
    // expression, cost a plan of 100,000 nodes two seconds).
    let text = e.span().and_then(|s| source.get(s)).unwrap_or(source);
    if !text.contains("<<") {
        return hcl::Expression::from(e.clone());
    }
    let mut e = e.clone();
    terraform_heredocs(&mut e, source);
    hcl::Expression::from(e)
}

fn terraform_heredocs(e: &mut hcl::edit::expr::Expression, source: &str) {
    use hcl::edit::visit_mut::{visit_expr_mut, VisitMut};
    use hcl::edit::{expr::Expression, Span};
    struct Heredocs<'s>(&'s str);
    impl VisitMut for Heredocs<'_> {
        fn visit_expr_mut(&mut self, e: &mut Expression) {
            if !matches!(e, Expression::HeredocTemplate(_)) {
                return visit_expr_mut(self, e);
            }
            let text = e.span().and_then(|s| self.0.get(s));
            let Some(quoted) = text.and_then(crate::lang::strip::heredoc) else {
                return visit_expr_mut(self, e);
            };
            // Unreadable (not expected): the parser's own reading stays.
            if let Ok(mut read) = quoted.parse::<Expression>() {
                Heredocs(&quoted).visit_expr_mut(&mut read);
                *e = read;
            }
        }
    }
    Heredocs(source).visit_expr_mut(e);
}
