//! Certificates from an ACME CA (Let's Encrypt or any RFC 8555 directory):
//! the account and the current certificate live in
//! `<data>/tls/acme/<directory>/` (written atomically), so a restart serves
//! what it has without asking the CA. [`AcmeClient`] knows which names to
//! ask for, which challenge to use (and what to fall back to), and the CA's
//! suggested renewal window (ARI) when it offers one. When to ask is the
//! renewal loop's business ([`crate::edge::tls`], [`schedule`]).

pub mod order;
pub mod schedule;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use instant_acme::{Account, AccountCredentials, CertificateIdentifier, ExternalAccountKey, NewAccount};
use sha2::Digest;

use self::order::{Method, OrderError};
use super::certs::{self, Served};
use super::challenges::Challenges;
use crate::config::{AcmeChallenge, AcmeSettings};
use crate::store::Store;
use crate::store::files::write_atomic;

/// The chain and key, together in one file so they are replaced together.
const CERTIFICATE_FILE: &str = "certificate.pem";

/// When porch last asked the CA for its renewal window, and the window
/// (unix seconds) if the CA gave one.
type AriAnswer = (i64, Option<(i64, i64)>);

/// How often porch asks the CA for its renewal window (when it has one).
const ARI_EVERY: i64 = 6 * 3600;

pub struct AcmeClient {
    settings: AcmeSettings,
    domain: String,
    dir: PathBuf,
    store: Store,
    challenges: Arc<Challenges>,
    http01: bool,
    account: tokio::sync::Mutex<Option<Account>>,
    /// When ARI was last asked, and the window it gave.
    ari: Mutex<Option<AriAnswer>>,
}

impl AcmeClient {
    pub fn new(
        settings: AcmeSettings,
        domain: String,
        data_dir: &std::path::Path,
        store: Store,
        challenges: Arc<Challenges>,
        http01: bool,
    ) -> AcmeClient {
        AcmeClient {
            dir: account_dir(data_dir, &settings.directory),
            settings,
            domain,
            store,
            challenges,
            http01,
            account: tokio::sync::Mutex::new(None),
            ari: Mutex::new(None),
        }
    }

    /// The first and longest waits after a failed request.
    pub fn retry(&self) -> (std::time::Duration, std::time::Duration) {
        (self.settings.retry_min, self.settings.retry_max)
    }

    fn cert_path(&self) -> PathBuf {
        self.dir.join(CERTIFICATE_FILE)
    }

    fn account_path(&self) -> PathBuf {
        self.dir.join("account.json")
    }

    /// The certificate saved by an earlier run, if it is readable.
    pub fn saved(&self) -> Option<Served> {
        let pem = std::fs::read(self.cert_path()).ok()?;
        match certs::parse_pem(&pem, &pem) {
            Ok(served) => Some(served),
            Err(e) => {
                tracing::warn!(error = %e, path = %self.cert_path().display(), "ignoring an unreadable saved certificate; asking the CA for a new one");
                None
            }
        }
    }

    fn wildcard(&self) -> bool {
        let dns = self.challenges.zone.is_some();
        matches!(self.settings.challenge, AcmeChallenge::Dns01)
            || (self.settings.challenge == AcmeChallenge::Auto && dns)
    }

    /// The names the certificate must cover: the domain and either
    /// `*.<domain>` (DNS-01) or every installed app's host.
    pub async fn wanted(&self) -> Vec<String> {
        let mut names = vec![self.domain.clone()];
        if self.wildcard() {
            names.push(format!("*.{}", self.domain));
        } else {
            names.extend(super::tls::app_hosts(&self.store, &self.domain).await);
        }
        names
    }

    /// The challenges to try, in order.
    fn methods(&self) -> Vec<Method> {
        match self.settings.challenge {
            AcmeChallenge::Http01 => vec![Method::Http01],
            AcmeChallenge::TlsAlpn01 => vec![Method::TlsAlpn01],
            AcmeChallenge::Dns01 => vec![Method::Dns01],
            AcmeChallenge::Auto if self.wildcard() => vec![Method::Dns01],
            AcmeChallenge::Auto if self.http01 => vec![Method::TlsAlpn01, Method::Http01],
            AcmeChallenge::Auto => vec![Method::TlsAlpn01],
        }
    }

