//! Terraform's expression language: evaluating one parsed expression.
//!
//! The evaluator walks hcl-rs's syntax tree itself (hcl-rs's own evaluator
//! computes with floats, evaluates every function argument before the call
//! and iterates objects in written order, where Terraform has decimals,
//! `try`/`can`, and key order). It knows nothing of specs: its caller gives
//! it the values of the names an expression reads ([`Roots`]) and the
//! function library ([`Functions`]). Conversions between strings, numbers
//! and bools follow Terraform's ([`convert`]).

pub mod convert;
pub mod lex;
pub mod marks;
pub mod number;
pub mod strip;
mod template;
mod traverse;

use hcl::expr::{BinaryOperator, Conditional, Expression, ForExpr, FuncCall, UnaryOperator};
use hcl::{Map, Value};
use number::Arith;

/// Why an expression has no value: Terraform's summary and detail in one sentence.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct Error(pub String);

pub type Result<T> = std::result::Result<T, Error>;

fn fail<T>(msg: impl Into<String>) -> Result<T> {
    Err(Error(msg.into()))
}

/// The values of the names an expression may read.
pub trait Roots {
    fn root(&self, name: &str) -> Option<&Value>;
}

impl Roots for std::collections::HashMap<String, Value> {
    fn root(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

impl Roots for Map<String, Value> {
    fn root(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

/// The functions an expression may call.
pub trait Functions {
    /// Calls `name` with `args`: `None` when no function has that name.
    fn call(&self, name: &str, args: Vec<Value>) -> Option<std::result::Result<Value, String>>;
}

/// No functions at all (constants: `-var` values, literals).
pub struct NoFunctions;

impl Functions for NoFunctions {
    fn call(&self, _: &str, _: Vec<Value>) -> Option<std::result::Result<Value, String>> {
        None
    }
}

/// The value of `e`, reading names from `roots` and calling `funcs`.
pub fn evaluate(e: &Expression, roots: &dyn Roots, funcs: &dyn Functions) -> Result<Value> {
    evaluate_marked(e, roots, funcs, &[])
}

/// [`evaluate`], where the paths `secrets` hold sensitive values (which `issensitive` reports).
pub fn evaluate_marked(
    e: &Expression,
    roots: &dyn Roots,
    funcs: &dyn Functions,
    secrets: &[Vec<marks::Step>],
) -> Result<Value> {
    Env {
        roots,
        funcs,
        bound: Vec::new(),
        template_vars: false,
        secrets,
    }
    .eval(e)
}

/// Renders `template` (a template's text, as `templatefile` reads it) with `vars` as its names.
pub fn render(template: &str, vars: &Map<String, Value>, funcs: &dyn Functions) -> Result<String> {
    let parsed: hcl::Template = strip::template(template)
        .parse()
        .map_err(|e| Error(format!("invalid template: {e}")))?;
    let mut env = Env {
        roots: vars,
        funcs,
        bound: Vec::new(),
        template_vars: true,
        secrets: &[],
    };
    let mut out = String::new();
    env.template(&parsed, &mut out, template::Edges::NONE)?;
    Ok(out)
}

struct Env<'a> {
    roots: &'a dyn Roots,
    funcs: &'a dyn Functions,
    /// `for` variables in scope, innermost last.
    bound: Vec<(String, Value)>,
    /// The roots are a template function's `vars`.
    template_vars: bool,
    /// Paths from the roots that hold sensitive values.
    secrets: &'a [Vec<marks::Step>],
}

impl Env<'_> {
    fn eval(&mut self, e: &Expression) -> Result<Value> {
        Ok(match e {
            Expression::Null => Value::Null,
            Expression::Bool(b) => Value::Bool(*b),
            Expression::Number(n) => Value::Number(*n),
            Expression::String(s) => Value::String(s.clone()),
            Expression::Array(items) => {
                Value::Array(items.iter().map(|i| self.eval(i)).collect::<Result<_>>()?)
            }
            Expression::Object(members) => {
                let mut out = Map::with_capacity(members.len());
                for (k, v) in members {
                    let key = match k {
                        hcl::ObjectKey::Identifier(i) => i.to_string(),
                        hcl::ObjectKey::Expression(k) => self.key(k, false)?,
                        other => other.to_string(),
                    };
                    out.insert(key, self.eval(v)?);
                }
                Value::Object(out)
            }
            Expression::TemplateExpr(t) => self.template_expr(t)?,
            Expression::Variable(name) => self.variable(name)?,
            Expression::Traversal(t) => {
                let base = self.eval(&t.expr)?;
                self.traverse(base, &t.operators)?
            }
            Expression::FuncCall(call) => self.call(call)?,
            Expression::Parenthesis(inner) => self.eval(inner)?,
            Expression::Conditional(c) => self.conditional(c)?,
            Expression::Operation(op) => match op.as_ref() {
                hcl::expr::Operation::Unary(u) => {
                    let v = self.eval(&u.expr)?;
                    unary(u.operator, v)?
                }
                hcl::expr::Operation::Binary(b) => {
                    let lhs = self.eval(&b.lhs_expr)?;
                    let rhs = self.eval(&b.rhs_expr)?;
                    binary(lhs, b.operator, rhs)?
                }
            },
            Expression::ForExpr(f) => self.for_expr(f)?,
            other => return fail(format!("unsupported expression `{other}`")),
        })
    }

    fn variable(&self, name: &str) -> Result<Value> {
        if let Some((_, v)) = self.bound.iter().rev().find(|(n, _)| n == name) {
            return Ok(v.clone());
        }
        match self.roots.root(name) {
            Some(v) => Ok(v.clone()),
            None if self.template_vars => fail(format!(
                "Invalid value for \"vars\" parameter: vars map does not contain key {name:?}"
            )),
            None => fail(format!("undefined variable `{name}`")),
        }
    }

    /// An object key: a string, or a number or bool written as one.
    fn key(&mut self, e: &Expression, in_for: bool) -> Result<String> {
        match self.eval(e)? {
            Value::Null if in_for => fail("Invalid object key: Key expression in 'for' expression must not produce a null value"),
            Value::Null => fail("Null value as key: Can't use a null value as a key"),
            v => convert::to_string(&v).map_err(|_| {
                Error("Incorrect key type: Can't use this value as a key: string required".into())
            }),
        }
    }

    fn call(&mut self, call: &FuncCall) -> Result<Value> {
        let name = call.name.name.as_str();
        match name {
            "try" => return self.try_each(&call.args),
            "can" if call.args.len() == 1 => {
                let depth = self.bound.len();
                let ok = self.eval(&call.args[0]).is_ok();
                self.bound.truncate(depth);
                return Ok(Value::Bool(ok));
            }
            "templatestring" if call.args.len() == 2 => return self.templatestring(&call.args),
            // Marks are read from the syntax (see `marks`); the values pass through.
            "sensitive" | "nonsensitive" if call.args.len() == 1 && !call.expand_final => {
                return self.eval(&call.args[0]);
            }
            "issensitive" if call.args.len() == 1 && !call.expand_final => {
                self.eval(&call.args[0])?;
                return Ok(Value::Bool(marks::reads_sensitive(
                    &call.args[0],
                    self.secrets,
                )));
            }
            _ => {}
        }
        let mut args = Vec::with_capacity(call.args.len());
        for (i, a) in call.args.iter().enumerate() {
            let v = self.eval(a)?;
            if call.expand_final && i + 1 == call.args.len() {
                match v {
                    Value::Array(items) => args.extend(items),
                    _ => return fail("Invalid expanding argument value: the expanding argument (indicated by ...) must be of a tuple, list, or set type"),
                }
            } else {
                args.push(v);
            }
        }
        match self.funcs.call(name, args) {
            None => fail(format!("undefined function `{name}`")),
            Some(Ok(v)) => Ok(v),
            Some(Err(msg)) => fail(format!("error calling function `{name}`: {msg}")),
        }
    }

    /// `try(a, b, …)`: the value of the first argument that has one.
    fn try_each(&mut self, args: &[Expression]) -> Result<Value> {
        if args.is_empty() {
            return fail("error calling function `try`: at least one argument is required");
        }
        let depth = self.bound.len();
        let mut errors = Vec::new();
        for a in args {
            match self.eval(a) {
                Ok(v) => return Ok(v),
                Err(e) => errors.push(format!("- {e}")),
            }
            self.bound.truncate(depth);
        }
        fail(format!(
            "error calling function `try`: no expression succeeded:\n{}\nAt least one expression must produce a successful result",
            errors.join("\n")
        ))
    }

    fn conditional(&mut self, c: &Conditional) -> Result<Value> {
        let cond = match self.eval(&c.cond_expr)? {
            Value::Null => return fail("Null condition: The condition value is null. Conditions must either be true or false"),
            v => convert::to_bool(&v).map_err(|_| {
                Error("Incorrect condition type: The condition expression must be of type bool".into())
            })?,
        };
        let (chosen, other) = if cond {
            (&c.true_expr, &c.false_expr)
        } else {
            (&c.false_expr, &c.true_expr)
        };
        let value = self.eval(chosen)?;
        // Terraform gives both results one type; the other one counts only when it has a value.
        let depth = self.bound.len();
        let other = self.eval(other).ok();
        self.bound.truncate(depth);
        match other {
            Some(other) => convert::unify(value, &other, cond),
            None => Ok(value),
        }
    }

    fn for_expr(&mut self, f: &ForExpr) -> Result<Value> {
        let items = self.collection(&f.collection_expr)?;
        let mut list = Vec::new();
        let mut object: Map<String, Value> = Map::new();
        for (k, v) in items {
            let depth = self.bound.len();
            if let Some(kv) = &f.key_var {
                self.bound.push((kv.to_string(), k));
            }
            self.bound.push((f.value_var.to_string(), v));
            let keep = match &f.cond_expr {
                None => true,
                Some(c) => match self.eval(c)? {
                    Value::Null => return fail("Condition is null: The value of the 'if' clause must not be null"),
                    v => convert::to_bool(&v).map_err(|_| Error("Invalid 'for' condition: The 'if' clause value is invalid: bool required".into()))?,
                },
            };
            if keep {
                let value = self.eval(&f.value_expr)?;
                match &f.key_expr {
                    None => list.push(value),
                    Some(ke) => {
                        let key = self.key(ke, true)?;
                        match (f.grouping, object.get_mut(&key)) {
                            (true, Some(Value::Array(group))) => group.push(value),
                            (true, _) => {
                                object.insert(key, Value::Array(vec![value]));
                            }
                            (false, Some(_)) => {
                                return fail(format!("Duplicate object key: Two different items produced the key {key:?} in this 'for' expression. If duplicates are expected, use the ellipsis (...) after the value expression to enable grouping by key"));
                            }
                            (false, None) => {
                                object.insert(key, value);
                            }
                        }
                    }
                }
            }
            self.bound.truncate(depth);
        }
        Ok(match f.key_expr {
            None => Value::Array(list),
            Some(_) => Value::Object(object),
        })
    }

    /// The (key, value) pairs a `for` iterates: a list's by index, an object's in key order.
    fn collection(&mut self, e: &Expression) -> Result<Vec<(Value, Value)>> {
        match self.eval(e)? {
            Value::Array(items) => Ok(items
                .into_iter()
                .enumerate()
                .map(|(i, v)| (Value::from(i), v))
                .collect()),
            Value::Object(members) => {
                let mut pairs: Vec<(String, Value)> = members.into_iter().collect();
                pairs.sort_by(|a, b| a.0.cmp(&b.0));
                Ok(pairs
                    .into_iter()
                    .map(|(k, v)| (Value::String(k), v))
                    .collect())
            }
            Value::Null => fail("Iteration over null value: A null value cannot be used as the collection in a 'for' expression"),
            other => fail(format!(
                "Iteration over non-iterable value: A value of type {} cannot be used as the collection in a 'for' expression",
                convert::type_name(&other)
            )),
        }
    }

    /// `templatestring(ref, vars)`: the string `ref` names, rendered as a template with `vars`.
    fn templatestring(&mut self, args: &[Expression]) -> Result<Value> {
        const INVALID: &str = "error calling function `templatestring`: Invalid value for \"template\" parameter: invalid template expression";
        match &args[0] {
            Expression::Variable(_) => {}
            Expression::Traversal(t) if matches!(t.expr, Expression::Variable(_)) => {}
            Expression::String(_) | Expression::TemplateExpr(_) => return fail(format!(
                "{INVALID}: templatestring is only for rendering templates retrieved dynamically from elsewhere; to render an inline template, consider using a plain template string expression"
            )),
            _ => return fail(format!(
                "{INVALID}: must be a direct reference to a single string from elsewhere, containing valid Terraform template syntax"
            )),
        }
        let source = self.eval(&args[0])?;
        let Value::String(source) = source else {
            return fail(format!(
                "error calling function `templatestring`: invalid template value: a string is required, not {}",
                convert::type_name(&source)
            ));
        };
        let Value::Object(vars) = self.eval(&args[1])? else {
            return fail(
                "error calling function `templatestring`: invalid vars value: must be a map",
            );
        };
        render(&source, &vars, self.funcs)
            .map(Value::String)
            .map_err(|e| Error(format!("error calling function `templatestring`: {e}")))
    }
}

fn unary(op: UnaryOperator, v: Value) -> Result<Value> {
    match op {
        UnaryOperator::Not => match v {
            Value::Null => {
                fail("Operation failed: Error during operation: argument must not be null")
            }
            v => convert::to_bool(&v).map(|b| Value::Bool(!b)).map_err(|_| {
                Error(
                    "Invalid operand: Unsuitable value for unary operand: a bool is required"
                        .into(),
                )
            }),
        },
        UnaryOperator::Neg => match convert::to_number(&v) {
            Ok(n) => Ok(number::negate(&n)),
            Err(_) => {
                fail("Invalid operand: Unsuitable value for unary operand: a number is required")
            }
        },
    }
}

fn binary(lhs: Value, op: BinaryOperator, rhs: Value) -> Result<Value> {
    use BinaryOperator as B;
    let arith = match op {
        B::Eq => return Ok(Value::Bool(convert::equal(&lhs, &rhs))),
        B::NotEq => return Ok(Value::Bool(!convert::equal(&lhs, &rhs))),
        B::And | B::Or => {
            let (a, b) = (operand_bool(&lhs, "left")?, operand_bool(&rhs, "right")?);
            return Ok(Value::Bool(if op == B::And { a && b } else { a || b }));
        }
        B::Less | B::LessEq | B::Greater | B::GreaterEq => {
            let (a, b) = (
                operand_number(&lhs, "left")?,
                operand_number(&rhs, "right")?,
            );
            let ord = number::compare(&a, &b);
            return Ok(Value::Bool(match op {
                B::Less => ord.is_lt(),
                B::LessEq => ord.is_le(),
                B::Greater => ord.is_gt(),
                _ => ord.is_ge(),
            }));
        }
        B::Plus => Arith::Add,
        B::Minus => Arith::Sub,
        B::Mul => Arith::Mul,
        B::Div => Arith::Div,
        B::Mod => Arith::Rem,
    };
    let (a, b) = (
        operand_number(&lhs, "left")?,
        operand_number(&rhs, "right")?,
    );
    number::arith(arith, &a, &b).map_err(|e| Error(format!("arithmetic: {e}")))
}

fn operand_number(v: &Value, side: &str) -> Result<hcl::Number> {
    match v {
        Value::Null => fail("Operation failed: Error during operation: argument must not be null"),
        v => convert::to_number(v).map_err(|_| {
            Error(format!(
                "Invalid operand: Unsuitable value for {side} operand: a number is required"
            ))
        }),
    }
}

fn operand_bool(v: &Value, side: &str) -> Result<bool> {
    match v {
        Value::Null => fail("Operation failed: Error during operation: argument must not be null"),
        v => convert::to_bool(v).map_err(|_| {
            Error(format!(
                "Invalid operand: Unsuitable value for {side} operand: a bool is required"
            ))
        }),
    }
}

#[cfg(test)]
mod tests;
