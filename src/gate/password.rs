//! Passwords: the length rule and argon2id hashing (OWASP's m = 19 MiB,
//! t = 2, p = 1). Hashing runs on the blocking pool so it never stalls the
//! async workers, and at most `passwords.parallel` hashes run at once: each
//! takes 19 MiB, and without a bound a burst of sign-ins could ask for
//! gigabytes (review finding M5). A hash that cannot get a slot within
//! `passwords.queue_wait` is refused as [`PasswordError::Busy`] (503 with
//! `Retry-After`), never queued without end.

use crate::common::limits::MAX_PASSWORD;
use std::sync::OnceLock;
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Every hashing slot stayed taken for the whole `queue_wait`.
    #[error("porch is busy checking other passwords; try again in a few seconds")]
    Busy(Duration),
    #[error("password hashing failed: {0}")]
    Failed(argon2::password_hash::Error),
}

/// The slots argon2 runs in: how many at once, and how long a hash may wait
/// for one.
#[derive(Debug)]
pub struct Slots {
    permits: Semaphore,
    wait: Duration,
}

impl Slots {
    pub fn new(parallel: usize, wait: Duration) -> Slots {
        Slots { permits: Semaphore::new(parallel.max(1)), wait }
    }

    /// Runs `work` on the blocking pool once a slot is free.
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, PasswordError> {
        let permit = match tokio::time::timeout(self.wait, self.permits.acquire()).await {
            Ok(Ok(permit)) => permit,
            _ => return Err(PasswordError::Busy(self.wait.max(Duration::from_secs(1)))),
        };
        let result = tokio::task::spawn_blocking(work).await;
        drop(permit);
        result.map_err(|_| PasswordError::Failed(argon2::password_hash::Error::Crypto))
    }
}

static SLOTS: OnceLock<Slots> = OnceLock::new();

/// Sets the process's slots from the settings; the first call wins (the
/// server makes it before serving; CLI commands keep the default).
pub fn configure(parallel: usize, wait: Duration) {
    let _ = SLOTS.set(Slots::new(parallel, wait));
}

fn slots() -> &'static Slots {
    SLOTS.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Slots::new(cpus, Duration::from_secs(5))
    })
}

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
    if chars > MAX_PASSWORD {
        return Err(format!("Your password can have at most {MAX_PASSWORD} characters."));
    }
    if password != confirm {
        return Err("The two passwords are not the same. Please type it again in both boxes.".into());
    }
    Ok(())
}

/// Hashes a password into a PHC string.
pub async fn hash(password: String) -> Result<String, PasswordError> {
    slots()
        .run(move || {
            let salt = SaltString::generate(&mut OsRng);
            hasher().hash_password(password.as_bytes(), &salt).map(|h| h.to_string())
        })
        .await?
        .map_err(PasswordError::Failed)
}

/// Checks a password against a stored PHC string. With no stored hash (an
/// unknown name) it still does the work once, so timing does not tell which
/// names exist.
pub async fn verify(password: String, phc: Option<String>) -> Result<bool, PasswordError> {
    verify_in(slots(), password, phc).await
}

async fn verify_in(slots: &Slots, password: String, phc: Option<String>) -> Result<bool, PasswordError> {
    slots
        .run(move || {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let phc = hash("correct horse battery".into()).await.expect("hash");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify("correct horse battery".into(), Some(phc.clone())).await.expect("verify"));
        assert!(!verify("wrong horse battery".into(), Some(phc)).await.expect("verify"));
        assert!(!verify("anything".into(), None).await.expect("verify"));
    }

    #[tokio::test]
    async fn m5_hashes_wait_for_a_slot_then_are_refused_not_queued_forever() {
        let slots = Slots::new(1, Duration::from_millis(200));
        let held = slots.permits.acquire().await.expect("the one slot");
        let started = std::time::Instant::now();
        let busy = verify_in(&slots, "x".into(), None).await;
        assert!(matches!(busy, Err(PasswordError::Busy(_))), "{busy:?}");
        assert!(started.elapsed() >= Duration::from_millis(200), "it waited queue_wait first");
        drop(held);
        assert!(!verify_in(&slots, "x".into(), None).await.expect("a free slot"));
        assert_eq!(slots.permits.available_permits(), 1, "the slot is given back");
    }

    #[test]
    fn length_rule_at_its_edge() {
        assert!(check_new("123456789", "123456789", 10).is_err());
        assert!(check_new("1234567890", "1234567890", 10).is_ok());
        assert!(check_new("1234567890", "1234567891", 10).is_err());
    }
}
