//! Encryption of what the console stores for Supabase projects (backing connection strings,
//! secret values): AES-256-GCM with a random nonce, as `v1:<base64(nonce || ciphertext)>`.
//! The key comes from `ODOOOPS_SUPABASE_SECRETS_KEY`, or is generated once and kept in
//! `ops.server_secrets`, which only the owner role reads: the app role (which every request
//! uses) can neither read the key nor, for connection strings, the ciphertext.
use anyhow::{Context, Result};
use app::auth::Secret;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

const PREFIX: &str = "v1:";

pub struct SecretBox {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(***)")
    }
}

impl SecretBox {
    pub fn new(key: &[u8; 32]) -> SecretBox {
        // A 32-byte key is always valid for AES-256-GCM.
        let unbound = UnboundKey::new(&AES_256_GCM, key).unwrap_or_else(|_| unreachable!("AES-256 key length"));
        SecretBox { key: LessSafeKey::new(unbound), rng: SystemRandom::new() }
    }

    /// The configured key (64 hex characters), or the one kept in the database.
    pub async fn load(owner: &PgPool, configured: Option<&Secret>) -> Result<SecretBox> {
        let hex_key = match configured {
            Some(s) => s.expose().trim().to_string(),
            None => {
                let mut fresh = [0u8; 32];
                SystemRandom::new().fill(&mut fresh).map_err(|_| anyhow::anyhow!("no system randomness"))?;
                sqlx::query("insert into ops.server_secrets (name, value) values ('supabase_aes256', $1) on conflict (name) do nothing")
                    .bind(hex::encode(fresh))
                    .execute(owner)
                    .await?;
                sqlx::query_scalar("select value from ops.server_secrets where name = 'supabase_aes256'").fetch_one(owner).await?
            }
        };
        let bytes = hex::decode(&hex_key).ok().filter(|b| b.len() == 32).context("ODOOOPS_SUPABASE_SECRETS_KEY must be 64 hex characters")?;
        let mut key = [0u8; 32];
        key.copy_from_slice(&bytes);
        Ok(SecretBox::new(&key))
    }

    pub fn seal(&self, plain: &str) -> Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| anyhow::anyhow!("no system randomness"))?;
        let mut buf = plain.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut buf)
            .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(format!("{PREFIX}{}", base64::engine::general_purpose::STANDARD.encode(out)))
    }

    pub fn open(&self, sealed: &str) -> Result<String> {
        let raw = sealed.strip_prefix(PREFIX).context("unknown ciphertext format")?;
        let mut bytes = base64::engine::general_purpose::STANDARD.decode(raw).context("ciphertext is not base64")?;
        anyhow::ensure!(bytes.len() > NONCE_LEN, "ciphertext too short");
        let mut body = bytes.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&bytes).map_err(|_| anyhow::anyhow!("bad nonce"))?;
        let plain = self.key.open_in_place(nonce, Aad::empty(), &mut body).map_err(|_| anyhow::anyhow!("ciphertext does not open with this key"))?;
        String::from_utf8(plain.to_vec()).context("plaintext is not UTF-8")
    }
}

impl app::state::Sealer for SecretBox {
    fn seal(&self, plain: &str) -> std::result::Result<String, String> {
        SecretBox::seal(self, plain).map_err(|e| e.to_string())
    }
}

/// 32 random bytes as hex: a bearer token nobody else knows.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    // The system's randomness failing is not something to run on without.
    SystemRandom::new().fill(&mut bytes).unwrap_or_else(|_| panic!("no system randomness"));
    hex::encode(bytes)
}

/// The sha256 digest (lowercase hex) shown for a secret instead of its value.
pub fn digest(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// Equality of two tokens in time independent of where they differ (compares digests).
pub fn same_token(a: &str, b: &str) -> bool {
    let (x, y) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    x.iter().zip(y.iter()).fold(0u8, |acc, (p, q)| acc | (p ^ q)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_with_its_key_only() {
        let b = SecretBox::new(&[7u8; 32]);
        let sealed = b.seal("postgres://u:pw@h/db").unwrap();
        assert!(!sealed.contains("pw@h"));
        assert_eq!(b.open(&sealed).unwrap(), "postgres://u:pw@h/db");
        assert_ne!(b.seal("x").unwrap(), b.seal("x").unwrap(), "nonces differ");
        assert!(SecretBox::new(&[8u8; 32]).open(&sealed).is_err());
    }

    #[test]
    fn tokens_compare_by_value() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert_eq!(digest("x").len(), 64);
    }
}
