use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Secrets are stored as their SHA-256 only: a stolen database holds no usable token. The
/// secrets themselves come from a CSPRNG and are long, so a slow hash would add nothing.
pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Compares in constant time, so response timing says nothing about how much matched.
pub fn secret_matches(presented: &str, stored_hash: &[u8]) -> bool {
    hash_secret(presented).ct_eq(stored_hash).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_secret_matches_its_hash() {
        let stored = hash_secret("s3cret");
        assert_eq!(stored.len(), 32);
        assert!(secret_matches("s3cret", &stored));
        assert!(!secret_matches("s3creT", &stored));
        assert!(!secret_matches("", &stored));
    }
}
