//! The committed diagrams are exactly what the code draws today.
//!
//! `diagrams/*.svg` are generated files, committed so that lessons can link them and code
//! hosts can show them. When a field table or a diagram script changes, this test fails until
//! they are redrawn with `UPDATE_DIAGRAMS=1 cargo test --test diagrams` (or `course diagrams`).

use std::path::PathBuf;

use netcourse::diagram::{catalog, render_layout, Field};

fn diagrams_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("diagrams")
}

/// A picture that no longer matches its code misleads: it must be redrawn, not patched.
#[test]
fn committed_diagrams_match_what_the_code_draws() {
    let dir = diagrams_dir();
    if std::env::var_os("UPDATE_DIAGRAMS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for d in catalog() {
            std::fs::write(dir.join(d.file), &d.svg).unwrap();
        }
        return;
    }
    let mut stale = vec![];
    for d in catalog() {
        let path = dir.join(d.file);
        match std::fs::read_to_string(&path) {
            // A checkout that turned \n into \r\n has not changed the picture.
            Ok(committed) if committed.replace("\r\n", "\n") == d.svg => {}
            Ok(_) => stale.push(format!(
                "diagrams/{} differs from what the code draws",
                d.file
            )),
            Err(e) => stale.push(format!("diagrams/{} cannot be read: {e}", d.file)),
        }
    }
    assert!(
        stale.is_empty(),
        "{}\nrun `UPDATE_DIAGRAMS=1 cargo test --test diagrams` to redraw them",
        stale.join("\n")
    );
}

/// Every diagram is a well-formed SVG document a browser will display.
#[test]
fn every_diagram_is_well_formed_svg() {
    for d in catalog() {
        if let Err(e) = check_xml(&d.svg) {
            panic!("{} is not well-formed XML: {e}", d.file);
        }
        let root = d.svg.lines().next().unwrap();
        assert!(
            root.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""),
            "{}",
            d.file
        );
        for attr in ["width=", "height=", "viewBox="] {
            assert!(root.contains(attr), "{} has no {attr} on its root", d.file);
        }
        assert!(d.svg.trim_end().ends_with("</svg>"), "{}", d.file);
        assert!(
            d.file.ends_with(".svg") && !d.file.contains('/'),
            "{}",
            d.file
        );
    }
}

/// The catalog is what lessons link to: names are unique and drawing is deterministic.
#[test]
fn the_catalog_is_stable() {
    let (a, b) = (catalog(), catalog());
    assert_eq!(
        a, b,
        "two renderings differ: something reads a clock or a hash order"
    );
    let mut files: Vec<_> = a.iter().map(|d| d.file).collect();
    files.sort();
    files.dedup();
    assert_eq!(files.len(), a.len(), "two diagrams share a file name");
}

/// A layout shows every field of its table, escaped.
#[test]
fn a_layout_names_each_field() {
    const TINY: &[Field] = &[
        Field {
            name: "version",
            bits: Some(4),
            about: "always 1",
        },
        Field {
            name: "kind",
            bits: Some(12),
            about: "what follows",
        },
        Field {
            name: "len",
            bits: Some(16),
            about: "bytes of data",
        },
        Field {
            name: "data<&>",
            bits: None,
            about: "exactly `len` bytes",
        },
    ];
    let svg = render_layout("tiny", TINY);
    check_xml(&svg).unwrap();
    for name in ["version", "kind", "len", "data&lt;&amp;&gt;"] {
        assert!(svg.contains(&format!(">{name}<")), "{name} is not drawn");
    }
    assert!(svg.contains("... variable"));
    assert!(
        svg.contains("what follows"),
        "the legend lists what each field means"
    );
}

/// A small well-formedness check, enough for what the renderers write: tags balance, attribute
/// values are quoted, and `&` only starts an entity.
fn check_xml(doc: &str) -> Result<(), String> {
    let mut open: Vec<&str> = vec![];
    let mut rest = doc;
    let mut roots = 0;
    while let Some(lt) = rest.find('<') {
        check_text(&rest[..lt])?;
        rest = &rest[lt..];
        if let Some(body) = rest.strip_prefix("<!--") {
            let end = body.find("-->").ok_or("unterminated comment")?;
            rest = &body[end + 3..];
            continue;
        }
        let gt = rest.find('>').ok_or("unterminated tag")?;
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            match open.pop() {
                Some(top) if top == name.trim() => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
            continue;
        }
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let name = tag.split_whitespace().next().ok_or("empty tag")?;
        check_attributes(&tag[name.len()..])?;
        if open.is_empty() {
            roots += 1;
        }
        if !self_closing {
            open.push(name);
        }
    }
    check_text(rest)?;
    match (open.is_empty(), roots) {
        (true, 1) => Ok(()),
        (false, _) => Err(format!("unclosed: {open:?}")),
        (true, n) => Err(format!("{n} root elements")),
    }
}

fn check_attributes(mut attrs: &str) -> Result<(), String> {
    loop {
        attrs = attrs.trim_start();
        if attrs.is_empty() {
            return Ok(());
        }
        let eq = attrs
            .find('=')
            .ok_or(format!("attribute without value: {attrs}"))?;
        let value = attrs[eq + 1..]
            .strip_prefix('"')
            .ok_or(format!("unquoted attribute: {attrs}"))?;
        let end = value.find('"').ok_or("unterminated attribute")?;
        if value[..end].contains('<') {
            return Err(format!("raw < in attribute: {}", &value[..end]));
        }
        check_text(&value[..end])?;
        attrs = &value[end + 1..];
    }
}

fn check_text(text: &str) -> Result<(), String> {
    for (i, _) in text.match_indices('&') {
        let entity = &text[i..];
        let known = ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"];
        if !known.iter().any(|e| entity.starts_with(e)) && !entity.starts_with("&#") {
            return Err(format!("unescaped & in {text:?}"));
        }
    }
    Ok(())
}

#[test]
fn the_xml_check_can_fail() {
    assert!(check_xml("<svg><g></svg>").is_err());
    assert!(check_xml("<svg>a & b</svg>").is_err());
    assert!(check_xml("<svg><text x=1>a</text></svg>").is_err());
    assert!(check_xml("<svg/><svg/>").is_err());
    assert!(check_xml("<svg><text x=\"1\">a &amp; b</text></svg>").is_ok());
}
