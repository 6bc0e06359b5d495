//! Records the target triple this relay is built for: `release publish`
//! signs releases for it unless the manifest names another target.

fn main() {
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=ASSENT_RELAY_BUILD_TARGET={target}");
    println!("cargo:rerun-if-changed=build.rs");
}
