use std::fmt;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::secret::hash_secret;
use crate::closed_set::closed_set;
use crate::validation::{FieldError, TRIMMED_TEXT, TextRule};

closed_set! {
    /// What a key was made by: signing in (a session that slides) or asking for a token.
    pub enum LoginType {
        /// A session from signing in with a password.
        Password => "password",
        /// A named API token.
        Token => "token",
    }
}

/// A stored API key: a session (from login) or a named token. The secret is kept only as
/// its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The key's public half: the first part of the token, and how a request names it.
    pub id: String,
    /// Whose key it is.
    pub user_id: Uuid,
    /// SHA-256 of the secret half ([`hash_secret`](super::hash_secret)).
    pub hashed_secret: Vec<u8>,
    /// Session or token.
    pub login_type: LoginType,
    /// Empty for sessions.
    pub token_name: String,
    /// The lifetime it was given, in whole seconds; a session slides by this much.
    pub lifetime_seconds: i64,
    /// The instant it stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was last used, to the hour (see [`ApiKey::refresh`]).
    pub last_used: DateTime<Utc>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was last written.
    pub updated_at: DateTime<Utc>,
}

/// A key to store for a freshly generated token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiKey {
    /// The token's id, which becomes the key's id.
    pub id: String,
    /// SHA-256 of the token's secret.
    pub hashed_secret: Vec<u8>,
    /// Whose key it is.
    pub user_id: Uuid,
    /// Session or token.
    pub login_type: LoginType,
    /// The token's name; empty for sessions.
    pub token_name: String,
    /// How long it lasts from its creation.
    pub lifetime: Duration,
}

impl NewApiKey {
    /// The key for `token`, keeping only the hash of its secret.
    pub fn new(token: &ApiToken, user_id: Uuid, login_type: LoginType, token_name: String, lifetime: Duration) -> Self {
        Self {
            id: token.id().to_owned(),
            hashed_secret: hash_secret(token.secret()),
            user_id,
            login_type,
            token_name,
            lifetime,
        }
    }

    /// The key as stored when created at `now`.
    pub fn into_key(self, now: DateTime<Utc>) -> ApiKey {
        ApiKey {
            id: self.id,
            user_id: self.user_id,
            hashed_secret: self.hashed_secret,
            login_type: self.login_type,
            token_name: self.token_name,
            lifetime_seconds: self.lifetime.num_seconds(),
            expires_at: now + self.lifetime,
            last_used: now,
            created_at: now,
            updated_at: now,
        }
    }
}

/// Sliding writes happen at most once an hour per key, so a busy client does not turn every
/// read into a database write.
const REFRESH_EVERY: Duration = Duration::hours(1);

/// What to write back after a key was used, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRefresh {
    /// When the key was last used.
    pub last_used: DateTime<Utc>,
    /// When the key now expires.
    pub expires_at: DateTime<Utc>,
}

impl ApiKey {
    /// Whether the key no longer works at `now` (it expires at `expires_at` exactly).
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }

    /// Sessions slide forward to a full lifetime from now; tokens keep their end. Both record
    /// when they were last used. Nothing is written within an hour of the last write.
    pub fn refresh(&self, now: DateTime<Utc>) -> Option<KeyRefresh> {
        let stale_use = now - self.last_used > REFRESH_EVERY;
        let lifetime = Duration::seconds(self.lifetime_seconds);
        let slide = self.login_type == LoginType::Password && self.expires_at - now <= lifetime - REFRESH_EVERY;
        if !stale_use && !slide {
            return None;
        }
        Some(KeyRefresh {
            last_used: if stale_use { now } else { self.last_used },
            expires_at: if slide { now + lifetime } else { self.expires_at },
        })
    }
}

/// A presented token, `<10-char id>-<22-char secret>`, both alphanumeric.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken {
    id: String,
    secret: String,
}

