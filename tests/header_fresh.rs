//! The committed `include/orbit.h` must be exactly what cbindgen generates from
//! `src/ffi`; `ORBIT_BLESS=1 cargo test --test header_fresh` rewrites it. The
//! version macros must match Cargo.toml and `orbit::ABI_VERSION`.

use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn header_is_fresh() {
    let config = cbindgen::Config::from_file(root().join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(root())
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut generated);
    let generated = String::from_utf8(generated).expect("utf-8 header");
    let path = root().join("include/orbit.h");
    if std::env::var_os("ORBIT_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write include/orbit.h");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/orbit.h is stale: run `ORBIT_BLESS=1 cargo test --test header_fresh` and commit it"
    );
}

#[test]
fn version_macros_match_the_crate() {
    let header = std::fs::read_to_string(root().join("include/orbit.h")).expect("header");
    let v = env!("CARGO_PKG_VERSION");
    let mut parts = v.split('.');
    for (name, val) in ["MAJOR", "MINOR", "PATCH"].iter().zip(&mut parts) {
        let line = format!("#define ORBIT_VERSION_{name} {val}");
        assert!(header.contains(&line), "header lacks `{line}`");
    }
    assert!(header.contains(&format!("#define ORBIT_VERSION_STRING \"{v}\"")));
    assert!(header.contains(&format!("#define ORBIT_ABI_VERSION {}", orbit::ABI_VERSION)));
}
