//! RFC 3161 time stamps, offline: the request the agent sends (DER `TimeStampReq`), and checking
//! a `TimeStampResp` the way `openssl ts -verify -data FILE -in TOKEN -CAfile ROOTS` does —
//! status, message imprint, the CMS signature over the signed attributes with the TSA
//! certificate, the ESS signing-certificate attribute, the certificate chain up to the given
//! roots and the TSA certificate's critical, sole `timeStamping` extended key usage.
//!
//! One deliberate difference: the chain is checked at the token's own time (`genTime`), not at
//! the time of verification, so a token stays verifiable after the TSA certificate expires
//! (`openssl ts -verify` needs `-attime <genTime>` for the same result then). No network IO here:
//! fetching a token is the agent's job. Every input is untrusted; nothing here panics on it.

use std::path::Path;

use cms::cert::CertificateChoices;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{Int, ObjectIdentifier, OctetString};
use der::{Any, Decode, Encode, Sequence, Tag, Tagged};
use jiff::Timestamp;
use serde::Serialize;
use sha2::Digest;
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectKeyIdentifier,
};
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_tsp::{MessageImprint, TimeStampReq, TimeStampResp, TspVersion, TstInfo};

/// Largest time-stamp response read into memory.
pub const MAX_TOKEN_BYTES: usize = 64 * 1024;
/// Longest certificate chain followed.
const MAX_CHAIN: usize = 8;

const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SIGNING_CERT: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.12");
const ID_SIGNING_CERT_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
const ID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const ID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const ID_ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ID_ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ID_ECDSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const ID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const ID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const ID_RSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const ID_RSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const ID_RSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const ID_KP_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
const ID_CE_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const ID_CE_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const ID_CE_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const ID_CE_SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
const ID_CE_CERT_POLICIES: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.32");
const ID_CE_SUBJECT_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");

/// A time stamp that could not be requested, read or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TspError {
    #[error("the time-stamp response is larger than {MAX_TOKEN_BYTES} bytes")]
    TooLarge,
    #[error("not a valid RFC 3161 time-stamp response: {0}")]
    Malformed(String),
    #[error("the time-stamp authority refused the request: {0}")]
    Refused(String),
    #[error("the time stamp is for other data: its message imprint does not match")]
    ImprintMismatch,
    #[error("the time stamp does not answer our request: its nonce differs")]
    NonceMismatch,
    #[error("the time stamp's signature does not verify: {0}")]
    Signature(String),
    #[error("the TSA certificate is not acceptable: {0}")]
    Certificate(String),
    #[error("the TSA certificate does not chain to a trusted root: {0}")]
    Untrusted(String),
    #[error("unsupported in time stamps: {0}")]
    Unsupported(String),
    #[error("TSA roots: {0}")]
    Roots(String),
}

fn malformed(e: impl std::fmt::Display) -> TspError {
    TspError::Malformed(e.to_string())
}

/// The certificates a verifier trusts as time-stamp roots (`openssl ts -verify -CAfile`).
#[derive(Debug, Clone)]
pub struct TsaRoots {
    certs: Vec<Certificate>,
}

