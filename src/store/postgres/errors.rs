//! PostgreSQL failures as storage errors: a lost or read-only connection (the primary died,
//! a failover is under way) is [`StoreError::Unavailable`], which clients retry; anything
//! else is a backend failure.

use crate::store::StoreError;

/// SQLSTATE classes and codes after which a retry, on another connection, can succeed.
fn is_transient(code: &str) -> bool {
    const CLASSES: [&str; 4] = [
        "08", // connection exception
        "53", // insufficient resources
        "57", // operator intervention (admin shutdown, crash shutdown, cannot connect now)
        "40", // transaction rollback (serialization failure, deadlock)
    ];
    CLASSES.iter().any(|class| code.starts_with(class))
        // read_only_sql_transaction: connected to a standby (before or during a failover)
        || code == "25006"
}

/// A database error as a storage error.
pub(super) fn db_error(error: tokio_postgres::Error) -> StoreError {
    let transient = match error.code() {
        Some(state) => is_transient(state.code()),
        // No SQLSTATE: the connection itself failed (closed, I/O, timeout).
        None => true,
    };
    if transient {
        StoreError::Unavailable(std::sync::Arc::new(error))
    } else {
        StoreError::backend(error)
    }
}

/// Waiting for or making a pooled connection failed: the database cannot be reached.
pub(super) fn pool_error(error: deadpool_postgres::PoolError) -> StoreError {
    match error {
        deadpool_postgres::PoolError::Backend(e) => db_error(e),
        other => StoreError::Unavailable(std::sync::Arc::new(other)),
    }
}

/// Why the key for hashing emails cannot be used with this database.
#[derive(Debug, thiserror::Error)]
pub enum KeyMismatch {
    /// The configured key is not the one the database's comments were hashed with.
    #[error(
        "the hmac_secret configured here (or its absence) differs from the key this database's authors \
         were hashed with; configure the same hmac_secret on every frontend, or none on all of them \
         to share the key kept in the database"
    )]
    Different,
    /// The key could not be read or stored.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The key kept in the database is not a valid key.
    #[error("the key kept in the database is invalid")]
    Invalid(#[from] crate::privacy::SecretError),
}
