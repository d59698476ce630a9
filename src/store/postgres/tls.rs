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
//!
//! `sslcrl`/`sslcrldir` revoke certificates of the server's chain (when the
//! chain is checked, as libpq); `sslcert`/`sslkey` present a client
//! certificate (pg_hba `cert`). `sslrootcert=system` reads the system's
//! bundle from fixed paths, never from `SSL_CERT_FILE`/`SSL_CERT_DIR`:
//! the environment is the calling process's, not the administrator's.
//! Every file is read by [`read_named_file`]'s rules.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName, UnixTime,
};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres::tls::{ChannelBinding, TlsConnect, TlsStream};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::conninfo::{
    AuthMethod, CertMode, ConnInfo, ConnInfoError, RequireAuth, RootCert, SslMode, TlsVersion,
    read_named_file,
};

/// The largest certificate, key or revocation list file we read.
const MAX_ROOT_FILE: u64 = 1024 * 1024;
/// The largest system bundle we read.
const MAX_SYSTEM_BUNDLE: u64 = 16 * 1024 * 1024;
/// Where distributions keep the system's CA bundle (one PEM file), in the
/// order tried: Debian and Ubuntu, Fedora and RHEL, openSUSE, Alpine.
pub const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/var/lib/ca-certificates/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// Whether the connection's handshake sent the client certificate (set by
/// the certificate's resolver, cleared before each try: `sslcertmode`).
pub type CertSent = Arc<std::sync::atomic::AtomicBool>;

/// What a connection's TLS needs: the connector, and the note of whether
/// the client certificate went out.
#[derive(Clone)]
pub struct ClientTls {
    pub make: MakeRustlsConnect,
    pub cert_sent: CertSent,
}

