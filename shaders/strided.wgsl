//! requires: common
// Strided copies of row blocks and an elementwise accumulation (src/ops/strided.rs), one
// element per slot (SLOTS slots per invocation, common.wgsl): offsets and strides are
// arbitrary, so no vec4 loads. Element i of a copy is (r, b, c) with
// i = (r * blocks + b) * cols + c:
//   dst[dst_off + r * dst_row + b * dst_block + c] = src[src_off + r * src_row + b * src_block + c].

struct Params {
    n: u32,         // elements: rows * blocks * cols (accumulate: the length)
    cols: u32,
    blocks: u32,
    src_off: u32,
    src_row: u32,
    src_block: u32,
    dst_off: u32,
    dst_row: u32,
    dst_block: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn copy(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    for (var k = 0u; k < SLOTS; k = k + 1u) {
        let i = slot(wg, nwg, li, k);
        if i >= p.n { return; }
        let t = i / p.cols;
        let c = i - t * p.cols;
        let r = t / p.blocks;
        let b = t - r * p.blocks;
        dst[p.dst_off + r * p.dst_row + b * p.dst_block + c] = src[p.src_off + r * p.src_row + b * p.src_block + c];
    }
}

// dst += src
@compute @workgroup_size(256)
fn accumulate(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
    for (var k = 0u; k < SLOTS; k = k + 1u) {
        let i = slot(wg, nwg, li, k);
        if i >= p.n { return; }
        dst[i] = dst[i] + src[i];
    }
}
