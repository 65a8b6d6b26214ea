use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// The one error every server function returns. Its text is what a person sees, so it never
/// carries SQL, paths or secrets: internal failures are logged with an id and only the id
/// travels to the browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("Your session has ended. Please sign in again.")]
    Unauthorized,
    #[error("You do not have permission to do this ({0}).")]
    Forbidden(String),
    #[error("Not found: {0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooManyRequests(String),
    #[error("Something went wrong on the server (error id {0}).")]
    Internal(String),
    #[error("Could not reach the server: {0}")]
    Transport(String),
}

impl AppError {
    /// The HTTP status this error maps to.
    pub fn status(&self) -> u16 {
        match self {
            AppError::Unauthorized => 401,
            AppError::Forbidden(_) => 403,
            AppError::NotFound(_) => 404,
            AppError::Invalid(_) => 422,
            AppError::Conflict(_) => 409,
            AppError::TooManyRequests(_) => 429,
            AppError::Internal(_) | AppError::Transport(_) => 500,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        let err = match value {
            ServerFnErrorErr::Args(e) | ServerFnErrorErr::MissingArg(e) => {
                AppError::Invalid(format!("Invalid input: {e}"))
            }
            other => AppError::Transport(other.to_string()),
        };
        // On the server this runs while the request is being answered: a request whose
        // arguments do not decode is the client's fault (422), not the server's (500).
        #[cfg(feature = "ssr")]
        if let AppError::Invalid(_) = err {
            if let Some(opts) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
                opts.set_status(axum::http::StatusCode::UNPROCESSABLE_ENTITY);
            }
        }
        err
    }
}

#[cfg(feature = "ssr")]
impl AppError {
    /// Logs an internal failure with a fresh id and returns an error that shows only the id.
    pub fn internal(err: impl std::fmt::Display) -> AppError {
        let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        tracing::error!(error_id = %id, error = %err, "internal error");
        AppError::Internal(id)
    }
}
