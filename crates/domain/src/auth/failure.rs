use chrono::{DateTime, Utc};

use super::api_key::{ApiKey, ApiToken, TokenFormatError};
use super::secret::secret_matches;
use crate::user::UserStatus;

/// The message of every 401.
pub const SIGNED_OUT_MESSAGE: &str =
    "You are signed out or your session has expired. Please sign in again to continue.";

/// Why a request could not be authenticated, with Coder's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    /// No token in the cookie, the query, or a header.
    #[error("Cookie \"coder_session_token\" or query parameter must be provided.")]
    Missing,
    /// The token is not `<id>-<secret>`.
    #[error("Invalid API key format: {0}")]
    Format(TokenFormatError),
    /// No key has the token's id.
    #[error("API key is invalid.")]
    UnknownKey,
    /// The key exists but the secret does not match.
    #[error("API key secret is invalid.")]
    WrongSecret,
    /// The key expired at the instant held.
    #[error("API key expired at \"{}\".", crate::time::go_time_string(*.0))]
    Expired(DateTime<Utc>),
    /// The key is fine but its user may not sign in.
    #[error("User is not active (status = \"{}\"). Contact an admin to reactivate your account.", .0.as_str())]
    Inactive(UserStatus),
}

impl AuthFailure {
    /// The response message; the `Display` text goes in the detail, except for an inactive
    /// user, whose whole explanation is the message.
    pub fn message(&self) -> String {
        match self {
            Self::Inactive(_) => self.to_string(),
            _ => SIGNED_OUT_MESSAGE.to_owned(),
        }
    }

    /// The response detail: the `Display` text, except for an inactive user (none).
    pub fn detail(&self) -> Option<String> {
        match self {
            Self::Inactive(_) => None,
            _ => Some(self.to_string()),
        }
    }
}

/// Decides whether a presented token opens a stored key (`None`: no key with that id).
pub fn check_key(stored: Option<&ApiKey>, presented: &ApiToken, now: DateTime<Utc>) -> Result<(), AuthFailure> {
    let key = stored.ok_or(AuthFailure::UnknownKey)?;
    if !secret_matches(presented.secret(), &key.hashed_secret) {
        return Err(AuthFailure::WrongSecret);
    }
    if key.is_expired(now) {
        return Err(AuthFailure::Expired(key.expires_at));
    }
    Ok(())
}

/// A correct password that still does not sign its user in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Your account is suspended. Contact an admin to reactivate your account.")]
pub struct SignInRefused(pub UserStatus);

/// Whether a user who proved its password may have a session (see [`UserStatus::may_sign_in`]).
pub fn check_sign_in(status: UserStatus) -> Result<(), SignInRefused> {
    if status.may_sign_in() { Ok(()) } else { Err(SignInRefused(status)) }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use uuid::Uuid;

    use super::*;
    use crate::auth::{LoginType, NewApiKey};

    fn token() -> ApiToken {
        ApiToken::from_parts("abcdefghij", "abcdefghijklmnopqrstuv").unwrap_or_else(|e| panic!("{e}"))
    }

    fn stored(now: DateTime<Utc>) -> ApiKey {
        NewApiKey::new(&token(), Uuid::nil(), LoginType::Password, String::new(), Duration::hours(1)).into_key(now)
    }

    #[test]
    fn the_right_secret_before_expiry_passes() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        assert_eq!(check_key(Some(&stored(now)), &token(), now), Ok(()));
    }

    #[test]
    fn an_unknown_id_a_wrong_secret_and_an_expired_key_fail_differently() {
        let now = DateTime::<Utc>::UNIX_EPOCH;
        let other = ApiToken::from_parts("abcdefghij", "0000000000000000000000").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(check_key(None, &token(), now), Err(AuthFailure::UnknownKey));
        assert_eq!(check_key(Some(&stored(now)), &other, now), Err(AuthFailure::WrongSecret));
        let later = now + Duration::hours(2);
        assert_eq!(check_key(Some(&stored(now)), &token(), later), Err(AuthFailure::Expired(now + Duration::hours(1))));
    }

    #[test]
    fn the_expiry_detail_prints_the_time_as_go_does() {
        let at = Utc.with_ymd_and_hms(2026, 11, 28, 21, 25, 23).single().map(|t| t + Duration::microseconds(123_456));
        let detail = at.map(|t| AuthFailure::Expired(t).to_string());
        assert_eq!(detail.as_deref(), Some("API key expired at \"2026-11-28 21:25:23.123456 +0000 UTC\"."));
    }

    #[test]
    fn a_suspended_user_gets_its_own_message_and_no_detail() {
        let failure = AuthFailure::Inactive(UserStatus::Suspended);
        assert_eq!(
            failure.message(),
            "User is not active (status = \"suspended\"). Contact an admin to reactivate your account."
        );
        assert_eq!(failure.detail(), None);
        assert_eq!(AuthFailure::Missing.message(), SIGNED_OUT_MESSAGE);
    }

    #[test]
    fn only_a_suspended_user_is_refused_a_session() {
        assert_eq!(check_sign_in(UserStatus::Active), Ok(()));
        assert_eq!(check_sign_in(UserStatus::Dormant), Ok(()));
        let refused = check_sign_in(UserStatus::Suspended);
        assert_eq!(
            refused.map_err(|r| r.to_string()),
            Err("Your account is suspended. Contact an admin to reactivate your account.".to_owned())
        );
    }
}
