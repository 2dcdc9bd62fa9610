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
