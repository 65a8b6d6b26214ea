//! Authentication and authorization (server only): passwords, session JWTs in a cookie,
//! machine tokens, brute-force throttling, and the per-request [`Session`].
pub mod jwt;
pub mod login;
pub mod password;
pub mod session;
pub mod share;
pub mod ssh_key;
pub mod token;

use std::fmt;
use std::time::Duration;

pub use session::{require, session, RequestMeta, Session};

/// A secret that never prints itself.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Everything auth needs to know, parsed once at start-up.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// HS256 key for session JWTs; shared by every console process through the database.
    pub jwt_key: Secret,
    /// Lifetime of a session token; it slides while the user is active.
    pub session_ttl: Duration,
    /// Adds `Secure` to the cookie (set when the console is served over TLS).
    pub secure_cookies: bool,
    /// Failed logins allowed per email within `failure_window` before a lock.
    pub max_failures: i32,
    pub failure_window: Duration,
    pub lock_duration: Duration,
}

impl AuthSettings {
    pub fn new(jwt_key: Secret, session_ttl: Duration, secure_cookies: bool) -> Self {
        AuthSettings {
            jwt_key,
            session_ttl,
            secure_cookies,
            max_failures: 5,
            failure_window: Duration::from_secs(15 * 60),
            lock_duration: Duration::from_secs(15 * 60),
        }
    }
}

pub const SESSION_COOKIE: &str = "odooops_session";

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn secrets_never_print_themselves() {
        let s = Secret::new("hunter2-very-secret");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(Secret(***))");
        assert_eq!(s.expose(), "hunter2-very-secret");
    }
}
