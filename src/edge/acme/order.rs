//! One certificate order: publish an answer for each name with the chosen
//! challenge, tell the CA it is ready, wait, send a CSR for a fresh key and
//! fetch the chain. Whatever was published is withdrawn afterwards, whether
//! the order worked or not.

use std::sync::Arc;
use std::time::Duration;

use instant_acme::{Account, AuthorizationStatus, ChallengeType, Identifier, NewOrder, OrderStatus, RetryPolicy};
use rcgen::{CertificateParams, CustomExtension, DistinguishedName, KeyPair};

use crate::edge::certs;
use crate::edge::challenges::Challenges;

/// The challenge types porch can answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Http01,
    TlsAlpn01,
    Dns01,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Http01 => "http-01",
            Method::TlsAlpn01 => "tls-alpn-01",
            Method::Dns01 => "dns-01",
        }
    }

    fn challenge_type(self) -> ChallengeType {
        match self {
            Method::Http01 => ChallengeType::Http01,
            Method::TlsAlpn01 => ChallengeType::TlsAlpn01,
            Method::Dns01 => ChallengeType::Dns01,
        }
    }
}

/// A freshly issued chain and its private key, both PEM.
#[derive(Debug)]
pub struct Issued {
    pub chain_pem: String,
    pub key_pem: String,
}

/// Something published for the CA to check, to be withdrawn.
enum Published {
    Http(String),
    Alpn(String),
    Txt(String, String),
}

/// How long porch waits for the CA to validate and to issue.
const POLL: RetryPolicy =
    RetryPolicy::new().initial_delay(Duration::from_millis(250)).backoff(1.5).timeout(Duration::from_secs(120));

/// Why an order failed.
#[derive(Debug)]
pub enum OrderError {
    /// The CA no longer knows porch's account (a CA reset, or a test CA
    /// restarted): register again.
    AccountGone,
    Failed(String),
}

impl From<String> for OrderError {
    fn from(s: String) -> OrderError {
        OrderError::Failed(s)
    }
}

impl From<&str> for OrderError {
    fn from(s: &str) -> OrderError {
        OrderError::Failed(s.to_owned())
    }
}

/// Orders a certificate for `names` from `account`, proving control with `method`.
pub async fn issue(
    account: &Account,
    names: &[String],
    method: Method,
    challenges: &Arc<Challenges>,
) -> Result<Issued, OrderError> {
    let mut published = Vec::new();
    let result = run(account, names, method, challenges, &mut published).await;
    for item in published {
        match item {
            Published::Http(token) => challenges.clear_http01(&token),
            Published::Alpn(name) => challenges.resolver.clear_challenge(&name),
            Published::Txt(name, value) => {
                if let Some(zone) = &challenges.zone {
                    zone.remove_txt(&name, &value);
                }
            }
        }
    }
    result
}

async fn run(
    account: &Account,
    names: &[String],
    method: Method,
    challenges: &Arc<Challenges>,
    published: &mut Vec<Published>,
) -> Result<Issued, OrderError> {
    let identifiers: Vec<Identifier> = names.iter().map(|n| Identifier::Dns(n.clone())).collect();
    let mut order = match account.new_order(&NewOrder::new(&identifiers)).await {
        Ok(order) => order,
        Err(instant_acme::Error::Api(problem))
            if problem.r#type.as_deref() == Some("urn:ietf:params:acme:error:accountDoesNotExist") =>
        {
            return Err(OrderError::AccountGone);
        }
        Err(e) => return Err(format!("the CA refused a new order: {e}").into()),
    };
    let mut authorizations = order.authorizations();
    while let Some(authz) = authorizations.next().await {
        let mut authz = authz.map_err(|e| format!("cannot read an authorization: {e}"))?;
        match authz.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            other => {
                return Err(format!("the CA says the authorization for {} is {other:?}", authz.identifier()).into());
            }
        }
        let name = match &authz.identifier().identifier {
            Identifier::Dns(dns) => dns.clone(),
            other => return Err(format!("the CA asked about {other:?}, which porch never orders").into()),
        };
        let mut challenge = authz
            .challenge(method.challenge_type())
            .ok_or_else(|| format!("the CA offers no {} challenge for {name}", method.as_str()))?;
        let key_auth = challenge.key_authorization();
        match method {
            Method::Http01 => {
                challenges.set_http01(&challenge.token, key_auth.as_str());
                published.push(Published::Http(challenge.token.clone()));
            }
            Method::TlsAlpn01 => {
                let key = alpn_certificate(&name, key_auth.digest().as_ref())?;
                challenges.resolver.set_challenge(&name, key);
                published.push(Published::Alpn(name.clone()));
            }
            Method::Dns01 => {
                let zone = challenges.zone.as_ref().ok_or("dns-01 needs porch's own DNS zone ([dns] listen)")?;
                let owner = format!("_acme-challenge.{name}");
                let value = key_auth.dns_value();
                zone.add_txt(&owner, &value);
                published.push(Published::Txt(owner, value));
            }
        }
        challenge
            .set_ready()
            .await
            .map_err(|e| format!("cannot tell the CA the {} answer for {name} is ready: {e}", method.as_str()))?;
    }
    let status = order.poll_ready(&POLL).await.map_err(|e| format!("waiting for the CA to check the names: {e}"))?;
    if status != OrderStatus::Ready {
        return Err(why_not_ready(&mut order, method).await.into());
    }
    let key = KeyPair::generate().map_err(|e| format!("cannot make a key: {e}"))?;
    let mut params = CertificateParams::new(names.to_vec()).map_err(|e| format!("bad name in {names:?}: {e}"))?;
    params.distinguished_name = DistinguishedName::new();
    let csr = params.serialize_request(&key).map_err(|e| format!("cannot make the CSR: {e}"))?;
    order.finalize_csr(csr.der()).await.map_err(|e| format!("the CA refused the CSR: {e}"))?;
    let chain_pem =
        order.poll_certificate(&POLL).await.map_err(|e| format!("the CA did not hand over the certificate: {e}"))?;
    Ok(Issued { chain_pem, key_pem: key.serialize_pem() })
}

/// The CA's own words about each failed name, for the log and admin page.
async fn why_not_ready(order: &mut instant_acme::Order, method: Method) -> String {
    let mut reasons = Vec::new();
    if let Some(problem) = &order.state().error {
        reasons.push(problem.to_string());
    }
    let mut authorizations = order.authorizations();
    while let Some(Ok(mut authz)) = authorizations.next().await {
        if let Ok(state) = authz.refresh().await {
            for challenge in &state.challenges {
                if let Some(problem) = &challenge.error {
                    reasons.push(format!("{}: {problem}", state.identifier()));
                }
            }
        }
    }
    if reasons.is_empty() {
        reasons.push("no reason given".into());
    }
    format!("the CA could not confirm the names with {}: {}", method.as_str(), reasons.join("; "))
}

/// The self-signed certificate a TLS-ALPN-01 check expects (RFC 8737).
fn alpn_certificate(name: &str, digest: &[u8]) -> Result<Arc<rustls::sign::CertifiedKey>, String> {
    let key = KeyPair::generate().map_err(|e| format!("cannot make a key: {e}"))?;
    let mut params = CertificateParams::new(vec![name.to_owned()]).map_err(|e| format!("bad name {name}: {e}"))?;
    params.custom_extensions = vec![CustomExtension::new_acme_identifier(digest)];
    let cert = params.self_signed(&key).map_err(|e| format!("cannot make the tls-alpn-01 certificate: {e}"))?;
    let key_der = rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    certs::challenge_key(cert.der().clone(), key_der).map_err(|e| e.to_string())
}
