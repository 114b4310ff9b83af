//! Human progress lines on stderr (stdout is reserved for the JSON lines of [`crate::output`]).

use std::fmt;

/// `[bench] message` on stderr.
pub fn progress(bench: &str, message: fmt::Arguments<'_>) {
    eprintln!("[{bench}] {message}");
}
