//! requires: common
// Pointwise nonlinearities and their backward passes, four elements per slot (SLOTS slots per
// invocation, common.wgsl).
// KIND: 0 relu, 1 leaky relu (slope p.slope), 2 tanh, 3 sigmoid.
// The backward pass is written in terms of the output y = f(x), which all four allow.

override KIND: u32 = 0u;

struct Params {
    n4: u32,      // number of vec4 elements
    slope: f32,   // leaky relu slope
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> src2: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> dst: array<vec4<f32>>;

fn act(x: vec4<f32>) -> vec4<f32> {
    switch KIND {
        case 0u: { return max(x, vec4<f32>(0.0)); }
        case 1u: { return select(x * p.slope, x, x > vec4<f32>(0.0)); }
        case 2u: {
            // tanh via exp of a clamped argument: stable and identical on every backend.
            let e = exp(-2.0 * abs(clamp(x, vec4<f32>(-20.0), vec4<f32>(20.0))));
            return sign(x) * (1.0 - e) / (1.0 + e);
        }
        default: { return 1.0 / (1.0 + exp(-clamp(x, vec4<f32>(-80.0), vec4<f32>(80.0)))); }
    }
}

fn dact(y: vec4<f32>) -> vec4<f32> {
    switch KIND {
        case 0u: { return select(vec4<f32>(0.0), vec4<f32>(1.0), y > vec4<f32>(0.0)); }
        case 1u: { return select(vec4<f32>(p.slope), vec4<f32>(1.0), y > vec4<f32>(0.0)); }
        case 2u: { return 1.0 - y * y; }
        default: { return y * (1.0 - y); }
    }
}

// dst = f(src)
@compute @workgroup_size(256)
fn forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
    for (var k = 0u; k < SLOTS; k = k + 1u) {
        let i = slot(wg, nwg, li, k);
        if i >= p.n4 { return; }
        dst[i] = act(src[i]);
    }
}

// dst = dy * f'(x) with src = y = f(x), src2 = dy
@compute @workgroup_size(256)
fn backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) li: u32) {
    for (var k = 0u; k < SLOTS; k = k + 1u) {
        let i = slot(wg, nwg, li, k);
        if i >= p.n4 { return; }
        dst[i] = src2[i] * dact(src[i]);
    }
}
