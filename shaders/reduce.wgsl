//! requires: common
// Deterministic reductions without float atomics: every sum is taken in a fixed order, so the
// same input gives the same bits on the same adapter.
//
// channel_sum: x viewed as [outer, channels, inner]; the sums over (outer, inner) of each
// channel are split into `chunks` partial sums of `per_chunk` elements (stage 1, one workgroup
// per (channel, chunk)), then the partials of each channel are added in order (stage 2).
// MODE: 0 sum, 1 max of |x|.

override MODE: u32 = 0u;

struct Params {
    outer: u32,
    channels: u32,
    inner: u32,
    chunks: u32,     // partial sums per channel
    per_chunk: u32,  // elements per partial sum (the last chunk may be short)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

var<workgroup> scratch: array<f32, 256>;

fn combine(a: f32, b: f32) -> f32 {
    if MODE == 1u { return max(a, b); }
    return a + b;
}

fn load(v: f32) -> f32 {
    if MODE == 1u { return abs(v); }
    return v;
}

fn tree(li: u32) -> f32 {
    workgroupBarrier();
    for (var s = 128u; s > 0u; s = s >> 1u) {
        if li < s { scratch[li] = combine(scratch[li], scratch[li + s]); }
        workgroupBarrier();
    }
    return scratch[0];
}

// One workgroup per (channel, chunk): out[channel * chunks + chunk]
@compute @workgroup_size(256)
fn partial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
    let g = flat_group(wg, nwg);
    let total = p.outer * p.inner;
    // Uniform control flow: no early return before the barriers.
    let valid = g < p.channels * p.chunks;
    let c = g / max(p.chunks, 1u);
    let chunk = g % max(p.chunks, 1u);
    let start = chunk * p.per_chunk;
    let end = min(start + p.per_chunk, total);
    var acc = 0.0;
    if valid {
        for (var k = start + li; k < end; k = k + 256u) {
            let o = k / p.inner;
            let i = k - o * p.inner;
            acc = combine(acc, load(x[(o * p.channels + c) * p.inner + i]));
        }
    }
    scratch[li] = acc;
    let r = tree(li);
    if valid && li == 0u { out[g] = r; }
}

// x holds [channels, chunks] partials; out[c] = their sum (or max), in order.
@compute @workgroup_size(256)
fn finish(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= p.channels { return; }
    var acc = 0.0;
    for (var k = 0u; k < p.chunks; k = k + 1u) {
        acc = combine(acc, x[c * p.chunks + k]);
    }
    out[c] = acc;
}

// For inner == 1 (a sum over the batch of [outer, channels], e.g. a dense layer's bias
// gradient): one invocation per channel adds its column in order; neighbouring invocations
// read neighbouring addresses.
@compute @workgroup_size(256)
fn columns(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
    let c = flat_group(wg, nwg) * 256u + li;
    if c >= p.channels { return; }
    var acc = 0.0;
    for (var o = 0u; o < p.outer; o = o + 1u) {
        acc = combine(acc, load(x[o * p.channels + c]));
    }
    out[c] = acc;
}