/// The connector for `info`'s `sslmode` and `sslrootcert`. One connector
/// serves every connection of one authentication: its files are read and
/// its key loaded once, and the server's chain, once verified, is not
/// verified again (see [`RememberChain`]).
pub fn connector(info: &ConnInfo) -> Result<ClientTls, ConnInfoError> {
    let sent = CertSent::default();
    let provider = Arc::new(provider());
    let algorithms = provider.signature_verification_algorithms;
    let tls12_allowed = info.tls.min_version <= TlsVersion::Tls12;
    let tls13_allowed = info
        .tls
        .max_version
        .is_none_or(|max| max >= TlsVersion::Tls13);
    let versions: &[&'static rustls::SupportedProtocolVersion] =
        match (tls12_allowed, tls13_allowed) {
            (true, true) => &[&rustls::version::TLS13, &rustls::version::TLS12],
            (true, false) => &[&rustls::version::TLS12],
            _ => &[&rustls::version::TLS13],
        };
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|error| ConnInfoError::RootCert(error.to_string()))?;
    let checks_chain = matches!(info.sslmode, SslMode::VerifyCa | SslMode::VerifyFull)
        || (info.sslmode == SslMode::Require && info.sslrootcert.is_some());
    let verifier: Arc<dyn ServerCertVerifier> = match (&info.sslrootcert, checks_chain) {
        (Some(root), true) => {
            let roots = Arc::new(root_store(root)?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .with_crls(revocation_lists(info)?)
                .build()
                .map_err(|error| ConnInfoError::RootCert(error.to_string()))?;
            let checked: Arc<dyn ServerCertVerifier> = if info.sslmode == SslMode::VerifyFull {
                webpki
            } else {
                Arc::new(ChainOnly(webpki))
            };
            Arc::new(RememberChain::new(checked))
        }
        _ => Arc::new(Unchecked(algorithms)),
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match (&info.tls.sslcert, &info.tls.sslkey, info.tls.certmode) {
        (_, _, CertMode::Disable) => builder.with_no_client_auth(),
        (Some(cert), Some(key), _) => {
            let (chain, key) = client_certificate(cert, key)?;
            let certified =
                rustls::sign::CertifiedKey::from_der(chain, key, &provider).map_err(|error| {
                    ConnInfoError::RootCert(format!(
                        "sslkey {} does not go with sslcert {}: {error}",
                        key_path(info),
                        cert.display()
                    ))
                })?;
            builder.with_client_cert_resolver(Arc::new(ClientCertificate {
                certified: Arc::new(certified),
                sent: sent.clone(),
            }))
        }
        _ => builder.with_no_client_auth(),
    };
    config.enable_sni = info.tls.sni;
    Ok(ClientTls {
        make: MakeRustlsConnect::new(config),
        cert_sent: sent,
    })
}

/// The client certificate (`sslcert`, `sslkey`), given whenever the
/// server asks, and noted as sent (for `sslcertmode=require`).
#[derive(Debug)]
struct ClientCertificate {
    certified: Arc<rustls::sign::CertifiedKey>,
    sent: CertSent,
}

impl rustls::client::ResolvesClientCert for ClientCertificate {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        self.sent.store(true, std::sync::atomic::Ordering::SeqCst);
        Some(self.certified.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The ring provider with P-256 offered first. PostgreSQL up to 17 takes
/// one group, `ssl_ecdh_curve`, `prime256v1` by default; a client that
/// sends an X25519 key share first gets a HelloRetryRequest: a key made
/// and thrown away and one more round trip on every connection.
/// PostgreSQL 18's default `ssl_groups` has both, and takes P-256 at once.
fn provider() -> rustls::crypto::CryptoProvider {
    use rustls::crypto::ring::kx_group::{SECP256R1, SECP384R1, X25519};
    rustls::crypto::CryptoProvider {
        kx_groups: vec![SECP256R1, X25519, SECP384R1],
        ..rustls::crypto::ring::default_provider()
    }
}

fn key_path(info: &ConnInfo) -> String {
    info.tls
        .sslkey
        .as_ref()
        .map(|path| path.display().to_string())
        .unwrap_or_default()
}

/// `sslcert` (the certificate, then any intermediates) and `sslkey`
/// (PKCS#1, PKCS#8 or SEC1 PEM, not encrypted).
fn client_certificate(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), ConnInfoError> {
    let pem = read_named_file("sslcert", cert, false, MAX_ROOT_FILE)?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| {
            ConnInfoError::RootCert(format!(
                "sslcert {} is not valid PEM: {error}",
                cert.display()
            ))
        })?;
    if chain.is_empty() {
        return Err(ConnInfoError::RootCert(format!(
            "sslcert {} holds no certificate",
            cert.display()
        )));
    }
    let pem = read_named_file("sslkey", key, true, MAX_ROOT_FILE)?;
    let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|error| {
        ConnInfoError::RootCert(format!(
            "sslkey {} holds no usable private key (unencrypted PEM: PKCS#8, PKCS#1 or SEC1): {error}",
            key.display()
        ))
    })?;
    Ok((chain, key))
}

/// `sslcrl` and every file of `sslcrldir`.
fn revocation_lists(
    info: &ConnInfo,
) -> Result<Vec<CertificateRevocationListDer<'static>>, ConnInfoError> {
    let mut files = Vec::new();
    if let Some(path) = &info.tls.sslcrl {
        files.push(("sslcrl", path.clone()));
    }
    if let Some(dir) = &info.tls.sslcrldir {
        let entries = std::fs::read_dir(dir).map_err(|error| {
            ConnInfoError::RootCert(format!(
                "sslcrldir {} cannot be read: {error}",
                dir.display()
            ))
        })?;
        let mut paths: Vec<_> = entries
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .collect();
        paths.sort();
        files.extend(paths.into_iter().map(|path| ("sslcrldir", path)));
    }
    let mut crls = Vec::new();
    for (keyword, path) in files {
        let pem = read_named_file(keyword, &path, false, MAX_ROOT_FILE)?;
        for crl in CertificateRevocationListDer::pem_slice_iter(&pem) {
            crls.push(crl.map_err(|error| {
                ConnInfoError::RootCert(format!(
                    "{keyword} {} is not valid PEM: {error}",
                    path.display()
                ))
            })?);
        }
    }
    Ok(crls)
}

fn root_store(root: &RootCert) -> Result<RootCertStore, ConnInfoError> {
    let mut store = RootCertStore::empty();
    match root {
        RootCert::System => {
            let pem = system_bundle()?;
            let certs = CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok);
            let (added, _ignored) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(ConnInfoError::RootCert(
                    "sslrootcert=system: no certificate found in the system trust store".into(),
                ));
            }
        }
        RootCert::File(path) => {
            let cannot = |why: String| {
                ConnInfoError::RootCert(format!("sslrootcert {} {why}", path.display()))
            };
            let pem = read_named_file("sslrootcert", path, false, MAX_ROOT_FILE)?;
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

/// The first of [`SYSTEM_BUNDLES`] that exists. These are the system's
/// own paths, so a link is followed (Fedora's ca-bundle.crt is one), but
/// the file reached must be root's and not writable by group or others.
fn system_bundle() -> Result<Vec<u8>, ConnInfoError> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    for path in SYSTEM_BUNDLES {
        let Ok(file) = std::fs::File::open(path) else {
            continue;
        };
        let cannot =
            |why: String| ConnInfoError::RootCert(format!("sslrootcert=system: {path} {why}"));
        let meta = file
            .metadata()
            .map_err(|error| cannot(format!("cannot be read: {error}")))?;
        if !meta.is_file() || meta.uid() != 0 || meta.mode() & 0o022 != 0 {
            return Err(cannot(
                "must be a regular file owned by root, not writable by group or others".into(),
            ));
        }
        let mut pem = Vec::new();
        file.take(MAX_SYSTEM_BUNDLE)
            .read_to_end(&mut pem)
            .map_err(|error| cannot(format!("cannot be read: {error}")))?;
        return Ok(pem);
    }
    Err(ConnInfoError::RootCert(format!(
        "sslrootcert=system: no system CA bundle found (looked for {})",
        SYSTEM_BUNDLES.join(", ")
    )))
}

/// The server's certificate chain, verified once per connector: a login's
/// second connection, to the same server with the same chain and name,
/// skips the chain's signature check (one ECDSA verification, about
/// 0.75 M instructions with P-256). The handshake signature, which proves
/// the server holds the key now, is verified on every connection. A
/// connector lives for one authentication, and its revocation lists are
/// read when it is made. An authentication can still wait at its prompt
/// for hours (`su`, `login`, sshd with `LoginGraceTime 0`): the chain is
/// remembered only until the first of its certificates expires, and only
/// from when the last became valid, as the full check would decide.
#[derive(Debug)]
struct RememberChain {
    checked: Arc<dyn ServerCertVerifier>,
    /// The end-entity certificate, intermediates and name last verified,
    /// and when all of them are valid.
    verified: std::sync::Mutex<Option<(VerifiedChain, Validity)>>,
}

/// When every certificate of a chain is valid, in seconds since 1970,
/// both ends included (as webpki decides).
#[derive(Debug, Clone, Copy)]
struct Validity {
    not_before: u64,
    not_after: u64,
}

impl Validity {
    /// The validity all of `certificates` share; `None` if one does not
    /// parse (then the chain is not remembered: every check is in full).
    fn of<'a>(certificates: impl IntoIterator<Item = &'a [u8]>) -> Option<Validity> {
        use x509_cert::der::Decode;
        let mut shared = Validity {
            not_before: 0,
            not_after: u64::MAX,
        };
        for der in certificates {
            let validity = x509_cert::Certificate::from_der(der)
                .ok()?
                .tbs_certificate
                .validity;
            let seconds = |time: x509_cert::time::Time| time.to_unix_duration().as_secs();
            shared.not_before = shared.not_before.max(seconds(validity.not_before));
            shared.not_after = shared.not_after.min(seconds(validity.not_after));
        }
        Some(shared)
    }

    fn contains(&self, now: UnixTime) -> bool {
        (self.not_before..=self.not_after).contains(&now.as_secs())
    }
}

