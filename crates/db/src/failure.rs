//! What a database error means for the request that met it: a lost connection is worth a retry
//! on a new one, anything else is the system's failure. One check, shared by every domain crate
//! (to classify its errors) and by the api (for errors it meets itself).

use diesel::result::{DatabaseErrorKind, Error};
use primitives::ErrorClass;

/// [`ErrorClass::Unavailable`] when the connection was lost under the request (see
/// [`connection_lost`]), else [`ErrorClass::Internal`].
pub fn error_class(error: &Error) -> ErrorClass {
    if connection_lost(error) {
        ErrorClass::Unavailable
    } else {
        ErrorClass::Internal
    }
}

/// Whether the database connection was lost under this request: the server ended the session
/// (`pg_terminate_backend`, a restart, a failover), the socket broke, or a rollback that could
/// not reach the server left the connection unusable. The pool discards such a connection, so a
/// retry gets a new one.
///
/// A write refused because the server is read-only (SQLSTATE 25006: the connection reaches a
/// primary that was demoted to a standby after a failover) counts too: nothing was written, and
/// the pool replaces the connections to that node (`pool.rs`), so a retry reaches the new
/// primary through the URL's `target_session_attrs=read-write`.
///
/// diesel-async reports a broken socket as `UnableToSendCommand` (tokio-postgres errors without
/// a SQLSTATE) and the server's own goodbye (SQLSTATE 57P01 to 57P05, class 08) as `Unknown`,
/// whose SQLSTATE it does not pass on; those are told by PostgreSQL's message, whose wording is
/// stable (and English unless `lc_messages` says otherwise).
pub fn connection_lost(error: &Error) -> bool {
    match error {
        Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        )
        | Error::BrokenTransactionManager => true,
        error if refused_as_read_only(error) => true,
        Error::DatabaseError(_, info) => ended_by_server(info.message()),
        Error::RollbackErrorOnCommit {
            rollback_error,
            commit_error,
        } => connection_lost(rollback_error) || connection_lost(commit_error),
        _ => false,
    }
}

/// SQLSTATE 25006 `read_only_sql_transaction`: "cannot execute INSERT in a read-only
/// transaction", from a hot standby or a server with `default_transaction_read_only`. The
/// services never open read-only transactions themselves, so it always means the node.
pub(crate) fn refused_as_read_only(error: &Error) -> bool {
    match error {
        Error::DatabaseError(DatabaseErrorKind::ReadOnlyTransaction, _) => true,
        Error::RollbackErrorOnCommit { commit_error, .. } => refused_as_read_only(commit_error),
        _ => false,
    }
}

fn ended_by_server(message: &str) -> bool {
    const GOODBYES: [&str; 5] = [
        // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P05 idle_session_timeout, 25P03
        // idle_in_transaction_session_timeout: "terminating connection due to ..."
        "terminating connection",
        // 57P03 cannot_connect_now: "the database system is shutting down", "... starting up"
        "the database system is",
        // libpq-style wording of a broken socket, and tokio-postgres's
        "server closed the connection",
        "connection closed",
        "connection reset",
    ];
    let message = message.to_ascii_lowercase();
    GOODBYES.iter().any(|goodbye| message.contains(goodbye))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database(kind: DatabaseErrorKind, message: &str) -> Error {
        Error::DatabaseError(kind, Box::new(message.to_owned()))
    }

    #[test]
    fn a_lost_connection_is_unavailable() {
        for error in [
            database(
                DatabaseErrorKind::Unknown,
                "terminating connection due to administrator command",
            ),
            database(DatabaseErrorKind::UnableToSendCommand, "connection closed"),
            database(DatabaseErrorKind::ClosedConnection, "secret detail"),
            database(
                DatabaseErrorKind::Unknown,
                "the database system is shutting down",
            ),
            database(
                DatabaseErrorKind::Unknown,
                "server closed the connection unexpectedly",
            ),
            Error::BrokenTransactionManager,
            database(
                DatabaseErrorKind::ReadOnlyTransaction,
                "cannot execute INSERT in a read-only transaction",
            ),
            Error::RollbackErrorOnCommit {
                rollback_error: Box::new(Error::BrokenTransactionManager),
                commit_error: Box::new(database(
                    DatabaseErrorKind::UnableToSendCommand,
                    "connection reset by peer",
                )),
            },
        ] {
            assert!(connection_lost(&error), "{error:?}");
            assert_eq!(error_class(&error), ErrorClass::Unavailable, "{error:?}");
        }
    }

    #[test]
    fn any_other_database_error_is_internal() {
        for error in [
            Error::NotFound,
            database(
                DatabaseErrorKind::CheckViolation,
                "new row violates check constraint",
            ),
            database(
                DatabaseErrorKind::Unknown,
                "relation \"wallets\" does not exist",
            ),
            Error::RollbackErrorOnCommit {
                rollback_error: Box::new(Error::NotFound),
                commit_error: Box::new(Error::NotFound),
            },
        ] {
            assert!(!connection_lost(&error), "{error:?}");
            assert_eq!(error_class(&error), ErrorClass::Internal, "{error:?}");
        }
    }
}