    /// Asks the CA for a certificate for `names`, trying each challenge in
    /// turn; saves and returns it with the challenge that worked.
    pub async fn obtain(&self, names: &[String]) -> Result<(Served, Method), String> {
        let mut account = self.account().await?;
        let mut errors = Vec::new();
        let mut registered_again = false;
        let mut methods = self.methods().into_iter();
        let mut method = methods.next();
        while let Some(m) = method {
            match order::issue(&account, names, m, &self.challenges).await {
                Ok(issued) => {
                    let pem = format!("{}\n{}", issued.chain_pem.trim_end(), issued.key_pem);
                    let served = certs::parse_pem(pem.as_bytes(), pem.as_bytes())
                        .map_err(|e| format!("the CA sent a certificate porch cannot use: {e}"))?;
                    write_atomic(&self.cert_path(), pem.as_bytes(), true)
                        .map_err(|e| format!("cannot save the certificate in {}: {e}", self.dir.display()))?;
                    *self.ari.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
                    return Ok((served, m));
                }
                Err(OrderError::AccountGone) if !registered_again => {
                    tracing::warn!(directory = %self.settings.directory, "the CA no longer knows porch's account; registering again");
                    registered_again = true;
                    let _ = std::fs::remove_file(self.account_path());
                    *self.account.lock().await = None;
                    account = self.account().await?;
                    continue;
                }
                Err(OrderError::AccountGone) => {
                    errors.push("the CA does not know porch's account, even after registering again".to_owned())
                }
                Err(OrderError::Failed(e)) => {
                    tracing::warn!(challenge = m.as_str(), error = %e, "certificate request failed");
                    errors.push(e);
                }
            }
            method = methods.next();
        }
        Err(errors.join("; then "))
    }

    /// The account: loaded from disk, or registered with the CA once.
    async fn account(&self) -> Result<Account, String> {
        let mut slot = self.account.lock().await;
        if let Some(account) = slot.as_ref() {
            return Ok(account.clone());
        }
        let builder = || match &self.settings.ca_root {
            Some(root) => {
                Account::builder_with_root(root).map_err(|e| format!("cannot use acme.ca_root {}: {e}", root.display()))
            }
            None => Account::builder().map_err(|e| format!("cannot make an HTTPS client: {e}")),
        };
        let account = match std::fs::read(self.account_path()) {
            Ok(json) => {
                let credentials: AccountCredentials = serde_json::from_slice(&json)
                    .map_err(|e| format!("the saved ACME account {} is damaged: {e}", self.account_path().display()))?;
                builder()?
                    .from_credentials(credentials)
                    .await
                    .map_err(|e| format!("cannot reach the CA at {}: {e}", self.settings.directory))?
            }
            Err(_) => {
                let contact = self.settings.email.as_ref().map(|e| format!("mailto:{e}"));
                let contacts: Vec<&str> = contact.iter().map(String::as_str).collect();
                let eab = self.settings.eab.as_ref().map(|(kid, key)| ExternalAccountKey::new(kid.clone(), key));
                let new = NewAccount { contact: &contacts, terms_of_service_agreed: true, only_return_existing: false };
                let (account, credentials) = builder()?
                    .create(&new, self.settings.directory.clone(), eab.as_ref())
                    .await
                    .map_err(|e| format!("cannot register with the CA at {}: {e}", self.settings.directory))?;
                let json = serde_json::to_vec_pretty(&credentials).map_err(|e| e.to_string())?;
                write_atomic(&self.account_path(), &json, true)
                    .map_err(|e| format!("cannot save the ACME account: {e}"))?;
                tracing::info!(directory = %self.settings.directory, "registered an ACME account");
                account
            }
        };
        *slot = Some(account.clone());
        Ok(account)
    }

    /// The CA's suggested renewal window for `served` (RFC 9773), asked at
    /// most every few hours and only once porch is talking to the CA anyway.
    pub async fn suggested_window(&self, served: &Served) -> Option<(i64, i64)> {
        let now = crate::common::clock::now();
        if let Some((asked, window)) = *self.ari.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
            && now - asked < ARI_EVERY
        {
            return window;
        }
        let account = self.account.lock().await.clone()?;
        let leaf = served.key.cert.first()?;
        let id = CertificateIdentifier::try_from(leaf).ok()?;
        let window = match account.renewal_info(&id).await {
            Ok((info, _)) => {
                Some((info.suggested_window.start.unix_timestamp(), info.suggested_window.end.unix_timestamp()))
            }
            Err(instant_acme::Error::Unsupported(_)) => None,
            Err(e) => {
                tracing::debug!(error = %e, "could not read the CA's renewal window");
                None
            }
        };
        *self.ari.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((now, window));
        window
    }
}

/// The folder for one ACME directory's account and certificate.
fn account_dir(data_dir: &std::path::Path, directory: &str) -> PathBuf {
    data_dir.join("tls").join("acme").join(directory_slug(directory))
}

/// Where the certificate from `directory` is saved.
pub fn saved_certificate_path(data_dir: &std::path::Path, directory: &str) -> PathBuf {
    account_dir(data_dir, directory).join(CERTIFICATE_FILE)
}

/// A folder name for a directory URL: its host, and a short hash so two
/// directories on one host (production, staging) stay apart.
fn directory_slug(url: &str) -> String {
    let host: String = url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
        .collect();
    let hash = hex::encode(&sha2::Sha256::digest(url.as_bytes())[..4]);
    format!("{host}-{hash}")
}
