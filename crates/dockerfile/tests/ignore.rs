//! `.dockerignore` tests; the tables follow moby/patternmatcher's test suite.

use dockerfile::ignore::{clean_path, read_dockerignore};
use dockerfile::IgnoreMatcher;

fn m(patterns: &[&str]) -> IgnoreMatcher {
    IgnoreMatcher::new(patterns).unwrap_or_else(|e| panic!("{patterns:?}: {e}"))
}

#[test]
fn single_pattern_table() {
    // (pattern, path, excluded): patternmatcher's TestMatches table.
    let cases: &[(&str, &str, bool)] = &[
        ("**", "file", true),
        ("**", "file/", true),
        ("**/", "file", true),
        ("**/", "file/", true),
        ("**", "/", true),
        ("**/", "/", true),
        ("**", "dir/file", true),
        ("**/", "dir/file", true),
        ("**", "dir/file/", true),
        ("**/", "dir/file/", true),
        ("**/**", "dir/file", true),
        ("**/**", "dir/file/", true),
        ("dir/**", "dir/file", true),
        ("dir/**", "dir/file/", true),
        ("dir/**", "dir/dir2/file", true),
        ("dir/**", "dir/dir2/file/", true),
        ("**/dir", "dir", true),
        ("**/dir", "dir/file", true),
        ("**/dir2/*", "dir/dir2/file", true),
        ("**/dir2/*", "dir/dir2/file/", true),
        ("**/dir2/**", "dir/dir2/dir3/file", true),
        ("**/dir2/**", "dir/dir2/dir3/file/", true),
        ("**file", "file", true),
        ("**file", "dir/file", true),
        ("**/file", "dir/file", true),
        ("**file", "dir/dir/file", true),
        ("**/file", "dir/dir/file", true),
        ("**/file*", "dir/dir/file", true),
        ("**/file*", "dir/dir/file.txt", true),
        ("**/file*txt", "dir/dir/file.txt", true),
        ("**/file*.txt", "dir/dir/file.txt", true),
        ("**/file*.txt*", "dir/dir/file.txt", true),
        ("**/**/*.txt", "dir/dir/file.txt", true),
        ("**/**/*.txt2", "dir/dir/file.txt", false),
        ("**/*.txt", "file.txt", true),
        ("**/**/*.txt", "file.txt", true),
        ("a**/*.txt", "a/file.txt", true),
        ("a**/*.txt", "a/dir/file.txt", true),
        ("a**/*.txt", "a/dir/dir/file.txt", true),
        ("a/*.txt", "a/dir/file.txt", false),
        ("a/*.txt", "a/file.txt", true),
        ("a/*.txt**", "a/file.txt", true),
        ("a[b-d]e", "ae", false),
        ("a[b-d]e", "ace", true),
        ("a[b-d]e", "aae", false),
        ("a[^b-d]e", "aze", true),
        (".*", ".foo", true),
        (".*", "foo", false),
        ("abc.def", "abcdef", false),
        ("abc.def", "abc.def", true),
        ("abc.def", "abcZdef", false),
        ("abc?def", "abcZdef", true),
        ("abc?def", "abcdef", false),
        ("a\\\\", "a\\", true),
        ("**/foo/bar", "foo/bar", true),
        ("**/foo/bar", "dir/foo/bar", true),
        ("**/foo/bar", "dir/dir2/foo/bar", true),
        ("abc/**", "abc", false),
        ("abc/**", "abc/def", true),
        ("abc/**", "abc/def/ghi", true),
        ("**/.foo", ".foo", true),
        ("**/.foo", "bar.foo", false),
        ("a(b)c/def", "a(b)c/def", true),
        ("a(b)c/def", "a(b)c/xyz", false),
        ("a.|)$(}+{bc", "a.|)$(}+{bc", true),
        (
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            true,
        ),
        (
            "dist/*.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            true,
        ),
        ("a\\*b", "a*b", true),
    ];
    for (p, path, want) in cases {
        let pm = m(&[p]);
        assert_eq!(pm.matches(path), *want, "pattern {p:?} path {path:?}");
    }
}

