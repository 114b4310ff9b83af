//! What kind of failure an error is, said by the crate that raises it.
//!
//! A domain error knows whether the caller named something missing, asked for something the
//! state forbids or hit a broken dependency; only the api knows HTTP. Each domain error says its
//! [`ErrorClass`] through [`Classified`], and the api turns a class into a status once
//! (`crates/app/src/error.rs`), keeping explicit mappings only for the extra members a problem
//! carries. A new variant is classified where it is defined, beside its code.

/// The kinds of failure, each with what a caller can do about it. The api gives each its own
/// status; nothing here depends on that choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// The request cannot be carried out as asked: a value is malformed or out of range, or does
    /// not fit what it acts on (more than the funds available or the sum held, another currency
    /// than the wallet's). The same request fails again; a different one may not.
    Invalid,
    /// What the request names does not exist, or the caller may not see it (and is told the
    /// same, so ids cannot be probed).
    NotFound,
    /// The state of what the request acts on forbids it: it exists already, is frozen or
    /// suspended, is in a status the operation does not apply to, or an idempotency key already
    /// names something else. Another action has to change that state first.
    Conflict,
    /// The organization's standing does not allow it now: its subscription is not active.
    /// Paying or renewing lifts it.
    NotEntitled,
    /// What the request acts on is momentarily taken by concurrent work (a lock timeout, a
    /// serialization conflict): the same request may succeed if retried shortly.
    Busy,
    /// A dependency (the database, its pool) could not be reached, or the connection to it was
    /// lost mid-operation: the same request may succeed when retried. Its cause is logged, never
    /// told to the caller.
    Unavailable,
    /// The system failed (a bug, corrupt stored data, an unexpected database error): retrying
    /// will not help. Its cause is logged, never told to the caller.
    Internal,
}

impl ErrorClass {
    /// Every class, for tests that map each one.
    pub const ALL: [Self; 7] = [
        Self::Invalid,
        Self::NotFound,
        Self::Conflict,
        Self::NotEntitled,
        Self::Busy,
        Self::Unavailable,
        Self::Internal,
    ];

    /// The system's failure rather than something about the request: the error's text may hold
    /// SQL, hostnames or stored data, so it stays in the log.
    pub const fn is_fault(self) -> bool {
        matches!(self, Self::Unavailable | Self::Internal)
    }

    /// The same request, unchanged, may succeed if simply tried again shortly.
    pub const fn is_retryable(self) -> bool {
        matches!(self, Self::Busy | Self::Unavailable)
    }

    /// The class of an error from a step the caller did not ask for (writing to the outbox while
    /// applying an event, say): whatever it says about that step's own input is the system's
    /// fault, except that a lost connection stays retryable.
    #[must_use]
    pub const fn as_fault(self) -> Self {
        match self {
            Self::Unavailable => Self::Unavailable,
            _ => Self::Internal,
        }
    }
}

/// An error that says its [`ErrorClass`] and its stable, machine-readable code
/// (`WALLET_NOT_FOUND`, `INSUFFICIENT_FUNDS` ...). Its `Display` text is meant for the caller
/// unless the class [is a fault](ErrorClass::is_fault).
pub trait Classified {
    fn class(&self) -> ErrorClass;

    /// Never changes once published: clients branch on it.
    fn code(&self) -> &'static str;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unavailable_and_internal_are_faults() {
        let faults: Vec<ErrorClass> = ErrorClass::ALL
            .into_iter()
            .filter(|class| class.is_fault())
            .collect();
        assert_eq!(faults, [ErrorClass::Unavailable, ErrorClass::Internal]);
    }

    #[test]
    fn busy_and_unavailable_are_retryable_and_nothing_else() {
        let retryable: Vec<ErrorClass> = ErrorClass::ALL
            .into_iter()
            .filter(|class| class.is_retryable())
            .collect();
        assert_eq!(retryable, [ErrorClass::Busy, ErrorClass::Unavailable]);
    }

    #[test]
    fn a_failed_step_is_a_fault_that_stays_retryable_only_when_unavailable() {
        for class in ErrorClass::ALL {
            let step = class.as_fault();
            assert!(step.is_fault(), "{class:?}");
            assert_eq!(
                step == ErrorClass::Unavailable,
                class == ErrorClass::Unavailable
            );
        }
    }
}
