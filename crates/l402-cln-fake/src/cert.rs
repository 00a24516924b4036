//! Certificates made as cln-grpc / clnrest make them: a CA (`ca.pem`, `CA:TRUE`,
//! `KeyCertSign`) and a leaf server certificate (`server.pem`, `CA:FALSE`) signed by it,
//! both ECDSA P-256, the leaf naming only `cln` and `localhost` (no IP address), so a
//! client that connects to `https://127.0.0.1` meets the same name check as with a real
//! node.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// The CA and the server certificate with its key.
pub(crate) struct ServerIdentity {
    pub(crate) ca_der: Vec<u8>,
    pub(crate) ca_pem: String,
    pub(crate) cert_der: Vec<u8>,
    pub(crate) cert_pem: String,
    pub(crate) key_der: Vec<u8>,
}

/// Generates a fresh CA and a server certificate signed by it.
pub(crate) fn generate() -> Result<ServerIdentity, rcgen::Error> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "cln Root CA");
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut params = CertificateParams::new(vec!["cln".to_owned(), "localhost".to_owned()])?;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyAgreement,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.distinguished_name.push(DnType::CommonName, "cln");
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let cert = params.signed_by(&key, &issuer)?;
    Ok(ServerIdentity {
        ca_der: ca_cert.der().to_vec(),
        ca_pem: ca_cert.pem(),
        cert_der: cert.der().to_vec(),
        cert_pem: cert.pem(),
        key_der: key.serialize_der(),
    })
}
