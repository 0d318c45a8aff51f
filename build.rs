// Embeds every shaders/*.wgsl into the binary as a (name, source) table, together with the
// shaders generated here (build/gemm_lanes8.rs writes gemm_lanes8.wgsl into OUT_DIR).
use std::{env, fs, path::Path};

#[path = "build/gemm_lanes8.rs"]
mod gemm_lanes8;

fn main() {
    println!("cargo:rerun-if-changed=shaders");
    println!("cargo:rerun-if-changed=build");
    let out = env::var("OUT_DIR").unwrap();
    let dir = env::current_dir().unwrap();
    let mut files: Vec<(String, String)> = fs::read_dir("shaders")
        .expect("shaders/ folder")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".wgsl"))
        .map(|n| {
            let p = dir.join("shaders").join(&n);
            println!("cargo:rerun-if-changed={}", p.display());
            (n.trim_end_matches(".wgsl").to_string(), p.display().to_string())
        })
        .collect();
    let generated = Path::new(&out).join("gemm_lanes8.wgsl");
    fs::write(&generated, gemm_lanes8::generate()).unwrap();
    files.push(("gemm_lanes8".to_string(), generated.display().to_string()));
    files.sort();
    let mut table = String::from("pub static SHADERS: &[(&str, &str)] = &[\n");
    for (name, path) in &files {
        table.push_str(&format!("    ({name:?}, include_str!({path:?})),\n"));
    }
    table.push_str("];\n");
    fs::write(Path::new(&out).join("shaders_table.rs"), table).unwrap();
}