#[derive(Debug, PartialEq, Eq)]
struct VerifiedChain {
    end_entity: Vec<u8>,
    intermediates: Vec<Vec<u8>>,
    server_name: String,
}

impl RememberChain {
    fn new(checked: Arc<dyn ServerCertVerifier>) -> RememberChain {
        RememberChain {
            checked,
            verified: std::sync::Mutex::new(None),
        }
    }
}

impl ServerCertVerifier for RememberChain {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let chain = VerifiedChain {
            end_entity: end_entity.to_vec(),
            intermediates: intermediates.iter().map(|cert| cert.to_vec()).collect(),
            server_name: server_name.to_str().into_owned(),
        };
        // A poisoned lock only loses the memory: verify in full.
        let remembered = self
            .verified
            .lock()
            .map(|verified| {
                verified.as_ref().is_some_and(|(verified, validity)| {
                    *verified == chain && validity.contains(now)
                })
            })
            .unwrap_or(false);
        if remembered && ocsp_response.is_empty() {
            return Ok(ServerCertVerified::assertion());
        }
        let verified = self.checked.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        let validity = Validity::of(
            std::iter::once(end_entity.as_ref())
                .chain(intermediates.iter().map(|cert| cert.as_ref())),
        );
        if let (Ok(mut slot), Some(validity)) = (self.verified.lock(), validity) {
            *slot = Some((chain, validity));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.checked.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.checked.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.checked.supported_verify_schemes()
    }
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

// The socket under the protocol, and the watch that enforces
// `require_auth`: tokio-postgres answers whatever authentication request
// the server makes, so the request is read off the stream (after TLS is
// decrypted, when there is TLS) before tokio-postgres sees it, and a
// request the string does not allow ends the connection there, before any
// password or hash is sent.

/// A TCP or Unix-socket stream, opened by us (so that we set libpq's
/// socket options and check `requirepeer`).
pub enum Socket {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

impl tokio::io::AsyncRead for Socket {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(stream) => std::pin::Pin::new(stream).poll_read(cx, buf),
            Socket::Unix(stream) => std::pin::Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl tokio::io::AsyncWrite for Socket {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Socket::Tcp(stream) => std::pin::Pin::new(stream).poll_write(cx, buf),
            Socket::Unix(stream) => std::pin::Pin::new(stream).poll_write(cx, buf),
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(stream) => std::pin::Pin::new(stream).poll_flush(cx),
            Socket::Unix(stream) => std::pin::Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.get_mut() {
            Socket::Tcp(stream) => std::pin::Pin::new(stream).poll_shutdown(cx),
            Socket::Unix(stream) => std::pin::Pin::new(stream).poll_shutdown(cx),
        }
    }
}

/// AuthenticationSASLContinue: its body is SCRAM's server-first message.
const SASL_CONTINUE: u32 = 11;
/// How much of a server-first message is read (nonce, salt, count: a
/// real one is about 90 bytes); a longer one gives no count.
const MAX_SERVER_FIRST: usize = 512;

/// The `i=` of a SCRAM server-first message (`r=...,s=...,i=4096`).
fn scram_iterations(message: &[u8]) -> Option<u32> {
    message
        .split(|&byte| byte == b',')
        .find_map(|field| field.strip_prefix(b"i="))
        .and_then(|digits| std::str::from_utf8(digits).ok())
        .and_then(|digits| digits.parse().ok())
}

/// The 8 bytes of an SSLRequest: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 4, 210, 22, 47];

/// What the server asked for, followed across the raw socket and the TLS
/// stream over it.
#[derive(Debug)]
pub struct AuthWatch {
    policy: Option<RequireAuth>,
    /// The raw socket carries the protocol (no TLS, or not yet).
    raw: bool,
    /// The first write on the raw socket has been seen.
    first_write_seen: bool,
    /// An SSLRequest was sent: the next raw byte is its one-byte answer.
    ssl_reply_pending: bool,
    /// The message header being read (type, length), and the body left.
    header: [u8; 5],
    header_len: usize,
    body_left: usize,
    /// The first four body bytes of an authentication request (its code).
    code: [u8; 4],
    code_len: usize,
    /// The first method the server asked for.
    asked: Option<AuthMethod>,
    /// `require_auth` has nothing more to decide (none given, or decided).
    policy_done: bool,
    /// The start of a SASLContinue (SCRAM's server-first message).
    server_first: Vec<u8>,
    /// The iteration count of the role's SCRAM verifier, as the server
    /// said it (for `pam-totp check`).
    pub scram_iterations: Option<u32>,
    /// Authentication is over (or failed): nothing more to read.
    done: bool,
    /// Why the connection was ended, for the administrator.
    pub refused: Option<String>,
}

pub type SharedWatch = Arc<std::sync::Mutex<AuthWatch>>;

impl AuthWatch {
    pub fn new(policy: Option<RequireAuth>) -> SharedWatch {
        Arc::new(std::sync::Mutex::new(AuthWatch {
            policy,
            raw: true,
            first_write_seen: false,
            ssl_reply_pending: false,
            header: [0; 5],
            header_len: 0,
            body_left: 0,
            code: [0; 4],
            code_len: 0,
            asked: None,
            policy_done: policy.is_none(),
            server_first: Vec::new(),
            scram_iterations: None,
            done: false,
            refused: None,
        }))
    }

