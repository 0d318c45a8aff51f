//! requires: common
// The per-channel affine map of src/ops/affine.rs, y = a[c] x + b[c] (no b when BIAS = 0), for
// x viewed as [batch, channels, spatial], one element per slot (SLOTS slots per invocation,
// common.wgsl): batch norm in eval mode, with the population statistics folded into
// a = gamma / sqrt(var + eps) and b = beta - a mean, and its back-propagation to the input,
// dx = a[c] dy.

override BIAS: u32 = 1u;

struct Params {
    n: u32,        // elements
    channels: u32,
    spatial: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(256)
fn affine(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    for (var k = 0u; k < SLOTS; k = k + 1u) {
        let i = slot(wg, nwg, li, k);
        if i >= p.n { return; }
        let c = (i / p.spatial) % p.channels;
        var v = a[c] * x[i];
        if BIAS == 1u {
            v = v + b[c];
        }
        y[i] = v;
    }
}
