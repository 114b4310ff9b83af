//! The exhaustive transition table, checked pair by pair, and the same table rendered into
//! `docs/subscriptions.md` so the docs show exactly what the code enforces; the invariants over
//! arbitrary states; single rules at their edges, which neither reaches (`rules`).

mod invariants;
mod rules;
mod table;

use super::*;
