//! The template engine through its public API, with Go's `text/template`
//! (as docker's `--format` runs it) as the reference for every expectation.

use gotemplate::{go_print, to_json, Error, Format, JsonExt, Template};
use serde_json::{json, Value};

fn run(t: &str, v: &Value) -> String {
    match Template::parse(t) {
        Ok(tmpl) => match tmpl.execute(v) {
            Ok(s) => s,
            Err(e) => panic!("executing {t:?}: {e}"),
        },
        Err(e) => panic!("parsing {t:?}: {e}"),
    }
}

fn exec_err(t: &str, v: &Value) -> Error {
    match Template::parse(t) {
        Ok(tmpl) => match tmpl.execute(v) {
            Ok(s) => panic!("{t:?} executed to {s:?}"),
            Err(e) => e,
        },
        Err(e) => panic!("parsing {t:?}: {e}"),
    }
}

fn parse_err(t: &str) -> Error {
    match Template::parse(t) {
        Ok(_) => panic!("{t:?} parsed"),
        Err(e) => e,
    }
}

fn container() -> Value {
    json!({
        "Id": "abc",
        "State": {"Status": "running", "Pid": 42, "Running": true},
        "Config": {"Labels": {"k": "v", "a": "b"}, "Cmd": ["sleep", "100"], "Entrypoint": null},
        "NetworkSettings": {"IPAddress": ""}
    })
}

