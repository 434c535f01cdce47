//! How storage failures become the domain's `RepoError`, in one place.

use std::convert::Infallible;

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use domain::repo::{OpError, RepoError};

/// A failure inside a storage operation. `R` is the domain refusal the operation may end
/// with. Internal query helpers return diesel's `QueryResult`; `?` lifts it into this.
#[derive(Debug)]
pub(crate) enum Fail<R = Infallible> {
    Db(DieselError),
    Pool(NoConnection),
    NotFound,
    Conflict(&'static str),
    /// A stored value the domain cannot read back.
    Corrupt(String),
    Refused(R),
    /// The connection was lost while a write was being committed (see [`Fail::committing`]).
    InDoubt(DieselError),
}

impl<R> From<DieselError> for Fail<R> {
    fn from(error: DieselError) -> Self {
        match error {
            DieselError::NotFound => Self::NotFound,
            other => Self::Db(other),
        }
    }
}

/// No pooled connection within the wait. The pool's own error names the database's refusal
/// only when r2d2 made the attempt; ours retry inside the connection manager, so the refusal
/// they met is carried here instead (`reason`), for the 503's cause and the readiness answer.
#[derive(Debug)]
pub(crate) struct NoConnection {
    pub(crate) pool: diesel::r2d2::PoolError,
    pub(crate) reason: Option<String>,
}

impl std::fmt::Display for NoConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.reason {
            Some(reason) => write!(f, "timed out waiting for connection: {reason}"),
            None => self.pool.fmt(f),
        }
    }
}

impl std::error::Error for NoConnection {}

impl<R> Fail<R> {
    pub(crate) fn corrupt(what: impl std::fmt::Display) -> Self {
        Self::Corrupt(what.to_string())
    }

    /// This failure, of a statement that commits on its own: a lost connection leaves it
    /// unknown whether the statement's commit happened before the loss.
    pub(crate) fn committing(self) -> Self {
        match self {
            Self::Db(error) if is_lost(&error) => Self::InDoubt(error),
            other => other,
        }
    }
}

impl<R> Fail<R> {
    /// The same failure inside an operation with another kind of refusal; `refused` decides
    /// what this one's refusal becomes there.
    pub(crate) fn map_refusal<S>(self, refused: impl FnOnce(R) -> Fail<S>) -> Fail<S> {
        match self {
            Self::Db(e) => Fail::Db(e),
            Self::Pool(e) => Fail::Pool(e),
            Self::NotFound => Fail::NotFound,
            Self::Conflict(field) => Fail::Conflict(field),
            Self::Corrupt(what) => Fail::Corrupt(what),
            Self::InDoubt(e) => Fail::InDoubt(e),
            Self::Refused(refusal) => refused(refusal),
        }
    }
}

/// A unique violation becomes a conflict on `field`; anything else passes through.
pub(crate) trait ConflictOn<T> {
    fn conflict_on<R>(self, field: &'static str) -> Result<T, Fail<R>>;
}

impl<T> ConflictOn<T> for Result<T, DieselError> {
    fn conflict_on<R>(self, field: &'static str) -> Result<T, Fail<R>> {
        self.map_err(|error| match error {
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => Fail::Conflict(field),
            other => Fail::from(other),
        })
    }
}

/// What PostgreSQL and libpq say when the server goes away mid-statement.
const GOING_AWAY: [&str; 9] = [
    "terminating connection due to administrator command",
    "terminating connection because of crash of another server process",
    "the database system is shutting down",
    "the database system is starting up",
    "server closed the connection unexpectedly",
    // libpq, for a statement sent on a connection it already saw lost: the rollback after a
    // statement cut off, whose error is the one a write then answers.
    "no connection to the server",
    // libpq, when the socket itself fails, in plain text or under TLS.
    "could not send data to server",
    "could not receive data from server",
    "SSL connection has been closed unexpectedly",
];

impl<R> Fail<R> {
    /// The connection's server is gone (not merely busy): the connection is of no more use.
    pub(crate) fn lost_connection(&self) -> bool {
        matches!(self, Self::Db(error) | Self::InDoubt(error) if is_lost(error))
    }
}

/// PostgreSQL stopping or starting under a statement (SQLSTATE class 57P, which diesel
/// reports as an unknown error), or libpq losing the connection.
fn is_lost(error: &DieselError) -> bool {
    match error {
        DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => true,
        // A commit cut off by the server going away, whose rollback then failed too.
        DieselError::RollbackErrorOnCommit { commit_error, .. } => is_lost(commit_error),
        DieselError::DatabaseError(_, info) => GOING_AWAY.iter().any(|words| info.message().contains(words)),
        _ => false,
    }
}

fn is_unavailable(error: &DieselError) -> bool {
    match error {
        _ if is_lost(error) => true,
        DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _)
        | DieselError::BrokenTransactionManager => true,
        DieselError::DatabaseError(_, info) => {
            // SQLite: another writer held the lock past busy_timeout.
            info.message().contains("database is locked") || info.message().contains("database is busy")
        }
        _ => false,
    }
}

