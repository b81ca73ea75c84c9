use super::*;

const ACCOUNT: &str = "000000000000";
const PREFIX: &str = "arn:aws:execute-api:us-east-1:000000000000:abc123";

fn req<'a>(resource: &'a str, principal: Option<&'a str>, ip: &str) -> Request<'a> {
    Request {
        action: INVOKE,
        resource,
        principal,
        source_ip: ip.parse().unwrap(),
    }
}

#[test]
fn globs() {
    for (p, v, expect) in [
        ("*", "", true),
        ("*", "anything", true),
        ("a*c", "abc", true),
        ("a*c", "ac", true),
        ("a*c", "acb", false),
        ("a?c", "abc", true),
        ("a?c", "ac", false),
        ("*/prod/*", "arn:x:abc/prod/GET/pets", true),
        ("*/prod/GET/pets", "arn:x:abc/prod/GET/pets/1", false),
        ("a*b*c", "aXbYbZc", true),
        ("a*b*c", "aXbYbZ", false),
        ("**", "x", true),
        ("x", "X", false),
    ] {
        assert_eq!(glob(p.as_bytes(), v.as_bytes()), expect, "{p} ~ {v}");
    }
    assert!(glob_ci(b"execute-api:invoke", b"execute-api:Invoke"));
    assert!(glob_ci(b"Execute-API:*", b"execute-api:Invoke"));
}

#[test]
fn cidrs() {
    let c = |s: &str| Cidr::parse(s).unwrap();
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    assert!(c("127.0.0.1/32").contains(ip("127.0.0.1")));
    assert!(!c("127.0.0.1/32").contains(ip("127.0.0.2")));
    assert!(c("127.0.0.1").contains(ip("127.0.0.1")));
    assert!(c("10.0.0.0/8").contains(ip("10.255.1.2")));
    assert!(c("0.0.0.0/0").contains(ip("8.8.8.8")));
    assert!(c("2001:db8::/32").contains(ip("2001:db8:1::5")));
    assert!(!c("2001:db8::/32").contains(ip("2001:db9::5")));
    assert!(c("::/0").contains(ip("::1")));
    assert!(!c("10.0.0.0/8").contains(ip("::1")));
    // An IPv4 peer seen through a dual-stack socket is still IPv4.
    assert!(c("127.0.0.0/8").contains(ip("::ffff:127.0.0.9")));
    for bad in ["10.0.0.0/33", "::/129", "nope", "10.0.0.0/x"] {
        assert!(Cidr::parse(bad).is_none(), "{bad}");
    }
}

#[test]
fn identity_policy_explicit_deny_wins() {
    let p = Policy::parse(
        r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"execute-api:*","Resource":"arn:aws:execute-api:*:*:abc123/*"},
            {"Effect":"Deny","Action":["execute-api:Invoke"],"Resource":"arn:aws:execute-api:*:*:abc123/prod/DELETE/*"}
        ]}"#,
        false,
        "",
    )
    .unwrap();
    let get = format!("{PREFIX}/prod/GET/pets");
    let delete = format!("{PREFIX}/prod/DELETE/pets/1");
    let other = "arn:aws:execute-api:us-east-1:000000000000:zzz/prod/GET/pets";
    assert_eq!(
        p.evaluate(&req(&get, None, "127.0.0.1"), ACCOUNT),
        Decision::Allow
    );
    assert_eq!(
        p.evaluate(&req(&delete, None, "127.0.0.1"), ACCOUNT),
        Decision::ExplicitDeny
    );
    assert_eq!(
        p.evaluate(&req(other, None, "127.0.0.1"), ACCOUNT),
        Decision::Implicit
    );
    // Another service's action is not ours.
    let s3 = Request {
        action: "s3:GetObject",
        ..req(&get, None, "127.0.0.1")
    };
    assert_eq!(p.evaluate(&s3, ACCOUNT), Decision::Implicit);
}

