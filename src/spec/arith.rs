//! Checked arithmetic for spec expressions.
//!
//! hcl-rs evaluates `a % 0` and integer overflow with Rust's own operators,
//! which panic. The loader rewrites every arithmetic operation into a call of
//! a function declared here (also inside `"${…}"` templates), so that division
//! by zero and overflow are ordinary evaluation errors with a location, and
//! an integer result too large for 64 bits becomes a float, as Terraform's
//! arbitrary-precision numbers would hold it.

use hcl::edit::expr::{BinaryOperator, Expression, FuncArgs, FuncCall};
use hcl::edit::visit_mut::{visit_expr_mut, VisitMut};
use hcl::edit::Ident;
use hcl::eval::{Context, FuncArgs as Args, FuncDef, ParamType};
use hcl::{Number, Value};

/// The function each arithmetic operator becomes (named so that no spec function collides).
const OPS: [(BinaryOperator, &str); 5] = [
    (BinaryOperator::Plus, "__cutover_add"),
    (BinaryOperator::Minus, "__cutover_sub"),
    (BinaryOperator::Mul, "__cutover_mul"),
    (BinaryOperator::Div, "__cutover_div"),
    (BinaryOperator::Mod, "__cutover_mod"),
];

/// The prefix of the rewritten calls, which error messages leave out.
pub const PREFIX: &str = "__cutover_";

struct Checked;

impl VisitMut for Checked {
    fn visit_expr_mut(&mut self, e: &mut Expression) {
        visit_expr_mut(self, e);
        let Expression::BinaryOp(op) = e else { return };
        let Some((_, name)) = OPS.iter().find(|(o, _)| o == op.operator.value()) else {
            return;
        };
        let lhs = std::mem::replace(&mut op.lhs_expr, Expression::null());
        let rhs = std::mem::replace(&mut op.rhs_expr, Expression::null());
        let mut args = FuncArgs::new();
        args.push(lhs);
        args.push(rhs);
        *e = Expression::FuncCall(Box::new(FuncCall::new(Ident::new(*name), args)));
    }
}

/// Rewrites the arithmetic operations of `e` into checked calls.
pub fn rewrite(e: &mut Expression) {
    Checked.visit_expr_mut(e);
}

/// Evaluates an expression that needs no variables (a `-var` value, a
/// variable file's), with checked arithmetic.
pub fn eval_constant(mut e: Expression) -> Result<Value, hcl::eval::Error> {
    use hcl::eval::Evaluate;
    rewrite(&mut e);
    hcl::Expression::from(e).evaluate(&context())
}

/// Declares the checked operations in `ctx`.
pub fn declare(ctx: &mut Context) {
    for (op, name) in OPS {
        let def = FuncDef::builder()
            .params([ParamType::Number, ParamType::Number])
            .build(match op {
                BinaryOperator::Plus => add,
                BinaryOperator::Minus => sub,
                BinaryOperator::Mul => mul,
                BinaryOperator::Div => div,
                _ => rem,
            });
        ctx.declare_func(name, def);
    }
}

/// The checked operations and nothing else, declared once (many literals are
/// evaluated while a large spec is checked).
pub fn shared() -> &'static Context<'static> {
    static CONTEXT: std::sync::LazyLock<Context<'static>> = std::sync::LazyLock::new(context);
    &CONTEXT
}

/// A context with the checked operations and nothing else.
pub fn context() -> Context<'static> {
    let mut ctx = Context::new();
    declare(&mut ctx);
    ctx
}

fn operands(args: &Args) -> (Number, Number) {
    let n = |i: usize| match &args[i] {
        Value::Number(n) => *n,
        _ => Number::from(0),
    };
    (n(0), n(1))
}

/// An integer result when both operands are integers and it fits, else a float.
fn int_or_float(
    a: &Number,
    b: &Number,
    int: impl Fn(i64, i64) -> Option<i64>,
    float: impl Fn(f64, f64) -> f64,
) -> Result<Value, String> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        if let Some(r) = int(x, y) {
            return Ok(Value::from(r));
        }
    }
    let (x, y) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
    Number::from_f64(float(x, y))
        .map(Value::Number)
        .ok_or_else(|| "the result is not a finite number".to_string())
}

fn add(args: Args) -> Result<Value, String> {
    let (a, b) = operands(&args);
    int_or_float(&a, &b, i64::checked_add, |x, y| x + y)
}

fn sub(args: Args) -> Result<Value, String> {
    let (a, b) = operands(&args);
    int_or_float(&a, &b, i64::checked_sub, |x, y| x - y)
}

fn mul(args: Args) -> Result<Value, String> {
    let (a, b) = operands(&args);
    int_or_float(&a, &b, i64::checked_mul, |x, y| x * y)
}

fn div(args: Args) -> Result<Value, String> {
    let (a, b) = operands(&args);
    if b.as_f64() == Some(0.0) {
        return Err("division by zero".into());
    }
    let exact = |x: i64, y: i64| {
        (x.checked_rem(y) == Some(0))
            .then(|| x.checked_div(y))
            .flatten()
    };
    int_or_float(&a, &b, exact, |x, y| x / y)
}

fn rem(args: Args) -> Result<Value, String> {
    let (a, b) = operands(&args);
    if b.as_f64() == Some(0.0) {
        return Err("modulo by zero".into());
    }
    int_or_float(&a, &b, i64::checked_rem, |x, y| x % y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hcl::eval::Evaluate;

    fn eval(src: &str) -> Result<Value, String> {
        let mut e: Expression = src.parse().unwrap();
        rewrite(&mut e);
        hcl::Expression::from(e)
            .evaluate(&context())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(eval("7 % 3").unwrap(), Value::from(1));
        assert_eq!(eval("1 + 2 * 3").unwrap(), Value::from(7));
        assert_eq!(eval("7 / 2").unwrap(), Value::from(3.5));
        assert_eq!(eval("6 / 3").unwrap(), Value::from(2));
        assert!(eval("1 % 0").unwrap_err().contains("modulo by zero"));
        assert!(eval("1 / 0").unwrap_err().contains("division by zero"));
        assert_eq!(
            eval("9223372036854775807 + 1").unwrap(),
            Value::from(9223372036854775808.0)
        );
        assert_eq!(eval("\"n=${10 % 4}\"").unwrap(), Value::from("n=2"));
        assert!(eval("\"${1 % 0}\"").is_err());
    }
}
