use super::*;

#[test]
fn parses_json_and_yaml_and_names_the_version() {
    let j = parse(br#"{"swagger": "2.0", "info": {"title": "t"}, "paths": {}}"#).unwrap();
    assert_eq!(j.flavor, Flavor::Swagger2);
    let y = parse(b"openapi: 3.0.1\ninfo:\n  title: t\n  version: 1.0\npaths: {}\n").unwrap();
    assert_eq!(y.flavor, Flavor::OpenApi3);
    assert_eq!(y.info("version").as_deref(), Some("1.0"));
}

#[test]
fn refuses_what_is_not_a_definition() {
    for (body, want) in [
        (&b""[..], "empty"),
        (&b"{not json"[..], "not valid JSON"),
        (&b"openapi: [unclosed"[..], "YAML"),
        (
            &b"openapi: 3.1.0\ninfo: {title: t}\n"[..],
            "Unsupported OpenAPI version",
        ),
        (&b"swagger: '1.2'\n"[..], "Unsupported Swagger version"),
        (&b"info: {title: t}\n"[..], "no version"),
        (&b"- a list\n"[..], "must be a JSON or YAML object"),
    ] {
        let e = parse(body).unwrap_err();
        assert!(e.message().contains(want), "{want}: {}", e.message());
        assert_eq!(e.code(), "BadRequestException");
    }
}

#[test]
fn base_paths_follow_the_basepath_mode() {
    let d = parse(br#"{"swagger": "2.0", "basePath": "/v1/api", "paths": {}}"#).unwrap();
    assert_eq!(d.full_path("/pets", BasePath::Ignore), "/pets");
    assert_eq!(d.full_path("/pets", BasePath::Prepend), "/v1/api/pets");
    assert_eq!(d.full_path("/pets", BasePath::Split), "/api/pets");
    let o = parse(
        br#"{"openapi": "3.0.1", "servers": [{"url": "https://x.example/{basePath}", "variables": {"basePath": {"default": "prod"}}}], "paths": {}}"#,
    )
    .unwrap();
    assert_eq!(o.full_path("/", BasePath::Prepend), "/prod");
}