    fn wrote_raw(&mut self, bytes: &[u8]) {
        if self.done || !self.raw || self.first_write_seen || bytes.is_empty() {
            return;
        }
        self.first_write_seen = true;
        self.ssl_reply_pending = bytes.starts_with(&SSL_REQUEST);
    }

    /// Bytes read from the server on the raw socket (`raw`) or the TLS stream.
    fn read(&mut self, bytes: &[u8], raw: bool) -> Result<(), String> {
        if self.done || raw != self.raw {
            return Ok(());
        }
        let mut bytes = bytes;
        if raw && self.ssl_reply_pending {
            let Some((first, rest)) = bytes.split_first() else {
                return Ok(());
            };
            self.ssl_reply_pending = false;
            if *first == b'S' {
                // TLS follows: the watch moves to the TLS stream.
                self.raw = false;
                return Ok(());
            }
            bytes = rest;
        }
        for &byte in bytes {
            if self.done {
                break;
            }
            self.byte(byte)?;
        }
        Ok(())
    }

    fn byte(&mut self, byte: u8) -> Result<(), String> {
        if self.header_len < self.header.len() {
            if let Some(slot) = self.header.get_mut(self.header_len) {
                *slot = byte;
            }
            self.header_len += 1;
            if self.header_len == self.header.len() {
                let [_, a, b, c, d] = self.header;
                let length = u32::from_be_bytes([a, b, c, d]);
                self.body_left = usize::try_from(length.saturating_sub(4)).unwrap_or(0);
                self.code_len = 0;
                if self.body_left == 0 {
                    self.message_end()?;
                }
            }
            return Ok(());
        }
        if self.header[0] == b'R' {
            if let Some(slot) = self.code.get_mut(self.code_len) {
                *slot = byte;
                self.code_len += 1;
                if self.code_len == self.code.len() {
                    self.request(u32::from_be_bytes(self.code))?;
                }
            } else if u32::from_be_bytes(self.code) == SASL_CONTINUE
                && self.server_first.len() <= MAX_SERVER_FIRST
            {
                // One byte past the bound marks a message cut short.
                self.server_first.push(byte);
            }
        }
        self.body_left = self.body_left.saturating_sub(1);
        if self.body_left == 0 {
            self.message_end()?;
        }
        Ok(())
    }

    fn message_end(&mut self) -> Result<(), String> {
        if self.header[0] == b'E' {
            self.done = true;
        }
        if !self.server_first.is_empty() {
            // A message cut short may end inside the count (4096 read as
            // 40): no count rather than a wrong one.
            self.scram_iterations = Some(&self.server_first)
                .filter(|message| message.len() <= MAX_SERVER_FIRST)
                .and_then(|message| scram_iterations(message));
            self.server_first = Vec::new();
        }
        self.header_len = 0;
        Ok(())
    }

    /// An authentication request with `code` (0 = AuthenticationOk).
    fn request(&mut self, code: u32) -> Result<(), String> {
        if code == 0 {
            // AuthenticationOk: nothing more to watch.
            self.done = true;
        }
        let policy = match self.policy {
            Some(policy) if !self.policy_done => policy,
            _ => return Ok(()),
        };
        let method = match code {
            0 => {
                if self.asked.is_none() && !policy.allows(AuthMethod::None) {
                    return self.refuse(
                        "the server let the connection in without asking for any authentication, which require_auth does not allow".to_string(),
                    );
                }
                return Ok(());
            }
            3 => AuthMethod::Password,
            5 => AuthMethod::Md5,
            7 | 8 => AuthMethod::Gss,
            9 => AuthMethod::Sspi,
            10..=12 => AuthMethod::ScramSha256,
            other => {
                return self.refuse(format!(
                    "the server asked for an authentication method pam-totp does not know (request {other})"
                ));
            }
        };
        // Every request, as libpq checks each one: a method allowed first
        // does not let another one through after it.
        self.asked.get_or_insert(method);
        if !policy.allows(method) {
            return self.refuse(format!(
                "the server asked for {} authentication, which require_auth does not allow",
                method.as_str()
            ));
        }
        Ok(())
    }

    fn refuse(&mut self, why: String) -> Result<(), String> {
        self.done = true;
        self.policy_done = true;
        self.refused = Some(why.clone());
        Err(why)
    }
}

/// A stream whose incoming bytes pass the [`AuthWatch`] first.
pub struct Watched<S> {
    inner: S,
    watch: SharedWatch,
    raw: bool,
}

impl<S> Watched<S> {
    pub fn raw(inner: S, watch: SharedWatch) -> Watched<S> {
        Watched {
            inner,
            watch,
            raw: true,
        }
    }
}

fn lock(watch: &SharedWatch) -> std::sync::MutexGuard<'_, AuthWatch> {
    watch
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for Watched<S> {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let poll = std::pin::Pin::new(&mut this.inner).poll_read(cx, buf);
        if let std::task::Poll::Ready(Ok(())) = &poll {
            let new = buf.filled().get(before..).unwrap_or_default();
            if let Err(why) = lock(&this.watch).read(new, this.raw) {
                return std::task::Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    why,
                )));
            }
        }
        poll
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Watched<S> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.raw {
            lock(&this.watch).wrote_raw(buf);
        }
        std::pin::Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl<S: TlsStream + Unpin> TlsStream for Watched<S> {
    fn channel_binding(&self) -> ChannelBinding {
        self.inner.channel_binding()
    }
}

/// The TLS connector, its stream watched too.
pub struct WatchedTls<T> {
    pub inner: T,
    pub watch: SharedWatch,
}