impl TsaRoots {
    /// Parse a PEM file of one or more certificates.
    pub fn from_pem(pem: &[u8]) -> Result<Self, TspError> {
        // Our own PEM splitter: x509-cert's `load_pem_chain` panics on some malformed input.
        use base64::Engine;
        const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
        const END: &str = "-----END CERTIFICATE-----";
        let text = std::str::from_utf8(pem)
            .map_err(|_| TspError::Roots("the file is not PEM text".into()))?;
        let mut certs = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find(BEGIN) {
            let body_start = &rest[start + BEGIN.len()..];
            let end = body_start
                .find(END)
                .ok_or_else(|| TspError::Roots("a certificate has no END line".into()))?;
            let b64: String = body_start[..end]
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect();
            let der = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| TspError::Roots(format!("a certificate is not base64: {e}")))?;
            certs.push(
                Certificate::from_der(&der)
                    .map_err(|e| TspError::Roots(format!("not a certificate: {e}")))?,
            );
            rest = &body_start[end + END.len()..];
        }
        if certs.is_empty() {
            return Err(TspError::Roots("no certificate in the file".into()));
        }
        Ok(Self { certs })
    }

    /// Read a PEM file of root certificates.
    pub fn load(path: &Path) -> Result<Self, TspError> {
        let bytes = std::fs::read(path)
            .map_err(|e| TspError::Roots(format!("cannot read {}: {e}", path.display())))?;
        Self::from_pem(&bytes).map_err(|e| match e {
            TspError::Roots(m) => TspError::Roots(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// How many roots.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// True when there are none (never, once parsed).
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }
}

/// What a time stamp says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TimeStampInfo {
    /// `genTime`: when the TSA saw the data.
    pub time: Timestamp,
    /// The TSA's stated accuracy, in whole seconds, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy_secs: Option<u64>,
    /// The TSA's serial number of the token, hex.
    pub serial: String,
    /// The TSA policy OID.
    pub policy: String,
    /// The message-imprint hash algorithm.
    pub hash_algorithm: String,
    /// The signing certificate's subject, when the token was verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tsa: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DigestAlg {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlg {
    fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        match *oid {
            ID_SHA1 => Some(Self::Sha1),
            ID_SHA256 => Some(Self::Sha256),
            ID_SHA384 => Some(Self::Sha384),
            ID_SHA512 => Some(Self::Sha512),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha1 => {
                use sha1::Digest as _;
                sha1::Sha1::digest(data).to_vec()
            }
            Self::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Self::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Self::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }
}

/// A DER `TimeStampReq` for SHA-256 of `data`, with `nonce` and `certReq` set (the response
/// then carries the TSA certificate, so the token verifies offline).
pub fn request(data: &[u8], nonce: u64) -> Result<Vec<u8>, TspError> {
    let req = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: ID_SHA256,
                parameters: Some(Any::null()),
            },
            hashed_message: OctetString::new(DigestAlg::Sha256.digest(data)).map_err(malformed)?,
        },
        req_policy: None,
        nonce: Some(nonce_int(nonce)?),
        cert_req: true,
        extensions: None,
    };
    req.to_der().map_err(malformed)
}

fn nonce_int(nonce: u64) -> Result<Int, TspError> {
    let bytes = nonce.to_be_bytes();
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(7);
    let mut minimal = bytes[first..].to_vec();
    if minimal[0] & 0x80 != 0 {
        minimal.insert(0, 0);
    }
    Int::new(&minimal).map_err(malformed)
}

struct Parsed {
    tst: TstInfo,
    econtent: Vec<u8>,
    signed: SignedData,
    imprint_alg: DigestAlg,
}

fn parse(response: &[u8]) -> Result<Parsed, TspError> {
    use x509_tsp::TimeStampResp as Resp;
    if response.len() > MAX_TOKEN_BYTES {
        return Err(TspError::TooLarge);
    }
    let resp: TimeStampResp<'_> = Resp::from_der(response).map_err(malformed)?;
    use cmpv2::status::PkiStatus;
    match resp.status.status {
        PkiStatus::Accepted | PkiStatus::GrantedWithMods => {}
        other => return Err(TspError::Refused(format!("status {other:?}"))),
    }
    let token = resp
        .time_stamp_token
        .ok_or_else(|| TspError::Malformed("the response holds no token".into()))?;
    if token.content_type != ID_SIGNED_DATA {
        return Err(TspError::Malformed(
            "the token is not CMS SignedData".into(),
        ));
    }
    let signed = token.content.decode_as::<SignedData>().map_err(malformed)?;
    if signed.encap_content_info.econtent_type != ID_CT_TST_INFO {
        return Err(TspError::Malformed(
            "the token does not hold a TSTInfo".into(),
        ));
    }
    let econtent = signed
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| TspError::Malformed("the token's TSTInfo is detached".into()))?;
    if econtent.tag() != Tag::OctetString {
        return Err(TspError::Malformed(
            "the token's content is not an OCTET STRING".into(),
        ));
    }
    let econtent = econtent.value().to_vec();
    let tst = TstInfo::from_der(&econtent).map_err(malformed)?;
    let imprint_alg = DigestAlg::from_oid(&tst.message_imprint.hash_algorithm.oid)
        .filter(|a| *a != DigestAlg::Sha1)
        .ok_or_else(|| {
            TspError::Unsupported(format!(
                "message imprint algorithm {}",
                tst.message_imprint.hash_algorithm.oid
            ))
        })?;
    Ok(Parsed {
        tst,
        econtent,
        signed,
        imprint_alg,
    })
}

