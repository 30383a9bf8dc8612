//! The gate's error type. Handlers return it; it becomes a status code plus a
//! marker that the page layer turns into a friendly page. Internal causes are
//! logged and never shown.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GateError {
    /// Something the person sent is wrong; the message says what to do.
    #[error("{0}")]
    Invalid(String),
    #[error("there is nothing here")]
    NotFound,
    #[error("{0}")]
    Forbidden(String),
    /// A state-changing request that did not come from porch's own pages.
    #[error("this form did not come from this site, so it was refused. Go back, reload the page and try again")]
    CrossSite,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("page rendering failed: {0}")]
    Template(#[from] minijinja::Error),
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error("app failure: {0}")]
    App(String),
    /// porch is at a limit for a moment (password slots); try again after.
    #[error("{0}")]
    Busy(String, std::time::Duration),
}

/// What the page layer needs to draw an error page.
#[derive(Debug, Clone)]
pub struct ErrorPage {
    pub status: StatusCode,
    pub message: String,
    /// Seconds for a `Retry-After` header (a 503 for a moment's load).
    pub retry_after: Option<u64>,
}

impl GateError {
    pub fn status(&self) -> StatusCode {
        match self {
            GateError::Invalid(_) => StatusCode::BAD_REQUEST,
            GateError::NotFound => StatusCode::NOT_FOUND,
            GateError::Forbidden(_) | GateError::CrossSite => StatusCode::FORBIDDEN,
            GateError::Store(_) | GateError::Template(_) | GateError::Hashing(_) | GateError::App(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            GateError::Busy(..) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// What a person is shown: client errors say what happened, internal
    /// ones only that something broke (the cause goes to the log).
    pub fn public_message(&self) -> String {
        if let GateError::Busy(message, _) = self {
            return message.clone();
        }
        if self.status().is_server_error() {
            "Something went wrong on this porch. Please try again in a moment; if it keeps happening, tell the person who runs it.".into()
        } else {
            let mut message = self.to_string();
            if let Some(first) = message.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            message
        }
    }
}

impl IntoResponse for GateError {
    fn into_response(self) -> Response {
        if self.status().is_server_error() && !matches!(self, GateError::Busy(..)) {
            tracing::error!(error = %self, "request failed");
        }
        let retry_after = match &self {
            GateError::Busy(_, wait) => Some(wait.as_secs().max(1)),
            _ => None,
        };
        let page = ErrorPage { status: self.status(), message: self.public_message(), retry_after };
        let mut response = (page.status, page.message.clone()).into_response();
        response.extensions_mut().insert(page);
        response
    }
}

impl From<super::password::PasswordError> for GateError {
    fn from(e: super::password::PasswordError) -> Self {
        match e {
            super::password::PasswordError::Busy(wait) => GateError::Busy(e.to_string(), wait),
            super::password::PasswordError::Failed(e) => GateError::Hashing(e.to_string()),
        }
    }
}
