//! Builds LAME 3.100 (vendored in `lame-3.100/`, the library sources only) with the `cc` crate.
//!
//! Two copies on x86-64: the baseline (SSE2, every x86-64 CPU) and one for x86-64-v3 CPUs (AVX2,
//! FMA, BMI2: most made since 2015), which `src/ffi.rs` picks at run time. Both are compiled with
//! `-ffp-contract=off`, so the wider copy does the same arithmetic in the same order and writes
//! the same bytes — a job whose chunks ran on different machines still joins into the file one
//! machine would have made. The v3 copy is compiled with hidden visibility, linked into one
//! relocatable object and its hidden symbols made local (`objcopy --localize-hidden`), so only
//! its `mp3c_v3_*` entry points (`csrc/v3_api.c`) are visible to the linker.

use std::path::{Path, PathBuf};
use std::process::Command;

const SOURCES: [&str; 20] = [
    "bitstream.c",
    "encoder.c",
    "fft.c",
    "gain_analysis.c",
    "id3tag.c",
    "lame.c",
    "newmdct.c",
    "presets.c",
    "psymodel.c",
    "quantize.c",
    "quantize_pvt.c",
    "reservoir.c",
    "set_get.c",
    "tables.c",
    "takehiro.c",
    "util.c",
    "vbrquantize.c",
    "VbrTag.c",
    "version.c",
    "vector/xmm_quantize_sub.c",
];

fn lame() -> cc::Build {
    let src = Path::new("lame-3.100/libmp3lame");
    let mut build = cc::Build::new();
    build
        .include("csrc")
        .include("lame-3.100/include")
        .include(src)
        .define("HAVE_CONFIG_H", None)
        .flag_if_supported("-ffp-contract=off")
        .flag_if_supported("-fomit-frame-pointer")
        // LAME's own code, warts and all: its warnings are not ours to fix.
        .warnings(false)
        .extra_warnings(false);
    for file in SOURCES {
        build.file(src.join(file));
    }
    build
}

fn main() {
    println!("cargo:rerun-if-changed=lame-3.100");
    println!("cargo:rerun-if-changed=csrc");
    println!("cargo:rustc-check-cfg=cfg(lame_v3)");
    lame().compile("mp3lame");

    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if arch == "x86_64" {
        build_v3();
        println!("cargo:rustc-cfg=lame_v3");
    }
}

fn build_v3() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut build = lame();
    build
        .flag("-march=x86-64-v3")
        .flag("-fvisibility=hidden")
        .file("csrc/v3_api.c")
        .out_dir(out.join("v3"));
    let objects = build.compile_intermediates();

    let joined = out.join("mp3lame_v3.o");
    let compiler = build.get_compiler();
    run(Command::new(compiler.path())
        .args(["-r", "-nostdlib", "-o"])
        .arg(&joined)
        .args(&objects));
    let objcopy = std::env::var("OBJCOPY").unwrap_or_else(|_| "objcopy".into());
    run(Command::new(objcopy).arg("--localize-hidden").arg(&joined));

    let archive = out.join("libmp3lame_v3.a");
    let _ = std::fs::remove_file(&archive);
    run(build.get_archiver().arg("crs").arg(&archive).arg(&joined));
    println!("cargo:rustc-link-search=native={}", out.display());
    println!("cargo:rustc-link-lib=static=mp3lame_v3");
}

fn run(command: &mut Command) {
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("could not run {command:?}: {e}"));
    assert!(status.success(), "{command:?} failed: {status}");
}
