//! Secrets: random tokens from the OS's CSPRNG, and slow password hashes.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use domain::auth::ApiToken;
use domain::user::Password;
use rand::RngExt;
use rand::distr::Alphanumeric;

/// `[a-zA-Z0-9]{len}` from the thread's CSPRNG (ChaCha, seeded by the OS).
pub fn random_alphanumeric(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len).map(|_| char::from(rng.sample(Alphanumeric))).collect()
}

/// A fresh API token; its parts have exactly the lengths the format requires.
pub fn new_api_token() -> ApiToken {
    loop {
        if let Ok(token) =
            ApiToken::from_parts(&random_alphanumeric(ApiToken::ID_LEN), &random_alphanumeric(ApiToken::SECRET_LEN))
        {
            return token;
        }
    }
}

/// A provisioner key's secret: 43 letters and digits, as Coder's.
pub const PROVISIONER_KEY_LEN: usize = 43;

pub fn new_provisioner_key() -> String {
    random_alphanumeric(PROVISIONER_KEY_LEN)
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// argon2id with a random salt (PHC string). Slow on purpose: run it on a blocking thread.
pub fn hash_password(password: &Password) -> Result<String, HashError> {
    Argon2::default()
        .hash_password(password.expose().as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `password` matches the stored hash. A malformed hash matches nothing.
pub fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default().verify_password(password.as_bytes(), hash).is_ok()
}

/// A hash of a password nobody knows: checked against when the e-mail is unknown, so an
/// unknown e-mail costs the same time as a wrong password.
pub fn decoy_hash() -> String {
    let password = Password::parse(&random_alphanumeric(32), &[]);
    password.ok().and_then(|p| hash_password(&p).ok()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_well_formed() {
        let a = new_api_token();
        let b = new_api_token();
        assert_ne!(a.to_string(), b.to_string());
        assert!(ApiToken::parse(&a.to_string()).is_ok());
        assert_eq!(new_provisioner_key().len(), 43);
    }

    #[test]
    fn a_hash_verifies_its_password_only() {
        let password = Password::parse("correct-horse-battery-staple", &[]).unwrap_or_else(|e| panic!("{e}"));
        let hash = hash_password(&password).unwrap_or_else(|e| panic!("{e}"));
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct-horse-battery-staple", &hash));
        assert!(!verify_password("correct-horse-battery-stapl", &hash));
        assert!(!verify_password("anything", "not a hash"));
    }
}
