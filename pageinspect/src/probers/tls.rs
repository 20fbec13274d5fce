//! TLS: the connectors (verifying with the webpki roots, or not verifying at all on request),
//! the handshake shared with https probes, and the `tls` probe kind.

use super::{Outcome, ProbeContext, net};
use crate::failure::Failure;
use chrono::{DateTime, Utc};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use shared::probe::{FailureReason, ProbeSpec, split_host_port};
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The four client configurations a probe may need, built once.
pub struct TlsConnectors {
    verified: TlsConnector,
    insecure: TlsConnector,
    verified_http: TlsConnector,
    insecure_http: TlsConnector,
}

impl TlsConnectors {
    pub fn new() -> Result<Self, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let verified = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let insecure = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate {
                algorithms: provider.signature_verification_algorithms,
            }))
            .with_no_client_auth();
        let http = |c: &ClientConfig| {
            let mut c = c.clone();
            c.alpn_protocols = vec![b"http/1.1".to_vec()];
            TlsConnector::from(Arc::new(c))
        };
        Ok(Self {
            verified_http: http(&verified),
            insecure_http: http(&insecure),
            verified: TlsConnector::from(Arc::new(verified)),
            insecure: TlsConnector::from(Arc::new(insecure)),
        })
    }

    fn pick(&self, insecure: bool, http: bool) -> &TlsConnector {
        match (insecure, http) {
            (false, false) => &self.verified,
            (true, false) => &self.insecure,
            (false, true) => &self.verified_http,
            (true, true) => &self.insecure_http,
        }
    }
}

/// Runs the TLS handshake over `tcp` for `host`; records the tls phase and the leaf
/// certificate's expiry. Verification failures (untrusted issuer, wrong name, expired) are
/// `tls_error` unless `insecure` is set.
pub async fn handshake(
    ctx: &ProbeContext,
    tcp: TcpStream,
    host: &str,
    insecure: bool,
    http: bool,
    out: &mut Outcome,
) -> Result<TlsStream<TcpStream>, Failure> {
    out.stage = "tls";
    let start = Instant::now();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(host.to_string()).map_err(|e| {
        Failure::new(
            FailureReason::TlsError,
            format!("{host} is not a valid TLS server name: {e}"),
        )
    })?;
    let stream = ctx
        .tls
        .pick(insecure, http)
        .connect(name, tcp)
        .await
        .map_err(|e| {
            Failure::new(
                FailureReason::TlsError,
                format!("TLS handshake failed: {e}"),
            )
        })?;
    out.phases.tls += Outcome::since(start);
    out.certificate_expiry = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first())
        .and_then(|leaf| not_after(leaf));
    Ok(stream)
}

/// The `notAfter` of a DER certificate.
pub fn not_after(der: &CertificateDer<'_>) -> Option<DateTime<Utc>> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0)
}

/// The `tls` probe: connect, handshake, report the certificate expiry.
pub async fn probe(spec: &ProbeSpec, ctx: &ProbeContext, out: &mut Outcome) -> Result<(), Failure> {
    let (host, port) = split_host_port(spec.target.trim())
        .ok_or_else(|| Failure::new(FailureReason::Internal, "target is not host:port"))?;
    let addr = net::resolve_allowed(host, port, spec.ip_preference, &ctx.egress, out).await?;
    let tcp = net::connect(addr, out).await?;
    let _tls = handshake(ctx, tcp, host, spec.insecure_skip_verify, false, out).await?;
    out.stage = "done";
    Ok(())
}

/// `insecure_skip_verify`: accepts any certificate but still checks the handshake signatures,
/// so the peer proves it holds the key of the certificate it sent.
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