/// Why a string is not a token; the texts are Coder's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenFormatError {
    /// Not two parts joined by a hyphen; holds how many there were.
    #[error("incorrect amount of API key parts, expected 2 got {0}")]
    Parts(usize),
    /// An id of the wrong length; holds its length.
    #[error("invalid API key ID length, expected {expected} got {0}", expected = ApiToken::ID_LEN)]
    IdLength(usize),
    /// A secret of the wrong length; holds its length.
    #[error("invalid API key secret length, expected {expected} got {0}", expected = ApiToken::SECRET_LEN)]
    SecretLength(usize),
    /// Something other than ASCII letters and digits.
    #[error("API key contains characters other than letters and digits")]
    Characters,
}

impl ApiToken {
    /// Length of the id part.
    pub const ID_LEN: usize = 10;
    /// Length of the secret part.
    pub const SECRET_LEN: usize = 22;

    /// Reads `<id>-<secret>`.
    pub fn parse(raw: &str) -> Result<Self, TokenFormatError> {
        let parts: Vec<&str> = raw.split('-').collect();
        let [id, secret] = parts.as_slice() else {
            return Err(TokenFormatError::Parts(parts.len()));
        };
        Self::from_parts(id, secret)
    }

    /// A token from its two parts, checked as [`ApiToken::parse`] checks them.
    pub fn from_parts(id: &str, secret: &str) -> Result<Self, TokenFormatError> {
        if id.len() != Self::ID_LEN {
            return Err(TokenFormatError::IdLength(id.len()));
        }
        if secret.len() != Self::SECRET_LEN {
            return Err(TokenFormatError::SecretLength(secret.len()));
        }
        if !id.bytes().chain(secret.bytes()).all(|b| b.is_ascii_alphanumeric()) {
            return Err(TokenFormatError::Characters);
        }
        Ok(Self { id: id.to_owned(), secret: secret.to_owned() })
    }

    /// Whether `raw` has the shape of a key id, so that a lookup by a malformed one is
    /// answered "not found" without asking the store.
    pub fn is_key_id(raw: &str) -> bool {
        raw.len() == Self::ID_LEN && raw.bytes().all(|b| b.is_ascii_alphanumeric())
    }

    /// The public half: the stored key's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The secret half, to hash or hand out once.
    pub fn secret(&self) -> &str {
        &self.secret
    }
}

impl fmt::Display for ApiToken {
    /// The whole token, as handed to the client once.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.id, self.secret)
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiToken({}-<redacted>)", self.id)
    }
}

/// A token's name: unique per user; 1-64 characters without white space at either end
/// (Coder itself checks nothing, but a name is meant to be read back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenName(String);

static TOKEN_NAME_RULE: TextRule =
    TextRule { min_chars: 1, max_chars: Some(64), pattern: Some(&TRIMMED_TEXT), excluded: None };

