//! The door's forms as they arrive (`application/x-www-form-urlencoded`,
//! untrusted) and the checks that need no database: what sign-in and join
//! read from a request body. Public so the fuzz targets drive the same code.

use serde::Deserialize;

use super::invites::check_display_name;
use super::password;

/// `POST /signin`.
#[derive(Debug, Deserialize)]
pub struct SignInForm {
    pub name: String,
    pub password: String,
    pub next: Option<String>,
}

/// `POST /join/{token}`.
#[derive(Debug, Deserialize)]
pub struct JoinForm {
    pub name: String,
    pub password: String,
    pub confirm: String,
}

impl JoinForm {
    /// The name (trimmed) and password a person chose, or what to fix.
    pub fn check(&self, min_length: usize) -> Result<&str, String> {
        let name = self.name.trim();
        check_display_name(name)?;
        password::check_new(&self.password, &self.confirm, min_length)?;
        Ok(name)
    }
}
