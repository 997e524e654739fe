//! Finds the outside programs that peer tests talk to (python3, socat, nc, curl, wrk), so that
//! plain `cargo test` marks a test whose peer is missing as ignored, with the reason, instead of
//! failing it or passing it silently. `scripts/test.sh` installs every peer and sets
//! NETCOURSE_REQUIRE_PEERS=1, which makes every peer test run (and fail if a peer is missing).

use std::path::Path;

const PEERS: &[&str] = &["python3", "socat", "nc", "curl", "wrk"];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PATH");
    println!("cargo:rerun-if-env-changed=NETCOURSE_REQUIRE_PEERS");
    let require = std::env::var_os("NETCOURSE_REQUIRE_PEERS").is_some_and(|v| v == "1");
    let path = std::env::var_os("PATH").unwrap_or_default();
    for peer in PEERS {
        let cfg = format!("missing_{peer}").replace('3', "");
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        let found = std::env::split_paths(&path).any(|dir| Path::new(&dir).join(peer).is_file());
        if !found && !require {
            println!("cargo:rustc-cfg={cfg}");
        }
    }
}
