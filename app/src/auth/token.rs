//! Machine API tokens: `oops_` + 40 random characters, stored as a sha256 digest.
use sha2::{Digest, Sha256};

pub const PREFIX: &str = "oops_";

pub fn generate() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    format!("{PREFIX}{}", Alphanumeric.sample_string(&mut rand::thread_rng(), 40))
}

/// `bytes` random bytes as lowercase hex (webhook secrets).
pub fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

pub fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The part shown in lists to tell tokens apart: never enough to use it.
pub fn display_prefix(token: &str) -> String {
    token.chars().take(PREFIX.len() + 6).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_digests_stable() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 40);
        assert_eq!(digest(&a), digest(&a));
        assert_eq!(digest(&a).len(), 64);
        assert_eq!(display_prefix(&a).len(), PREFIX.len() + 6);
    }
}
