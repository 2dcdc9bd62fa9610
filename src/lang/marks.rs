//! Sensitivity, as `sensitive()`, `nonsensitive()` and `issensitive()` see it.
//!
//! Values carry no marks here; an expression's result is sensitive when it
//! reads a sensitive path or calls `sensitive()` outside `nonsensitive()`
//! and `issensitive()`. The paths come from the caller (the references it
//! resolved to sensitive values); the check is on the syntax, so it is the
//! same however the value was computed.

use hcl::expr::{Expression, TraversalOperator};

/// One step of a path from a root name: an attribute or map key, or a list position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Name(String),
    Pos(usize),
}

/// Whether `e` (the whole expression, or one argument) gives a sensitive value.
pub fn reads_sensitive(e: &Expression, secrets: &[Vec<Step>]) -> bool {
    sensitive(e, secrets)
}

/// Whether `e` calls any of the functions that change or read marks.
pub fn uses_marks(e: &Expression) -> bool {
    any_call(e, &|name| {
        matches!(name, "sensitive" | "nonsensitive" | "issensitive")
    })
}

fn sensitive(e: &Expression, secrets: &[Vec<Step>]) -> bool {
    match e {
        Expression::Variable(v) => overlaps(&[Step::Name(v.to_string())], secrets),
        Expression::Traversal(t) => {
            let path = static_path(&t.expr, &t.operators);
            path.is_some_and(|p| overlaps(&p, secrets))
                || children(e).iter().any(|c| sensitive(c, secrets))
        }
        Expression::FuncCall(c) if c.name.name.as_str() == "sensitive" => true,
        Expression::FuncCall(c)
            if matches!(c.name.name.as_str(), "nonsensitive" | "issensitive") =>
        {
            false
        }
        // A template that does not parse has no value at all; counted as sensitive to be safe.
        Expression::TemplateExpr(t) => match template_exprs(t) {
            Some(inner) => inner.iter().any(|c| sensitive(c, secrets)),
            None => true,
        },
        other => children(other).iter().any(|c| sensitive(c, secrets)),
    }
}

/// `var.a[0].b` as steps, up to the first step computed at run time.
fn static_path(root: &Expression, ops: &[TraversalOperator]) -> Option<Vec<Step>> {
    let Expression::Variable(v) = root else {
        return None;
    };
    let mut path = vec![Step::Name(v.to_string())];
    for op in ops {
        path.push(match op {
            TraversalOperator::GetAttr(a) => Step::Name(a.to_string()),
            TraversalOperator::LegacyIndex(i) => Step::Pos(*i as usize),
            TraversalOperator::Index(Expression::String(s)) => Step::Name(s.clone()),
            TraversalOperator::Index(Expression::Number(n)) if n.as_u64().is_some() => {
                Step::Pos(n.as_u64().unwrap_or_default() as usize)
            }
            _ => break,
        });
    }
    Some(path)
}

/// Whether a read of `path` reads part of a secret, or a secret is part of what it reads.
fn overlaps(path: &[Step], secrets: &[Vec<Step>]) -> bool {
    secrets.iter().any(|s| {
        let n = s.len().min(path.len());
        s[..n] == path[..n]
    })
}

fn any_call(e: &Expression, is: &dyn Fn(&str) -> bool) -> bool {
    match e {
        Expression::FuncCall(c) if is(c.name.name.as_str()) => true,
        Expression::TemplateExpr(t) => template_exprs(t)
            .unwrap_or_default()
            .iter()
            .any(|c| any_call(c, is)),
        _ => children(e).iter().any(|c| any_call(c, is)),
    }
}

/// The expressions inside a template's interpolations and directives.
fn template_exprs(t: &hcl::expr::TemplateExpr) -> Option<Vec<Expression>> {
    use hcl::template::{Directive, Element, Template};
    fn walk(t: &Template, out: &mut Vec<Expression>) {
        for e in t.elements() {
            match e {
                Element::Literal(_) => {}
                Element::Interpolation(i) => out.push(i.expr.clone()),
                Element::Directive(d) => match d.as_ref() {
                    Directive::If(d) => {
                        out.push(d.cond_expr.clone());
                        walk(&d.true_template, out);
                        if let Some(f) = &d.false_template {
                            walk(f, out);
                        }
                    }
                    Directive::For(d) => {
                        out.push(d.collection_expr.clone());
                        walk(&d.template, out);
                    }
                },
            }
        }
    }
    let template = Template::from_expr(t).ok()?;
    let mut out = Vec::new();
    walk(&template, &mut out);
    Some(out)
}

/// The expressions directly inside `e` (templates are read from their text).
fn children(e: &Expression) -> Vec<&Expression> {
    match e {
        Expression::Array(items) => items.iter().collect(),
        Expression::Object(m) => m
            .iter()
            .flat_map(|(k, v)| {
                let key = match k {
                    hcl::ObjectKey::Expression(k) => Some(k),
                    _ => None,
                };
                key.into_iter().chain(std::iter::once(v))
            })
            .collect(),
        Expression::Traversal(t) => std::iter::once(&t.expr)
            .chain(t.operators.iter().filter_map(|o| match o {
                TraversalOperator::Index(i) => Some(i),
                _ => None,
            }))
            .collect(),
        Expression::FuncCall(c) => c.args.iter().collect(),
        Expression::Parenthesis(inner) => vec![inner],
        Expression::Conditional(c) => vec![&c.cond_expr, &c.true_expr, &c.false_expr],
        Expression::Operation(op) => match op.as_ref() {
            hcl::expr::Operation::Unary(u) => vec![&u.expr],
            hcl::expr::Operation::Binary(b) => vec![&b.lhs_expr, &b.rhs_expr],
        },
        Expression::ForExpr(f) => [
            Some(&f.collection_expr),
            f.key_expr.as_ref(),
            Some(&f.value_expr),
            f.cond_expr.as_ref(),
        ]
        .into_iter()
        .flatten()
        .collect(),
        _ => Vec::new(),
    }
}
