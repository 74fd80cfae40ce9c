//! Signature Version 4 as the server side computes it, written from the published algorithm
//! (canonical request, string to sign, derived signing key) over RustCrypto's HMAC-SHA256, and
//! checked against AWS's own test-suite vectors below. Independent of the client's signer on
//! purpose: a canonicalisation mistake shared by both sides could not be caught otherwise.

use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Everything but the unreserved characters `A-Z a-z 0-9 - _ . ~` is percent-encoded.
const URI_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The parts of an `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key_id: String,
    /// `YYYYMMDD`.
    pub date: String,
    pub region: String,
    pub service: String,
    /// Lower case, in the order given.
    pub signed_headers: Vec<String>,
    pub signature: String,
}

impl Authorization {
    pub fn parse(header: &str) -> Result<Authorization, String> {
        let rest = header
            .strip_prefix(ALGORITHM)
            .ok_or_else(|| format!("algorithm is not {ALGORITHM}"))?;
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let part = part.trim();
            if let Some(v) = part.strip_prefix("Credential=") {
                credential = Some(v);
            } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
                signed = Some(v);
            } else if let Some(v) = part.strip_prefix("Signature=") {
                signature = Some(v);
            } else if !part.is_empty() {
                return Err(format!("unexpected authorization component {part:?}"));
            }
        }
        let credential = credential.ok_or("no Credential")?;
        let scope: Vec<&str> = credential.split('/').collect();
        let [key, date, region, service, terminator] = scope[..] else {
            return Err(format!("malformed credential {credential:?}"));
        };
        if terminator != "aws4_request" {
            return Err(format!("credential scope ends in {terminator:?}"));
        }
        let signed_headers: Vec<String> = signed
            .ok_or("no SignedHeaders")?
            .split(';')
            .map(str::to_string)
            .collect();
        Ok(Authorization {
            access_key_id: key.to_string(),
            date: date.to_string(),
            region: region.to_string(),
            service: service.to_string(),
            signed_headers,
            signature: signature.ok_or("no Signature")?.to_string(),
        })
    }

    /// `date/region/service/aws4_request`.
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn uri_encode(s: &str) -> String {
    utf8_percent_encode(s, URI_ENCODE).to_string()
}

/// The path as sent, each segment encoded once more (every service but S3 double-encodes).
pub fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".into();
    }
    path.split('/')
        .map(uri_encode)
        .collect::<Vec<_>>()
        .join("/")
}

/// Parameters decoded, re-encoded strictly, sorted by name then value.
pub fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
            (uri_encode(&dec(k)), uri_encode(&dec(v)))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Trimmed, inner runs of spaces collapsed.
fn header_value(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The canonical request. `headers`: all the request's headers (names in any case); every name
/// in `signed_headers` must be among them.
pub fn canonical_request(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    signed_headers: &[String],
    payload_sha256: &str,
) -> Result<String, String> {
    let mut out = format!(
        "{method}\n{}\n{}\n",
        canonical_uri(path),
        canonical_query(query)
    );
    for name in signed_headers {
        let values: Vec<String> = headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| header_value(v))
            .collect();
        if values.is_empty() {
            return Err(format!("signed header {name} is not in the request"));
        }
        out.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    out.push('\n');
    out.push_str(&signed_headers.join(";"));
    out.push('\n');
    out.push_str(payload_sha256);
    Ok(out)
}

pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

pub fn signature(key: &[u8], string_to_sign: &str) -> String {
    hex::encode(hmac(key, string_to_sign.as_bytes()))
}

/// The signature a request should carry. `payload_sha256`: the hash of the body actually
/// received (never the client's claim).
#[allow(clippy::too_many_arguments)]
pub fn expected_signature(
    secret: &str,
    auth: &Authorization,
    amz_date: &str,
    method: &str,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    payload_sha256: &str,
) -> Result<String, String> {
    let creq = canonical_request(
        method,
        path,
        query,
        headers,
        &auth.signed_headers,
        payload_sha256,
    )?;
    let sts = string_to_sign(amz_date, &auth.scope(), &creq);
    let key = signing_key(secret, &auth.date, &auth.region, &auth.service);
    Ok(signature(&key, &sts))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Published SigV4 test-suite values (credentials AKIDEXAMPLE, 2015-08-30T12:36:00Z,
    // us-east-1, service "service").
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const DATE: &str = "20150830T123600Z";
    const EMPTY_SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn check(
        auth: &str,
        method: &str,
        path: &str,
        query: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) {
        let a = Authorization::parse(auth).unwrap();
        let got = expected_signature(
            SECRET,
            &a,
            DATE,
            method,
            path,
            query,
            &h(headers),
            &sha256_hex(body),
        )
        .unwrap();
        assert_eq!(got, a.signature);
    }

    #[test]
    fn get_vanilla() {
        check(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            "GET",
            "/",
            "",
            &[("Host", "example.amazonaws.com"), ("X-Amz-Date", DATE)],
            b"",
        );
    }

    #[test]
    fn get_vanilla_with_session_token() {
        check(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8",
            "GET",
            "/",
            "",
            &[
                ("Host", "example.amazonaws.com"),
                (
                    "X-Amz-Security-Token",
                    "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267",
                ),
                ("X-Amz-Date", DATE),
            ],
            b"",
        );
    }

    #[test]
    fn post_form_urlencoded() {
        check(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=content-length;content-type;host;x-amz-content-sha256;x-amz-date, Signature=d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b",
            "POST",
            "/",
            "",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Host", "example.amazonaws.com"),
                ("Content-Length", "13"),
                ("X-Amz-Date", DATE),
                (
                    "x-amz-content-sha256",
                    "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
                ),
            ],
            b"Param1=value1",
        );
    }

    #[test]
    fn query_order_utf8_and_header_trim() {
        check(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            "GET",
            "/",
            "Param2=value2&Param1=value1",
            &[("Host", "example.amazonaws.com"), ("X-Amz-Date", DATE)],
            b"",
        );
        check(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
            "GET",
            "/",
            "%E1%88%B4=bar",
            &[("Host", "example.amazonaws.com"), ("X-Amz-Date", DATE)],
            b"",
        );
        check(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;my-header1;my-header2;x-amz-date, Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
            "GET",
            "/",
            "",
            &[
                ("Host", "example.amazonaws.com"),
                ("My-Header1", " value1"),
                ("My-Header2", " \"a   b   c\""),
                ("X-Amz-Date", DATE),
            ],
            b"",
        );
        assert_eq!(sha256_hex(b""), EMPTY_SHA);
    }

    #[test]
    fn parse_rejects_other_shapes() {
        assert!(Authorization::parse("AWS4-HMAC-SHA1 Credential=a/b/c/d/aws4_request").is_err());
        assert!(Authorization::parse(
            "AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/service, SignedHeaders=host, Signature=00"
        )
        .is_err());
        assert!(Authorization::parse("AWS4-HMAC-SHA256 SignedHeaders=host, Signature=00").is_err());
    }
}
