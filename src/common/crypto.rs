//! The process's rustls crypto provider (aws-lc-rs), for the HTTP clients
//! that ask for the default: the edge's address check and the apps layer's
//! catalogues.

/// Makes aws-lc-rs the process's rustls provider. Safe to call more than once.
pub fn install_crypto() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
