//! Every shader parses and validates with naga, without a GPU.

#[test]
fn every_shader_validates_with_naga() {
    let mut count = 0;
    for name in abprop::shaders::names() {
        let src = abprop::shaders::source(name).unwrap();
        let module =
            naga::front::wgsl::parse_str(&src).unwrap_or_else(|e| panic!("{name}.wgsl: {}", e.emit_to_string(&src)));
        let mut v = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all());
        v.validate(&module)
            .unwrap_or_else(|e| panic!("{name}.wgsl does not validate: {}", e.emit_to_string(&src)));
        count += 1;
    }
    assert!(count >= 2, "only {count} shaders found");
}

#[test]
fn requires_lines_pull_in_shared_pieces() {
    let src = abprop::shaders::source("activation").unwrap();
    assert!(src.contains("fn flat_group"), "common.wgsl was not prepended");
    assert!(abprop::shaders::source("no-such-shader").is_none());
}
