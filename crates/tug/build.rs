//! Links `tug` as a position-dependent executable, as Go links k3s, Docker and Helm:
//! a PIE `tug` spent about a third of its start-up (some 650 page faults) applying
//! 65,000 relative relocations to its own tables, on every `tug` command.
fn main() {
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