impl<S, T> TlsConnect<S> for WatchedTls<T>
where
    T: TlsConnect<S>,
    T::Future: Unpin,
    T::Stream: Unpin,
{
    type Stream = Watched<T::Stream>;
    type Error = T::Error;
    type Future = WatchedConnect<T::Future>;

    fn connect(self, stream: S) -> Self::Future {
        // Direct negotiation starts here without an SSLRequest; either way
        // the protocol is inside TLS from now on.
        lock(&self.watch).raw = false;
        WatchedConnect {
            inner: self.inner.connect(stream),
            watch: Some(self.watch),
        }
    }
}

pub struct WatchedConnect<F> {
    inner: F,
    watch: Option<SharedWatch>,
}

impl<F, St, E> std::future::Future for WatchedConnect<F>
where
    F: std::future::Future<Output = Result<St, E>> + Unpin,
{
    type Output = Result<Watched<St>, E>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.get_mut();
        match std::pin::Pin::new(&mut this.inner).poll(cx) {
            std::task::Poll::Pending => std::task::Poll::Pending,
            std::task::Poll::Ready(result) => {
                let watch = this.watch.take().unwrap_or_else(|| AuthWatch::new(None));
                std::task::Poll::Ready(result.map(|inner| Watched {
                    inner,
                    watch,
                    raw: false,
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accepts only the certificate `good`, and counts the chain checks.
    #[derive(Debug)]
    struct Counting {
        good: Vec<u8>,
        calls: std::sync::atomic::AtomicUsize,
    }

    impl ServerCertVerifier for Counting {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if end_entity.as_ref() == self.good.as_slice() {
                Ok(ServerCertVerified::assertion())
            } else {
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::BadSignature,
                ))
            }
        }

        fn verify_tls12_signature(
            &self,
            _message: &[u8],
            _cert: &CertificateDer<'_>,
            _dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            Err(rustls::Error::General("not in this test".into()))
        }

        fn verify_tls13_signature(
            &self,
            _message: &[u8],
            _cert: &CertificateDer<'_>,
            _dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            Err(rustls::Error::General("not in this test".into()))
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            Vec::new()
        }
    }

    /// Valid from 2026-01-01 00:00 to 2026-01-02 00:00 UTC (a P-256 key
    /// signing itself, no extensions: only its bytes and dates matter).
    const SERVER_2026_01_01: &str = "-----BEGIN CERTIFICATE-----
MIIBETCBuAIBATAKBggqhkjOPQQDAjAVMRMwEQYDVQQDDApkYi5leGFtcGxlMB4X
DTI2MDEwMTAwMDAwMFoXDTI2MDEwMjAwMDAwMFowFTETMBEGA1UEAwwKZGIuZXhh
bXBsZTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABNYRXXJoimAhWpiPzBry8Q9S
c8p5P7hMEkG2f22Cb+GbGMO6AZGyxeF51xlVhnowndRnVVmw7gFxtFKRNhwbvT0w
CgYIKoZIzj0EAwIDSAAwRQIgHoH0Y9EWxdXQE204Msp3cBMQ8aRhmCMwCXaAdmMu
CngCIQD7QW9jgZjl+oBJD0NDTJ8zIqSeQnpp0fXWPt4vCJCorg==
-----END CERTIFICATE-----
";
    /// Valid from 2026-01-01 00:00 to 12:00 UTC.
    const INTERMEDIATE_2026_01_01_NOON: &str = "-----BEGIN CERTIFICATE-----
MIIBFjCBvAIBAjAKBggqhkjOPQQDAjAXMRUwEwYDVQQDDAxpbnRlcm1lZGlhdGUw
HhcNMjYwMTAxMDAwMDAwWhcNMjYwMTAxMTIwMDAwWjAXMRUwEwYDVQQDDAxpbnRl
cm1lZGlhdGUwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATWEV1yaIpgIVqYj8wa
8vEPUnPKeT+4TBJBtn9tgm/hmxjDugGRssXhedcZVYZ6MJ3UZ1VZsO4BcbRSkTYc
G709MAoGCCqGSM49BAMCA0kAMEYCIQD5eZgbto5cyQs0tTC1yqGCLY5D8OBvkWA4
QbYYjdhXFQIhAP8+47ZmkwUKvdVwRmL4XSB/XzX+Ig9U4P4vse9VIORF
-----END CERTIFICATE-----
";

    fn server() -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(SERVER_2026_01_01.as_bytes()).unwrap()
    }

    fn intermediate() -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(INTERMEDIATE_2026_01_01_NOON.as_bytes()).unwrap()
    }

    /// `hours` after 2026-01-01 00:00 UTC.
    fn jan_1_2026(hours: u64) -> UnixTime {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_767_225_600 + hours * 3600))
    }

    #[test]
    fn a_chain_is_verified_once_and_only_that_chain_is_remembered() {
        let counting = Arc::new(Counting {
            good: server().to_vec(),
            calls: Default::default(),
        });
        let remember = RememberChain::new(counting.clone());
        let calls = || counting.calls.load(std::sync::atomic::Ordering::SeqCst);
        let verify = |cert: &CertificateDer<'_>,
                      server: &'static str,
                      intermediates: &[CertificateDer<'_>]| {
            let name = ServerName::try_from(server).unwrap();
            remember
                .verify_server_cert(cert, intermediates, &name, &[], jan_1_2026(1))
                .is_ok()
        };
        let (good, bad, other) = (server(), intermediate(), [intermediate()]);
        // A refused chain is not remembered: refused again, checked again.
        assert!(!verify(&bad, "db.example", &[]));
        assert!(!verify(&bad, "db.example", &[]));
        assert_eq!(calls(), 2);
        assert!(verify(&good, "db.example", &[]));
        assert_eq!(calls(), 3);
        // The same chain and name: not checked again.
        assert!(verify(&good, "db.example", &[]));
        assert_eq!(calls(), 3);
        // Another name, other intermediates, another certificate: checked.
        assert!(verify(&good, "db2.example", &[]));
        assert_eq!(calls(), 4);
        assert!(verify(&good, "db2.example", &other));
        assert_eq!(calls(), 5);
        assert!(!verify(&bad, "db2.example", &other));
        assert_eq!(calls(), 6);
    }

    /// A login can wait at its prompt for as long as the application lets
    /// it (`su`, `login`, sshd with `LoginGraceTime 0`): a chain remembered
    /// before a certificate in it expired, or before it was valid, must be
    /// checked again (and so refused) at the second connection.
    #[test]
    fn a_remembered_chain_is_checked_again_outside_its_certificates_validity() {
        let name = ServerName::try_from("db.example").unwrap();
        // How many full checks connections at these hours make.
        let checks = |end_entity: &CertificateDer<'_>,
                      intermediates: &[CertificateDer<'_>],
                      hours: &[u64]| {
            let counting = Arc::new(Counting {
                good: end_entity.to_vec(),
                calls: Default::default(),
            });
            let remember = RememberChain::new(counting.clone());
            for hour in hours {
                let verified = remember.verify_server_cert(
                    end_entity,
                    intermediates,
                    &name,
                    &[],
                    jan_1_2026(*hour),
                );
                assert!(verified.is_ok());
            }
            counting.calls.load(std::sync::atomic::Ordering::SeqCst)
        };
        // Within the validity: checked once.
        assert_eq!(checks(&server(), &[], &[0, 2, 24]), 1);
        // The server's certificate expired at 24:00: checked again.
        assert_eq!(checks(&server(), &[], &[1, 25]), 2);
        // The intermediate expired at noon: checked again.
        assert_eq!(checks(&server(), &[intermediate()], &[1, 12]), 1);
        assert_eq!(checks(&server(), &[intermediate()], &[1, 13]), 2);
        // A clock set back to before the certificates were valid.
        let before = UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_767_225_599));
        let counting = Arc::new(Counting {
            good: server().to_vec(),
            calls: Default::default(),
        });
        let remember = RememberChain::new(counting.clone());
        for now in [jan_1_2026(1), before] {
            assert!(
                remember
                    .verify_server_cert(&server(), &[], &name, &[], now)
                    .is_ok()
            );
        }
        assert_eq!(counting.calls.load(std::sync::atomic::Ordering::SeqCst), 2);
        // A certificate whose dates cannot be read is never remembered.
        let unreadable = CertificateDer::from(&b"accepted, not X.509"[..]);
        assert_eq!(checks(&unreadable, &[], &[1, 1, 1]), 3);
    }

    #[test]
    fn p256_is_offered_first_as_postgresql_takes_it_by_default() {
        let groups: Vec<_> = provider().kx_groups.iter().map(|g| g.name()).collect();
        assert_eq!(
            groups,
            [
                rustls::NamedGroup::secp256r1,
                rustls::NamedGroup::X25519,
                rustls::NamedGroup::secp384r1
            ]
        );
    }

    /// A test CA, and a certificate it signs for db.example with its key,
    /// valid from 2025 to 2125 (P-256).
    const UNIT_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBczCCARmgAwIBAgIBEDAKBggqhkjOPQQDAjAgMR4wHAYDVQQDDBVwYW0tdG90