#[test]
fn resource_policy_shorthand_principals_and_ip() {
    let p = Policy::parse(
        r#"{"Statement":[
            {"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*"},
            {"Effect":"Deny","Principal":"*","Action":"execute-api:Invoke","Resource":"execute-api:/*",
             "Condition":{"NotIpAddress":{"aws:SourceIp":["127.0.0.1/32","::1"]}}},
            {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/alice"},
             "Action":"execute-api:Invoke","Resource":"execute-api:/admin/*"}
        ]}"#,
        true,
        PREFIX,
    )
    .unwrap();
    let get = format!("{PREFIX}/prod/GET/pets");
    assert_eq!(
        p.evaluate(&req(&get, None, "127.0.0.1"), ACCOUNT),
        Decision::Allow
    );
    assert_eq!(
        p.evaluate(&req(&get, None, "::1"), ACCOUNT),
        Decision::Allow
    );
    assert_eq!(
        p.evaluate(&req(&get, None, "127.0.0.2"), ACCOUNT),
        Decision::ExplicitDeny
    );
    let admin = format!("{PREFIX}/admin/GET/x");
    let p2 = Policy::parse(
        r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":["000000000000"]},
            "Action":"execute-api:Invoke","Resource":"execute-api:/admin/*"}}"#,
        true,
        PREFIX,
    )
    .unwrap();
    let alice = Some("arn:aws:iam::000000000000:user/alice");
    assert_eq!(
        p2.evaluate(&req(&admin, alice, "127.0.0.1"), ACCOUNT),
        Decision::Allow
    );
    assert_eq!(
        p2.evaluate(&req(&admin, None, "127.0.0.1"), ACCOUNT),
        Decision::Implicit
    );
    let stranger = Some("arn:aws:iam::0000000000001:user/bob");
    assert_eq!(
        p2.evaluate(&req(&admin, stranger, "127.0.0.1"), ACCOUNT),
        Decision::Implicit
    );
}

#[test]
fn vpc_conditions_see_no_vpc() {
    let p = |op: &str| {
        Policy::parse(
            &format!(
                r#"{{"Statement":[{{"Effect":"Allow","Principal":"*","Action":"execute-api:Invoke",
                "Resource":"*","Condition":{{"{op}":{{"aws:SourceVpce":"vpce-1"}}}}}}]}}"#
            ),
            true,
            PREFIX,
        )
        .unwrap()
    };
    let r = format!("{PREFIX}/prod/GET/");
    assert_eq!(
        p("StringEquals").evaluate(&req(&r, None, "127.0.0.1"), ACCOUNT),
        Decision::Implicit
    );
    assert_eq!(
        p("StringNotEquals").evaluate(&req(&r, None, "127.0.0.1"), ACCOUNT),
        Decision::Allow
    );
}

#[test]
fn refusals_name_every_problem() {
    let e = Policy::parse(
        r#"{"Statement":[{"Effect":"Maybe","Action":"x","Resource":"*",
            "Condition":{"DateLessThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}}}]}"#,
        true,
        PREFIX,
    )
    .unwrap_err();
    let all = e.join("\n");
    assert!(all.contains("Effect"), "{all}");
    assert!(all.contains("Principal"), "{all}");
    assert!(all.contains("DateLessThan"), "{all}");
    assert!(Policy::parse("{", false, "").is_err());
    assert!(Policy::parse(
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}"#,
        false,
        ""
    )
    .is_err());
}

#[test]
fn combination() {
    use Decision::*;
    assert_eq!(combine(Allow, Implicit), Allow);
    assert_eq!(combine(Implicit, Allow), Allow);
    assert_eq!(combine(Allow, ExplicitDeny), ExplicitDeny);
    assert_eq!(combine(Implicit, Implicit), Implicit);
}

#[test]
fn table_replaces_one_principal_and_shares_the_rest() {
    let t = IamTable::new(ACCOUNT, "us-east-1");
    let principal = |name: &str| {
        Arc::new(Principal {
            arn: format!("arn:aws:iam::{ACCOUNT}:user/{name}").into(),
            user_id: name.into(),
            root: false,
            policies: Box::new([]),
        })
    };
    let t = t.with(
        vec![
            AccessKey::new("AKIA1", "s1", true, principal("a")),
            AccessKey::new("AKIA2", "s2", true, principal("b")),
        ],
        &[],
    );
    let t2 = t.with(
        vec![AccessKey::new("AKIA1", "s1", false, principal("a"))],
        &["AKIA2"],
    );
    assert!(t.key("AKIA1").unwrap().active);
    assert!(!t2.key("AKIA1").unwrap().active);
    assert!(t2.key("AKIA2").is_none() && t.key("AKIA2").is_some());
    assert!(!format!("{:?}", t.key("AKIA1").unwrap()).contains("s1\""));
    let mut arn = String::new();
    t.write_resource_arn(&mut arn, "abc", "prod", "GET", "/pets/1");
    assert_eq!(
        arn,
        "arn:aws:execute-api:us-east-1:000000000000:abc/prod/GET/pets/1"
    );
}
