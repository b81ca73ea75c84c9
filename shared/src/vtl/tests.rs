//! Rendering checked against AWS's documented mapping template examples ("API Gateway mapping
//! template and access logging variable reference", "Mapping template examples").

use super::*;

struct Cx {
    body: &'static str,
}

impl Context for Cx {
    fn context(&self, var: ContextVar, out: &mut Vec<u8>) {
        out.extend_from_slice(match var {
            ContextVar::RequestId => b"rid-1",
            ContextVar::Stage => b"prod",
            ContextVar::HttpMethod => b"POST",
            ContextVar::ResourcePath => b"/pets/{petId}",
            ContextVar::SourceIp => b"203.0.113.9",
            ContextVar::AccountId => b"000000000000",
            _ => b"",
        });
    }
    fn stage_variable(&self, name: &str) -> Option<&str> {
        (name == "queue").then_some("q1")
    }
    fn request_header(&self, name: &str) -> Option<&[u8]> {
        (name == "x-trace").then_some(b"t-1")
    }
    fn request_query(&self, name: &str) -> Option<&[u8]> {
        (name == "type").then_some(b"dog%20big")
    }
    fn request_path(&self, name: &str) -> Option<&[u8]> {
        (name == "petId").then_some(b"7")
    }
    fn authorizer(&self, key: &str) -> Option<std::borrow::Cow<'_, str>> {
        match key {
            "principalId" => Some("u-1".into()),
            "claims.cognito:groups" => Some("admins".into()),
            "tenant:id" => Some("t-9".into()),
            _ => None,
        }
    }
    fn body(&self) -> &[u8] {
        self.body.as_bytes()
    }
    fn each_request_header(&self, f: &mut dyn FnMut(&str, &[u8])) {
        f("x-trace", b"t-1");
    }
    fn each_request_query(&self, f: &mut dyn FnMut(&str, &[u8])) {
        f("type", b"dog%20big");
    }
    fn each_request_path(&self, f: &mut dyn FnMut(&str, &[u8])) {
        f("petId", b"7");
    }
}

fn render_with(t: &str, body: &'static str) -> (String, Overrides) {
    let mut out = Vec::new();
    let o = Template::parse(t)
        .unwrap_or_else(|e| panic!("{t}: {e}"))
        .render(&Cx { body }, &mut out);
    (String::from_utf8(out).unwrap(), o)
}

fn render(t: &str, body: &'static str) -> String {
    render_with(t, body).0
}

const PETS: &str = r#"[{"id": 1, "type": "dog", "price": 249.99},
  {"id": 2, "type": "cat", "price": 124.99},
  {"id": 3, "type": "fish", "price": 0.99}]"#;

#[test]
fn aws_pets_example() {
    // AWS's "Photos"/"Pets" example: iterate the array into a new shape.
    let t = r#"#set($inputRoot = $input.path('$'))
[
#foreach($elem in $inputRoot)
  {
    "description" : "Item $elem.id is a $elem.type.",
    "askingPrice" : $elem.price
  }#if($foreach.hasNext),#end
#end
]"#;
    let want = r#"[
  {
    "description" : "Item 1 is a dog.",
    "askingPrice" : 249.99
  },
  {
    "description" : "Item 2 is a cat.",
    "askingPrice" : 124.99
  },
  {
    "description" : "Item 3 is a fish.",
    "askingPrice" : 0.99
  }
]"#;
    assert_eq!(render(t, PETS), want);
}

