//! Corked TLS output for HTTP/2 connections: what the connection writes is
//! encrypted into rustls's send queue at once, but goes to the socket only
//! when the connection's task is about to wait ([`SendQueued::send_queued`],
//! called by [`super::streams::Driven`]), so the responses of one turn leave
//! in one system call instead of one per response.
//!
//! `h2` flushes after each DATA frame it sends, and tokio-rustls writes to the
//! socket on every write; a browser (or h2load) with several requests in
//! flight would otherwise cost a `writev` and a TCP segment per response.
//! Nothing waits longer than before: the queue is sent before the task
//! yields, whatever woke it, and a full queue (rustls's limit, 64 KiB by
//! default) is sent as soon as it fills. Only HTTP/2 connections are corked:
//! HTTP/1.1 writes one response per turn anyway, and an upgraded HTTP/1.1
//! connection leaves the task that would send the queue.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::server::TlsStream;

/// What [`super::streams::Driven`] calls before its task waits.
pub trait SendQueued: Send {
    /// Sends the queued output; Pending when the socket is full (the task is
    /// woken when it can take more).
    fn send_queued(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

impl<IO> SendQueued for Corked<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send,
{
    fn send_queued(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut shared = self.lock();
        if !shared.tls.get_ref().1.wants_write() {
            return Poll::Ready(Ok(()));
        }
        let sent = ready!(Pin::new(&mut shared.tls).poll_flush(cx));
        if let Err(e) = &sent {
            shared.broken = Some(e.kind());
        }
        Poll::Ready(sent)
    }
}

/// A TLS stream whose writes wait in rustls's queue until
/// [`SendQueued::send_queued`]. Clones share the one stream: the connection
/// reads and writes through one, its driver sends the queue through another.
pub struct Corked<IO> {
    shared: Arc<Mutex<Shared<IO>>>,
}

struct Shared<IO> {
    tls: TlsStream<IO>,
    /// Why sending the queue failed: the connection's next write or flush
    /// fails with it, as if it had written itself.
    broken: Option<io::ErrorKind>,
}

impl<IO> Clone for Corked<IO> {
    fn clone(&self) -> Self {
        Self { shared: self.shared.clone() }
    }
}

impl<IO> Corked<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    pub fn new(tls: TlsStream<IO>) -> Self {
        Self { shared: Arc::new(Mutex::new(Shared { tls, broken: None })) }
    }

    fn lock(&self) -> MutexGuard<'_, Shared<IO>> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues what rustls takes of `write`'s plaintext; when its queue is
    /// full, sends the queue first and tries once more.
    fn queue(
        &self,
        cx: &mut Context<'_>,
        len: usize,
        mut write: impl FnMut(&mut rustls::ServerConnection) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        let mut shared = self.lock();
        if let Some(kind) = shared.broken {
            return Poll::Ready(Err(kind.into()));
        }
        let taken = write(shared.tls.get_mut().1)?;
        if taken > 0 || len == 0 {
            return Poll::Ready(Ok(taken));
        }
        ready!(Pin::new(&mut shared.tls).poll_flush(cx))?;
        Poll::Ready(write(shared.tls.get_mut().1))
    }
}

impl<IO> AsyncRead for Corked<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.lock().tls).poll_read(cx, buf)
    }
}

impl<IO> AsyncWrite for Corked<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.queue(cx, buf.len(), |tls| io::Write::write(&mut tls.writer(), buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let len = bufs.iter().map(|b| b.len()).sum();
        self.queue(cx, len, |tls| io::Write::write_vectored(&mut tls.writer(), bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    /// The queue goes out when the task is about to wait, not here.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.lock().broken {
            Some(kind) => Poll::Ready(Err(kind.into())),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.lock().tls).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    /// A TLS 1.3 connection over an in-memory pipe: porch's end corked.
    async fn pair() -> (Corked<DuplexStream>, tokio_rustls::client::TlsStream<DuplexStream>) {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .expect("params")
            .self_signed(&key)
            .expect("certificate");
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls_pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
            )
            .expect("server config");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert.der().clone()).expect("root");
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let (ours, theirs) = tokio::io::duplex(1 << 20);
        let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
        let (server, client) = tokio::join!(
            tokio_rustls::TlsAcceptor::from(Arc::new(server)).accept(ours),
            tokio_rustls::TlsConnector::from(Arc::new(client)).connect(name, theirs),
        );
        (Corked::new(server.expect("server handshake")), client.expect("client handshake"))
    }

    async fn read_some(client: &mut tokio_rustls::client::TlsStream<DuplexStream>) -> Option<Vec<u8>> {
        let mut buf = vec![0; 256 * 1024];
        match tokio::time::timeout(Duration::from_millis(200), client.read(&mut buf)).await {
            Ok(read) => {
                buf.truncate(read.expect("read"));
                Some(buf)
            }
            Err(_) => None,
        }
    }

    #[tokio::test]
    async fn writes_wait_until_the_queue_is_sent_and_a_full_queue_goes_at_once() {
        let (corked, mut client) = pair().await;
        let mut writer = corked.clone();
        writer.write_all(b"first response").await.expect("write");
        writer.flush().await.expect("flush");
        assert_eq!(read_some(&mut client).await, None, "a flush alone sends nothing");
        std::future::poll_fn(|cx| corked.send_queued(cx)).await.expect("send");
        assert_eq!(read_some(&mut client).await.as_deref(), Some(&b"first response"[..]));

        // More than rustls's 64 KiB queue: writing it sends what fills the
        // queue, without waiting for the driver.
        let big = vec![7u8; 200 * 1024];
        writer.write_all(&big).await.expect("write big");
        let mut received = Vec::new();
        while let Some(chunk) = read_some(&mut client).await {
            received.extend(chunk);
        }
        assert!(received.len() >= 64 * 1024 && received.len() < big.len(), "{} bytes before the send", received.len());
        std::future::poll_fn(|cx| corked.send_queued(cx)).await.expect("send");
        while let Some(chunk) = read_some(&mut client).await {
            received.extend(chunk);
        }
        assert!(received == big, "{} of {} bytes, intact: {}", received.len(), big.len(), received == big);
    }

    #[tokio::test]
    async fn a_failed_send_fails_the_next_write() {
        let (corked, client) = pair().await;
        drop(client);
        let mut writer = corked.clone();
        writer.write_all(b"to nobody").await.expect("queued");
        let sent = std::future::poll_fn(|cx| corked.send_queued(cx)).await;
        assert!(sent.is_err(), "the peer is gone");
        assert!(writer.write_all(b"more").await.is_err(), "the connection's next write fails");
        assert!(writer.flush().await.is_err(), "and so does its flush");
    }
}
