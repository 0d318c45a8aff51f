//! WGSL sources, compiled into the binary: every shaders/*.wgsl and the shaders build.rs
//! generates (gemm_lanes8, from build/gemm_lanes8.rs). WGSL has no include: a shader's first
//! lines may name shared pieces with `//! requires: a, b`, which are prepended (e.g. `common`,
//! `philox_common`).

include!(concat!(env!("OUT_DIR"), "/shaders_table.rs"));

/// The raw text of shader `name` (shaders/`name`.wgsl, or generated).
pub fn raw(name: &str) -> Option<&'static str> {
    SHADERS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// Every shader's name.
pub fn names() -> impl Iterator<Item = &'static str> {
    SHADERS.iter().map(|(n, _)| *n)
}

fn requires(src: &str) -> Vec<&str> {
    src.lines()
        .take_while(|l| l.starts_with("//"))
        .filter_map(|l| l.strip_prefix("//! requires:"))
        .flat_map(|l| l.split(',').map(str::trim).filter(|s| !s.is_empty()))
        .collect()
}

/// The source of shader `name` with its required pieces prepended (each once, in order).
pub fn source(name: &str) -> Option<String> {
    fn add(name: &str, seen: &mut Vec<String>, out: &mut String) -> Option<()> {
        if seen.iter().any(|s| s == name) {
            return Some(());
        }
        seen.push(name.to_string());
        let src = raw(name)?;
        for r in requires(src) {
            add(r, seen, out)?;
        }
        out.push_str(&format!("// ---- {name}.wgsl ----\n"));
        out.push_str(src);
        out.push('\n');
        Some(())
    }
    let mut out = String::new();
    add(name, &mut Vec::new(), &mut out)?;
    Some(out)
}
