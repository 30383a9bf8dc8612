//! Sending email through the owner's SMTP server (`[mail]`), with lettre:
//! STARTTLS or TLS through rustls, or plain for a server on this machine; a
//! sign-in when `mail.user` is set; each send bounded by `mail.timeout`.
//! A message is plain text plus simple HTML, and may carry RFC 8058's
//! one-click unsubscribe headers.

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{MailKeys, MailTls};

/// Why an email did not go.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("{0} is not an email address porch can send to")]
    Address(String),
    #[error("the email could not be put together: {0}")]
    Build(String),
    #[error(
        "the mail server ({server}) did not take the email: {why}. Check [mail] in porch.toml, then try `porch mail test ADDRESS`"
    )]
    Send { server: String, why: String },
}

/// One email to send.
pub struct Email<'a> {
    pub to: &'a str,
    pub subject: &'a str,
    pub text: String,
    pub html: String,
    /// The one-click unsubscribe URL (RFC 8058), if the email has one.
    pub unsubscribe: Option<String>,
}

/// The SMTP connection settings, ready to send.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    server: String,
}

impl Mailer {
    /// A mailer for `[mail]`; `None` when no host is set.
    pub fn from_settings(mail: Option<&MailKeys>) -> Result<Option<Mailer>, MailError> {
        let Some(mail) = mail else { return Ok(None) };
        let (Some(host), Some(from)) = (&mail.host, &mail.from) else { return Ok(None) };
        crate::common::crypto::install_crypto();
        let from: Mailbox = from.parse().map_err(|_| MailError::Address(from.clone()))?;
        let port = u16::try_from(mail.port).unwrap_or(587);
        let tls = |host: &str| {
            TlsParameters::new(host.to_owned()).map_err(|e| MailError::Build(format!("TLS for {host}: {e}")))
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str()).port(port);
        builder = match mail.tls {
            MailTls::StartTls => builder.tls(Tls::Required(tls(host)?)),
            MailTls::Tls => builder.tls(Tls::Wrapper(tls(host)?)),
            MailTls::Off => builder.tls(Tls::None),
        };
        if !mail.user.is_empty() {
            builder = builder.credentials(Credentials::new(mail.user.clone(), mail.password.clone()));
        }
        let transport = builder.timeout(Some(mail.timeout)).build();
        Ok(Some(Mailer { transport, from, server: format!("{host}:{port}") }))
    }

    /// Sends `email`.
    pub async fn send(&self, email: Email<'_>) -> Result<(), MailError> {
        let to: Mailbox = email.to.parse().map_err(|_| MailError::Address(email.to.to_owned()))?;
        let mut builder = Message::builder().from(self.from.clone()).to(to).subject(email.subject);
        if let Some(url) = &email.unsubscribe {
            builder = builder
                .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("List-Unsubscribe"), format!("<{url}>")))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".to_owned(),
                ));
        }
        let body = MultiPart::alternative()
            .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(email.text))
            .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(email.html));
        let message = builder.multipart(body).map_err(|e| MailError::Build(e.to_string()))?;
        self.transport
            .send(message)
            .await
            .map_err(|e| MailError::Send { server: self.server.clone(), why: e.to_string() })?;
        Ok(())
    }
}
