//! `cutover fmt`: a spec file laid out as `terraform fmt` lays it out.
//!
//! The file is read into Terraform's tokens ([`lex`]), rewritten where
//! `terraform fmt` rewrites ([`terraform`]: `"${x}"` values, labels, legacy
//! types), and its spaces set by `hclwrite`'s rules ([`layout`]). Only
//! spaces and those rewrites change, and [`format_checked`] proves it.

use crate::lang::lex;

mod layout;
mod terraform;

/// Formats `src` and proves that only the layout changed: the result parses
/// to the same syntax tree. `None` when it would not (a formatter bug,
/// which must never reach a user's file).
pub fn format_checked(src: &str) -> Option<String> {
    let out = format(src);
    let comments = |text: &str| -> Vec<String> {
        lex::lex(text)
            .into_iter()
            .filter(|t| t.kind == lex::Kind::Comment)
            .map(|t| t.text.into_owned())
            .collect()
    };
    match (tree(src), tree(&out)) {
        (Some(before), Some(after)) if before == after && comments(src) == comments(&out) => {
            Some(out)
        }
        _ => None,
    }
}

/// The syntax tree of `src` (spaces and comments aside), with `"${x}"`
/// read as `x` (the same value: `fmt` writes it so) and parentheses left
/// out (the tree's shape already says how an expression groups).
fn tree(src: &str) -> Option<hcl::edit::structure::Body> {
    use hcl::edit::visit_mut::{visit_expr_mut, VisitMut};
    struct Unwrap;
    impl VisitMut for Unwrap {
        fn visit_expr_mut(&mut self, e: &mut hcl::edit::expr::Expression) {
            visit_expr_mut(self, e);
            loop {
                let inner = match &*e {
                    hcl::edit::expr::Expression::Parenthesis(p) => p.inner().clone(),
                    _ => match sole_interpolation(e) {
                        Some(inner) => inner.clone(),
                        None => break,
                    },
                };
                *e = inner;
            }
        }
        // Spaces kept beside a tree's nodes are not its meaning.
        fn visit_array_mut(&mut self, a: &mut hcl::edit::expr::Array) {
            a.set_trailing("");
            hcl::edit::visit_mut::visit_array_mut(self, a);
        }
        fn visit_object_mut(&mut self, o: &mut hcl::edit::expr::Object) {
            o.set_trailing("");
            hcl::edit::visit_mut::visit_object_mut(self, o);
        }
        fn visit_func_args_mut(&mut self, a: &mut hcl::edit::expr::FuncArgs) {
            a.set_trailing("");
            hcl::edit::visit_mut::visit_func_args_mut(self, a);
        }
        fn visit_if_directive_mut(&mut self, d: &mut hcl::edit::template::IfDirective) {
            d.if_expr.set_preamble("");
            if let Some(e) = d.else_expr.as_mut() {
                e.set_preamble("");
                e.set_trailing("");
            }
            d.endif_expr.set_preamble("");
            d.endif_expr.set_trailing("");
            hcl::edit::visit_mut::visit_if_directive_mut(self, d);
        }
        fn visit_for_directive_mut(&mut self, d: &mut hcl::edit::template::ForDirective) {
            d.for_expr.set_preamble("");
            d.endfor_expr.set_preamble("");
            d.endfor_expr.set_trailing("");
            hcl::edit::visit_mut::visit_for_directive_mut(self, d);
        }
        // A bare label and the same label quoted are one label.
        fn visit_block_mut(&mut self, b: &mut hcl::edit::structure::Block) {
            use hcl::edit::structure::BlockLabel;
            for l in b.labels.iter_mut() {
                if let BlockLabel::Ident(i) = l {
                    *l = BlockLabel::String(hcl::edit::Decorated::new(i.as_str().to_string()));
                }
            }
            hcl::edit::visit_mut::visit_block_mut(self, b);
        }
    }
    let mut body = hcl::edit::parser::parse_body(src).ok()?;
    Unwrap.visit_body_mut(&mut body);
    for variable in body.get_blocks_mut("variable") {
        if let Some(mut ty) = variable.body.get_attribute_mut("type") {
            if let Some(modern) = modern_type(&ty.value.to_string()) {
                *ty.value_mut() = modern.parse().ok()?;
            }
        }
    }
    Some(body)
}

/// A variable's legacy type as `terraform fmt` writes it (`"string"` is
/// `string`, `list` is `list(any)`).
fn modern_type(written: &str) -> Option<&'static str> {
    Some(match written.trim() {
        "\"string\"" => "string",
        "\"list\"" => "list(string)",
        "\"map\"" => "map(string)",
        "list" => "list(any)",
        "map" => "map(any)",
        "set" => "set(any)",
        _ => return None,
    })
}