impl TokenName {
    /// 1-64 characters, no white space at either end, no NUL.
    pub fn rule() -> &'static TextRule {
        &TOKEN_NAME_RULE
    }

    /// Checks a token name: present, at most 64 bytes, no white space at either end.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        TOKEN_NAME_RULE.check_field("token_name", "token_name", raw)?;
        Ok(Self(raw.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a token cannot have the lifetime asked for; the texts are Coder's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenLifetimeError {
    /// The lifetime is below zero.
    #[error("lifetime must be positive number greater than 0")]
    Negative,
    /// The lifetime is beyond the deployment's maximum, which it holds.
    #[error("lifetime must be less than {}", format_duration(*.0))]
    TooLong(Duration),
}

/// The lifetime of a new token from the request's nanoseconds (Go's `time.Duration`): zero
/// means the default; more than the deployment's maximum is refused.
pub fn token_lifetime(requested_nanos: i64, default: Duration, max: Duration) -> Result<Duration, TokenLifetimeError> {
    if requested_nanos < 0 {
        return Err(TokenLifetimeError::Negative);
    }
    if requested_nanos == 0 {
        return Ok(default.min(max));
    }
    let requested = Duration::nanoseconds(requested_nanos);
    if requested > max {
        return Err(TokenLifetimeError::TooLong(max));
    }
    // Keys keep whole seconds; a sub-second lifetime would be expired on arrival.
    Ok(Duration::seconds(requested.num_seconds().max(1)))
}

/// Go's `time.Duration` rendering for whole hours, minutes and seconds (`168h0m0s`).
pub fn format_duration(duration: Duration) -> String {
    let total = duration.num_seconds();
    format!("{}h{}m{}s", total / 3600, (total % 3600) / 60, total % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(login_type: LoginType, now: DateTime<Utc>) -> ApiKey {
        let token = ApiToken::from_parts("abcdefghij", "abcdefghijklmnopqrstuv");
        let token = token.unwrap_or_else(|e| panic!("{e}"));
        NewApiKey::new(&token, Uuid::nil(), login_type, String::new(), Duration::hours(24)).into_key(now)
    }

    #[test]
    fn tokens_have_an_id_and_a_secret_of_fixed_length() {
        let parsed = ApiToken::parse("abcdefghij-abcdefghijklmnopqrstuv");
        assert_eq!(parsed.map(|t| t.to_string()), Ok("abcdefghij-abcdefghijklmnopqrstuv".to_owned()));
        assert_eq!(ApiToken::parse("nodash").err(), Some(TokenFormatError::Parts(1)));
        assert_eq!(ApiToken::parse("a-b-c").err(), Some(TokenFormatError::Parts(3)));
        assert_eq!(ApiToken::parse("short-abcdefghijklmnopqrstuv").err(), Some(TokenFormatError::IdLength(5)));
        assert_eq!(ApiToken::parse("abcdefghij-short").err(), Some(TokenFormatError::SecretLength(5)));
        assert_eq!(ApiToken::parse("abcdefghi!-abcdefghijklmnopqrstuv").err(), Some(TokenFormatError::Characters));
    }

    #[test]
    fn a_key_id_is_ten_letters_or_digits() {
        assert!(ApiToken::is_key_id("abcDEF1234"));
        for bad in ["abc", "abcdefghijk", "abcdefghi!", "abcdefghi\0"] {
            assert!(!ApiToken::is_key_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn format_errors_read_as_coders() {
        assert_eq!(TokenFormatError::Parts(1).to_string(), "incorrect amount of API key parts, expected 2 got 1");
        assert_eq!(TokenFormatError::IdLength(5).to_string(), "invalid API key ID length, expected 10 got 5");
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let token = ApiToken::parse("abcdefghij-abcdefghijklmnopqrstuv").ok();
        assert_eq!(format!("{token:?}"), "Some(ApiToken(abcdefghij-<redacted>))");
    }

    #[test]
    fn a_key_used_within_the_hour_writes_nothing() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let session = key(LoginType::Password, now);
        assert_eq!(session.refresh(now + Duration::minutes(59)), None);
    }

    #[test]
    fn a_session_used_after_an_hour_slides_to_a_full_lifetime() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let later = now + Duration::minutes(61);
        let refresh = key(LoginType::Password, now).refresh(later);
        assert_eq!(refresh, Some(KeyRefresh { last_used: later, expires_at: later + Duration::hours(24) }));
    }

    #[test]
    fn a_token_records_use_but_keeps_its_expiry() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let token = key(LoginType::Token, now);
        let later = now + Duration::hours(2);
        assert_eq!(token.refresh(later), Some(KeyRefresh { last_used: later, expires_at: token.expires_at }));
    }

    #[test]
    fn expiry_is_inclusive_of_the_end() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let session = key(LoginType::Password, now);
        assert!(!session.is_expired(now + Duration::hours(24) - Duration::microseconds(1)));
        assert!(session.is_expired(now + Duration::hours(24)));
    }

    #[test]
    fn token_lifetime_defaults_and_is_capped() {
        let week = Duration::days(7);
        let month = Duration::days(30);
        assert_eq!(token_lifetime(0, week, month), Ok(week));
        assert_eq!(token_lifetime(3_600_000_000_000, week, month), Ok(Duration::hours(1)));
        assert_eq!(token_lifetime(-1, week, month), Err(TokenLifetimeError::Negative));
        let too_long = Duration::days(31).num_nanoseconds().unwrap_or(i64::MAX);
        assert_eq!(token_lifetime(too_long, week, month), Err(TokenLifetimeError::TooLong(month)));
        assert_eq!(TokenLifetimeError::TooLong(month).to_string(), "lifetime must be less than 720h0m0s");
    }
}
