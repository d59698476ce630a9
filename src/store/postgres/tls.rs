//! TLS for the database connection: rustls with the ring provider, linked
//! statically. Not postgres-openssl: that would add a `NEEDED libssl` to
//! pam_totp.so, so every host, even with `store = "files"`, would load
//! OpenSSL into each login.
//!
//! `sslmode` decides the certificate check, as libpq does:
//! - `allow`, `prefer`, `require` without `sslrootcert`: encrypted, the
//!   certificate not checked (the handshake signature still is);
//! - `require` with `sslrootcert`, `verify-ca`: the chain must lead to
//!   `sslrootcert`, any host name;
//! - `verify-full`: the chain and the host name (`host`, not `hostaddr`).

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::conninfo::{ConfigError, ConnInfo, RootCert, SslMode};

/// The largest root certificate file we read.
const MAX_ROOT_FILE: u64 = 1024 * 1024;

/// The connector for `info`'s `sslmode` and `sslrootcert`.
pub fn connector(info: &ConnInfo) -> Result<MakeRustlsConnect, ConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let algorithms = provider.signature_verification_algorithms;
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| ConfigError::RootCert(error.to_string()))?;
    let checks_chain = matches!(info.sslmode, SslMode::VerifyCa | SslMode::VerifyFull)
        || (info.sslmode == SslMode::Require && info.sslrootcert.is_some());
    let verifier: Arc<dyn ServerCertVerifier> = match (&info.sslrootcert, checks_chain) {
        (Some(root), true) => {
            let roots = Arc::new(root_store(root)?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|error| ConfigError::RootCert(error.to_string()))?;
            if info.sslmode == SslMode::VerifyFull {
                webpki
            } else {
                Arc::new(ChainOnly(webpki))
            }
        }
        _ => Arc::new(Unchecked(algorithms)),
    };
    let config = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

fn root_store(root: &RootCert) -> Result<RootCertStore, ConfigError> {
    let mut store = RootCertStore::empty();
    match root {
        RootCert::System => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _ignored) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(ConfigError::RootCert(
                    "sslrootcert=system: no certificate found in the system trust store".into(),
                ));
            }
        }
        RootCert::File(path) => {
            let cannot = |why: String| {
                ConfigError::RootCert(format!("sslrootcert {} {why}", path.display()))
            };
            let meta = std::fs::metadata(path)
                .map_err(|error| cannot(format!("cannot be read: {error}")))?;
            if !meta.is_file() || meta.len() > MAX_ROOT_FILE {
                return Err(cannot("is not a regular file of at most 1 MiB".into()));
            }
            let pem =
                std::fs::read(path).map_err(|error| cannot(format!("cannot be read: {error}")))?;
            for certificate in CertificateDer::pem_slice_iter(&pem) {
                let certificate =
                    certificate.map_err(|error| cannot(format!("is not valid PEM: {error}")))?;
                store
                    .add(certificate)
                    .map_err(|error| cannot(format!("holds an unusable certificate: {error}")))?;
            }
            if store.is_empty() {
                return Err(cannot("holds no certificate".into()));
            }
        }
    }
    Ok(store)
}

/// verify-ca: the full check, except the host name.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the chain first and the name last: a name error
        // means the chain was good.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// prefer/require without a root: any certificate, as libpq. The handshake
/// signatures are still checked, so the session is with the certificate's
/// key holder (an unauthenticated one).
#[derive(Debug)]
struct Unchecked(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}
