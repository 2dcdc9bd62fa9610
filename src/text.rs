//! Words shared by every view and message: a leaf module, so that `apply`'s
//! notifications and `render`'s views phrase counts alike without importing
//! each other.

/// "1 node", "3 nodes".
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The most padding, precision or indentation a spec function may ask for:
/// a width of a trillion would end the process, not the expression.
pub const MAX_PAD: usize = 1_000_000;

/// Significant digits of a measured value as views print it.
pub const MEASURED_DIGITS: usize = 4;
/// Significant digits of a number in a plan: enough for any value a person
/// wrote, few enough to hide binary floating-point residue (`0.1 + 0.2`).
pub const VALUE_DIGITS: usize = 15;

/// `v` rounded to `digits` significant digits for display, without an
/// exponent, trailing zeros dropped: 0.123456 → "0.1235", 1234567 → "1235000"
/// at 4 digits. Stored values are never rounded; only their display is.
pub fn significant(v: f64, digits: usize) -> String {
    if !v.is_finite() || v == 0.0 {
        return format!("{v}");
    }
    let rounded: f64 = format!("{:.*e}", digits.max(1) - 1, v).parse().unwrap_or(v);
    format!("{rounded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_to_significant_digits() {
        assert_eq!(significant(0.123456, 4), "0.1235");
        assert_eq!(significant(1234567.0, 4), "1235000");
        assert_eq!(significant(0.000012346, 4), "0.00001235");
        assert_eq!(significant(0.1 + 0.2, VALUE_DIGITS), "0.3");
        assert_eq!(significant(42.0, 4), "42");
        assert_eq!(significant(-2.5, 4), "-2.5");
        assert_eq!(significant(0.0, 4), "0");
        assert_eq!(significant(f64::NAN, 4), "NaN");
    }
}
