// Embeds every shaders/*.wgsl into the binary as a (name, source) table.
use std::{env, fs, path::Path};

fn main() {
    println!("cargo:rerun-if-changed=shaders");
    let mut names: Vec<String> = fs::read_dir("shaders")
        .expect("shaders/ folder")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".wgsl"))
        .collect();
    names.sort();
    let dir = env::current_dir().unwrap();
    let mut table = String::from("pub static SHADERS: &[(&str, &str)] = &[\n");
    for n in &names {
        let p = dir.join("shaders").join(n);
        println!("cargo:rerun-if-changed={}", p.display());
        table.push_str(&format!(
            "    ({:?}, include_str!({:?})),\n",
            n.trim_end_matches(".wgsl"),
            p.display().to_string()
        ));
    }
    table.push_str("];\n");
    fs::write(Path::new(&env::var("OUT_DIR").unwrap()).join("shaders_table.rs"), table).unwrap();
}
