//! requires: common, philox_common
// Langevin dynamics for the latent factors (inferential back-propagation), in place:
//   z <- z + (delta^2 / 2) (g - z) + delta * noise
// g: gradient of the log-likelihood w.r.t. z (-z is the gradient of the N(0, I) log-prior).
// noise of local element i is the N(0,1) sample of global element e = index_offset + i with
// key (k0, k1) and counter (e / 4, step[0], 0, 0) (see philox_common.wgsl), step[0] read from
// a u32 tensor that `advance` increments on the GPU: a loop of update, advance, update, ...
// recorded once needs no CPU work between steps.
// NOISE = false: plain gradient ascent on the log-posterior, z + (delta^2 / 2) (g - z).

override NOISE: bool = true;

struct Params {
    n: u32,            // elements to update
    n4: u32,           // ceil(n / 4)
    half_d2: f32,      // delta^2 / 2
    delta: f32,
    k0: u32,           // the Philox key (src/seed.rs)
    k1: u32,
    index_offset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> step: array<u32>;
@group(0) @binding(2) var<storage, read_write> z: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> g: array<vec4<f32>>;

@compute @workgroup_size(256)
fn update(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    for (var k = 0u; k < SLOTS; k = k + 1u) {
        let t = slot(wg, nwg, li, k);
        if t >= p.n4 { return; }
        update_slot(t);
    }
}

// Elements 4t .. 4t+3 (those below n).
fn update_slot(t: u32) {
    let zv = z[t];
    var nz = zv + p.half_d2 * (g[t] - zv);
    if NOISE {
        nz = nz + p.delta * philox_normal4(p.k0, p.k1, step[0], p.index_offset + 4u * t);
    }
    let base = 4u * t;
    if base + 4u <= p.n {
        z[t] = nz;
    } else {
        let keep = vec4<u32>(base) + vec4<u32>(0u, 1u, 2u, 3u) >= vec4<u32>(p.n);
        z[t] = select(nz, zv, keep);
    }
}

// step[0] += 1, one invocation.
@compute @workgroup_size(1)
fn advance() {
    step[0] = step[0] + 1u;
}
