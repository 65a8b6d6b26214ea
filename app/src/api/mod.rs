//! Server functions, one file per capability. Each is thin: check the caller, call the
//! repository inside a claimed transaction, audit, map errors.
pub mod audit;
pub mod auth;
pub mod backups;
pub mod builds;
pub mod logs;
pub mod mail;
pub mod members;
pub mod neutralize;
pub mod notifications;
pub mod projects;
pub mod promotions;
pub mod scanner;
pub mod shell;
pub mod supabase;
pub mod tokens;

/// A 404 for `what`, with the response's status set to match.
#[cfg(feature = "ssr")]
pub fn not_found(what: &str) -> crate::models::AppError {
    let e = crate::models::AppError::NotFound(what.to_string());
    crate::auth::session::set_status(&e);
    e
}

/// Runs a server function's body and gives any error its HTTP status (422, 403, 409...),
/// so clients and logs see what happened rather than a blanket 500.
#[cfg(feature = "ssr")]
pub async fn guard<T>(body: impl std::future::Future<Output = Result<T, crate::models::AppError>>) -> Result<T, crate::models::AppError> {
    let result = body.await;
    if let Err(e) = &result {
        crate::auth::session::set_status(e);
    }
    result
}
