// The migrations are embedded in the binary: rebuild it when one changes.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
