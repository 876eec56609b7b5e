//! The Amazon RDS and Aurora certificate authorities, embedded in every binary and trusted
//! unless `TRUST_RDS_CA` is false.
//!
//! RDS and Aurora server certificates chain to AWS's own RDS roots (one set per region), which
//! no system trust store holds, so without them `"ssl": true` against RDS needs a CA bundle.
//! The set lives in `crates/rotation-core/rds-ca/`: `rds-ca.pem` to read and review,
//! `rds-ca.der` (the same certificates, DER, one after another) to embed, both written by
//! `cargo xtask update-rds-ca`, which leaves out certificates that have already expired.
//!
//! Embedding DER rather than PEM keeps init cheap: the certificates are borrowed from the
//! binary as they are, with no base64 decoding and no allocation per certificate. The only
//! work at init is reading each one's notAfter, so that a certificate that has expired since
//! the refresh is no longer trusted (rustls does not check a trust anchor's own validity).

use rustls::pki_types::CertificateDer;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `rds-ca/rds-ca.der`: every certificate of `rds-ca.pem`, DER, concatenated.
static EMBEDDED: &[u8] = include_bytes!("../../rds-ca/rds-ca.der");

/// Every embedded certificate, expired or not, in the order of `rds-ca.pem`.
pub fn embedded() -> Vec<CertificateDer<'static>> {
    let mut out = Vec::new();
    let mut rest = EMBEDDED;
    while let Some((_, _, after)) = element(rest) {
        let (cert, tail) = rest.split_at(rest.len() - after.len());
        out.push(CertificateDer::from(cert));
        rest = tail;
    }
    out
}

/// The embedded certificates that can be trusted at a given time.
#[derive(Debug, Default)]
pub struct RdsAnchors {
    /// Not expired: the trust anchors.
    pub trusted: Vec<CertificateDer<'static>>,
    /// Expired since the last refresh, and left out.
    pub expired: usize,
    /// Whose notAfter could not be read, and left out (never, for the data the tests check).
    pub unreadable: usize,
}

/// The embedded certificates still valid at `now`.
pub fn anchors_at(now: SystemTime) -> RdsAnchors {
    let mut anchors = RdsAnchors::default();
    for cert in embedded() {
        match not_after(&cert) {
            Some(t) if t > now => anchors.trusted.push(cert),
            Some(_) => anchors.expired += 1,
            None => anchors.unreadable += 1,
        }
    }
    anchors
}

/// One DER element at the start of `input`: its tag, its contents, and what follows it.
/// Definite lengths of up to four bytes, as certificates use.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, rest) = rest.split_at(n);
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, rest)
    };
    if rest.len() < len {
        return None;
    }
    let (contents, rest) = rest.split_at(len);
    Some((tag, contents, rest))
}

const SEQUENCE: u8 = 0x30;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;
/// `[0] EXPLICIT Version`, absent in v1 certificates.
const VERSION: u8 = 0xa0;

/// The elements of a certificate's TBSCertificate, from `serialNumber` on (RFC 5280, 4.1).
fn tbs_fields(cert: &[u8]) -> Option<&[u8]> {
    let (SEQUENCE, cert, _) = element(cert)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = element(cert)? else {
        return None;
    };
    match element(tbs)? {
        (VERSION, _, rest) => Some(rest),
        _ => Some(tbs),
    }
}

/// A certificate's notAfter.
pub fn not_after(cert: &[u8]) -> Option<SystemTime> {
    let mut rest = tbs_fields(cert)?;
    // serialNumber, signature, issuer
    for _ in 0..3 {
        rest = element(rest)?.2;
    }
    let (SEQUENCE, validity, _) = element(rest)? else {
        return None;
    };
    let (_, _, after_not_before) = element(validity)?;
    let (tag, time, _) = element(after_not_before)?;
    parse_time(tag, time)
}

