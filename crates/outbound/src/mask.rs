//! Customer data in `Debug`: a struct holding names, emails, phone numbers, addresses or
//! message bodies writes its `Debug` by hand and shows those fields through [`masked`], so a
//! `{:?}` in a log line or a panic message never carries them.

use std::fmt;

/// A value shown as `"***"` (or `""` when empty, so "it was missing" can still be told apart
/// from "it was set").
#[derive(Clone, Copy)]
pub struct Masked<'a>(&'a str);

/// `value` masked for `Debug`.
pub fn masked(value: &str) -> Masked<'_> {
    Masked(value)
}

impl fmt::Debug for Masked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str("\"***\"")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_only_whether_the_value_is_there() {
        assert_eq!(format!("{:?}", masked("+94771234567")), "\"***\"");
        assert_eq!(format!("{:#?}", masked("a@b.lk")), "\"***\"");
        assert_eq!(format!("{:?}", masked("")), "\"\"");
    }
}