/// The expression of a string that is one interpolation and nothing else
/// (`"${x}"`; a strip marker there has nothing to strip).
fn sole_interpolation(e: &hcl::edit::expr::Expression) -> Option<&hcl::edit::expr::Expression> {
    use hcl::edit::template::Element;
    let hcl::edit::expr::Expression::StringTemplate(t) = e else {
        return None;
    };
    match (t.len(), t.get(0)) {
        (1, Some(Element::Interpolation(i))) => Some(&i.expr),
        _ => None,
    }
}

/// Whether `src` is well-formed HCL (what [`format_checked`] can prove a layout of).
pub fn parses(src: &str) -> bool {
    hcl::edit::parser::parse_body(src)
        .is_ok_and(|b| crate::spec::load::misread_heredoc(&b, src).is_none())
}

/// Formats a spec file's text as `terraform fmt` does. The text must
/// parse; callers check that first.
///
/// One difference: a value unwrapped to another lone interpolation
/// (`"${"${x}"}"`) is unwrapped again, so that formatting a formatted file
/// changes nothing (Terraform leaves `"${x}"` for its next run).
pub fn format(src: &str) -> String {
    let mut text = once(src);
    // Each pass that changes anything removes an interpolation; bounded all the same.
    for _ in 0..8 {
        let again = once(&text);
        if again == text {
            break;
        }
        text = again;
    }
    text
}

fn once(src: &str) -> String {
    let mut tokens = lex::lex(src);
    terraform::rewrite(&mut tokens);
    layout::layout(&mut tokens);
    lex::write(&tokens)
}

#[cfg(test)]
mod tests {
    use super::format;

    #[test]
    fn indents_aligns_and_keeps_comments() {
        let src = "step \"exec\" \"a\" {\n# why\ncommand = [\"true\"]\n    timeout=\"1m\"\n\n\n  env = {\nX = \"${upper(\"}\")}\"\n}\n}\n";
        let want = "step \"exec\" \"a\" {\n  # why\n  command = [\"true\"]\n  timeout = \"1m\"\n\n\n  env = {\n    X = \"${upper(\"}\")}\"\n  }\n}\n";
        assert_eq!(format(src), want);
        assert_eq!(format(want), want, "formatting is idempotent");
    }

    #[test]
    fn a_value_opening_a_bracket_is_not_aligned_and_ends_the_run() {
        let src = "gate \"http\" \"x\" {\n  url = \"u\"\n  json = {\n    a      = 1\n    \"/b\" = 2\n  }\n  timeout  =  \"1m\"\n  every = \"5s\"\n}\n";
        let want = "gate \"http\" \"x\" {\n  url = \"u\"\n  json = {\n    a    = 1\n    \"/b\" = 2\n  }\n  timeout = \"1m\"\n  every   = \"5s\"\n}\n";
        assert_eq!(format(src), want);
    }

    #[test]
    fn a_for_arrow_is_not_an_assignment() {
        let src = "locals {\n  m = {\n    for name, v in var.x :\n    name => {\n      a = 1\n    }\n  }\n}\n";
        assert_eq!(super::format_checked(src).as_deref(), Some(src));
    }

    #[test]
    fn line_endings_and_strings_are_kept() {
        let src = "a   = 1\r\nb = \"x  \r\n  y\"\r\n\r\n\r\n";
        assert_eq!(
            super::format_checked(src).as_deref(),
            Some("a = 1\r\nb = \"x  \r\n  y\"\r\n\r\n\r\n")
        );
    }

    #[test]
    fn a_lone_interpolation_in_a_block_is_unwrapped() {
        let src = "step \"exec\" \"a\" {\n  x = \"${var.a}\"\n  y = \"${f(\"${b}\")}\"\n  z = \"a${b}\"\n  m = {\n    k = \"${var.k}\"\n  }\n}\n";
        let want = "step \"exec\" \"a\" {\n  x = var.a\n  y = f(\"${b}\")\n  z = \"a${b}\"\n  m = {\n    k = \"${var.k}\"\n  }\n}\n";
        assert_eq!(super::format_checked(src).as_deref(), Some(want));
    }

    #[test]
    fn bare_block_labels_are_quoted() {
        let src = "resource aws_instance web {\n  a = 1\n}\nstep  \"exec\"   x-y {\n}\nlocals {\n  m = {\n    k = 1\n  }\n}\n";
        let want = "resource \"aws_instance\" \"web\" {\n  a = 1\n}\nstep \"exec\" \"x-y\" {\n}\nlocals {\n  m = {\n    k = 1\n  }\n}\n";
        assert_eq!(super::format_checked(src).as_deref(), Some(want));
    }

    #[test]
    fn leaves_heredocs_alone() {
        let src = "locals {\nx = <<EOT\n   keep  me\nEOT\n}\n";
        assert_eq!(format(src), "locals {\n  x = <<EOT\n   keep  me\nEOT\n}\n");
    }
}