fn repo_error<R>(fail: Fail<R>) -> Result<RepoError, R> {
    Ok(match fail {
        Fail::NotFound => RepoError::NotFound,
        Fail::Conflict(field) => RepoError::Conflict(field),
        Fail::Pool(error) => RepoError::Unavailable(Box::new(error)),
        Fail::InDoubt(error) => RepoError::InDoubt(Box::new(error)),
        // A `COMMIT` cut off by the server going away: it may have been applied before.
        Fail::Db(error @ DieselError::RollbackErrorOnCommit { .. }) if is_lost(&error) => {
            RepoError::InDoubt(Box::new(error))
        }
        Fail::Db(error) if is_unavailable(&error) => RepoError::Unavailable(Box::new(error)),
        Fail::Db(error) => RepoError::Other(Box::new(error)),
        Fail::Corrupt(what) => RepoError::Other(format!("stored data cannot be read: {what}").into()),
        Fail::Refused(refusal) => return Err(refusal),
    })
}

impl From<Fail> for RepoError {
    fn from(fail: Fail) -> Self {
        match repo_error(fail) {
            Ok(error) => error,
            Err(never) => match never {},
        }
    }
}

impl<R> From<Fail<R>> for OpError<R> {
    fn from(fail: Fail<R>) -> Self {
        match repo_error(fail) {
            Ok(error) => OpError::Repo(error),
            Err(refusal) => OpError::Refused(refusal),
        }
    }
}

/// `error` for each of `count` requests that failed together (a batch's write): the first gets
/// it as it is, the others the same kind of failure with its message, so each is answered as
/// it would have been alone.
pub(crate) fn copies_of(error: RepoError, count: usize) -> Vec<RepoError> {
    let copy = || match &error {
        RepoError::NotFound => RepoError::NotFound,
        RepoError::Conflict(field) => RepoError::Conflict(field),
        RepoError::Unavailable(source) => RepoError::Unavailable(source.to_string().into()),
        RepoError::InDoubt(source) => RepoError::InDoubt(source.to_string().into()),
        RepoError::Other(source) => RepoError::Other(source.to_string().into()),
    };
    let mut copies: Vec<RepoError> = (1..count).map(|_| copy()).collect();
    if count > 0 {
        copies.insert(0, error);
    }
    copies
}

#[cfg(test)]
mod tests {
    use diesel::result::{DatabaseErrorKind, Error as DieselError};

    use domain::repo::RepoError;

    use super::{Fail, copies_of, is_unavailable};

    fn unknown(message: &str) -> DieselError {
        DieselError::DatabaseError(DatabaseErrorKind::Unknown, Box::new(message.to_owned()))
    }

    #[test]
    fn a_server_going_away_under_a_statement_is_unavailability_not_a_fault() {
        assert!(is_unavailable(&unknown("terminating connection due to administrator command")));
        assert!(is_unavailable(&unknown("FATAL:  the database system is shutting down")));
        assert!(is_unavailable(&unknown(
            "server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally"
        )));
        assert!(!is_unavailable(&unknown("syntax error at or near \"SELEC\"")));
    }

    #[test]
    fn a_rollback_on_a_connection_already_lost_is_unavailability_not_a_fault() {
        assert!(is_unavailable(&unknown("no connection to the server\n")));
        assert!(is_unavailable(&unknown("could not send data to server: Broken pipe")));
        assert!(is_unavailable(&unknown("SSL connection has been closed unexpectedly")));
    }

    /// The server cannot know whether a `COMMIT` cut off by the database going away was
    /// applied, and must not answer as if it was not.
    #[test]
    fn a_commit_cut_off_by_the_server_going_away_is_in_doubt() {
        let cut_off = DieselError::RollbackErrorOnCommit {
            rollback_error: Box::new(DieselError::BrokenTransactionManager),
            commit_error: Box::new(unknown("server closed the connection unexpectedly")),
        };
        assert!(matches!(RepoError::from(Fail::Db(cut_off)), RepoError::InDoubt(_)));
        let refused = DieselError::RollbackErrorOnCommit {
            rollback_error: Box::new(DieselError::BrokenTransactionManager),
            commit_error: Box::new(unknown("deferred constraint violated")),
        };
        assert!(matches!(RepoError::from(Fail::Db(refused)), RepoError::Other(_)));
        // A statement that commits on its own is in doubt when cut off; one inside a
        // transaction is not (its transaction never committed).
        let lost = || Fail::Db(unknown("terminating connection due to administrator command"));
        assert!(matches!(RepoError::from(lost().committing()), RepoError::InDoubt(_)));
        assert!(matches!(RepoError::from(lost()), RepoError::Unavailable(_)));
        let refused: Fail = Fail::Db(unknown("deferred constraint violated"));
        assert!(matches!(RepoError::from(refused.committing()), RepoError::Other(_)));
    }

    #[test]
    fn a_failure_shared_by_a_batch_reaches_each_request_as_the_same_kind() {
        let kinds = |errors: Vec<RepoError>| -> Vec<String> {
            errors
                .iter()
                .map(|error| {
                    format!(
                        "{error}: {}",
                        std::error::Error::source(error).map(ToString::to_string).unwrap_or_default()
                    )
                })
                .collect()
        };
        let unavailable = RepoError::Unavailable("the database is away".into());
        assert_eq!(kinds(copies_of(unavailable, 3)), vec!["database unavailable: the database is away"; 3]);
        assert_eq!(kinds(copies_of(RepoError::Conflict("name"), 2)), vec!["name is already taken: "; 2]);
        assert!(copies_of(RepoError::NotFound, 0).is_empty());
    }
}
