//! HTTP API JWT authorizers end to end: real RS256 and ES256 tokens minted here, the OpenID
//! discovery document and the JWKS served on 127.0.0.1, the authorizer and routes configured
//! through the v2 admin API, every refusal checked for AWS's status, body and
//! `www-authenticate`, and a key rotation picked up after an unknown `kid`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use portico_tests::*;
use serde_json::{json, Value};

const AUD: &str = "portico-app";

// Test keys, made with `openssl genpkey` for these tests only; the JWK members are the public
// halves' numbers (base64url).
const RSA1_PRIVATE: &str = r"-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCfFwqmiG96B3pg
hz6qJxshiPRnq3QrBgBXXljLbwXdANxs7m+UF04sSDTvbUEiiKaz6/U4nmXxNwle
QRzYOsmfwFM256h8kiJKCCfl+/n15iWfXE2IBgYPLw74Q0xeKe1Z0XPadydb8u9w
BQDyNRhj+dcTYvReYPwHqA9frbve1VP6UP7Ovl1nbeXCQEkcniWHJH4v4Yp/kSss
1snfSl25ZM1+k7f+aiV5ioi5rywKl1hQkNp3Ot47r6/m3UEp1+LdU8Ul5ULJTL7J
PB9nh88e3QJo0DZViPD1loIAEKTH/e8BEilv0qN7BZE8DDH2meaeinxBeV3ld1aa
smz5xMpbAgMBAAECggEABaTWnuPWOJkNUWFa6sRqZP0r1oWxoFkdJ/xT4Bu3NIj0
SPUIhlNxVYbWQew5VFVOvLFRSMntyenu7iYXNOCZCI7VJOyBALJafw/dAn629m9M
xGOM6Jd2HZHI0SvqCKkqH3abypNRlSSANBQpXW5eyCUz6R8oljSQnGDs8rMCKDyQ
02H0qkD+lNuEbJcMHOJcBf/1q+FcoaJ0lAks3pAnt1SzwTtrBPb70rtvPVmQwcBJ
pzCoWR+/VczOo3rDfeVffoUtH0TXBIEyl6Aw5o3+7z6lYoQIrbZKDj9dBy5gxvXH
y49dhzfBElVpHaMUZlUWbhkgmfA1PdnoiRj4CCqd6QKBgQDe3K6bnRjh/XGdHmly
d2TBzoAUA4ReCIgNzKZ+vxbZ+hxyFsS6sz1GnX/PgVQcs1rFamGOsHoTs1wZeD3p
1TJZKXgmswmUiq5J/ck+YFQaey+b3ebiFyWcSlQndBPuz96dXOe6qfozSQeHtvJz
ul4VpHTj0f53SFbuymCMBdZ8DQKBgQC2vtsWbQgoFDNqpsKchCPRkaqBwQFl1NZx
HQzZadxHWtGKphxB2TaxhspQT7hPKxQeruBmVhpCDIzLlR2jO3JnsOvYGJL6Zqym
QKCEA+j/tMpKHfgP5RgnIq4CLj2tyLb2w9vqlGBHciHFzG3ASC6E+3RSLfyyovIe
JrLeg/1+BwKBgFh5wBAjZBeD6LD5u98nqyaN9qb7Znd2Z50i3A6Bim7rLpPUmjGM
qwz3xh/5Ng1W3vh07Voakbx0fmHWLK5CZ4SiRAMJHQqNq/fP+y76SylgMlxs0hZ8
HgBYOeSX3rn2aGiM06p1hNELcyPb65EqMePhsE4pth5g57JRQdcVEjuZAoGBAKe8
Qugwp73x3MfVzOdQunfPVkvG1fucAkDMw1CDxDaSe6bhlSozr+n+qJBSu/+esNcA
+OO1wGBDmK/8bLm5BOd8Et3EoJPJzkrDIxJJbIHYdZzWKSydwS+au1ExFFgA1T9m
wuJr0nuBnNIrM8m790cEbt5Ha5yjx8w5BREM4Y3dAoGAdEho+8zsE8rCvv69sGpm
mLb7MbLEioKnzzYdC+iF7wPIcJ95+THjsCSi86ZFHB5iqZnMZ4S5Z6PcyDsEPtps
rHcFYn4MI0TfBuIAjgj0kjpck7uwDOauaeXj34w3Ris+ygQhd12fcw1uOfefQUWN
MJPtLND2mWySB+rY+mXQ14o=
-----END PRIVATE KEY-----
";
const RSA1_PUBLIC: &str = r"-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAnxcKpohvegd6YIc+qicb
IYj0Z6t0KwYAV15Yy28F3QDcbO5vlBdOLEg0721BIoims+v1OJ5l8TcJXkEc2DrJ
n8BTNueofJIiSggn5fv59eYln1xNiAYGDy8O+ENMXintWdFz2ncnW/LvcAUA8jUY
Y/nXE2L0XmD8B6gPX6273tVT+lD+zr5dZ23lwkBJHJ4lhyR+L+GKf5ErLNbJ30pd
uWTNfpO3/moleYqIua8sCpdYUJDadzreO6+v5t1BKdfi3VPFJeVCyUy+yTwfZ4fP
Ht0CaNA2VYjw9ZaCABCkx/3vARIpb9KjewWRPAwx9pnmnop8QXld5XdWmrJs+cTK
WwIDAQAB
-----END PUBLIC KEY-----
";
const RSA1_N: &str = "nxcKpohvegd6YIc-qicbIYj0Z6t0KwYAV15Yy28F3QDcbO5vlBdOLEg0721BIoims-v1OJ5l8TcJXkEc2DrJn8BTNueofJIiSggn5fv59eYln1xNiAYGDy8O-ENMXintWdFz2ncnW_LvcAUA8jUYY_nXE2L0XmD8B6gPX6273tVT-lD-zr5dZ23lwkBJHJ4lhyR-L-GKf5ErLNbJ30pduWTNfpO3_moleYqIua8sCpdYUJDadzreO6-v5t1BKdfi3VPFJeVCyUy-yTwfZ4fPHt0CaNA2VYjw9ZaCABCkx_3vARIpb9KjewWRPAwx9pnmnop8QXld5XdWmrJs-cTKWw";
const RSA1_E: &str = "AQAB";
const RSA2_PRIVATE: &str = r"-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC242y0XusvbBvq
VXbXiQVuQ5CYWP0pGzRolFOJuByxBlPaN50GWKSJVKzGTK3G3I9zYpuqqHxR59My
Dpn4vXPpbl8gFpgi3zht0uTc24BKd8i9I4vm4+J3oTOV9u1iUYjXDIjiVysmHudq
u2io+1qTGz/CWgFMen2dazF2rM5IWEhPEePt9mxwsGf3qJx2z4vM3yI/YtKpTRtq
FyDd0Vdh3cCcQ6oPceVOynBPwR48w8AGCDXVeqUtNHdlrcxUEfHYuSS3NjbJHgxq
shPeCuOsolFQkhWbYlwJyG3B7SYVd3cvrvKPEBrYZctr7cqxyLux4SWGRtsqZwdB
Ev0PiTcHAgMBAAECggEAF6VxBSMuoluGgnZZXsXDE34d4GzFEr8HOCxRXsGUyBiq
19CP92WXpH/ztNHuOAOFcqRBvz94j3h7WIIFy2DnbzuLhhEVy5Bz8dMuLxYcUMSL
ClVhvdEiE1ie3FloWOl02WUv/5/Inu2o+yZPAmY5UELaLA1KFLLTsfpNk2wFYdn7
r7fMCdnEUQQ6Hckl6CS3K9dArYqwSeuBb+C/X/6zqqfPUh0gA9KI0H93EgnQovVx
zGnruw2veVB0VPGYNo5wPxCh0huvn9iWTQF6Tn9VdLzLVQQqG1PFbe2/GJy3imCG
gkNwCtKg3rMgRzBULG4sqtgRYCNJiQdPO+b8LlrcUQKBgQD7Ly0ksr4WWHPcrScd
0wz1cAVTTVbcg6G1khys3ktXo6kFaWLskciLatIB0lBMGobsETWq71YOY98PE1rd
6naETapBRnNNHMFAPPWopQh0pf7uVCNqU9Hwv9ivmA5wlHXCoExbiwRpiYeYhkwc
bruARq+GTLtRT8klE/ieQItTUQKBgQC6ZQyHOq6gLj6YMOxsdV27EYE6CZ2xhIaa
qFBG/YMUI+ozCUr9yIKGWKPd2clhrVC60wn6GC0ffrpHyViAKju1KQZAValBg2OL
pLOpvzDuXd4KdLxmgKcw6duHxXtOtI+ouTMtpOdIEgGfdCcV0f0M+4n0anu7gz+w
rsu59mbe1wKBgH32RXwuypZoGwoiJwiUyt3WJEWG9jU1KYXlVM331+6GGv+kvsAF
x3zqv4+8SRow/1IouzISPaSPvs9PlHTO3EoyrFt5md6kueCd8U92G0xr5fDcbrom
eJRzkJVV+n/IY1mLi18o0rieCEqbplVnzk1gpSsDFbiL+0HFxxqNIZFRAoGAH57w
5ygPY+E0gUEberLWedvYXm4vMGRZKXeQVtq/F/WXz5yt+iu/6Oa0tfgyb72lSmxu
7tyXGxa2p2MC/osroeoZw2RE2HZfttr0F8H1nRqThpaTN5hvxJ6HvZrE9m8vR+JT
SlUFX3aei9x6nPsIwOETYEGISCFV9rVQnnWssfUCgYEA53h2PHnvI8duSUx+4u4S
TVBBeKvbK2OMNe+qe0JPemasLCrcJ8lNPn3JQlcebXm9athTA4SXIqZRwBjrdh8d
35ya+mo9hwn7de3rpHy9LpHpNnK9Mgkmm52G5N4dOThtVOyaQgbUiTRKWbbFtRRg
AB+TMQtx2YiZASuuEkUhfGU=
-----END PRIVATE KEY-----
";
const RSA2_N: &str = "tuNstF7rL2wb6lV214kFbkOQmFj9KRs0aJRTibgcsQZT2jedBlikiVSsxkytxtyPc2Kbqqh8UefTMg6Z-L1z6W5fIBaYIt84bdLk3NuASnfIvSOL5uPid6EzlfbtYlGI1wyI4lcrJh7nartoqPtakxs_wloBTHp9nWsxdqzOSFhITxHj7fZscLBn96icds-LzN8iP2LSqU0bahcg3dFXYd3AnEOqD3HlTspwT8EePMPABgg11XqlLTR3Za3MVBHx2LkktzY2yR4MarIT3grjrKJRUJIVm2JcCchtwe0mFXd3L67yjxAa2GXLa-3Ksci7seElhkbbKmcHQRL9D4k3Bw";
const RSA2_E: &str = "AQAB";
const EC1_PRIVATE: &str = r"-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgGXHXNVaImyGO893P
oRrNMwoIgt7ZIY4irfk1NR5HHIyhRANCAAT42YNlU9JreDh6jj3YWr1MK3DA5Yca
EHNjtGL5HtYANfxPqRmD2lOUZhJ7bH7J8ule8ZfNQuOlgfDSS/p5yAk4
-----END PRIVATE KEY-----
";
const EC1_X: &str = "-NmDZVPSa3g4eo492Fq9TCtwwOWHGhBzY7Ri-R7WADU";
const EC1_Y: &str = "_E-pGYPaU5RmEntsfsny6V7xl81C46WB8NJL-nnICTg";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

