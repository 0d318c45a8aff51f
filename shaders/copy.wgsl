//! requires: common
// dst = src, four floats per slot (SLOTS slots per invocation, common.wgsl): the plainest
// memory-bound kernel. `abprop bench kernels` times it as the yardstick of the elementwise
// kernels (what this adapter's loads and stores allow), as SGEMM is the yardstick of the
// GEMM-class kernels.

struct Params {
    n4: u32, // number of vec4 elements
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;

@compute @workgroup_size(256)
fn copy(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    for (var k = 0u; k < SLOTS; k = k + 1u) {
        let i = slot(wg, nwg, li, k);
        if i >= p.n4 { return; }
        dst[i] = src[i];
    }
}
