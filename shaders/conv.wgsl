//! requires: common
// The bias of a convolution (src/ops/conv.rs), added in place after the GEMM that leaves
// y = conv(x, w): y[b, c, p] += bias[c] for y viewed as [batch, channels, spatial], one element
// per slot (SLOTS slots per invocation, common.wgsl).

struct Params {
    n: u32,        // elements of y
    channels: u32,
    spatial: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn bias_add(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) li: u32) {
    for (var k = 0u; k < SLOTS; k = k + 1u) {
        let i = slot(wg, nwg, li, k);
        if i >= p.n { return; }
        let c = (i / p.spatial) % p.channels;
        y[i] = y[i] + bias[c];
    }
}
