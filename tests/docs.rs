//! The SecureID recipes in docs/ACCESS.md are code a customer copies: run the
//! Python and JavaScript snippets as written and check their output.

use std::process::Command;

const EXAMPLE: &str = "dr-4711.1772467200.ff03984ab2257cb6b06e554e030f5eac6daf5037cbf3e1d2a0082f4b56b5c692";

fn snippet(doc: &str, lang: &str) -> String {
    let start = doc.find(&format!("```{lang}\n")).unwrap_or_else(|| panic!("no {lang} block")) + lang.len() + 4;
    let end = start + doc[start..].find("```").unwrap();
    doc[start..end].to_string()
}

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} is needed for this test: {e}"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn the_documented_secure_id_recipes_give_the_documented_value() {
    let doc = std::fs::read_to_string(
        std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())).join("docs/ACCESS.md"),
    )
    .unwrap();
    assert!(doc.contains(EXAMPLE));
    // The clock is set so that now + 8 h = 1772467200.
    let python = format!(
        "{}\ntime.time = lambda: 1772467200 - 8 * 3600\nprint(secure_id('my-tenant-secret', 'dr-4711'))\n",
        snippet(&doc, "python")
    );
    assert_eq!(run("python3", &["-c", &python]), EXAMPLE);
    let js = format!(
        "{}\nDate.now = () => (1772467200 - 8 * 3600) * 1000;\nconsole.log(secureId('my-tenant-secret', 'dr-4711'));\n",
        snippet(&doc, "js")
    );
    assert_eq!(run("node", &["-e", &js]), EXAMPLE);
    // And the server's own verifier agrees.
    assert_eq!(streamtally_access::sign_secure_id("my-tenant-secret", "dr-4711", 1772467200), EXAMPLE);
}

/// docs/COUNTING.md links each rule to the code that applies it and the test
/// that proves it: every such link names a file that exists and, after `#`,
/// a function defined in it.
#[test]
fn counting_rules_link_to_code_and_tests_that_exist() {
    // The checkout under test, read when the test runs: a binary built in
    // another clone that shares the target folder keeps that clone's path in env!.
    let root = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()));
    let doc = std::fs::read_to_string(root.join("docs/COUNTING.md")).unwrap();
    let mut links = 0;
    for piece in doc.split("](../").skip(1) {
        let target = &piece[..piece.find(')').unwrap()];
        let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
        let text = std::fs::read_to_string(root.join(file)).unwrap_or_else(|e| panic!("COUNTING.md links to {file}: {e}"));
        if !anchor.is_empty() {
            assert!(
                text.contains(&format!("fn {anchor}(")) || text.contains(&format!("fn {anchor}<")),
                "COUNTING.md links to {file}#{anchor}, which defines no such function"
            );
        }
        links += 1;
    }
    assert!(links >= 10, "only {links} links");
}