#[test]
fn input_functions() {
    let body = r#"{"name": "Rex", "tags": ["a", "b"], "owner": {"name": "Ann", "age": 30}}"#;
    assert_eq!(render("$input.json('$.name')", body), r#""Rex""#);
    assert_eq!(
        render("$input.json('$.owner')", body),
        r#"{"age":30,"name":"Ann"}"#
    );
    assert_eq!(render("$input.path('$.name')", body), "Rex");
    assert_eq!(render("$input.path('$.tags').size()", body), "2");
    assert_eq!(render("$input.path('$.tags[1]')", body), "b");
    assert_eq!(render("$input.path('$.tags[-1]')", body), "b");
    assert_eq!(render("$input.path('$.owner').name", body), "Ann");
    assert_eq!(render("$input.path(\"$['owner']['age']\")", body), "30");
    assert_eq!(render("$input.json('$..name')", body), r#"["Rex","Ann"]"#);
    assert_eq!(render("$input.json('$.tags[*]')", body), r#"["a","b"]"#);
    assert_eq!(render("[$input.path('$.missing')]", body), "[]");
    assert_eq!(render("$input.json('$.missing')", body), "null");
    assert_eq!(render("$input.body", "raw text"), "raw text");
    assert_eq!(render("$input.json('$')", "not json"), "null");
    assert_eq!(
        render(
            "#foreach($k in $input.path('$.owner').keySet())$k;#end",
            body
        ),
        "age;name;"
    );
}

#[test]
fn params() {
    assert_eq!(render("$input.params('petId')", ""), "7");
    assert_eq!(render("$input.params('type')", ""), "dog big");
    assert_eq!(render("$input.params('X-Trace')", ""), "t-1");
    assert_eq!(render("[$input.params('nope')]", ""), "[]");
    assert_eq!(render("$input.params().path.petId", ""), "7");
    assert_eq!(render("$input.params().header.get('x-trace')", ""), "t-1");
    assert_eq!(render("$input.params().querystring", ""), "{type=dog big}");
    // AWS's "pass through all parameters" example.
    let t = r##"#set($allParams = $input.params())
{
#foreach($type in $allParams.keySet())
  #set($params = $allParams.get($type))
  "$type" : {
  #foreach($paramName in $params.keySet())
    "$paramName" : "$util.escapeJavaScript($params.get($paramName))"#if($foreach.hasNext),#end
  #end
  }#if($foreach.hasNext),#end
#end
}"##;
    let want = r#"{
  "path" : {
    "petId" : "7"
  },
  "querystring" : {
    "type" : "dog big"
  },
  "header" : {
    "x-trace" : "t-1"
  }
}"#;
    assert_eq!(render(t, ""), want);
}

#[test]
fn context_and_stage_variables() {
    assert_eq!(
        render(
            "$context.requestId $context.stage ${context.httpMethod} $context.identity.sourceIp",
            ""
        ),
        "rid-1 prod POST 203.0.113.9"
    );
    assert_eq!(
        render("$stageVariables.queue/${stageVariables.queue}", ""),
        "q1/q1"
    );
    assert_eq!(render("$stageVariables['queue']", ""), "q1");
    assert_eq!(render("[$stageVariables.nope]", ""), "[]");
    assert_eq!(render("[$context.authorizer.claims.sub]", ""), "[]");
}

#[test]
fn authorizer_brackets() {
    // AWS's forms for claims and context keys a property name cannot spell.
    assert_eq!(
        render("$context.authorizer.claims['cognito:groups']", ""),
        "admins"
    );
    assert_eq!(
        render(r#"$context.authorizer.claims["cognito:groups"]"#, ""),
        "admins"
    );
    assert_eq!(render("${context.authorizer['tenant:id']}", ""), "t-9");
    assert_eq!(
        render(
            "$context.authorizer.principalId/$context.authorizer['principalId']",
            ""
        ),
        "u-1/u-1"
    );
    assert_eq!(
        render(
            "#set($g = $context.authorizer.claims['cognito:groups'])$g.length()",
            ""
        ),
        "6"
    );
    assert_eq!(
        render(
            "#if($context.authorizer.claims['cognito:groups'] == 'admins')yes#end",
            ""
        ),
        "yes"
    );
    // `claims` alone is null, as AWS documents; a missing name renders nothing.
    assert_eq!(render("[$!context.authorizer.claims]", ""), "[]");
    assert_eq!(render("[$context.authorizer.claims['nope']]", ""), "[]");
    assert_eq!(render("$context.requestId.length()", ""), "5");
}

#[test]
fn util() {
    assert_eq!(
        render(r#"$util.escapeJavaScript('a"b/\n')"#, ""),
        "a\\\"b\\/\\\\n"
    );
    assert_eq!(
        render("$util.escapeJavaScript($input.body)", "x\"\n\u{e9}"),
        "x\\\"\\n\\u00E9"
    );
    assert_eq!(
        render("$util.urlEncode('a b&c=d/é')", ""),
        "a+b%26c%3Dd%2F%C3%A9"
    );
    assert_eq!(render("$util.urlDecode('a+b%26c')", ""), "a b&c");
    assert_eq!(render("$util.base64Encode('hello')", ""), "aGVsbG8=");
    assert_eq!(render("$util.base64Decode('aGVsbG8=')", ""), "hello");
    assert_eq!(
        render(
            "#set($o = $util.parseJson($input.path('$.s')))$o.a.b",
            r#"{"s": "{\"a\": {\"b\": 5}}"}"#
        ),
        "5"
    );
}

#[test]
fn conditions() {
    let t = "#if($input.path('$.n') > 10)big#elseif($input.path('$.n') == 10)ten#{else}small#end";
    assert_eq!(render(t, r#"{"n": 11}"#), "big");
    assert_eq!(render(t, r#"{"n": 10}"#), "ten");
    assert_eq!(render(t, r#"{"n": 1}"#), "small");
    assert_eq!(render("#if(!$x)no x#end", ""), "no x");
    assert_eq!(render("#if($a || $b)x#{else}y#end", ""), "y");
    assert_eq!(render("#set($a = 1)#if($a && !$b)x#end", ""), "x");
    assert_eq!(render("#if('' == \"\")eq#end", ""), "eq");
    assert_eq!(
        render("#if($input.path('$.s') != 'x')ne#end", r#"{"s":"y"}"#),
        "ne"
    );
    assert_eq!(
        render(
            "#if($input.path('$.s') eq 'y' and 2 ge 2)w#end",
            r#"{"s":"y"}"#
        ),
        "w"
    );
    // Velocity 1.7: an empty string is true; null is false.
    assert_eq!(
        render("#if('')t#end#if($input.path('$.none'))n#end", "{}"),
        "t"
    );
    assert_eq!(
        render("#if($input.path('$.s').isEmpty())e#end", r#"{"s":""}"#),
        "e"
    );
}

#[test]
fn set_and_strings() {
    assert_eq!(
        render("#set($x = \"a $context.stage b\")$x", ""),
        "a prod b"
    );
    assert_eq!(
        render("#set($x = 'a $context.stage')$x", ""),
        "a $context.stage"
    );
    assert_eq!(render("#set($n = 2 + 3 * 4)$n", ""), "14");
    assert_eq!(render("#set($s = 'a' + 1)$s", ""), "a1");
    assert_eq!(render("#set($m = {'k': 'v'})$m.k $m", ""), "v {k=v}");
    assert_eq!(
        render("#set($l = [1, 'b'])$l $l.size() $l[0]", ""),
        "[1, b] 2 1"
    );
    assert_eq!(
        render(
            "#set($l = [])#set($d = $l.add('x'))#set($d = $l.add('y'))$l",
            ""
        ),
        "[x, y]"
    );
    assert_eq!(render("#set($m = {})#set($m.a = 1)$m", ""), "{a=1}");
    assert_eq!(
        render("$undefined $!undefined ${undefined} $!{undefined}.", ""),
        "$undefined  ${undefined} ."
    );
    assert_eq!(render("\\$context.stage", ""), "$context.stage");
    assert_eq!(render("price: $5.00 #5 100%", ""), "price: $5.00 #5 100%");
    assert_eq!(render("a ## comment\nb #* block *# c", ""), "a b  c");
    assert_eq!(
        render(
            "'x'.replace: #set($s = 'a-b-c')$s.replace('-', '+') $s.split('-').size()",
            ""
        ),
        "'x'.replace: a+b+c 3"
    );
    assert_eq!(
        render(
            "#set($s = 'Hello')$s.substring(1, 3)$s.toUpperCase()$s.indexOf('l')",
            ""
        ),
        "elHELLO2"
    );
}

#[test]
fn foreach() {
    assert_eq!(
        render(
            "#foreach($i in [1..3])$i:$velocityCount:$foreach.index#if($foreach.hasNext),#end#end",
            ""
        ),
        "1:1:0,2:2:1,3:3:2"
    );
    assert_eq!(render("#foreach($i in [3..1])$i#end", ""), "321");
    assert_eq!(
        render("#foreach($i in [1..5])#if($i == 3)#break#end$i#end", ""),
        "12"
    );
    assert_eq!(render("#foreach($i in $nothing)x#end.", ""), ".");
    // At most 1,000 iterations, as AWS.
    assert_eq!(
        render("#foreach($i in [1..5000])x#end", "").len(),
        VTL_FOREACH_MAX
    );
    // Nested loops cannot run away.
    let out = render(
        "#foreach($a in [1..1000])#foreach($b in [1..1000])#foreach($c in [1..1000])x#end#end#end",
        "",
    );
    assert!(out.len() < VTL_STEPS_MAX);
}

#[test]
fn gobbling() {
    let t = "{\n  #set($a = 1)\n  #if($a == 1)\n  \"a\": $a\n  #end\n}";
    assert_eq!(render(t, ""), "{\n  \"a\": 1\n}");
}

#[test]
fn response_override() {
    let (out, o) = render_with(
        "#set($context.responseOverride.status = 418)#set($context.responseOverride.header.X-Tea = 'pot')s=$context.responseOverride.status",
        "",
    );
    assert_eq!(out, "s=418");
    assert_eq!(o.status, Some(418));
    assert_eq!(o.headers, vec![("X-Tea".to_string(), "pot".to_string())]);
    let (_, o) = render_with("#set($context.responseOverride.status = 9999)", "");
    assert_eq!(o.status, None);
}

#[test]
fn refused() {
    for bad in [
        "#if($a)x",
        "#end",
        "#foreach($a in $b)",
        "#set($a)",
        "#set($input.body = 1)",
        "#macro(x)#end",
        "$input.json('a.b')",
        "$input.path('$.a[')",
        "#if($a == )x#end",
        "#* open",
        "#set($a = \"x)",
        "#set($x = \"#if('\"')#end\")",
        "#set($x = \"$a.b('\"')\")",
    ] {
        assert!(Template::parse(bad).is_err(), "{bad}");
    }
    let deep = "#if(true)".repeat(100) + &"#end".repeat(100);
    assert!(Template::parse(&deep).is_err());
    let deep = "#set($a = ".to_string() + &"(".repeat(200) + "1" + &")".repeat(200) + ")";
    assert!(Template::parse(&deep).is_err());
}

#[test]
fn jsonpath() {
    assert_eq!(parse_jsonpath("$").unwrap(), vec![]);
    assert_eq!(
        parse_jsonpath("$.a['b c'][2][*]..d").unwrap(),
        vec![
            Step::Child("a".into()),
            Step::Child("b c".into()),
            Step::Index(2),
            Step::Wildcard,
            Step::Descend("d".into())
        ]
    );
    for bad in ["", "a", "$.", "$[", "$[x]", "$..", "$x"] {
        assert!(parse_jsonpath(bad).is_err(), "{bad}");
    }
}

/// Token soup from a fixed-seed generator: parsing and rendering never panic (the `vtl` fuzz
/// target does this at depth; this runs in every `cargo test`).
#[test]
fn token_soup_never_panics() {
    const TOKENS: &[&str] = &[
        "$input.json('$.a')",
        "$input.path('$..b')",
        "$input.params(",
        "$input.body",
        "$context.",
        "$stageVariables.",
        "$util.escapeJavaScript(",
        "#set(",
        "#if(",
        "#elseif(",
        "#else",
        "#end",
        "#foreach(",
        " in ",
        "$foreach.hasNext",
        "$velocityCount",
        "#break",
        "$!",
        "${",
        "}",
        "##",
        "#*",
        "*#",
        "(",
        ")",
        "[",
        "]",
        "{",
        "\"",
        "'",
        "&&",
        "||",
        "==",
        "!",
        "1",
        "-2",
        "2.5",
        "$x",
        "$y.z",
        ".size()",
        "[1..3]",
        ",",
        ":",
        "=",
        "\n",
        " ",
        "é",
        "\\",
        "$",
        "#",
        ".",
        "a",
        "requestId",
        "#stop",
        "$context.responseOverride.status = 500",
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut parsed = 0;
    for _ in 0..20_000 {
        let len = (next() % 24) as usize;
        let text: String = (0..len)
            .map(|_| TOKENS[(next() % TOKENS.len() as u64) as usize])
            .collect();
        if let Ok(t) = Template::parse(&text) {
            parsed += 1;
            let mut out = Vec::new();
            t.render(
                &Cx {
                    body: r#"{"a": [1, {"b": "x"}], "b": 2}"#,
                },
                &mut out,
            );
        }
    }
    assert!(parsed > 1_000, "only {parsed} parsed");
}