cCB1bml0IHRlc3QgQ0EwIBcNMjUwMTAxMDAwMDAwWhgPMjEyNTAxMDEwMDAwMDBa
MCAxHjAcBgNVBAMMFXBhbS10b3RwIHVuaXQgdGVzdCBDQTBZMBMGByqGSM49AgEG
CCqGSM49AwEHA0IABEhUBHd+rHyKk3vO+BBGe+4OlVWlIRl2+p/yiHzVqcNlLHA2
m0Tr0dR3uykjuavi1yWceoWCX/xHI5qgkQJRy++jQjBAMA8GA1UdEwEB/wQFMAMB
Af8wDgYDVR0PAQH/BAQDAgEGMB0GA1UdDgQWBBSB4l+nTwADxaiZTSm+fK7ZVuja
SDAKBggqhkjOPQQDAgNIADBFAiB5Vq5mJCYDYnrvBzsD1wEL3EuMB7ca/k0HGs1f
i7TA0QIhAOWHlVIGAcppZ8/uXTnOUCZ6U0u5+2KvZ0EHJpuLh2qj
-----END CERTIFICATE-----
";
    const UNIT_SERVER: &str = "-----BEGIN CERTIFICATE-----
MIIBtDCCAVqgAwIBAgIBETAKBggqhkjOPQQDAjAgMR4wHAYDVQQDDBVwYW0tdG90
cCB1bml0IHRlc3QgQ0EwIBcNMjUwMTAxMDAwMDAwWhgPMjEyNTAxMDEwMDAwMDBa
MBUxEzARBgNVBAMMCmRiLmV4YW1wbGUwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC
AAQMg5TUC3a61EP5XaUPRT2XUNnzhfbWwX/asxQuY5FgkeyFIcZCoDO3ZphST8Vb
Lw5WiASYn/WX7/Mp8BkRWcJto4GNMIGKMBUGA1UdEQQOMAyCCmRiLmV4YW1wbGUw
DAYDVR0TAQH/BAIwADAOBgNVHQ8BAf8EBAMCB4AwEwYDVR0lBAwwCgYIKwYBBQUH
AwEwHwYDVR0jBBgwFoAUgeJfp08AA8WomU0pvnyu2Vbo2kgwHQYDVR0OBBYEFInI
hdznJR+rCir+35W8K/un9lFXMAoGCCqGSM49BAMCA0gAMEUCIQDITGt1zm/j7t0h
Bly8dtssmM0jhgLk09FwdhVyJnRYDgIgdfsYhOpmGFrNswZVCrpdX9k7k//7K/aY
sriXQWsQKao=
-----END CERTIFICATE-----
";
    const UNIT_SERVER_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgnc1PH+EGCF+l7dzT