#[test]
fn filepath_match_table() {
    // (pattern, path, excluded, bad pattern): patternmatcher's TestMatch table.
    let cases: &[(&str, &str, bool, bool)] = &[
        ("abc", "abc", true, false),
        ("*", "abc", true, false),
        ("*c", "abc", true, false),
        ("a*", "a", true, false),
        ("a*", "abc", true, false),
        ("a*", "ab/c", true, false),
        ("a*/b", "abc/b", true, false),
        ("a*/b", "a/c/b", false, false),
        ("a*b*c*d*e*/f", "axbxcxdxe/f", true, false),
        ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true, false),
        ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false, false),
        ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false, false),
        ("a*b?c*x", "abxbbxdbxebxczzx", true, false),
        ("a*b?c*x", "abxbbxdbxebxczzy", false, false),
        ("ab[c]", "abc", true, false),
        ("ab[b-d]", "abc", true, false),
        ("ab[e-g]", "abc", false, false),
        ("ab[^c]", "abc", false, false),
        ("ab[^b-d]", "abc", false, false),
        ("ab[^e-g]", "abc", true, false),
        ("a\\*b", "a*b", true, false),
        ("a\\*b", "ab", false, false),
        ("a?b", "a☺b", true, false),
        ("a[^a]b", "a☺b", true, false),
        ("a???b", "a☺b", false, false),
        ("a[^a][^a][^a]b", "a☺b", false, false),
        ("[a-ζ]*", "α", true, false),
        ("*[a-ζ]", "A", false, false),
        ("a?b", "a/b", false, false),
        ("a*b", "a/b", false, false),
        ("[\\]a]", "]", true, false),
        ("[\\-]", "-", true, false),
        ("[x\\-]", "x", true, false),
        ("[x\\-]", "-", true, false),
        ("[x\\-]", "z", false, false),
        ("[\\-x]", "x", true, false),
        ("[\\-x]", "-", true, false),
        ("[\\-x]", "a", false, false),
        ("[]a]", "]", false, true),
        ("[-]", "-", false, true),
        ("[x-]", "x", false, true),
        ("[-x]", "x", false, true),
        ("\\", "a", false, true),
        ("[a-b-c]", "a", false, true),
        ("[", "a", false, true),
        ("[^", "a", false, true),
        ("[^bc", "a", false, true),
        ("a[", "a", false, true),
        ("a[", "ab", false, true),
        ("*x", "xxx", true, false),
        ("[Local-Only]/", "x", false, true),
    ];
    for (p, path, want, bad) in cases {
        match IgnoreMatcher::new([p]) {
            Err(e) => {
                assert!(bad, "pattern {p:?} rejected: {e}");
                assert_eq!(e.message, "syntax error in pattern");
            }
            Ok(pm) => {
                assert!(!bad, "pattern {p:?} accepted");
                assert_eq!(pm.matches(path), *want, "pattern {p:?} path {path:?}");
            }
        }
    }
}

#[test]
fn exceptions_and_order() {
    let cases: &[(&[&str], &str, bool)] = &[
        (&["*"], "fileutils.go", true),
        (&["*.go"], "fileutils.go", true),
        (&["!fileutils.go", "*.go"], "fileutils.go", true),
        (&["docs", "!docs/README.md"], "docs/README.md", false),
        (&["docs/", "!docs/README.md"], "docs/README.md", false),
        (&["docs/*", "!docs/README.md"], "docs/README.md", false),
        (&["docs", "!docs/README.md"], "docs/other.md", true),
        (&["*.go", "!fileutils.go"], "fileutils.go", false),
        (&["*.go"], ".", false),
        (&[], "/any/path/there", false),
        (&["**", "!util/docker/web"], "util/docker/web/foo", false),
        (
            &["**", "!util/docker/web", "util/docker/web/foo"],
            "util/docker/web/foo",
            true,
        ),
        (
            &["**", "!dist/*.whl"],
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            false,
        ),
        (
            &["*.md", "!README*.md", "README-secret.md"],
            "README-secret.md",
            true,
        ),
        (
            &["*.md", "!README*.md", "README-secret.md"],
            "README.md",
            false,
        ),
        (
            &["*.md", "README-secret.md", "!README*.md"],
            "README-secret.md",
            false,
        ),
        (&["*/temp*"], "somedir/temporary.txt", true),
        (&["*/temp*"], "somedir/temp", true),
        (&["*/temp*"], "temp", false),
        (&["*/*/temp*"], "somedir/subdir/temporary.txt", true),
        (&["temp?"], "tempa", true),
        (&["temp?"], "temp", false),
        (&["node_modules"], "node_modules/x/y.js", true),
        // `new` takes patterns as moby's `New` does: no leading-slash removal
        // (that is done by `read_dockerignore`).
        (&["/node_modules/"], "node_modules/x/y.js", false),
        (&["**/dir"], "dir/file", true),
        (&["**/dir"], "a/dir/file", true),
        (&["./build/../dist"], "dist/app.js", true),
        (&["  spaced  "], "spaced", true),
        (&["  !docs/README.md", "docs"], "docs/README.md", true),
    ];
    for (patterns, path, want) in cases {
        assert_eq!(m(patterns).matches(path), *want, "{patterns:?} {path:?}");
    }
    assert!(IgnoreMatcher::new(["!"]).is_err());
    assert!(m(&["docs", "!docs/README.md"]).has_exclusions());
    assert_eq!(m(&["docs", "config", ""]).patterns().len(), 2);
}

#[test]
fn reading_the_file() {
    let content =
        "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! ";
    assert_eq!(
        read_dockerignore(content),
        vec![
            "test1",
            "test2",
            "a/file/here",
            "lastfile",
            "!inverted/abs/path",
            "!",
            "!"
        ]
    );
    assert_eq!(
        read_dockerignore("\u{feff}a\r\nb//c/\r\n"),
        vec!["a", "b/c"]
    );
    // Only a `#` in column one is a comment.
    assert_eq!(
        read_dockerignore(" # not a comment"),
        vec!["# not a comment"]
    );
    assert!(
        IgnoreMatcher::from_dockerignore(content).is_err(),
        "a lone ! is illegal"
    );
    let pm = IgnoreMatcher::from_dockerignore("# comment\n*.log\n!keep.log\n/tmp/\n").unwrap();
    assert!(pm.matches("a.log"));
    assert!(!pm.matches("keep.log"));
    assert!(pm.matches("tmp/x/y"));
    assert!(IgnoreMatcher::from_dockerignore("/node_modules/")
        .unwrap()
        .matches("node_modules/x"));
    assert!(!pm.matches("src/tmp"));
    assert_eq!(clean_path("a/./b/"), "a/b");
}