fn info(p: &Parsed, tsa: Option<String>) -> Result<TimeStampInfo, TspError> {
    let secs = p.tst.gen_time.to_unix_duration().as_secs();
    let time = i64::try_from(secs)
        .ok()
        .and_then(|s| Timestamp::from_second(s).ok())
        .ok_or_else(|| TspError::Malformed("genTime is out of range".into()))?;
    Ok(TimeStampInfo {
        time,
        accuracy_secs: p.tst.accuracy.as_ref().and_then(|a| a.seconds),
        serial: hex::encode(p.tst.serial_number.as_bytes()),
        policy: p.tst.policy.to_string(),
        hash_algorithm: p.imprint_alg.name().to_owned(),
        tsa,
    })
}

fn check_imprint(p: &Parsed, data: &[u8]) -> Result<(), TspError> {
    if p.tst.message_imprint.hashed_message.as_bytes() != p.imprint_alg.digest(data).as_slice() {
        return Err(TspError::ImprintMismatch);
    }
    Ok(())
}

/// Read a response without checking its signature: status, that it is a token over `data`,
/// and (when given) that it echoes our `nonce`. What the agent checks before storing a token.
pub fn inspect_response(
    response: &[u8],
    data: &[u8],
    nonce: Option<u64>,
) -> Result<TimeStampInfo, TspError> {
    let p = parse(response)?;
    check_imprint(&p, data)?;
    if let Some(n) = nonce {
        let expected = nonce_int(n)?;
        if p.tst.nonce.as_ref() != Some(&expected) {
            return Err(TspError::NonceMismatch);
        }
    }
    info(&p, None)
}

/// Verify a response as `openssl ts -verify -data <data> -in <response> -CAfile <roots>` does
/// (with the chain checked at the token's time): see the module documentation.
pub fn verify_response(
    response: &[u8],
    data: &[u8],
    roots: &TsaRoots,
) -> Result<TimeStampInfo, TspError> {
    let p = parse(response)?;
    check_imprint(&p, data)?;
    let at = info(&p, None)?.time;

    let signers: Vec<&SignerInfo> = p.signed.signer_infos.0.iter().collect();
    let [signer] = signers.as_slice() else {
        return Err(TspError::Signature(format!(
            "the token has {} signers; exactly one is expected",
            signers.len()
        )));
    };
    let certs: Vec<&Certificate> = p
        .signed
        .certificates
        .iter()
        .flat_map(|set| set.0.iter())
        .filter_map(|c| match c {
            CertificateChoices::Certificate(c) => Some(c),
            CertificateChoices::Other(_) => None,
        })
        .collect();
    let signer_cert = certs
        .iter()
        .copied()
        .chain(roots.certs.iter())
        .find(|c| identifies(&signer.sid, c))
        .ok_or_else(|| {
            TspError::Certificate(
                "the signing certificate is not in the token (it was requested without certReq?)"
                    .into(),
            )
        })?;

    // Signed attributes: content type, message digest of the TSTInfo, ESS signing certificate.
    let digest_alg = DigestAlg::from_oid(&signer.digest_alg.oid).ok_or_else(|| {
        TspError::Unsupported(format!("signer digest algorithm {}", signer.digest_alg.oid))
    })?;
    let attrs = signer
        .signed_attrs
        .as_ref()
        .ok_or_else(|| TspError::Signature("the signer has no signed attributes".into()))?;
    let attr = |oid: ObjectIdentifier| -> Result<&Any, TspError> {
        let mut found = attrs.iter().filter(|a| a.oid == oid);
        let (Some(a), None) = (found.next(), found.next()) else {
            return Err(TspError::Signature(format!(
                "signed attribute {oid} is missing or repeated"
            )));
        };
        let mut values = a.values.iter();
        match (values.next(), values.next()) {
            (Some(v), None) => Ok(v),
            _ => Err(TspError::Signature(format!(
                "signed attribute {oid} must have one value"
            ))),
        }
    };
    let content_type = attr(ID_CONTENT_TYPE)?
        .decode_as::<ObjectIdentifier>()
        .map_err(malformed)?;
    if content_type != ID_CT_TST_INFO {
        return Err(TspError::Signature(
            "the signed content-type attribute is not TSTInfo".into(),
        ));
    }
    let message_digest = attr(ID_MESSAGE_DIGEST)?
        .decode_as::<OctetString>()
        .map_err(malformed)?;
    if message_digest.as_bytes() != digest_alg.digest(&p.econtent).as_slice() {
        return Err(TspError::Signature(
            "the signed message digest does not match the TSTInfo: the token was altered".into(),
        ));
    }
    check_signing_certificate(attrs, signer_cert)?;
    let signed_attrs_der = attrs.to_der().map_err(malformed)?;
    verify_signature(
        &signer_cert.tbs_certificate.subject_public_key_info,
        &signer.signature_algorithm.oid,
        Some(digest_alg),
        &signed_attrs_der,
        signer.signature.as_bytes(),
    )
    .map_err(|e| TspError::Signature(e.to_string()))?;

    // The TSA certificate: critical, sole timeStamping EKU; key usage, if any, only for signing.
    check_tsa_certificate(signer_cert)?;
    if let Some(GeneralName::DirectoryName(name)) = &p.tst.tsa
        && name != &signer_cert.tbs_certificate.subject
    {
        return Err(TspError::Certificate(
            "the TSTInfo names a TSA other than the signing certificate's subject".into(),
        ));
    }
    check_chain(signer_cert, &certs, roots, at)?;
    info(&p, Some(signer_cert.tbs_certificate.subject.to_string()))
}

