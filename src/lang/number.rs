//! Numbers as Terraform computes them.
//!
//! Terraform's numbers are arbitrary-precision decimals, so `0.1 + 0.2` is
//! `0.3` and a whole number keeps every digit. Values here are `hcl::Number`
//! (a 64-bit integer or float); arithmetic reads each operand back as the
//! decimal it was written as (its shortest round-trip digits), computes in
//! 28-digit decimal and only then rounds to the nearest float. Integers
//! stay integers while they fit in 64 bits; results beyond 28 digits fall
//! back to float arithmetic.

use hcl::{Number, Value};
use rust_decimal::Decimal;
use std::cmp::Ordering;
use std::str::FromStr;

/// An arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

/// `a op b`, or why it has no value.
pub fn arith(op: Arith, a: &Number, b: &Number) -> Result<Value, String> {
    if matches!(op, Arith::Div | Arith::Rem) && float(b) == 0.0 {
        return Err(match op {
            Arith::Div => "division by zero".into(),
            _ => "modulo by zero".into(),
        });
    }
    if let (Some(x), Some(y)) = (decimal(a), decimal(b)) {
        let exact = match op {
            Arith::Add => x.checked_add(y),
            Arith::Sub => x.checked_sub(y),
            Arith::Mul => x.checked_mul(y),
            Arith::Div => x.checked_div(y),
            Arith::Rem => x.checked_rem(y),
        };
        if let Some(r) = exact {
            return from_decimal(r);
        }
    }
    let (x, y) = (float(a), float(b));
    finite(match op {
        Arith::Add => x + y,
        Arith::Sub => x - y,
        Arith::Mul => x * y,
        Arith::Div => x / y,
        Arith::Rem => x % y,
    })
}

/// `-n`.
pub fn negate(n: &Number) -> Value {
    match n.as_i64().and_then(i64::checked_neg) {
        Some(i) => Value::from(i),
        None => finite(-float(n)).unwrap_or(Value::Null),
    }
}

/// How `a` compares with `b` by value (`1` equals `1.0`).
pub fn compare(a: &Number, b: &Number) -> Ordering {
    match (decimal(a), decimal(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        _ => float(a).total_cmp(&float(b)),
    }
}

/// A float as a value: whole numbers as integers; not finite: an error.
pub fn finite(n: f64) -> Result<Value, String> {
    if n.fract() == 0.0 && n.abs() < 9e15 {
        return Ok(Value::from(n as i64));
    }
    Number::from_f64(n)
        .map(Value::Number)
        .ok_or_else(|| "the result is not a finite number".to_string())
}

/// A number as Terraform writes it into a string: all its digits, never an exponent.
pub fn text(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = float(n);
    if f.fract() != 0.0 || f.abs() < 1e21 {
        return format!("{f}");
    }
    // Beyond 2^53 a float's binary digits are not the ones written: expand
    // its shortest decimal form (`1.5e300`) instead, as Terraform's decimals do.
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let zeros = exp.parse::<usize>().unwrap_or(0) + 1
        - digits.len().min(1 + exp.parse::<usize>().unwrap_or(0));
    format!("{sign}{digits}{}", "0".repeat(zeros))
}

/// Parses a number the way Terraform converts a string to one: decimal
/// digits with an optional sign, fraction and exponent; nothing around them.
pub fn parse(s: &str) -> Option<Number> {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let digits_first = body
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit() || c == '.');
    if !digits_first
        || !body
            .chars()
            .all(|c| c.is_ascii_digit() || "+-.eE".contains(c))
    {
        return None;
    }
    if let Ok(i) = s.strip_prefix('+').unwrap_or(s).parse::<i64>() {
        return Some(Number::from(i));
    }
    let f = s.parse::<f64>().ok()?;
    match finite(f).ok()? {
        Value::Number(n) => Some(n),
        _ => None,
    }
}

fn float(n: &Number) -> f64 {
    n.as_f64().unwrap_or(0.0)
}

fn decimal(n: &Number) -> Option<Decimal> {
    if let Some(i) = n.as_i64() {
        return Some(Decimal::from(i));
    }
    // `{}` of a float is its shortest round-trip decimal, never an exponent.
    Decimal::from_str(&format!("{}", float(n))).ok()
}

fn from_decimal(d: Decimal) -> Result<Value, String> {
    let d = d.normalize();
    if d.fract().is_zero() {
        if let Ok(i) = i64::try_from(d) {
            return Ok(Value::from(i));
        }
    }
    // Rounded once, from the decimal digits to the nearest float.
    finite(d.to_string().parse::<f64>().unwrap_or(f64::NAN))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: f64) -> Number {
        match finite(v).unwrap() {
            Value::Number(n) => n,
            _ => unreachable!(),
        }
    }

    #[test]
    fn decimal_sums_are_exact() {
        assert_eq!(arith(Arith::Add, &n(0.1), &n(0.2)), Ok(Value::from(0.3)));
        assert_eq!(arith(Arith::Mul, &n(1.1), &n(3.0)), Ok(Value::from(3.3)));
        assert_eq!(
            arith(Arith::Div, &n(1.0), &n(3.0)),
            Ok(Value::from(1.0 / 3.0))
        );
        assert_eq!(arith(Arith::Div, &n(6.0), &n(3.0)), Ok(Value::from(2)));
        assert_eq!(arith(Arith::Rem, &n(-5.0), &n(3.0)), Ok(Value::from(-2)));
        assert_eq!(arith(Arith::Rem, &n(5.5), &n(2.0)), Ok(Value::from(1.5)));
    }

    #[test]
    fn zero_divisors_and_overflow() {
        assert!(arith(Arith::Div, &n(1.0), &n(0.0)).is_err());
        assert!(arith(Arith::Rem, &n(1.0), &n(0.0)).is_err());
        let big = Number::from(i64::MAX);
        assert_eq!(
            arith(Arith::Add, &big, &Number::from(1)),
            Ok(Value::from(9.223372036854776e18))
        );
        assert_eq!(
            negate(&Number::from(i64::MIN)),
            Value::from(9.223372036854776e18)
        );
    }

    #[test]
    fn numbers_as_text_and_back() {
        assert_eq!(text(&n(1.5)), "1.5");
        assert_eq!(text(&n(1e20)), "100000000000000000000");
        assert_eq!(text(&n(1.5e30)), "1500000000000000000000000000000");
        assert_eq!(text(&n(-2e21)), "-2000000000000000000000");
        assert_eq!(parse("12"), Some(Number::from(12)));
        assert_eq!(parse("-1.5e2"), Some(Number::from(-150)));
        for bad in ["", "abc", " 1", "1 ", "0x10", "inf", "NaN", "-"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