#[test]
fn fields_and_functions() {
    let v = container();
    assert_eq!(run("{{.State.Status}}", &v), "running");
    assert_eq!(run("{{.Id}}", &v), "abc");
    assert_eq!(run("{{.State.Pid}}", &v), "42");
    assert_eq!(run("{{.state.status}}", &v), "running");
    let lower = json!({"id": "x", "Nested": {"exitCode": 3}});
    assert_eq!(lower.ci("Id"), Some(&json!("x")));
    assert_eq!(lower.cptr("/nested/ExitCode"), Some(&json!(3)));
    assert_eq!(lower.ci("nope"), None);
    assert_eq!(run("{{index .Config.Labels \"k\"}}", &v), "v");
    assert_eq!(run("{{.Config.Labels}}", &v), "map[a:b k:v]");
    assert_eq!(run("{{.Config.Cmd}}", &v), "[sleep 100]");
    assert_eq!(run("{{json .Config.Cmd}}", &v), "[\"sleep\",\"100\"]");
    assert_eq!(
        run("{{json .Config.Labels}}", &v),
        "{\"a\":\"b\",\"k\":\"v\"}"
    );
    assert_eq!(run("{{.NetworkSettings.IPAddress}}", &v), "");
    // Missing fields print Go zero values, as on docker's typed structs.
    assert_eq!(
        run(
            "{{.Config.Env}}|{{.State.ExitCode}}|{{.State.Error}}|{{.State.Dead}}",
            &v
        ),
        "[]|0||false"
    );
    assert_eq!(
        run("{{json .Config.Env}} {{json .State.Error}}", &v),
        "null \"\""
    );
    // Formatter rows (ps, images) have exact fields: unknown ones are errors.
    let row = json!({"ID": "x", "__json_html": true});
    assert!(Template::parse("{{.Nope}}").unwrap().execute(&row).is_err());
    assert_eq!(run("{{index .Config.Labels \"zz\"}}", &v), "");
    assert_eq!(run("{{.Config.Entrypoint}}", &v), "[]");
    assert_eq!(run("{{json .Config.Entrypoint}}", &v), "null");
    assert_eq!(run("{{len .Config.Entrypoint}}", &v), "0");
    assert_eq!(run("{{if .Config.Entrypoint}}y{{else}}n{{end}}", &v), "n");
    let n = json!({"Config": {"Labels": null, "Healthcheck": null}});
    assert_eq!(run("{{.Config.Labels}}", &n), "map[]");
    assert_eq!(run("{{index .Config.Labels \"a\"}}", &n), "");
    assert_eq!(run("{{.Config.Healthcheck}}", &n), "<nil>");
    let h = json!({"Digest": "<none>", "__json_html": true});
    assert_eq!(run("{{json .}}", &h), r#"{"Digest":"\u003cnone\u003e"}"#);
    assert_eq!(run("x={{.State.Running}} y", &v), "x=true y");
    assert_eq!(
        run("{{range .Config.Cmd}}[{{.}}]{{end}}", &v),
        "[sleep][100]"
    );
    assert_eq!(run("{{if .State.Running}}up{{else}}down{{end}}", &v), "up");
    assert_eq!(run("{{join .Config.Cmd \",\"}}", &v), "sleep,100");
    assert_eq!(run("{{.State.Status | upper}}", &v), "RUNNING");
    assert_eq!(run("{{with .State}}{{.Status}}{{end}}", &v), "running");
    assert!(Template::parse("{{.State.Status").is_err());
    assert!(Template::parse("{{nofunc .X}}").is_err());
}

#[test]
fn label_method() {
    let v = json!({"Labels": "a=b", "__Label": {"a": "b"}});
    assert_eq!(run("{{.Label \"a\"}}", &v), "b");
    assert_eq!(run("{{.Label \"zz\"}}", &v), "");
    assert_eq!(to_json(&v), "{\"Labels\":\"a=b\"}");
}

#[test]
fn text_and_dot() {
    assert_eq!(run("", &json!({})), "");
    assert_eq!(run("plain text", &json!(null)), "plain text");
    assert_eq!(run("{{.}}", &json!("s")), "s");
    assert_eq!(run("{{.}}", &json!(7)), "7");
    assert_eq!(run("{{.}}", &json!(1.5)), "1.5");
    assert_eq!(run("{{.}}", &json!(true)), "true");
    assert_eq!(run("{{.}}", &json!(null)), "<nil>");
    assert_eq!(run("{{.}}", &json!([1, "a", [2]])), "[1 a [2]]");
    // Go prints maps with sorted keys.
    assert_eq!(
        run("{{.}}", &json!({"b": 1, "a": {"c": 2}})),
        "map[a:map[c:2] b:1]"
    );
    assert_eq!(run("a{{/* a comment */}}b", &json!({})), "ab");
}

#[test]
fn nested_fields() {
    let v = json!({"A": {"B": {"C": {"D": "deep"}}}});
    assert_eq!(run("{{.A.B.C.D}}", &v), "deep");
    assert_eq!(run("{{(.A.B).C.D}}", &v), "deep");
    assert_eq!(run("{{with .A.B}}{{.C.D}}{{end}}", &v), "deep");
    // Fields of a null go on printing zero values.
    assert_eq!(run("{{.A.B.C.Nothing.Labels}}", &v), "map[]");
    // A field of a non-object is an error naming the Go type.
    assert_eq!(
        exec_err("{{.A.B.C.D.E}}", &v).to_string(),
        "template: can't evaluate field E in type string"
    );
}

#[test]
fn missing_keys() {
    // A key looked up on nothing prints "<no value>", as Go prints a
    // missing map key, and fields of it stay so.
    let v = json!(null);
    assert_eq!(run("{{index . \"k\"}}", &v), "<no value>");
    assert_eq!(run("{{(index . \"k\").Sub}}", &v), "<no value>");
    assert_eq!(run("{{if index . \"k\"}}y{{else}}n{{end}}", &v), "n");
    // Under a field that is null, index finds the zero value.
    assert_eq!(run("{{index .M \"k\"}}", &json!({"M": null})), "");
    // On formatter rows a missing key is Go's missingkey error.
    let row = json!({"ID": "x", "__json_html": true});
    let err = exec_err("{{.Names}}", &row);
    assert_eq!(err, Error::NoEntry("Names".into()));
    assert_eq!(
        err.to_string(),
        "template: executing \"\" at <.Names>: map has no entry for key \"Names\""
    );
    // Well-known fields missing from the daemon's JSON print their zero value.
    let c = json!({"State": {}});
    assert_eq!(
        run("{{.State.Pid}} {{.State.Paused}} [{{.State.Error}}]", &c),
        "0 false []"
    );
    assert_eq!(run("{{.State.Health}}", &c), "<nil>");
}

#[test]
fn json_function() {
    let v = json!({"Name": "x", "List": [1, 2], "Nested": {"K": "<v>"}, "Nil": null});
    assert_eq!(
        run("{{json .}}", &v),
        r#"{"List":[1,2],"Name":"x","Nested":{"K":"<v>"},"Nil":null}"#
    );
    assert_eq!(run("{{json .Name}}", &v), "\"x\"");
    assert_eq!(run("{{json .List}}", &v), "[1,2]");
    assert_eq!(run("{{json .Nil}}", &v), "null");
    // Internal keys never show.
    let row = json!({"ID": "1", "__Label": {"a": "b"}, "__quiet": "1", "__json_html": true});
    assert_eq!(run("{{json .}}", &row), r#"{"ID":"1"}"#);
    // Zero values of missing typed fields marshal as Go would.
    assert_eq!(
        run(
            "{{json .State.Pid}} {{json .State.Running}}",
            &json!({"State": {}})
        ),
        "0 false"
    );
    assert_eq!(
        exec_err("{{json}}", &v).to_string(),
        "template: wrong number of args for json: want 1 got 0"
    );
}

#[test]
fn range_if_else_end() {
    let v = json!({"Empty": [], "Items": ["a", "b"], "M": {"y": 2, "x": 1}, "N": null, "S": "str"});
    assert_eq!(run("{{range .Items}}<{{.}}>{{end}}", &v), "<a><b>");
    assert_eq!(run("{{range .Empty}}x{{else}}none{{end}}", &v), "none");
    // A null or missing list is Go's nil slice: no iterations.
    assert_eq!(run("{{range .N}}x{{else}}none{{end}}", &v), "none");
    assert_eq!(run("{{range .Missing}}x{{else}}none{{end}}", &v), "none");
    assert_eq!(
        run("{{range index . \"k\"}}x{{else}}none{{end}}", &json!(null)),
        "none"
    );
    // Over a map, dot is each value in key order.
    assert_eq!(run("{{range .M}}{{.}}{{end}}", &v), "12");
    let row = json!({"B": 2, "A": 1, "__Label": {}, "__json_html": true});
    assert_eq!(run("{{range .}}{{.}}{{end}}", &row), "12");
    assert_eq!(
        exec_err("{{range .S}}x{{end}}", &v).to_string(),
        "template: range can't iterate over str"
    );
    // Nested blocks, and dot restored after each.
    assert_eq!(
        run(
            "{{range .Items}}{{if eq . \"a\"}}A{{else}}{{.}}{{end}}{{end}}",
            &v
        ),
        "Ab"
    );
    // Go's truth: false, 0, "", nil and empty collections are false.
    for (t, want) in [
        ("{{if .Empty}}y{{else}}n{{end}}", "n"),
        ("{{if .Items}}y{{else}}n{{end}}", "y"),
        ("{{if .N}}y{{else}}n{{end}}", "n"),
        ("{{if 0}}y{{else}}n{{end}}", "n"),
        ("{{if 1}}y{{else}}n{{end}}", "y"),
        ("{{if \"\"}}y{{else}}n{{end}}", "n"),
        ("{{if .S}}y{{end}}", "y"),
        ("{{if not .S}}y{{else}}n{{end}}", "n"),
        ("{{if and .S .Items}}y{{else}}n{{end}}", "y"),
        ("{{if and .S .Empty}}y{{else}}n{{end}}", "n"),
        ("{{if or .N .S}}y{{else}}n{{end}}", "y"),
        ("{{if ne .S \"x\"}}y{{else}}n{{end}}", "y"),
        ("{{if eq .S \"x\" \"str\"}}y{{else}}n{{end}}", "y"),
    ] {
        assert_eq!(run(t, &v), want, "{t}");
    }
    // and/or return the deciding argument, as in Go.
    assert_eq!(run("{{or .N .S}}", &v), "str");
    assert_eq!(run("{{and .S .Items}}", &v), "[a b]");
}

#[test]
fn with_sets_dot() {
    let v = json!({"State": {"Status": "up"}, "None": null, "Name": "n"});
    assert_eq!(run("{{with .State}}{{.Status}}{{end}}", &v), "up");
    assert_eq!(run("{{with .None}}x{{else}}{{.Name}}{{end}}", &v), "n");
    assert_eq!(run("{{with .None}}x{{end}}", &v), "");
    assert_eq!(run("{{with .State.Status}}[{{.}}]{{end}}", &v), "[up]");
}

#[test]
fn pipelines() {
    let v = json!({"Name": "Hello World", "List": ["a", "b"]});
    assert_eq!(run("{{.Name | lower}}", &v), "hello world");
    assert_eq!(run("{{.Name | upper | lower}}", &v), "hello world");
    // The piped value is the last argument.
    assert_eq!(run("{{\"+\" | join .List}}", &v), "a+b");
    assert_eq!(
        run("{{\"x\" | printf \"%s-%s\" .Name}}", &v),
        "Hello World-x"
    );
    assert_eq!(run("{{(lower .Name) | len}}", &v), "11");
    assert_eq!(run("{{len .List}}", &v), "2");
    assert_eq!(run("{{title \"ab cd\"}}", &v), "Ab Cd");
    assert_eq!(run("{{split \"a:b\" \":\"}}", &v), "[a b]");
    assert_eq!(run("{{truncate .Name 5}}", &v), "Hello");
    assert_eq!(run("{{pad \"x\" 1 2}}|", &v), " x  |");
    assert_eq!(run("{{index .List 1}}", &v), "b");
    assert_eq!(run("{{print \"a\" 1}}", &v), "a1");
    assert_eq!(run("{{println \"a\" 1}}", &v), "a 1\n");
    assert_eq!(
        exec_err("{{index .List 5}}", &v).to_string(),
        "template: error calling index: index out of range: 5"
    );
    assert_eq!(
        parse_err("{{| upper}}").to_string(),
        "template: missing command before '|'"
    );
    assert_eq!(
        exec_err("{{.Name .List}}", &v),
        Error::MethodArgument("Name".into())
    );
    assert_eq!(
        exec_err("{{\"a\" \"b\"}}", &v).to_string(),
        "template: can't give argument to non-function"
    );
}

#[test]
fn printf_verbs() {
    let v = json!({"Name": "n", "Num": 3, "List": [1, 2]});
    assert_eq!(run("{{printf \"%s=%d\" .Name .Num}}", &v), "n=3");
    assert_eq!(run("{{printf \"%v\" .List}}", &v), "[1 2]");
    assert_eq!(run("{{printf \"%q\" .Name}}", &v), "\"n\"");
    assert_eq!(run("{{printf \"100%%\"}}", &v), "100%");
    assert_eq!(run("{{printf \"%s\\t%s\\n\" \"a\" \"b\"}}", &v), "a\tb\n");
    assert_eq!(run("{{printf `%s` \"raw\"}}", &v), "raw");
    assert_eq!(
        exec_err("{{printf}}", &v).to_string(),
        "template: wrong number of args for printf"
    );
}

#[test]
fn join_function() {
    let v = json!({"L": ["a", "b", "c"], "One": ["x"], "E": [], "S": "s", "N": [1, 2]});
    assert_eq!(run("{{join .L \", \"}}", &v), "a, b, c");
    assert_eq!(run("{{join .One \",\"}}", &v), "x");
    assert_eq!(run("{{join .E \",\"}}", &v), "");
    assert_eq!(run("{{join .N \"-\"}}", &v), "1-2");
    assert_eq!(run("{{join .S \",\"}}", &v), "s");
    assert_eq!(
        exec_err("{{join .L}}", &v).to_string(),
        "template: wrong number of args for join: want 2 got 1"
    );
}

#[test]
fn trim_markers() {
    let v = json!({"A": "a", "B": "b"});
    assert_eq!(run("{{.A}}  \n {{- .B}}", &v), "ab");
    assert_eq!(run("{{.A -}}  \n {{.B}}", &v), "ab");
    assert_eq!(
        run("{{range .L -}}\n  {{.}}\n{{- end}}", &json!({"L": [1, 2]})),
        "12"
    );
}

#[test]
fn table_directive() {
    let f = Format::parse("table {{.ID}}\\t{{.Name}}").unwrap();
    assert!(f.is_table());
    assert_eq!(
        f.template()
            .execute(&json!({"ID": "1", "Name": "n"}))
            .unwrap(),
        "1\tn"
    );
    // The bare word is a table of nothing; "tablet" is no directive.
    assert!(Format::parse("table").unwrap().is_table());
    let t = Format::parse("tablet {{.ID}}").unwrap();
    assert!(!t.is_table());
    assert_eq!(t.template().execute(&json!({"ID": 1})).unwrap(), "tablet 1");
    let plain = Format::parse("{{.ID}}\\n").unwrap();
    assert!(!plain.is_table());
    assert_eq!(plain.template().execute(&json!({"ID": 1})).unwrap(), "1\n");
    assert_eq!(
        Format::parse("table {{.ID").unwrap_err(),
        Error::UnclosedAction
    );
}

#[test]
fn malformed_templates() {
    for (t, want) in [
        ("{{.State.Status", "template: unclosed action"),
        ("a {{ b", "template: unclosed action"),
        ("{{(lower .X}}", "template: unclosed left paren"),
        ("{{\"abc}}", "template: unterminated quoted string"),
        ("{{$x}}", "template: variables are not supported: $x"),
        ("{{}}", "template: missing value for command"),
        ("{{end}}", "template: unexpected {{end}}"),
        ("{{else}}", "template: unexpected {{else}}"),
        ("{{if .A}}x", "template: unexpected EOF"),
        ("{{if .A}}x{{else}}y", "template: unexpected EOF"),
        (
            "{{range .A}}x{{else}}y{{else}}z{{end}}",
            "template: missing {{end}}",
        ),
    ] {
        assert_eq!(parse_err(t).to_string(), want, "{t}");
    }
}

#[test]
fn unknown_function() {
    // As in Go, an undefined function fails the parse, even where the
    // action would never run.
    for t in [
        "{{nofunc .X}}",
        "{{if false}}{{nofunc}}{{end}}",
        "{{.X | nofunc}}",
        "{{printf \"%s\" (nofunc .X)}}",
    ] {
        let err = parse_err(t);
        assert_eq!(err, Error::UnknownFunction("nofunc".into()), "{t}");
        assert_eq!(err.to_string(), "template: function \"nofunc\" not defined");
    }
}

#[test]
fn comparisons() {
    let v = json!({"N": 1, "F": 2.0, "H": 1.5, "S": "1", "State": {}});
    assert_eq!(
        run("{{eq .N 1}} {{eq .F 2}} {{eq .H 1.5}} {{eq .N 2 1}}", &v),
        "true true true true"
    );
    assert_eq!(
        run("{{ne .N 1}} {{ne .N 2}} {{eq .S 1}} {{eq .S \"1\"}}", &v),
        "false true false true"
    );
    // A field the daemon left out compares as its zero value.
    assert_eq!(
        run(
            "{{eq .State.ExitCode 0}} {{eq .State.Error \"\"}} {{eq .State.Dead false}}",
            &v
        ),
        "true true true"
    );
    assert_eq!(run("{{1}} {{-2}} {{2.5}}", &v), "1 -2 2.5");
}

#[test]
fn else_chains() {
    let t = "{{if eq .N 1}}one{{else if eq .N 2}}two{{else if eq .N 3}}three{{else}}many{{end}}";
    for (n, want) in [(1, "one"), (2, "two"), (3, "three"), (4, "many")] {
        assert_eq!(run(t, &json!({"N": n})), want);
    }
    let w = "{{with .A}}a={{.}}{{else with .B}}b={{.}}{{else}}none{{end}}";
    assert_eq!(run(w, &json!({"A": "x", "B": "y"})), "a=x");
    assert_eq!(run(w, &json!({"B": "y"})), "b=y");
    assert_eq!(run(w, &json!({})), "none");
    // Elsewhere, {{else if}} opens a block that needs its own {{end}}.
    let r = "{{range .L}}{{.}}{{else if .X}}x{{end}}!{{end}}";
    assert_eq!(run(r, &json!({"L": [], "X": true})), "x!");
    assert_eq!(run(r, &json!({"L": [1, 2], "X": true})), "12");
    assert_eq!(
        parse_err("{{range .L}}{{else if .X}}x{{end}}").to_string(),
        "template: unexpected EOF"
    );
    assert_eq!(
        parse_err("{{if .A}}{{else .B}}{{end}}"),
        Error::ElseWord(".B".into())
    );
}

#[test]
fn go_printing() {
    assert_eq!(go_print(&json!(1e21)), "1e+21");
    assert_eq!(go_print(&json!(2.0)), "2");
    assert_eq!(go_print(&json!(-3)), "-3");
    // Fractions print with Go's shortest %v digits.
    assert_eq!(go_print(&json!(0.1)), "0.1");
    assert_eq!(go_print(&json!(-2.25)), "-2.25");
    assert_eq!(go_print(&json!(0.0001234)), "0.0001234");
    assert_eq!(go_print(&json!(0.00001234)), "1.234e-05");
    assert_eq!(go_print(&json!(123456.5)), "123456.5");
    assert_eq!(go_print(&json!(1234567.5)), "1.2345675e+06");
    assert_eq!(go_print(&json!(u64::MAX)), "18446744073709551615");
    assert_eq!(go_print(&json!({"__hidden": 1, "a": null})), "map[a:<nil>]");
}
