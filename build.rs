//! Finds the outside programs that peer tests talk to (python3, socat, nc, curl, wrk, tcpdump, dig, dnsmasq, and node
//! with chromium and playwright-core for the browser tests, Node's ws, Python's websockets and kosoku), so that
//! plain `cargo test` marks a test whose peer is missing as ignored, with the reason, instead of
//! failing it or passing it silently. `scripts/test.sh` installs every peer and sets
//! NETCOURSE_REQUIRE_PEERS=1, which makes every peer test run (and fail if a peer is missing).

use std::path::Path;

// dig (from bind9-dnsutils) queries lesson 15's server; dnsmasq answers lesson 15's resolver.
const PEERS: &[&str] = &[
    "python3", "socat", "nc", "curl", "wrk", "tcpdump", "dig", "dnsmasq",
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PATH");
    println!("cargo:rerun-if-env-changed=NETCOURSE_REQUIRE_PEERS");
    let require = std::env::var_os("NETCOURSE_REQUIRE_PEERS").is_some_and(|v| v == "1");
    let path = std::env::var_os("PATH").unwrap_or_default();
    for peer in PEERS {
        let cfg = format!("missing_{peer}").replace('3', "");
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        // dnsmasq lives in /usr/sbin, which is not on every user's PATH.
        let found = std::env::split_paths(&path)
            .chain(["/usr/sbin".into()])
            .any(|dir| Path::new(&dir).join(peer).is_file());
        if !found && !require {
            println!("cargo:rustc-cfg={cfg}");
        }
    }
    // Python's `websockets` library: lesson 09's independent server and real client.
    println!("cargo::rustc-check-cfg=cfg(missing_websockets)");
    let websockets = std::process::Command::new("python3")
        .args(["-c", "import websockets"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !websockets && !require {
        println!("cargo:rustc-cfg=missing_websockets");
    }
    // kosoku, the Autobahn TestSuite runner from PyPI (lessons 11 and 12's conformance).
    println!("cargo::rustc-check-cfg=cfg(missing_kosoku)");
    let kosoku = std::env::split_paths(&path).any(|dir| dir.join("kosoku").is_file());
    if !kosoku && !require {
        println!("cargo:rustc-cfg=missing_kosoku");
    }
    // The browser tests need three things: node, Debian's chromium, and playwright-core from
    // npm (tests/browser/package.json; scripts/test.sh runs `npm ci` there).
    println!("cargo::rustc-check-cfg=cfg(missing_browser)");
    println!("cargo:rerun-if-changed=tests/browser/node_modules/playwright-core/package.json");
    println!("cargo:rerun-if-env-changed=CHROMIUM");
    let on_path = |name: &str| std::env::split_paths(&path).any(|dir| dir.join(name).is_file());
    let chromium =
        std::env::var_os("CHROMIUM").map_or(on_path("chromium"), |c| Path::new(&c).is_file());
    let playwright = Path::new("tests/browser/node_modules/playwright-core/package.json").is_file();
    let browser = on_path("node") && chromium && playwright;
    if !browser && !require {
        println!("cargo:rustc-cfg=missing_browser");
    }
    // Node's `ws` client (lesson 11's second real client), from the same package.json.
    println!("cargo::rustc-check-cfg=cfg(missing_node_ws)");
    println!("cargo:rerun-if-changed=tests/browser/node_modules/ws/package.json");
    let node_ws =
        on_path("node") && Path::new("tests/browser/node_modules/ws/package.json").is_file();
    if !node_ws && !require {
        println!("cargo:rustc-cfg=missing_node_ws");
    }
}
