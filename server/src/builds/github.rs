//! GitHub's side of the conversation: webhook signatures and payloads in, commit statuses out.
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// Checks `X-Hub-Signature-256: sha256=<hex>` against HMAC-SHA256(secret, body), in constant time.
pub fn signature_ok(secret: &str, header: Option<&str>, body: &[u8]) -> Result<(), &'static str> {
    if secret.is_empty() {
        return Err("the project has no webhook secret; set one on its webhooks page");
    }
    let header = header.ok_or("missing X-Hub-Signature-256 header")?;
    let hex_sig = header.trim().strip_prefix("sha256=").ok_or("X-Hub-Signature-256 must start with sha256=")?;
    let sig = hex::decode(hex_sig).map_err(|_| "X-Hub-Signature-256 is not hex")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| "unusable secret")?;
    mac.update(body);
    mac.verify_slice(&sig).map_err(|_| "signature does not match the project's webhook secret")
}

/// The signature GitHub would send (for tests and the local GitHub stand-in).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[derive(Debug, Deserialize)]
pub struct Repository {
    #[serde(default)]
    pub full_name: String,
}

#[derive(Debug, Deserialize, Default)]
pub struct Person {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub login: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Commit {
    pub id: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub author: Person,
}

#[derive(Debug, Deserialize)]
pub struct PushEvent {
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub after: String,
    #[serde(default)]
    pub deleted: bool,
    pub head_commit: Option<Commit>,
    pub repository: Option<Repository>,
    pub pusher: Option<Person>,
}

#[derive(Debug, Deserialize)]
pub struct PullRequestEvent {
    pub action: String,
    pub number: i32,
    pub pull_request: PullRequest,
    pub repository: Option<Repository>,
}

#[derive(Debug, Deserialize)]
pub struct PullRequest {
    #[serde(default)]
    pub title: String,
    pub head: PrHead,
    pub user: Option<Person>,
}

#[derive(Debug, Deserialize)]
pub struct PrHead {
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub sha: String,
}

pub fn is_sha(s: &str) -> bool {
    (7..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

pub fn is_zero_sha(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b == b'0')
}

/// A branch name git would accept and we can store (no control characters, bounded).
pub fn valid_branch(name: &str) -> bool {
    !name.is_empty() && name.len() <= 255 && !name.chars().any(|c| c.is_control() || c == ' ' || c == '~' || c == '^' || c == ':' || c == '\\') && !name.contains("..")
}

/// Posts commit statuses (`POST {api}/repos/{owner}/{repo}/statuses/{sha}`).
#[derive(Clone)]
pub struct StatusClient {
    http: reqwest::Client,
    api_url: String,
    token: app::auth::Secret,
}

impl StatusClient {
    pub fn new(api_url: &str, token: app::auth::Secret) -> StatusClient {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .user_agent("odooops-console")
            .build()
            .unwrap_or_default();
        StatusClient { http, api_url: api_url.trim_end_matches('/').to_string(), token }
    }

    /// `state`: pending, success, failure or error. Failures are logged, never fatal.
    pub async fn post(&self, repo_full_name: &str, sha: &str, state: &str, description: &str, target_url: &str) {
        if repo_full_name.split('/').count() != 2 || !is_sha(sha) {
            return;
        }
        let url = format!("{}/repos/{repo_full_name}/statuses/{sha}", self.api_url);
        let body = serde_json::json!({
            "state": state,
            "target_url": target_url,
            "description": description.chars().take(140).collect::<String>(),
            "context": "odooops/build",
        });
        let sent = self
            .http
            .post(&url)
            .bearer_auth(self.token.expose())
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28")
            .json(&body)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => tracing::warn!(status = %r.status(), repo = repo_full_name, "GitHub refused the commit status"),
            Err(e) => tracing::warn!(error = %e, repo = repo_full_name, "could not post the commit status"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_made_with_the_secret_verifies_and_any_other_does_not() {
        let body = br#"{"zen":"hi"}"#;
        let good = sign("s3cret", body);
        assert!(signature_ok("s3cret", Some(&good), body).is_ok());
        assert!(signature_ok("other", Some(&good), body).is_err());
        assert!(signature_ok("s3cret", Some(&good), b"{}").is_err());
        assert!(signature_ok("s3cret", None, body).is_err());
        assert!(signature_ok("s3cret", Some("sha1=abc"), body).is_err());
        assert!(signature_ok("s3cret", Some("sha256=zz"), body).is_err());
        assert!(signature_ok("", Some(&good), body).is_err());
    }

    #[test]
    fn branch_names_and_shas_are_checked() {
        assert!(valid_branch("feature/x-1"));
        assert!(!valid_branch("a..b") && !valid_branch("") && !valid_branch("a b") && !valid_branch("x\u{7}"));
        assert!(is_sha("0123abc") && !is_sha("XYZ1234") && !is_sha("0123ABCD"));
        assert!(is_zero_sha("0000000000000000000000000000000000000000"));
    }
}
