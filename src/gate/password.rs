//! Passwords: the length rule and argon2id hashing (OWASP's m = 19 MiB,
//! t = 2, p = 1). Hashing runs on the blocking pool so it never stalls the
//! async workers.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, Version};

/// Longest password accepted; argon2 handles more, but nobody types this.
pub const MAX_LENGTH: usize = 1024;

fn hasher() -> Argon2<'static> {
    // These parameters are constants known to be valid.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Says what is wrong with a new password, in words for the person.
pub fn check_new(password: &str, confirm: &str, min_length: usize) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < min_length {
        return Err(format!(
            "Your password needs at least {min_length} characters (it has {chars}). A short sentence you will remember works well."
        ));
    }
    if chars > MAX_LENGTH {
        return Err(format!("Your password can have at most {MAX_LENGTH} characters."));
    }
    if password != confirm {
        return Err("The two passwords are not the same. Please type it again in both boxes.".into());
    }
    Ok(())
}

/// Hashes a password into a PHC string.
pub async fn hash(password: String) -> Result<String, argon2::password_hash::Error> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        hasher().hash_password(password.as_bytes(), &salt).map(|h| h.to_string())
    })
    .await
    .unwrap_or(Err(argon2::password_hash::Error::Crypto))
}

/// Checks a password against a stored PHC string. With no stored hash (an
/// unknown name) it still does the work once, so timing does not tell which
/// names exist.
pub async fn verify(password: String, phc: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let argon = hasher();
        match phc.as_deref().map(PasswordHash::new) {
            Some(Ok(parsed)) => argon.verify_password(password.as_bytes(), &parsed).is_ok(),
            _ => {
                let salt = SaltString::generate(&mut OsRng);
                let _ = argon.hash_password(password.as_bytes(), &salt);
                false
            }
        }
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let phc = hash("correct horse battery".into()).await.expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify("correct horse battery".into(), Some(phc.clone())).await);
        assert!(!verify("wrong horse battery".into(), Some(phc)).await);
        assert!(!verify("anything".into(), None).await);
    }

    #[test]
    fn length_rule_at_its_edge() {
        assert!(check_new("123456789", "123456789", 10).is_err());
        assert!(check_new("1234567890", "1234567890", 10).is_ok());
        assert!(check_new("1234567890", "1234567891", 10).is_err());
    }
}
