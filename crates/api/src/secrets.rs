//! Secrets: random tokens from the OS's CSPRNG, and slow password hashes.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
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

impl HashError {
    fn of(error: impl std::fmt::Display) -> Self {
        Self(error.to_string())
    }
}

/// argon2's working memory (19 MiB with the default parameters), kept by a thread that
/// hashes again and again instead of being allocated and faulted in for every check.
#[derive(Default)]
pub struct HashMemory(Vec<Block>);

/// Stored hashes asking for more memory than this (256 MiB) are refused, not computed.
const MAX_BLOCKS: usize = 256 * 1024;

impl HashMemory {
    fn blocks(&mut self, count: usize) -> &mut [Block] {
        if self.0.len() < count {
            self.0.resize(count, Block::default());
        }
        &mut self.0[..count]
    }
}

/// argon2id with a random salt (PHC string). Slow on purpose: run it on a blocking thread.
pub fn hash_password(password: &Password) -> Result<String, HashError> {
    hash_password_in(&mut HashMemory::default(), password)
}

/// [`hash_password`] in memory the caller keeps.
pub fn hash_password_in(memory: &mut HashMemory, password: &Password) -> Result<String, HashError> {
    let argon2 = Argon2::default();
    let params = argon2.params().clone();
    let salt: [u8; argon2::RECOMMENDED_SALT_LEN] = rand::random();
    let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let blocks = memory.blocks(params.block_count());
    argon2
        .hash_password_into_with_memory(password.expose().as_bytes(), &salt, &mut output, blocks)
        .map_err(HashError::of)?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.into(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(HashError::of)?,
        salt: Some(Salt::new(&salt).map_err(HashError::of)?),
        hash: Some(Output::new(&output).map_err(HashError::of)?),
    };
    Ok(hash.to_string())
}

/// Whether `password` matches the stored hash. A malformed hash matches nothing.
pub fn verify_password(password: &str, hash: &str) -> bool {
    verify_password_in(&mut HashMemory::default(), password, hash)
}

/// [`verify_password`] in memory the caller keeps: the stored hash's own algorithm,
/// version and parameters, and a constant-time comparison of the outputs.
pub fn verify_password_in(memory: &mut HashMemory, password: &str, stored: &str) -> bool {
    check_password(memory, password, stored).unwrap_or(false)
}

/// `None` when the stored hash cannot be read or computed.
fn check_password(memory: &mut HashMemory, password: &str, stored: &str) -> Option<bool> {
    let stored = PasswordHash::new(stored).ok()?;
    let algorithm = Algorithm::try_from(stored.algorithm.as_str()).ok()?;
    let version = stored.version.map(Version::try_from).transpose().ok()?.unwrap_or_default();
    let params = Params::try_from(&stored).ok()?;
    let (salt, expected) = (stored.salt?, stored.hash?);
    if params.block_count() > MAX_BLOCKS {
        return None;
    }
    let mut output = vec![0u8; expected.len()];
    let blocks = memory.blocks(params.block_count());
    let argon2 = Argon2::new(algorithm, version, params);
    argon2.hash_password_into_with_memory(password.as_bytes(), &salt, &mut output, blocks).ok()?;
    // `Output` compares in constant time.
    Some(Output::new(&output).ok()? == expected)
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
    fn hashes_made_here_and_by_the_argon2_crate_verify_each_other() {
        use argon2::{PasswordHasher, PasswordVerifier};
        let ours =
            hash_password(&Password::parse("correct-horse-battery-staple", &[]).unwrap_or_else(|e| panic!("{e}")))
                .unwrap_or_else(|e| panic!("{e}"));
        assert!(Argon2::default().verify_password(b"correct-horse-battery-staple", ours.as_str()).is_ok());
        let theirs = Argon2::default().hash_password(b"correct-horse-battery-staple").unwrap_or_else(|e| panic!("{e}"));
        let mut memory = HashMemory::default();
        assert!(verify_password_in(&mut memory, "correct-horse-battery-staple", &theirs.to_string()));
        assert!(!verify_password_in(&mut memory, "correct-horse-battery-stapler", &theirs.to_string()));
        // Other parameters (smaller memory) in the same reused memory.
        let small = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(1024, 1, 1, None).unwrap_or_default());
        let small = small.hash_password(b"secret").unwrap_or_else(|e| panic!("{e}")).to_string();
        assert!(verify_password_in(&mut memory, "secret", &small));
        assert!(verify_password_in(&mut memory, "correct-horse-battery-staple", &ours));
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