KkaRjjeTwoK7+vtYpT/JW6sMbAuhRANCAAQMg5TUC3a61EP5XaUPRT2XUNnzhfbW
wX/asxQuY5FgkeyFIcZCoDO3ZphST8VbLw5WiASYn/WX7/Mp8BkRWcJt
-----END PRIVATE KEY-----
";
    /// Another P-256 key: an impostor's, who has the server's (public)
    /// certificate and not its key.
    const UNIT_IMPOSTOR_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgxhEVfDH197BNT1ym
eKXeP+mrOnOiJVoDLGWPP043kmyhRANCAAT476mheOI1SogOCdsQgklyLaZifU1K
TC2S+ImZ47jFhFblkYZAdB2yrR3TaVIy0gtNbxTvK4ywEkX7PD05HiyH
-----END PRIVATE KEY-----
";

    /// A full handshake, in memory, between `client` and a server that
    /// presents UNIT_SERVER and signs with `key` (no session tickets or
    /// cache: every handshake is a full one).
    fn handshake(client: &Arc<ClientConfig>, key: &str) -> Result<(), rustls::Error> {
        let provider = provider();
        let key = provider
            .key_provider
            .load_private_key(PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap())
            .unwrap();
        let server_cert = CertificateDer::from_pem_slice(UNIT_SERVER.as_bytes()).unwrap();
        let certified = rustls::sign::CertifiedKey::new(vec![server_cert], key);
        let mut server = rustls::ServerConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(certified)));
        server.send_tls13_tickets = 0;
        server.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        let mut server = rustls::ServerConnection::new(Arc::new(server)).unwrap();
        let name = ServerName::try_from("db.example").unwrap();
        let mut client = rustls::ClientConnection::new(client.clone(), name)?;
        for _ in 0..10 {
            let mut bytes = Vec::new();
            while client.wants_write() {
                client.write_tls(&mut bytes).unwrap();
            }
            server.read_tls(&mut bytes.as_slice()).unwrap();
            // The server's own failure shows as the client's alert.
            let _ = server.process_new_packets();
            let mut bytes = Vec::new();
            while server.wants_write() {
                server.write_tls(&mut bytes).unwrap();
            }
            client.read_tls(&mut bytes.as_slice()).unwrap();
            client.process_new_packets()?;
            if !client.is_handshaking() {
                return Ok(());
            }
        }
        Err(rustls::Error::General("the handshake did not end".into()))
    }

    /// What the remembered chain rests on: the handshake signature is still
    /// checked on every connection, so a server that presents the chain
    /// verified earlier without the certificate's key (anyone can copy a
    /// certificate) is refused, in TLS 1.3 and 1.2.
    #[test]
    fn a_remembered_chain_does_not_let_an_impostor_without_the_key_in() {
        for versions in [&rustls::version::TLS13, &rustls::version::TLS12] {
            let provider = Arc::new(provider());
            let mut roots = RootCertStore::empty();
            roots
                .add(CertificateDer::from_pem_slice(UNIT_CA.as_bytes()).unwrap())
                .unwrap();
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .unwrap();
            for checked in [
                webpki.clone() as Arc<dyn ServerCertVerifier>,
                Arc::new(ChainOnly(webpki)),
            ] {
                let client = ClientConfig::builder_with_provider(provider.clone())
                    .with_protocol_versions(&[versions])
                    .unwrap()
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(RememberChain::new(checked)))
                    .with_no_client_auth();
                let client = Arc::new(client);
                assert!(handshake(&client, UNIT_SERVER_KEY).is_ok(), "{versions:?}");
                // The chain is remembered now; the impostor is refused...
                let refused = handshake(&client, UNIT_IMPOSTOR_KEY);
                assert!(
                    matches!(
                        refused,
                        Err(rustls::Error::InvalidCertificate(
                            CertificateError::BadSignature
                        ))
                    ),
                    "{versions:?}: {refused:?}"
                );
                // ... and the server with the key still gets in.
                assert!(handshake(&client, UNIT_SERVER_KEY).is_ok(), "{versions:?}");
            }
        }
    }

    fn policy(text: &str) -> Option<RequireAuth> {
        ConnInfo::parse(&format!("host=h user=u require_auth={text}"))
            .ok()
            .and_then(|info| info.require_auth)
    }

    /// An authentication request message with `code` and `extra` body bytes.
    fn request(code: u32, extra: &[u8]) -> Vec<u8> {
        let length = u32::try_from(8 + extra.len()).unwrap_or(0);
        let mut message = vec![b'R'];
        message.extend(length.to_be_bytes());
        message.extend(code.to_be_bytes());
        message.extend(extra);
        message
    }

    #[test]
    fn a_request_outside_require_auth_is_refused_even_split_across_reads() {
        let watch = AuthWatch::new(policy("password"));
        let mut state = lock(&watch);
        state.wrote_raw(b"\0\0\0\x08startup");
        let bytes = request(10, b"SCRAM-SHA-256\0\0");
        let mut results = Vec::new();
        for byte in &bytes {
            results.push(state.read(&[*byte], true));
        }
        assert!(results.iter().take(8).all(Result::is_ok));
        assert!(results.get(8).is_some_and(Result::is_err), "{results:?}");
        assert!(
            state
                .refused
                .as_deref()
                .is_some_and(|why| why.contains("scram-sha-256"))
        );
    }

    #[test]
    fn the_ssl_answer_moves_the_watch_to_tls_or_keeps_it_raw() {
        // "N": plain text follows on the raw socket.
        let watch = AuthWatch::new(policy("scram-sha-256"));
        let mut state = lock(&watch);
        state.wrote_raw(&SSL_REQUEST);
        let mut bytes = vec![b'N'];
        bytes.extend(request(5, b"salt"));
        assert!(state.read(&bytes, true).is_err(), "md5 is not allowed");
        drop(state);
        // "S": the raw socket is no longer parsed; the TLS stream is.
        let watch = AuthWatch::new(policy("scram-sha-256"));
        let mut state = lock(&watch);
        state.wrote_raw(&SSL_REQUEST);
        assert!(state.read(b"S", true).is_ok());
        assert!(
            state.read(&request(3, b""), true).is_ok(),
            "encrypted bytes"
        );
        assert!(
            state.read(&request(3, b""), false).is_err(),
            "password in TLS"
        );
    }

    #[test]
    fn authentication_ok_without_a_request_needs_none() {
        for (text, allowed) in [("none", true), ("scram-sha-256", false), ("!none", false)] {
            let watch = AuthWatch::new(policy(text));
            let mut state = lock(&watch);
            state.wrote_raw(b"\0\0\0\x08startup");
            assert_eq!(
                state.read(&request(0, b""), true).is_ok(),
                allowed,
                "{text}"
            );
        }
        // Without require_auth nothing is refused.
        let watch = AuthWatch::new(None);
        assert!(lock(&watch).read(&request(3, b""), true).is_ok());
    }

    #[test]
    fn the_scram_iteration_count_is_read_with_or_without_require_auth() {
        assert_eq!(scram_iterations(b"r=abc,s=c2FsdA==,i=4096"), Some(4096));
        assert_eq!(scram_iterations(b"r=abc,i=16,s=c2FsdA=="), Some(16));
        for bad in [&b"r=abc,s=c2FsdA=="[..], b"r=abc,i=many", b"i=-1", b""] {
            assert_eq!(scram_iterations(bad), None, "{bad:?}");
        }
        for text in [None, Some("scram-sha-256")] {
            let watch = AuthWatch::new(text.and_then(policy));
            let mut state = lock(&watch);
            state.wrote_raw(b"\0\0\0\x08startup");
            let mut bytes = request(10, b"SCRAM-SHA-256\0\0");
            bytes.extend(request(11, b"r=abcdef,s=c2FsdA==,i=4096"));
            bytes.extend(request(12, b"v=xyz"));
            // Split anywhere: the count is still read whole.
            let (first, second) = bytes.split_at(31);
            assert!(state.read(first, true).is_ok(), "{text:?}");
            assert!(state.read(second, true).is_ok(), "{text:?}");
            assert_eq!(state.scram_iterations, Some(4096), "{text:?}");
            assert!(state.read(&request(0, b""), true).is_ok(), "{text:?}");
            assert!(state.done, "{text:?}");
        }
    }

    #[test]
    fn every_request_is_checked_not_only_the_first() {
        // As libpq: a SCRAM exchange does not let a later request for a
        // cleartext password through (tokio-postgres would not answer it
        // today; the watch does not count on that).
        let watch = AuthWatch::new(policy("scram-sha-256"));
        let mut state = lock(&watch);
        state.wrote_raw(b"\0\0\0\x08startup");
        assert!(state.read(&request(10, b"SCRAM-SHA-256\0\0"), true).is_ok());
        assert!(
            state
                .read(&request(11, b"r=abcdef,s=c2FsdA==,i=4096"), true)
                .is_ok()
        );
        assert!(state.read(&request(3, b""), true).is_err());
        assert!(
            state
                .refused
                .as_deref()
                .is_some_and(|why| why.contains("password"))
        );
    }

    #[test]
    fn other_messages_before_a_request_do_not_hide_it() {
        // NegotiateProtocolVersion, a notice, a message too short to hold
        // its own length: each is stepped over whole, read in one piece or
        // byte by byte, and the password request after them is refused.
        let mut bytes = vec![b'v', 0, 0, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0];
        bytes.extend([b'N', 0, 0, 0, 5, 0]);
        bytes.extend([b'X', 0, 0, 0, 0]);
        bytes.extend(request(3, b""));
        for split in [false, true] {
            let watch = AuthWatch::new(policy("scram-sha-256"));
            let mut state = lock(&watch);
            state.wrote_raw(b"\0\0\0\x08startup");
            let refused = if split {
                bytes.iter().any(|byte| state.read(&[*byte], true).is_err())
            } else {
                state.read(&bytes, true).is_err()
            };
            assert!(refused, "split: {split}");
        }
        // After an ErrorResponse nothing more is read (the client gives up).
        let watch = AuthWatch::new(policy("scram-sha-256"));
        let mut state = lock(&watch);
        state.wrote_raw(b"\0\0\0\x08startup");
        let mut bytes = vec![b'E', 0, 0, 0, 5, 0];
        bytes.extend(request(3, b""));
        assert!(state.read(&bytes, true).is_ok());
        assert!(state.done);
    }

    #[test]
    fn a_server_first_message_too_long_to_keep_gives_no_count_not_a_cut_one() {
        // A verifier set with a long salt: the count is past what is kept.
        let salt = format!("{}AAAA", "c2FsdA".repeat(82));
        let message = format!("r=abcdef,s={salt},i=4096");
        assert!(message.len() > MAX_SERVER_FIRST);
        let watch = AuthWatch::new(None);
        let mut state = lock(&watch);
        state.wrote_raw(b"\0\0\0\x08startup");
        let mut bytes = request(10, b"SCRAM-SHA-256\0\0");
        bytes.extend(request(11, message.as_bytes()));
        assert!(state.read(&bytes, true).is_ok());
        assert_eq!(state.scram_iterations, None, "{}", message.len());
    }
}