fn b64url(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        let chars = [18, 12, 6, 0].map(|s| T[((n >> s) & 63) as usize] as char);
        out.extend(&chars[..c.len() + 1]);
    }
    out
}

fn rsa_jwk(kid: &str, n: &str, e: &str) -> Value {
    json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": n, "e": e})
}

fn ec_jwk(kid: &str, x: &str, y: &str) -> Value {
    json!({"kty": "EC", "kid": kid, "use": "sig", "crv": "P-256", "x": x, "y": y})
}

fn jwks(keys: Vec<Value>) -> Behaviour {
    Behaviour::Fixed {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: json!({ "keys": keys }).to_string().into_bytes(),
    }
}

/// Claims valid for `iss`, overridden by `extra` (a `null` removes a claim).
fn claims(iss: &str, extra: Value) -> Value {
    let t = now();
    let mut c = json!({"iss": iss, "aud": AUD, "sub": "user-1", "iat": t, "nbf": t - 10,
                       "exp": t + 600, "scope": "read"});
    for (k, v) in extra.as_object().expect("an object") {
        if v.is_null() {
            c.as_object_mut().expect("an object").remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

fn sign(alg: Algorithm, kid: &str, key: &EncodingKey, claims: &Value) -> String {
    let mut h = Header::new(alg);
    h.kid = Some(kid.into());
    encode(&h, claims, key).expect("a token")
}

fn rs256(kid: &str, pem: &str, claims: &Value) -> String {
    let key = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("an RSA key");
    sign(Algorithm::RS256, kid, &key, claims)
}

fn es256(claims: &Value) -> String {
    let key = EncodingKey::from_ec_pem(EC1_PRIVATE.as_bytes()).expect("an EC key");
    sign(Algorithm::ES256, "e1", &key, claims)
}

struct Setup {
    gw: Gateway,
    jwks: MockUpstream,
    _discovery: MockUpstream,
    _up: MockUpstream,
    api: String,
    authorizer: String,
    issuer: String,
}

fn admin(gw: &Gateway, method: &str, path: &str, body: Value, status: u16) -> Value {
    let r = gw.admin_call(method, path, body.to_string().as_bytes());
    assert_eq!(r.status, status, "{method} {path}: {}", r.text());
    if r.body.is_empty() {
        Value::Null
    } else {
        r.json()
    }
}

fn setup() -> Setup {
    setup_env(&[])
}

/// [`setup`] with environment variables for the gateway.
fn setup_env(env: &[(&str, &str)]) -> Setup {
    let up = MockUpstream::start(Behaviour::Echo);
    let jwks_mock = MockUpstream::start(jwks(vec![
        rsa_jwk("r1", RSA1_N, RSA1_E),
        ec_jwk("e1", EC1_X, EC1_Y),
    ]));
    let discovery = MockUpstream::start(Behaviour::Fixed {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: json!({"issuer": "x", "jwks_uri": jwks_mock.url("/jwks")})
            .to_string()
            .into_bytes(),
    });
    let issuer = discovery.url("");
    let gw = Gateway::spawn_env(&config(vec![]), &[], env);
    let api = admin(
        &gw,
        "POST",
        "/v2/apis",
        json!({"name": "jwt", "protocolType": "HTTP"}),
        201,
    )["apiId"]
        .as_str()
        .expect("an id")
        .to_string();
    let base = format!("/v2/apis/{api}");
    let integration = admin(
        &gw,
        "POST",
        &format!("{base}/integrations"),
        json!({"integrationType": "HTTP_PROXY", "integrationUri": up.url(""),
               "integrationMethod": "ANY", "payloadFormatVersion": "1.0"}),
        201,
    )["integrationId"]
        .as_str()
        .expect("an id")
        .to_string();
    let authorizer = admin(
        &gw,
        "POST",
        &format!("{base}/authorizers"),
        json!({"name": "users", "authorizerType": "JWT",
               "identitySource": ["$request.header.Authorization"],
               "jwtConfiguration": {"issuer": issuer, "audience": [AUD, "other-app"]}}),
        201,
    )["authorizerId"]
        .as_str()
        .expect("an id")
        .to_string();
    let target = format!("integrations/{integration}");
    admin(
        &gw,
        "POST",
        &format!("{base}/routes"),
        json!({"routeKey": "GET /open", "target": target}),
        201,
    );
    admin(
        &gw,
        "POST",
        &format!("{base}/routes"),
        json!({"routeKey": "GET /items", "target": target, "authorizationType": "JWT",
               "authorizerId": authorizer}),
        201,
    );
    admin(
        &gw,
        "POST",
        &format!("{base}/routes"),
        json!({"routeKey": "GET /admin", "target": target, "authorizationType": "JWT",
               "authorizerId": authorizer, "authorizationScopes": ["admin", "root"]}),
        201,
    );
    admin(
        &gw,
        "POST",
        &format!("{base}/stages"),
        json!({"stageName": "$default", "autoDeploy": true}),
        201,
    );
    Setup {
        gw,
        jwks: jwks_mock,
        _discovery: discovery,
        _up: up,
        api,
        authorizer,
        issuer,
    }
}

fn call(s: &Setup, path: &str, authorization: Option<&str>) -> Response {
    let mut req = Request::get(path).host(&s.gw.host(&s.api));
    if let Some(a) = authorization {
        req = req.header("Authorization", a);
    }
    s.gw.call(&req)
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

#[track_caller]
fn assert_unauthorized(r: &Response, description: &str) {
    assert_eq!(r.status, 401, "{r}");
    assert_eq!(r.json(), json!({"message": "Unauthorized"}));
    let www = r.header("www-authenticate").expect("www-authenticate");
    assert!(
        www.starts_with(r#"Bearer scope="" error="invalid_token""#) && www.contains(description),
        "{www}"
    );
}

#[test]
fn tokens_are_checked_as_aws_does() {
    let s = setup();
    let iss = s.issuer.clone();
    // Keys arrive in the background; until then a valid token is refused.
    let valid = rs256("r1", RSA1_PRIVATE, &claims(&iss, json!({})));
    eventually(Duration::from_secs(10), "the JWKS is fetched", || {
        (call(&s, "/items", Some(&bearer(&valid))).status == 200).then_some(())
    });
    let r = call(&s, "/items", Some(&bearer(&valid)));
    assert_eq!(r.status, 200, "{r}");
    // The bare token works too, and so does ES256.
    assert_eq!(call(&s, "/items", Some(&valid)).status, 200);
    let ec = es256(&claims(&iss, json!({})));
    assert_eq!(call(&s, "/items", Some(&bearer(&ec))).status, 200);
    // Routes without an authorizer stay open.
    assert_eq!(call(&s, "/open", None).status, 200);

    // Missing header.
    let r = call(&s, "/items", None);
    assert_eq!(r.status, 401, "{r}");
    assert_eq!(r.json(), json!({"message": "Unauthorized"}));
    assert!(r.header("www-authenticate").is_some());

    let t = now();
    let expired = rs256(
        "r1",
        RSA1_PRIVATE,
        &claims(
            &iss,
            json!({"exp": t - 3600, "iat": t - 7200, "nbf": t - 7200}),
        ),
    );
    assert_unauthorized(&call(&s, "/items", Some(&bearer(&expired))), "expired");
    let early = rs256("r1", RSA1_PRIVATE, &claims(&iss, json!({"nbf": t + 3600})));
    assert_unauthorized(&call(&s, "/items", Some(&bearer(&early))), "not valid yet");
    let wrong_iss = rs256(
        "r1",
        RSA1_PRIVATE,
        &claims("http://127.0.0.1:1/other", json!({})),
    );
    assert_unauthorized(&call(&s, "/items", Some(&bearer(&wrong_iss))), "issuer");
    let wrong_aud = rs256(
        "r1",
        RSA1_PRIVATE,
        &claims(&iss, json!({"aud": "someone-else"})),
    );
    assert_unauthorized(&call(&s, "/items", Some(&bearer(&wrong_aud))), "audience");
    // AWS's rule: without `aud`, `client_id` must be one of the audiences.
    let client = rs256(
        "r1",
        RSA1_PRIVATE,
        &claims(&iss, json!({"aud": null, "client_id": "other-app"})),
    );
    assert_eq!(call(&s, "/items", Some(&bearer(&client))).status, 200);
    let bad_client = rs256(
        "r1",
        RSA1_PRIVATE,
        &claims(&iss, json!({"aud": null, "client_id": "x"})),
    );
    assert_unauthorized(&call(&s, "/items", Some(&bearer(&bad_client))), "audience");
    let audience_list = rs256(
        "r1",
        RSA1_PRIVATE,
        &claims(&iss, json!({"aud": ["x", AUD]})),
    );
    assert_eq!(
        call(&s, "/items", Some(&bearer(&audience_list))).status,
        200
    );

    // `alg: none`, unsigned.
    let none = format!(
        "{}.{}.",
        b64url(br#"{"alg":"none","typ":"JWT","kid":"r1"}"#),
        b64url(claims(&iss, json!({})).to_string().as_bytes())
    );
    assert_unauthorized(&call(&s, "/items", Some(&bearer(&none))), "");
    // HS256 with the RSA public key as the HMAC secret.
    let hs = sign(
        Algorithm::HS256,
        "r1",
        &EncodingKey::from_secret(RSA1_PUBLIC.as_bytes()),
        &claims(&iss, json!({})),
    );
    assert_unauthorized(&call(&s, "/items", Some(&bearer(&hs))), "algorithm");
    // A payload changed after signing.
    let mut parts: Vec<String> = valid.split('.').map(String::from).collect();
    parts[1] = b64url(claims(&iss, json!({"sub": "admin"})).to_string().as_bytes());
    let tampered = parts.join(".");
    assert_unauthorized(&call(&s, "/items", Some(&bearer(&tampered))), "signature");
    // Signed by a key the JWKS does not hold under that kid.
    let forged = rs256("r1", RSA2_PRIVATE, &claims(&iss, json!({})));
    assert_unauthorized(&call(&s, "/items", Some(&bearer(&forged))), "signature");

    // Scopes: one of the route's, in `scope` (space separated) or `scp`.
    let r = call(&s, "/admin", Some(&bearer(&valid)));
    assert_eq!(r.status, 403, "{r}");
    assert_eq!(r.json(), json!({"message": "Forbidden"}));
    assert!(r
        .header("www-authenticate")
        .is_some_and(|w| w.contains(r#"error="insufficient_scope""#)));
    let scoped = rs256(
        "r1",
        RSA1_PRIVATE,
        &claims(&iss, json!({"scope": "read root"})),
    );
    assert_eq!(call(&s, "/admin", Some(&bearer(&scoped))).status, 200);
    let scp = rs256(
        "r1",
        RSA1_PRIVATE,
        &claims(&iss, json!({"scope": null, "scp": ["admin"]})),
    );
    assert_eq!(call(&s, "/admin", Some(&bearer(&scp))).status, 200);
    // An invalid token is 401 on a scoped route too.
    assert_unauthorized(&call(&s, "/admin", Some(&bearer(&expired))), "expired");
}

#[test]
fn an_unknown_kid_refetches_the_keys() {
    let s = setup();
    let iss = s.issuer.clone();
    let old = rs256("r1", RSA1_PRIVATE, &claims(&iss, json!({})));
    eventually(Duration::from_secs(10), "the JWKS is fetched", || {
        (call(&s, "/items", Some(&bearer(&old))).status == 200).then_some(())
    });
    // The issuer rotates to a new key: tokens with the new kid are refused until the gateway
    // refetches, which the unknown kid asks for (rate-limited).
    let new = rs256("r2", RSA2_PRIVATE, &claims(&iss, json!({})));
    assert_unauthorized(&call(&s, "/items", Some(&bearer(&new))), "signing key");
    s.jwks
        .set_behaviour(jwks(vec![rsa_jwk("r2", RSA2_N, RSA2_E)]));
    eventually(
        Duration::from_secs(15),
        "the rotated key is accepted",
        || (call(&s, "/items", Some(&bearer(&new))).status == 200).then_some(()),
    );
    // The old key is gone from the new set.
    assert_unauthorized(&call(&s, "/items", Some(&bearer(&old))), "signing key");
}

#[test]
fn authorizers_through_the_admin_api() {
    let s = setup();
    let base = format!("/v2/apis/{}", s.api);
    let t = rs256("r1", RSA1_PRIVATE, &claims(&s.issuer, json!({})));
    eventually(Duration::from_secs(10), "the JWKS is fetched", || {
        (call(&s, "/items", Some(&bearer(&t))).status == 200).then_some(())
    });
    let a = admin(
        &s.gw,
        "GET",
        &format!("{base}/authorizers/{}", s.authorizer),
        json!({}),
        200,
    );
    assert_eq!(a["authorizerType"], "JWT");
    assert_eq!(
        a["identitySource"],
        json!(["$request.header.Authorization"])
    );
    assert_eq!(a["jwtConfiguration"]["audience"], json!([AUD, "other-app"]));
    let list = admin(&s.gw, "GET", &format!("{base}/authorizers"), json!({}), 200);
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    // In use: 409.
    admin(
        &s.gw,
        "DELETE",
        &format!("{base}/authorizers/{}", s.authorizer),
        json!({}),
        409,
    );
    // A Lambda authorizer needs its payload format version and a function ARN.
    let r = admin(
        &s.gw,
        "POST",
        &format!("{base}/authorizers"),
        json!({"name": "l", "authorizerType": "REQUEST",
               "identitySource": ["$request.header.Authorization"],
               "authorizerUri": "arn:aws:lambda:x"}),
        400,
    );
    assert!(
        r["message"]
            .as_str()
            .is_some_and(|m| m.contains("authorizerPayloadFormatVersion is required")
                && m.contains("Invalid authorizerUri")),
        "{r}"
    );
    // A route naming an unknown authorizer: 404.
    admin(
        &s.gw,
        "POST",
        &format!("{base}/routes"),
        json!({"routeKey": "GET /x", "authorizationType": "JWT", "authorizerId": "nope"}),
        404,
    );
    // The audience changes with UpdateAuthorizer and reaches the data plane.
    admin(
        &s.gw,
        "PATCH",
        &format!("{base}/authorizers/{}", s.authorizer),
        json!({"jwtConfiguration": {"audience": ["only-this"]}}),
        200,
    );
    eventually(
        Duration::from_secs(10),
        "the new audience is served",
        || (call(&s, "/items", Some(&bearer(&t))).status == 401).then_some(()),
    );
    let ok = rs256(
        "r1",
        RSA1_PRIVATE,
        &claims(&s.issuer, json!({"aud": "only-this"})),
    );
    assert_eq!(call(&s, "/items", Some(&bearer(&ok))).status, 200);
}

#[test]
fn lambda_proxy_events_carry_the_claims_and_scopes() {
    let stub = MockUpstream::start(Behaviour::fixed(200, r#"{"statusCode":200,"body":"ok"}"#));
    let endpoint = format!("http://{}", stub.addr());
    let s = setup_env(&[("AWS_ENDPOINT_URL_LAMBDA", &endpoint)]);
    let base = format!("/v2/apis/{}", s.api);
    for (version, path) in [("2.0", "/fn2"), ("1.0", "/fn1")] {
        let integration = admin(
            &s.gw,
            "POST",
            &format!("{base}/integrations"),
            json!({"integrationType": "AWS_PROXY", "integrationUri": FUNCTION_ARN,
                   "payloadFormatVersion": version}),
            201,
        )["integrationId"]
            .as_str()
            .expect("an id")
            .to_string();
        admin(
            &s.gw,
            "POST",
            &format!("{base}/routes"),
            json!({"routeKey": format!("GET {path}"), "target": format!("integrations/{integration}"),
                   "authorizationType": "JWT", "authorizerId": s.authorizer}),
            201,
        );
    }
    let token = rs256(
        "r1",
        RSA1_PRIVATE,
        &claims(&s.issuer, json!({"sub": "user-1", "scope": "read write"})),
    );
    eventually(Duration::from_secs(10), "the JWKS is fetched", || {
        (call(&s, "/fn2", Some(&bearer(&token))).status == 200).then_some(())
    });
    let event: Value = serde_json::from_slice(&stub.requests().last().expect("an invocation").body)
        .expect("a JSON event");
    let jwt = &event["requestContext"]["authorizer"]["jwt"];
    assert_eq!(jwt["claims"]["sub"], "user-1", "{event}");
    assert_eq!(jwt["claims"]["aud"], AUD, "{event}");
    // AWS passes every claim as a string.
    assert!(jwt["claims"]["exp"].is_string(), "{event}");
    assert_eq!(jwt["scopes"], json!(["read", "write"]), "{event}");

    let r = call(&s, "/fn1", Some(&bearer(&token)));
    assert_eq!((r.status, r.text()), (200, "ok".to_string()), "{r}");
    let event: Value = serde_json::from_slice(&stub.requests().last().expect("an invocation").body)
        .expect("a JSON event");
    let authorizer = &event["requestContext"]["authorizer"];
    assert_eq!(authorizer["claims"]["sub"], "user-1", "{event}");
    assert_eq!(authorizer["scopes"], json!(["read", "write"]), "{event}");
    // Refused tokens never reach the function.
    let before = stub.request_count();
    assert_eq!(call(&s, "/fn2", Some("Bearer nope")).status, 401);
    assert_eq!(stub.request_count(), before);
}
