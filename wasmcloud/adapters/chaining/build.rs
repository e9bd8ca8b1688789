//! Without std, nothing links wasi-libc, which is where `memcmp` and friends live on wasm32-wasip2
//! (compiler-builtins leaves them to libc there). Only its memory routines are used, so the
//! component imports no WASI function for it.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-lib=c");
    }
}