#[test]
fn walker_helpers() {
    // No exceptions: an excluded directory can always be skipped.
    let pm = m(&["node_modules", "*.log"]);
    assert!(!pm.may_match_children("node_modules"));
    // An exception inside the directory.
    let pm = m(&["docs", "!docs/README.md"]);
    assert!(pm.may_match_children("docs"));
    assert!(!pm.may_match_children("other"));
    // Wildcards in the exception.
    let pm = m(&["vendor", "!vendor/*/LICENSE"]);
    assert!(pm.may_match_children("vendor"));
    assert!(pm.may_match_children("vendor/pkg"));
    assert!(!pm.may_match_children("vendor2"));
    let pm = m(&["**", "!**/keep"]);
    assert!(pm.may_match_children("any/dir"));
    // An exception for an ancestor re-includes everything below.
    let pm = m(&["a/b", "!a"]);
    assert!(pm.may_match_children("a/b"));
    assert!(pm.dir_may_have_exceptions("a/b/c"));
    // Deeper directory than the exception and no match.
    let pm = m(&["build", "!build/keep/x"]);
    assert!(pm.may_match_children("build/keep"));
    assert!(!pm.may_match_children("build/other"));

    // A walk that skips directories by these helpers excludes exactly what
    // `matches` excludes.
    let files = [
        "docs/README.md",
        "docs/a/b.md",
        "vendor/pkg/LICENSE",
        "vendor/pkg/code.go",
        "src/main.rs",
        "build/keep/x",
        "build/keep/y",
        "build/out.o",
    ];
    let pm = m(&[
        "docs",
        "!docs/README.md",
        "vendor",
        "!vendor/*/LICENSE",
        "build",
        "!build/keep/x",
    ]);
    for f in files {
        // The walker would visit `f` unless an ancestor is excluded and
        // cannot contain exceptions.
        let parts: Vec<&str> = f.split('/').collect();
        let mut visited = true;
        for i in 1..parts.len() {
            let dir = parts[..i].join("/");
            if pm.matches(&dir) && !pm.may_match_children(&dir) {
                visited = false;
                break;
            }
        }
        if !visited {
            assert!(pm.matches(f), "{f} skipped but not excluded");
        }
    }
}

#[test]
fn docker_cli_observed_context() {
    // The context the docker CLI 28.2 sent for this .dockerignore (observed
    // with `docker build` + `docker export`, 2026-11-28), except for
    // `vendor/pkg/LICENSE`: the CLI's walker skips `vendor/pkg` because its
    // exception check is a literal prefix test (`vendor/*/LICENSE` does not
    // start with `vendor/pkg/`), while an exception really re-includes it (as
    // BuildKit's walker does). We keep the file.
    let ignore = "# comment\ndocs\n!docs/README.md\nvendor\n!vendor/*/LICENSE\n/node_modules/\nbuild/\n!build/keep/x\n*.md\n!README*.md\nREADME-secret.md\n**/*.log\n!x.log\ntemp?\nsrc/.hidden\na/b/c/\n";
    let all = [
        ".dockerignore",
        "Dockerfile",
        "README-secret.md",
        "README.md",
        "a/b/c/d.txt",
        "a/b/e.log",
        "build/keep/x",
        "build/keep/y",
        "build/out.o",
        "docs/README.md",
        "docs/other.md",
        "docs/sub/x.md",
        "node_modules/x/y.js",
        "notes.txt",
        "src/.hidden/h",
        "src/main.rs",
        "temp",
        "tempa",
        "vendor/pkg/LICENSE",
        "vendor/pkg/code.go",
        "vendor/pkg/inner/LICENSE",
        "x.log",
    ];
    let docker_kept = [
        ".dockerignore",
        "Dockerfile",
        "README.md",
        "build/keep/x",
        "docs/README.md",
        "notes.txt",
        "src/main.rs",
        "temp",
        "x.log",
    ];
    let pm = IgnoreMatcher::from_dockerignore(ignore).unwrap();
    let kept: Vec<&str> = all
        .iter()
        .copied()
        .filter(|path| {
            let parts: Vec<&str> = path.split('/').collect();
            let skipped = (1..parts.len()).any(|i| {
                let dir = parts[..i].join("/");
                pm.matches(&dir) && !pm.may_match_children(&dir)
            });
            !skipped && !pm.matches(path)
        })
        .collect();
    let mut want: Vec<&str> = docker_kept.to_vec();
    want.push("vendor/pkg/LICENSE");
    want.sort();
    assert_eq!(kept, want);
}
