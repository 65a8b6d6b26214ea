//! Signed, expiring links to a preview, for testers without a console session.
use super::Secret;
use hmac::{Hmac, Mac};
use sha2::Sha256;

fn mac(key: &Secret, slug: &str, expires: i64) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(key.expose().as_bytes()).expect("HMAC takes any key length");
    m.update(format!("preview:{slug}:{expires}").as_bytes());
    m
}

/// `"<expiry unix seconds>.<hex signature>"`.
pub fn sign(key: &Secret, slug: &str, expires: i64) -> String {
    format!("{expires}.{}", hex::encode(mac(key, slug, expires).finalize().into_bytes()))
}

/// True if `token` was signed for `slug` with `key` and has not expired (constant-time compare).
pub fn verify(key: &Secret, slug: &str, token: &str, now: i64) -> bool {
    let Some((exp, sig)) = token.split_once('.') else { return false };
    let (Ok(exp), Ok(sig)) = (exp.parse::<i64>(), hex::decode(sig)) else { return false };
    exp > now && mac(key, slug, exp).verify_slice(&sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_opens_its_own_preview_until_it_expires() {
        let key = Secret::new("k".repeat(40));
        let t = sign(&key, "erp-main-ab12", 2_000);
        assert!(verify(&key, "erp-main-ab12", &t, 1_999));
        assert!(!verify(&key, "erp-main-ab12", &t, 2_000));
        assert!(!verify(&key, "erp-dev-ab12", &t, 1_000));
        assert!(!verify(&Secret::new("x".repeat(40)), "erp-main-ab12", &t, 1_000));
        assert!(!verify(&key, "erp-main-ab12", "garbage", 1_000));
    }
}
