//! requires: common, philox_common
// Random kernels on the shared Philox piece (see philox_common.wgsl for the key/counter mapping).
//
// raw:    words[i] = philox4x32_10(ctr[4i..4i+4], key[2i..2i+2]), for known-answer tests.
// normal: out[i] = N(0,1) sample of global element index_offset + i, i < n, with
//         key (k0, k1) and counter ((index_offset + i) / 4, step[0], 0, 0).

struct Params {
    n: u32,            // normal: elements to write; raw: number of Philox calls
    n4: u32,           // normal: vec4 slots to visit, ceil(n / 4)
    k0: u32,           // the Philox key (src/seed.rs)
    k1: u32,
    index_offset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
// normal: step[0] is the step (a u32 tensor); raw: the counters, 4 words per call.
@group(0) @binding(1) var<storage, read> inp: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> keys: array<u32>;
@group(0) @binding(4) var<storage, read_write> words: array<vec4<u32>>;

@compute @workgroup_size(64)
fn raw(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) li: u32) {
    let i = flat_group(wg, nwg) * 64u + li;
    if i >= p.n { return; }
    let c = vec4<u32>(inp[4u * i], inp[4u * i + 1u], inp[4u * i + 2u], inp[4u * i + 3u]);
    let k = vec2<u32>(keys[2u * i], keys[2u * i + 1u]);
    words[i] = philox4x32_10(c, k);
}

@compute @workgroup_size(256)
fn normal(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    for (var k = 0u; k < SLOTS; k = k + 1u) {
        let t = slot(wg, nwg, li, k);
        if t >= p.n4 { return; }
        normal_slot(t);
    }
}

// Elements 4t .. 4t+3 (those below n).
fn normal_slot(t: u32) {
    let v = philox_normal4(p.k0, p.k1, inp[0], p.index_offset + 4u * t);
    let base = 4u * t;
    if base + 4u <= p.n {
        out[t] = v;
    } else {
        // The last, partial slot: keep what lies beyond n.
        let keep = vec4<u32>(base) + vec4<u32>(0u, 1u, 2u, 3u) >= vec4<u32>(p.n);
        out[t] = select(v, out[t], keep);
    }
}
