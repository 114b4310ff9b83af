//! The exhaustive transition table, checked pair by pair, and the same table rendered into
//! `docs/subscriptions.md` so the docs show exactly what the code enforces.

mod invariants;
mod table;

use super::*;
