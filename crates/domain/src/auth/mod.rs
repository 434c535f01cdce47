//! Authentication rules: token shape, secret hashing, expiry and sliding sessions, and the
//! exact reason a request is refused.

mod api_key;
mod failure;
mod secret;
mod token;

pub use api_key::{
    ApiKey, ApiToken, KeyRefresh, LoginType, NewApiKey, TokenFormatError, TokenLifetimeError, TokenName, token_lifetime,
};
pub use failure::{AuthFailure, SIGNED_OUT_MESSAGE, SignInRefused, check_key, check_sign_in};
pub use secret::{hash_secret, secret_matches};
pub use token::{FULL_ACCESS_SCOPES, FULL_SCOPE, UnsupportedScope, check_scopes};