fn identifies(sid: &SignerIdentifier, cert: &Certificate) -> bool {
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(ias) => {
            ias.issuer == cert.tbs_certificate.issuer
                && ias.serial_number == cert.tbs_certificate.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => extension(cert, ID_CE_SUBJECT_KEY_ID)
            .and_then(|e| SubjectKeyIdentifier::from_der(e.extn_value.as_bytes()).ok())
            .is_some_and(|own| own.0 == ski.0),
    }
}

fn extension(cert: &Certificate, oid: ObjectIdentifier) -> Option<&x509_cert::ext::Extension> {
    cert.tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| e.extn_id == oid)
}

/// ESSCertIDv2 (RFC 5035); `hashAlgorithm` defaults to SHA-256.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct EssCertIdV2 {
    #[asn1(optional = "true")]
    hash_algorithm: Option<AlgorithmIdentifierOwned>,
    cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<IssuerSerial>,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
    #[asn1(optional = "true")]
    policies: Option<Any>,
}

/// ESSCertID (RFC 2634): a SHA-1 hash.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct EssCertId {
    cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<IssuerSerial>,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct SigningCertificate {
    certs: Vec<EssCertId>,
    #[asn1(optional = "true")]
    policies: Option<Any>,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct IssuerSerial {
    issuer: Vec<GeneralName>,
    serial: x509_cert::serial_number::SerialNumber,
}

/// The ESS signing-certificate attribute (v1 or v2) must name the signer's certificate first,
/// so that a certificate substituted for the TSA's cannot pass (RFC 5816, openssl's check).
fn check_signing_certificate(
    attrs: &x509_cert::attr::Attributes,
    cert: &Certificate,
) -> Result<(), TspError> {
    let cert_der = cert.to_der().map_err(malformed)?;
    let bad = |m: &str| TspError::Signature(format!("ESS signing certificate: {m}"));
    let value = |oid| {
        attrs
            .iter()
            .find(|a| a.oid == oid)
            .and_then(|a| a.values.iter().next())
    };
    let (hash_ok, serial) = if let Some(v2) = value(ID_SIGNING_CERT_V2) {
        let sc = v2.decode_as::<SigningCertificateV2>().map_err(malformed)?;
        let first = sc
            .certs
            .first()
            .ok_or_else(|| bad("no certificate named"))?;
        let alg = match &first.hash_algorithm {
            None => DigestAlg::Sha256,
            Some(a) => DigestAlg::from_oid(&a.oid).ok_or_else(|| bad("unknown hash algorithm"))?,
        };
        (
            first.cert_hash.as_bytes() == alg.digest(&cert_der).as_slice(),
            first.issuer_serial.clone(),
        )
    } else if let Some(v1) = value(ID_SIGNING_CERT) {
        let sc = v1.decode_as::<SigningCertificate>().map_err(malformed)?;
        let first = sc
            .certs
            .first()
            .ok_or_else(|| bad("no certificate named"))?;
        (
            first.cert_hash.as_bytes() == DigestAlg::Sha1.digest(&cert_der).as_slice(),
            first.issuer_serial.clone(),
        )
    } else {
        return Err(bad("the attribute is missing"));
    };
    if !hash_ok {
        return Err(bad("it names another certificate than the one that signed"));
    }
    if let Some(is) = serial {
        let issuer_ok = is.issuer.iter().any(
            |g| matches!(g, GeneralName::DirectoryName(n) if n == &cert.tbs_certificate.issuer),
        );
        if !issuer_ok || is.serial != cert.tbs_certificate.serial_number {
            return Err(bad(
                "its issuer and serial do not match the signing certificate",
            ));
        }
    }
    Ok(())
}

fn check_tsa_certificate(cert: &Certificate) -> Result<(), TspError> {
    let bad = |m: &str| TspError::Certificate(m.to_owned());
    let eku_ext = extension(cert, ID_CE_EXT_KEY_USAGE)
        .ok_or_else(|| bad("it has no extended key usage (RFC 3161 requires timeStamping)"))?;
    if !eku_ext.critical {
        return Err(bad(
            "its extended key usage is not critical (RFC 3161 §2.3)",
        ));
    }
    let eku = ExtendedKeyUsage::from_der(eku_ext.extn_value.as_bytes()).map_err(malformed)?;
    if eku.0 != [ID_KP_TIME_STAMPING] {
        return Err(bad("its extended key usage is not timeStamping alone"));
    }
    if let Some(ku) = extension(cert, ID_CE_KEY_USAGE) {
        let ku = KeyUsage::from_der(ku.extn_value.as_bytes()).map_err(malformed)?;
        let allowed = KeyUsages::DigitalSignature | KeyUsages::NonRepudiation;
        if ku.0.is_empty() || !(ku.0 & !allowed).is_empty() {
            return Err(bad("its key usage allows more than signing"));
        }
    }
    Ok(())
}

/// Follow issuers from the signing certificate up to one of `roots`, checking each signature,
/// validity at `at`, CA constraints and that no unknown extension is critical.
fn check_chain(
    leaf: &Certificate,
    intermediates: &[&Certificate],
    roots: &TsaRoots,
    at: Timestamp,
) -> Result<(), TspError> {
    // As openssl without `-partial_chain`: only self-issued roots are anchors; other
    // certificates in the roots file may serve as intermediates.
    let self_issued = |c: &Certificate| c.tbs_certificate.subject == c.tbs_certificate.issuer;
    let anchors: Vec<&Certificate> = roots.certs.iter().filter(|c| self_issued(c)).collect();
    let intermediates: Vec<&Certificate> = intermediates
        .iter()
        .copied()
        .chain(roots.certs.iter().filter(|c| !self_issued(c)))
        .collect();
    let mut current = leaf;
    for depth in 0..MAX_CHAIN {
        check_validity(current, at)?;
        check_critical_extensions(current)?;
        if depth > 0 {
            check_ca(current)?;
        }
        if anchors.contains(&current) {
            return Ok(());
        }
        let issued_by = |c: &&Certificate| {
            c.tbs_certificate.subject == current.tbs_certificate.issuer
                && verify_signature(
                    &c.tbs_certificate.subject_public_key_info,
                    &current.signature_algorithm.oid,
                    None,
                    &match current.tbs_certificate.to_der() {
                        Ok(d) => d,
                        Err(_) => return false,
                    },
                    current.signature.raw_bytes(),
                )
                .is_ok()
        };
        if let Some(root) = anchors.iter().copied().find(issued_by) {
            check_validity(root, at)?;
            check_ca(root)?;
            return Ok(());
        }
        match intermediates
            .iter()
            .copied()
            .find(|c| *c != current && issued_by(c))
        {
            Some(next) => current = next,
            None => {
                return Err(TspError::Untrusted(format!(
                    "no trusted root or certificate in the token issued {}",
                    current.tbs_certificate.subject
                )));
            }
        }
    }
    Err(TspError::Untrusted("the chain is too long".into()))
}

fn check_validity(cert: &Certificate, at: Timestamp) -> Result<(), TspError> {
    let v = &cert.tbs_certificate.validity;
    let secs = |t: x509_cert::time::Time| {
        i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
    };
    let t = at.as_second();
    if t < secs(v.not_before) || t > secs(v.not_after) {
        return Err(TspError::Certificate(format!(
            "{} was not valid at the time stamp's time {at}",
            cert.tbs_certificate.subject
        )));
    }
    Ok(())
}

fn check_ca(cert: &Certificate) -> Result<(), TspError> {
    let name = &cert.tbs_certificate.subject;
    match extension(cert, ID_CE_BASIC_CONSTRAINTS) {
        Some(e) => {
            let bc = BasicConstraints::from_der(e.extn_value.as_bytes()).map_err(malformed)?;
            if !bc.ca {
                return Err(TspError::Untrusted(format!("{name} is not a CA")));
            }
        }
        None => {
            if cert.tbs_certificate.version == x509_cert::Version::V3 {
                return Err(TspError::Untrusted(format!(
                    "{name} issues certificates without basicConstraints CA:TRUE"
                )));
            }
        }
    }
    if let Some(e) = extension(cert, ID_CE_KEY_USAGE) {
        let ku = KeyUsage::from_der(e.extn_value.as_bytes()).map_err(malformed)?;
        if !ku.0.contains(KeyUsages::KeyCertSign) {
            return Err(TspError::Untrusted(format!(
                "{name} may not sign certificates (key usage)"
            )));
        }
    }
    Ok(())
}

fn check_critical_extensions(cert: &Certificate) -> Result<(), TspError> {
    const KNOWN: [ObjectIdentifier; 5] = [
        ID_CE_BASIC_CONSTRAINTS,
        ID_CE_KEY_USAGE,
        ID_CE_EXT_KEY_USAGE,
        ID_CE_SUBJECT_ALT_NAME,
        ID_CE_CERT_POLICIES,
    ];
    for e in cert.tbs_certificate.extensions.iter().flatten() {
        if e.critical && !KNOWN.contains(&e.extn_id) {
            return Err(TspError::Certificate(format!(
                "{} has an unsupported critical extension {}",
                cert.tbs_certificate.subject, e.extn_id
            )));
        }
    }
    Ok(())
}

/// Why a signature in a time-stamp token or a certificate does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum SignatureCheckError {
    #[error("signature algorithm {0} is not supported")]
    UnsupportedAlgorithm(ObjectIdentifier),
    #[error("the signature and digest algorithms disagree")]
    AlgorithmsDisagree,
    #[error("no digest algorithm for the signature")]
    NoDigest,
    #[error("ECDSA: {0}")]
    Ecdsa(String),
    #[error("only the P-256 and P-384 curves are supported")]
    UnsupportedCurve,
    #[error("RSA key: {0}")]
    RsaKey(String),
    #[error("RSA with SHA-1 is not accepted")]
    RsaSha1,
    #[error("RSA: {0}")]
    Rsa(String),
    #[error("key algorithm {key} with signature algorithm {sig} is not supported")]
    UnsupportedKey {
        key: ObjectIdentifier,
        sig: ObjectIdentifier,
    },
}

