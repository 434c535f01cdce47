//! Authentication rules: token shape, secret hashing, expiry and sliding sessions, and the
//! exact reason a request is refused.

mod api_key;
mod failure;
mod secret;

pub use api_key::{
    ApiKey, ApiToken, KeyRefresh, LoginType, NewApiKey, TokenFormatError, TokenLifetimeError, TokenName, token_lifetime,
};
pub use failure::{AuthFailure, SIGNED_OUT_MESSAGE, check_key};
pub use secret::{hash_secret, secret_matches};
