//! The storage error every backend returns, whatever the domain: the bottom
//! layer of the storage traits, so that a domain's model can name it without
//! naming the backends.

/// A storage failure, independent of the backend.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The backend cannot be reached or timed out: the client may retry later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The backend answered something unexpected (a bug or corrupted data).
    #[error("storage error: {0}")]
    Internal(String),
}

pub type StoreResult<T> = Result<T, StoreError>;