/// Verify `signature` over `message` with the key in `spki`. ECDSA P-256/P-384 and RSA
/// PKCS#1 v1.5 with SHA-2; `digest_alg` is the CMS signer's digest algorithm when the
/// signature algorithm does not name one (`rsaEncryption`).
fn verify_signature(
    spki: &SubjectPublicKeyInfoOwned,
    sig_alg: &ObjectIdentifier,
    digest_alg: Option<DigestAlg>,
    message: &[u8],
    signature: &[u8],
) -> Result<(), SignatureCheckError> {
    let named = match *sig_alg {
        ID_ECDSA_SHA256 | ID_RSA_SHA256 => Some(DigestAlg::Sha256),
        ID_ECDSA_SHA384 | ID_RSA_SHA384 => Some(DigestAlg::Sha384),
        ID_ECDSA_SHA512 | ID_RSA_SHA512 => Some(DigestAlg::Sha512),
        ID_RSA => None,
        _ => return Err(SignatureCheckError::UnsupportedAlgorithm(*sig_alg)),
    };
    let alg = match (named, digest_alg) {
        (Some(n), Some(d)) if n != d => {
            return Err(SignatureCheckError::AlgorithmsDisagree);
        }
        (Some(n), _) => n,
        (None, Some(d)) => d,
        (None, None) => return Err(SignatureCheckError::NoDigest),
    };
    let digest = alg.digest(message);
    let key = spki.subject_public_key.raw_bytes();
    let is_rsa_sig = matches!(
        *sig_alg,
        ID_RSA | ID_RSA_SHA256 | ID_RSA_SHA384 | ID_RSA_SHA512
    );
    match spki.algorithm.oid {
        ID_EC_PUBLIC_KEY if !is_rsa_sig => {
            use signature::hazmat::PrehashVerifier;
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
            let bad = |e: &dyn std::fmt::Display| SignatureCheckError::Ecdsa(e.to_string());
            match curve {
                Some(ID_P256) => {
                    let vk =
                        p256::ecdsa::VerifyingKey::from_sec1_bytes(key).map_err(|e| bad(&e))?;
                    let sig = p256::ecdsa::Signature::from_der(signature).map_err(|e| bad(&e))?;
                    vk.verify_prehash(&digest, &sig).map_err(|e| bad(&e))
                }
                Some(ID_P384) => {
                    let vk =
                        p384::ecdsa::VerifyingKey::from_sec1_bytes(key).map_err(|e| bad(&e))?;
                    let sig = p384::ecdsa::Signature::from_der(signature).map_err(|e| bad(&e))?;
                    vk.verify_prehash(&digest, &sig).map_err(|e| bad(&e))
                }
                _ => Err(SignatureCheckError::UnsupportedCurve),
            }
        }
        ID_RSA if is_rsa_sig => {
            use rsa::pkcs1::DecodeRsaPublicKey;
            use rsa::{Pkcs1v15Sign, RsaPublicKey};
            let key = RsaPublicKey::from_pkcs1_der(key)
                .map_err(|e| SignatureCheckError::RsaKey(e.to_string()))?;
            let scheme = match alg {
                DigestAlg::Sha256 => Pkcs1v15Sign::new::<sha2_legacy::Sha256>(),
                DigestAlg::Sha384 => Pkcs1v15Sign::new::<sha2_legacy::Sha384>(),
                DigestAlg::Sha512 => Pkcs1v15Sign::new::<sha2_legacy::Sha512>(),
                DigestAlg::Sha1 => return Err(SignatureCheckError::RsaSha1),
            };
            key.verify(scheme, &digest, signature)
                .map_err(|e| SignatureCheckError::Rsa(e.to_string()))
        }
        other => Err(SignatureCheckError::UnsupportedKey {
            key: other,
            sig: *sig_alg,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_round_trips_and_carries_the_imprint_and_nonce() {
        let der = request(b"abc", 0x8000_0000_0000_0001).unwrap();
        let req = TimeStampReq::from_der(&der).unwrap();
        assert_eq!(req.message_imprint.hash_algorithm.oid, ID_SHA256);
        assert_eq!(
            req.message_imprint.hashed_message.as_bytes(),
            sha2::Sha256::digest(b"abc").as_slice()
        );
        assert!(req.cert_req);
        assert_eq!(req.nonce.unwrap().as_bytes()[0], 0);
        for n in [0, 1, 0x7f, 0x80, u64::MAX] {
            let der = request(b"x", n).unwrap();
            assert!(TimeStampReq::from_der(&der).is_ok(), "{n}");
        }
    }

    #[test]
    fn garbage_responses_are_refused_without_panicking() {
        for bad in [
            &b""[..],
            &[0x30, 0x00],
            &[0x30, 0x03, 0x02, 0x01, 0x00],
            &[0x30, 0x80, 0x00, 0x00],
            &[0xff; 40],
        ] {
            assert!(inspect_response(bad, b"x", None).is_err());
        }
        assert_eq!(
            inspect_response(&vec![0u8; MAX_TOKEN_BYTES + 1], b"x", None),
            Err(TspError::TooLarge)
        );
    }

    #[test]
    fn garbage_roots_are_refused() {
        assert!(TsaRoots::from_pem(b"").is_err());
        assert!(
            TsaRoots::from_pem(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
                .is_err()
        );
    }
}
