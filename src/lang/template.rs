//! String templates: interpolations, `%{ if }` and `%{ for }` directives, `~` strip markers.

use super::{convert, fail, Env, Error, Result};
use hcl::expr::TemplateExpr;
use hcl::template::{Directive, Element, Strip, Template};
use hcl::Value;

/// Whether the whitespace before and after a template's text is stripped
/// (a `~` on the marker just outside it).
#[derive(Debug, Clone, Copy)]
pub(super) struct Edges {
    start: bool,
    end: bool,
    /// In a quoted string: its text holds escapes (`\n`) inside directives
    /// (the parser reads them only outside).
    quoted: bool,
    /// Inside a directive.
    nested: bool,
}

impl Edges {
    pub(super) const NONE: Edges = Edges {
        start: false,
        end: false,
        quoted: false,
        nested: false,
    };
}

fn strip_of(e: &Element) -> Strip {
    match e {
        Element::Literal(_) => Strip::None,
        Element::Interpolation(i) => i.strip,
        Element::Directive(d) => {
            let (open, close) = match d.as_ref() {
                Directive::If(d) => (d.if_strip, d.endif_strip),
                Directive::For(d) => (d.for_strip, d.endfor_strip),
            };
            Strip::from((open.strip_start(), close.strip_end()))
        }
    }
}

impl Env<'_> {
    /// A quoted string or heredoc with interpolations: a lone `"${x}"` is `x` itself.
    pub(super) fn template_expr(&mut self, t: &TemplateExpr) -> Result<Value> {
        let template =
            Template::from_expr(t).map_err(|e| Error(format!("invalid template: {e}")))?;
        if let [Element::Interpolation(only)] = template.elements() {
            return self.eval(&only.expr);
        }
        let mut out = String::new();
        let edges = Edges {
            quoted: matches!(t, TemplateExpr::QuotedString(_)),
            ..Edges::NONE
        };
        self.template(&template, &mut out, edges)?;
        Ok(Value::String(out))
    }

    pub(super) fn template(&mut self, t: &Template, out: &mut String, edges: Edges) -> Result<()> {
        let elements = t.elements();
        for (i, e) in elements.iter().enumerate() {
            let before = match i {
                0 => edges.start,
                _ => strip_of(&elements[i - 1]).strip_end(),
            };
            let after = match elements.get(i + 1) {
                None => edges.end,
                Some(next) => strip_of(next).strip_start(),
            };
            match e {
                Element::Literal(text) => match edges.quoted && edges.nested {
                    true => out.push_str(strip(&unescape(text)?, before, after)),
                    false => out.push_str(strip(text, before, after)),
                },
                Element::Interpolation(i) => {
                    let v = self.eval(&i.expr)?;
                    out.push_str(&interpolated(&v)?);
                }
                Element::Directive(d) => self.directive(d, out, edges.quoted)?,
            }
        }
        Ok(())
    }

    fn directive(&mut self, d: &Directive, out: &mut String, quoted: bool) -> Result<()> {
        match d {
            Directive::If(d) => {
                let cond = match self.eval(&d.cond_expr)? {
                    Value::Null => return fail("Invalid 'if' directive: the condition is null"),
                    v => convert::to_bool(&v).map_err(|_| {
                        Error("Invalid 'if' directive: the condition must be of type bool".into())
                    })?,
                };
                let close = match d.false_template {
                    Some(_) => d.else_strip,
                    None => d.endif_strip,
                };
                if cond {
                    let edges = Edges {
                        start: d.if_strip.strip_end(),
                        end: close.strip_start(),
                        quoted,
                        nested: true,
                    };
                    self.template(&d.true_template, out, edges)?;
                } else if let Some(f) = &d.false_template {
                    let edges = Edges {
                        start: d.else_strip.strip_end(),
                        end: d.endif_strip.strip_start(),
                        quoted,
                        nested: true,
                    };
                    self.template(f, out, edges)?;
                }
                Ok(())
            }
            Directive::For(d) => {
                let items = self.collection(&d.collection_expr)?;
                let edges = Edges {
                    start: d.for_strip.strip_end(),
                    end: d.endfor_strip.strip_start(),
                    quoted,
                    nested: true,
                };
                for (k, v) in items {
                    let depth = self.bound.len();
                    if let Some(kv) = &d.key_var {
                        self.bound.push((kv.to_string(), k));
                    }
                    self.bound.push((d.value_var.to_string(), v));
                    self.template(&d.template, out, edges)?;
                    self.bound.truncate(depth);
                }
                Ok(())
            }
        }
    }
}

/// A value written into a string: primitives only, never null.
fn interpolated(v: &Value) -> Result<String> {
    match v {
        Value::Null => fail("Invalid template interpolation value: The expression result is null. Cannot include a null value in a string template"),
        Value::Array(_) | Value::Object(_) => fail(format!(
            "Invalid template interpolation value: Cannot include the given value in a string template: string required (not {})",
            convert::type_name(v)
        )),
        v => convert::to_string(v),
    }
}

/// `text` without its whitespace at a stripped edge (HCL's `~`).
fn strip(mut text: &str, start: bool, end: bool) -> &str {
    if start {
        text = text.trim_start();
    }
    if end {
        text = text.trim_end();
    }
    text
}

/// A directive body's text in a quoted string, its escapes read.
fn unescape(text: &str) -> Result<String> {
    super::lex::unescape_quoted(text)
        .ok_or_else(|| Error("Invalid escape sequence in a quoted template".into()))
}