/// An X.509 time as RFC 5280 requires it: UTCTime `YYMMDDHHMMSSZ` (years 1950–2049) or
/// GeneralizedTime `YYYYMMDDHHMMSSZ`.
fn parse_time(tag: u8, text: &[u8]) -> Option<SystemTime> {
    let digits = |s: &[u8]| -> Option<i64> {
        s.iter().try_fold(0i64, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let (year, rest) = match (tag, text.len()) {
        (UTC_TIME, 13) => {
            let yy = digits(&text[..2])?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, &text[2..])
        }
        (GENERALIZED_TIME, 15) => (digits(&text[..4])?, &text[4..]),
        _ => return None,
    };
    if rest.last() != Some(&b'Z') {
        return None;
    }
    let field = |i: usize| digits(&rest[i..i + 2]);
    let (month, day) = (field(0)?, field(2)?);
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let secs = crate::calendar::days_from_civil(year, month, day) * 86_400
        + hour * 3600
        + minute * 60
        + second;
    UNIX_EPOCH.checked_add(Duration::from_secs(u64::try_from(secs).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;
    use std::collections::{BTreeMap, BTreeSet};

    /// `rds-ca.pem`, the reviewable twin of the embedded DER.
    const PEM: &str = include_str!("../../rds-ca/rds-ca.pem");

    /// The key types AWS issues a root of in every region.
    const KINDS: [&str; 3] = ["RSA2048 G1", "RSA4096 G1", "ECC384 G1"];

    fn unix(t: SystemTime) -> u64 {
        t.duration_since(UNIX_EPOCH).expect("after 1970").as_secs()
    }

    /// `YYYY-MM-DD hh:mm:ssZ`, as openssl wrote it into the PEM comments.
    fn iso(t: SystemTime) -> String {
        let secs = i64::try_from(unix(t)).expect("fits");
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        let (y, m, d) = crate::calendar::civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z",
            rem / 3600,
            rem / 60 % 60,
            rem % 60
        )
    }

    /// What the tests read from a certificate, beyond notAfter.
    struct Parsed<'a> {
        issuer: &'a [u8],
        subject: &'a [u8],
        extensions: Option<&'a [u8]>,
    }

    fn parse(cert: &[u8]) -> Parsed<'_> {
        let mut rest = tbs_fields(cert).expect("TBSCertificate");
        rest = element(rest).expect("serial").2;
        rest = element(rest).expect("signature").2;
        let (_, issuer, r) = element(rest).expect("issuer");
        let r = element(r).expect("validity").2;
        let (_, subject, r) = element(r).expect("subject");
        let mut r = element(r).expect("subjectPublicKeyInfo").2;
        let mut extensions = None;
        while let Some((tag, contents, after)) = element(r) {
            // [3] EXPLICIT Extensions
            if tag == 0xa3 {
                let (SEQUENCE, list, _) = element(contents).expect("extensions") else {
                    panic!("extensions are not a SEQUENCE");
                };
                extensions = Some(list);
            }
            r = after;
        }
        Parsed {
            issuer,
            subject,
            extensions,
        }
    }

    /// The commonName (OID 2.5.4.3) of a Name.
    fn common_name(name: &[u8]) -> String {
        let mut rdns = name;
        while let Some((_, set, after)) = element(rdns) {
            let (_, attribute, _) = element(set).expect("AttributeTypeAndValue");
            let (_, oid, value) = element(attribute).expect("type");
            if oid == [0x55, 0x04, 0x03] {
                let (_, text, _) = element(value).expect("value");
                return String::from_utf8(text.to_vec()).expect("UTF-8 name");
            }
            rdns = after;
        }
        panic!("no commonName");
    }

    /// basicConstraints (OID 2.5.29.19) cA.
    fn is_ca(extensions: &[u8]) -> bool {
        let mut list = extensions;
        while let Some((_, ext, after)) = element(list) {
            let (_, oid, rest) = element(ext).expect("extnID");
            if oid == [0x55, 0x1d, 0x13] {
                let (tag, value, rest) = element(rest).expect("critical or extnValue");
                // `critical BOOLEAN DEFAULT FALSE` comes first when present.
                let value = if tag == 0x01 {
                    element(rest).expect("extnValue").1
                } else {
                    value
                };
                let (SEQUENCE, constraints, _) = element(value).expect("BasicConstraints") else {
                    panic!("BasicConstraints is not a SEQUENCE");
                };
                return matches!(element(constraints), Some((0x01, [0xff], _)));
            }
            list = after;
        }
        false
    }

    /// SHA-256 with the process's own crypto provider (no extra dependency for the tests).
    fn sha256(bytes: &[u8]) -> String {
        let suite = rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256;
        let hash = suite.tls13().expect("TLS 1.3 suite").common.hash_provider;
        hash.hash(bytes)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    }

    /// The comment above each PEM block: (name, notAfter, SHA-256), as `cargo xtask
    /// update-rds-ca` wrote them from `openssl x509`'s reading of the certificate.
    fn pem_comments() -> Vec<(String, String, String)> {
        let lines: Vec<&str> = PEM.lines().collect();
        let mut out = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            if *line == "-----BEGIN CERTIFICATE-----" {
                let name = lines[i - 2].strip_prefix("# ").expect("name comment");
                let info = lines[i - 1]
                    .strip_prefix("# not after ")
                    .expect("expiry comment");
                let (date, sha) = info.split_once(", SHA-256 ").expect("fingerprint");
                out.push((name.to_owned(), date.to_owned(), sha.to_owned()));
            }
        }
        out
    }

    #[test]
    fn the_embedded_der_is_the_committed_pem() {
        let from_pem: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(PEM.as_bytes())
            .collect::<Result<_, _>>()
            .expect("rds-ca.pem parses");
        let embedded = embedded();
        assert!(!embedded.is_empty());
        assert_eq!(embedded.len(), from_pem.len());
        assert!(embedded == from_pem, "rds-ca.der differs from rds-ca.pem");
        let total: usize = embedded.iter().map(|c| c.len()).sum();
        assert_eq!(
            total,
            EMBEDDED.len(),
            "nothing but certificates in rds-ca.der"
        );
    }

    #[test]
    fn every_embedded_certificate_is_a_valid_rds_root_ca() {
        let now = SystemTime::now();
        let comments = pem_comments();
        let embedded = embedded();
        assert_eq!(comments.len(), embedded.len());
        let mut earliest: Option<(SystemTime, String)> = None;
        let mut fingerprints = BTreeSet::new();
        for (cert, (name, date, sha)) in embedded.iter().zip(&comments) {
            let parsed = parse(cert);
            let cn = common_name(parsed.subject);
            // The parser here and openssl (at refresh time) read the same name, date and hash.
            assert_eq!(&cn, name);
            let expires = not_after(cert).unwrap_or_else(|| panic!("{cn}: no notAfter"));
            assert_eq!(&iso(expires), date, "{cn}");
            assert_eq!(&sha256(cert), sha, "{cn}");
            assert!(fingerprints.insert(sha.clone()), "{cn}: duplicate");
            assert!(cn.starts_with("Amazon RDS "), "{cn}");
            assert_eq!(parsed.issuer, parsed.subject, "{cn}: not a root");
            let extensions = parsed
                .extensions
                .unwrap_or_else(|| panic!("{cn}: no extensions"));
            assert!(is_ca(extensions), "{cn}: basicConstraints cA is not true");
            assert!(
                expires > now,
                "{cn} expired on {date}: run `cargo xtask update-rds-ca`"
            );
            if earliest.as_ref().is_none_or(|(t, _)| expires < *t) {
                earliest = Some((expires, cn));
            }
        }
        let (t, cn) = earliest.expect("at least one");
        eprintln!(
            "{} RDS certificate authorities; the earliest expires {} ({cn})",
            embedded.len(),
            iso(t)
        );
        let anchors = anchors_at(now);
        assert_eq!(anchors.trusted.len(), embedded.len());
        assert_eq!((anchors.expired, anchors.unreadable), (0, 0));
    }

    #[test]
    fn every_region_has_all_three_roots() {
        let mut regions: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
        for cert in embedded() {
            let cn = common_name(parse(&cert).subject);
            let (region, kind) = cn
                .strip_prefix("Amazon RDS ")
                .and_then(|r| r.split_once(" Root CA "))
                .unwrap_or_else(|| panic!("{cn}: not named Amazon RDS <region> Root CA <kind>"));
            let kind = KINDS
                .iter()
                .find(|k| **k == kind)
                .unwrap_or_else(|| panic!("{cn}: unknown kind {kind}"));
            assert!(
                regions.entry(region.to_owned()).or_default().insert(kind),
                "{cn} twice"
            );
        }
        for (region, kinds) in &regions {
            assert_eq!(kinds.len(), KINDS.len(), "{region} lacks one of {KINDS:?}");
        }
        // The commercial regions with RDS when the set was refreshed, and AWS's test
        // endpoints ("Beta us-east-1", "Preview us-east-2").
        for region in [
            "us-east-1",
            "us-west-2",
            "eu-west-1",
            "ap-northeast-1",
            "sa-east-1",
        ] {
            assert!(regions.contains_key(region), "{region} missing");
        }
        let names: Vec<&str> = regions.keys().map(String::as_str).collect();
        eprintln!("{} regions: {}", names.len(), names.join(", "));
    }

    #[test]
    fn expired_certificates_are_left_out_at_run_time() {
        let embedded = embedded();
        let latest = embedded
            .iter()
            .filter_map(|c| not_after(c))
            .max()
            .expect("dates");
        let earliest = embedded
            .iter()
            .filter_map(|c| not_after(c))
            .min()
            .expect("dates");
        let all_gone = anchors_at(latest);
        assert!(all_gone.trusted.is_empty());
        assert_eq!(all_gone.expired, embedded.len());
        let some_gone = anchors_at(earliest);
        assert!(some_gone.expired >= 1);
        assert_eq!(some_gone.trusted.len() + some_gone.expired, embedded.len());
        assert!(
            some_gone
                .trusted
                .iter()
                .all(|c| not_after(c) > Some(earliest))
        );
    }

    #[test]
    fn times_and_malformed_input() {
        let at = |tag, s: &str| parse_time(tag, s.as_bytes()).map(unix);
        assert_eq!(at(UTC_TIME, "700101000000Z"), Some(0));
        assert_eq!(at(UTC_TIME, "490101000000Z"), Some(2_493_072_000));
        assert_eq!(at(GENERALIZED_TIME, "21210524220320Z"), Some(4_777_567_400));
        assert_eq!(at(GENERALIZED_TIME, "20000301000001Z"), Some(951_868_801));
        // Before 1970, local times, fractions and nonsense are not read.
        assert_eq!(at(UTC_TIME, "690101000000Z"), None);
        assert_eq!(at(UTC_TIME, "700101000000+"), None);
        assert_eq!(at(GENERALIZED_TIME, "2121052422032Z"), None);
        assert_eq!(at(GENERALIZED_TIME, "21211324220320Z"), None);
        assert_eq!(at(0x04, "700101000000Z"), None);
        assert_eq!(not_after(b""), None);
        assert_eq!(not_after(&[0x30, 0x82, 0xff]), None);
        assert_eq!(element(&[0x30, 0x85, 1, 1, 1, 1, 1]), None);
        let first = embedded().remove(0);
        assert_eq!(not_after(&first[..first.len() - 1]), None, "truncated");
    }
}
