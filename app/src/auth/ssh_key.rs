//! OpenSSH public keys as users paste them: parsed and checked with `ssh-key`, shown by their
//! SHA256 fingerprint. Only ed25519, ECDSA (NIST curves) and RSA of 2048 bits or more.
use ssh_key::public::KeyData;
use ssh_key::{HashAlg, PublicKey};

/// A key that passed every check, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedKey {
    pub algorithm: String,
    pub bits: i32,
    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    /// `<algorithm> <base64>` without the comment.
    pub openssh: String,
    /// The comment the key carried (a default name).
    pub comment: String,
}

pub const MIN_RSA_BITS: i32 = 2048;

/// Parses one public key line (`ssh-ed25519 AAAA… comment`). Each failure says what to do.
pub fn parse(input: &str) -> Result<ParsedKey, String> {
    let text = input.trim();
    if text.is_empty() {
        return Err("Key: paste the contents of your public key file (for example ~/.ssh/id_ed25519.pub).".into());
    }
    if text.contains("PRIVATE KEY") {
        return Err("Key: this is a private key. Never share it: paste the public key (the .pub file) instead.".into());
    }
    if text.lines().filter(|l| !l.trim().is_empty()).count() > 1 {
        return Err("Key: one key at a time, on one line.".into());
    }
    if text.len() > 4000 {
        return Err("Key: too long for a public key (at most 4,000 characters).".into());
    }
    let first = text.split_whitespace().next().unwrap_or_default();
    match first {
        "ssh-ed25519" | "ecdsa-sha2-nistp256" | "ecdsa-sha2-nistp384" | "ecdsa-sha2-nistp521" | "ssh-rsa" => {}
        "ssh-dss" => return Err("Key: DSA keys are not accepted (they are insecure). Use ed25519: ssh-keygen -t ed25519".into()),
        t if t.contains("-cert-v01@openssh.com") => return Err("Key: certificates are not accepted; paste the plain public key.".into()),
        t if t.starts_with("sk-") => return Err("Key: security-key (FIDO) keys are not supported yet; use ed25519, ECDSA or RSA.".into()),
        _ => {
            return Err("Key: not an OpenSSH public key. It should start with ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa \
                        (options in front of the key, as in authorized_keys, are not accepted)."
                .into())
        }
    }
    let mut key = PublicKey::from_openssh(text).map_err(|_| "Key: the key data is damaged or incomplete; copy the whole line again.".to_string())?;
    let bits = match key.key_data() {
        KeyData::Ed25519(_) => 256,
        KeyData::Ecdsa(k) => match k.curve() {
            ssh_key::EcdsaCurve::NistP256 => 256,
            ssh_key::EcdsaCurve::NistP384 => 384,
            ssh_key::EcdsaCurve::NistP521 => 521,
        },
        KeyData::Rsa(k) => {
            let n = k.n.as_positive_bytes().unwrap_or_default();
            let lead = n.first().map(|b| b.leading_zeros() as usize).unwrap_or(8);
            (n.len() * 8).saturating_sub(lead) as i32
        }
        _ => return Err("Key: unsupported key type.".into()),
    };
    if first == "ssh-rsa" && bits < MIN_RSA_BITS {
        return Err(format!("Key: this RSA key has {bits} bits; at least {MIN_RSA_BITS} are needed (or use ed25519)."));
    }
    let comment = key.comment().to_string();
    key.set_comment("");
    let openssh = key.to_openssh().map_err(|_| "Key: cannot be re-encoded.".to_string())?.trim().to_string();
    Ok(ParsedKey {
        algorithm: key.algorithm().as_str().to_string(),
        bits,
        fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
        openssh,
        comment,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Public keys made with ssh-keygen; the fingerprints are what `ssh-keygen -lf` printed.
    const ED25519: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICGIX4SudnbXp5tX81lTA1Vlc9XTimzcz9s7cG6G6WTg me@laptop";
    const ECDSA256: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBO1QNI9Y+D1dFcUwqRM7Ru9eOthsBNxV2ozu1ovM36MLaTpsIoTRb0Un4UHCQHZqy8QeNlGbZmZqpwaRtZ1HO7A= me@laptop";
    const ECDSA384: &str = "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBId+yQRH0OTJADkYNT7YMWZiLhHApkdp79/pJ5HvyOB8j9KfncIkd+Z1+VBxeu8aXEpGYkYFBoD6ZRGJr3GFbnHCI7FrCcDvQl06DQHcBl6OI3dAjMaonrSSQYDV3at/CQ== me@laptop";
    pub const RSA2048: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC+mLqMTn6fNV/2+QkwVkY+FB+1kmyx8peuHNkktB0xA3Nc0ZmK3VlAEt2LMIxKNHjbzUAmfwMCvwISQSbTnuWyU0GU+K04Qjeg5hWUMDdP9VaG9ilj0iiShlREIr1Mdymoyy27/vFt9ltiEVLBZh2I4vZUQUtx319z29WXlfw0Bzpjes78m9L4QP6PCokgYq355woq+S/xBsHU+OTGoFhuM90qxU4In/S8WaPFzSxWT9yXyWn/Uwue3v1PvO1pue820F3260VOKHb31BS6gq5O8Ltn/Om1XW1nTUkk6IKspl6eoEbEL732igM3eKGqcIcgW7+ztcnRa+F0c+4ficFx me@laptop";
    const RSA1024: &str = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDcJDIvtlA8P+HJPICujDdQoqQMrhQf5lEmqTWDlDBYUpWWBqm0V1L/bDd0fet1GNXK9kdH5QvO/mlHRr5cT3DOcmKpsbvq0gDvHAX/Fm+ljc7S5ZVizO2XuKwb86FzGNgbvVeUpMHTbB9cybzmDou0QKK27ZcXGGOcUFZYt+U3ZQ== me@laptop";

    #[test]
    fn accepted_keys_show_ssh_keygen_fingerprints_and_sizes() {
        for (key, alg, bits, fp) in [
            (ED25519, "ssh-ed25519", 256, "SHA256:b7licMHsHYkcxekffUt2YiQOz3pnNM/MPPvfHo7fVeY"),
            (ECDSA256, "ecdsa-sha2-nistp256", 256, "SHA256:JiYmpEgQE/amFlcmSnPwcpMgUuN57dpGaeU/xfL6Kps"),
            (ECDSA384, "ecdsa-sha2-nistp384", 384, "SHA256:Bp1oFV/tHDY+UWn8S8bm284PlMCXypRD2NiDWPzn/hA"),
            (RSA2048, "ssh-rsa", 2048, "SHA256:wHuJfgR1zuGn9NNtMfKePEBDGIUt97nxSzxmJ+6IbPs"),
        ] {
            let k = parse(&format!("  {key}\n")).unwrap_or_else(|e| panic!("{alg}: {e}"));
            assert_eq!((k.algorithm.as_str(), k.bits, k.fingerprint.as_str()), (alg, bits, fp));
            assert_eq!(k.comment, "me@laptop");
            assert!(key.starts_with(&k.openssh) && !k.openssh.contains("laptop"), "{}", k.openssh);
        }
    }

    #[test]
    fn weak_damaged_private_and_foreign_keys_get_a_clear_error() {
        assert!(parse(RSA1024).unwrap_err().contains("1024 bits"));
        assert!(parse("").unwrap_err().contains(".pub"));
        assert!(parse("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----").unwrap_err().contains("private key"));
        assert!(parse(&format!("{ED25519}\n{ECDSA256}")).unwrap_err().contains("one key"));
        assert!(parse("ssh-dss AAAAB3NzaC1kc3MAAACBAP").unwrap_err().contains("DSA"));
        assert!(parse(&format!("from=\"10.0.0.1\" {ED25519}")).unwrap_err().contains("not an OpenSSH public key"));
        let truncated = &ED25519[..ED25519.len() - 30];
        assert!(parse(truncated).unwrap_err().contains("damaged"));
        assert!(parse("ssh-ed25519 not-base64!!").unwrap_err().contains("damaged"));
        assert!(parse(&"ssh-rsa ".repeat(600)).is_err());
    }
}
