//! requires: common, philox_common
// Hamiltonian Monte Carlo on the latent factors (src/ops/hmc.rs), one transition per example:
//   U(z) = sse / (2 s^2) + |z|^2 / 2,   -dU/dz = g - z  (g = J^T (Y - f) / s^2, the latent gradient)
//   H(z, p) = U(z) + |p|^2 / 2
// begin:  p ~ N(0, I) (Philox, the momentum key, counter (e / 4, step[0], 0, 0)), z0 = z
// energy: h0[b] = H(z, p) of example b (after a gradient evaluation at z0 wrote sse and g)
// leap:   p = p + a (g - z); z = z + eps p   (a = eps / 2 for the first leapfrog step, then eps)
// accept: the last half kick p + a (g - z) inside H1 (not stored), then per example: accept
//         when ln u < h0 - h1, u the Philox uniform of the example (the accept key, counter
//         (x / 4, step[0], 0, 0), word x % 4, x = example_offset + b); else z = z0. The
//         accepted transitions are counted in accepted[b] (an f32 count).
// clear:  accepted[b] = 0.
// The per-example sums are taken by one workgroup of 64 per example in a fixed order (no
// atomics): the same input gives the same bits.

struct Params {
    n: u32,               // latent values of the batch (batch * d)
    n4: u32,              // ceil(n / 4)
    d: u32,               // latent values per example
    batch: u32,
    a: f32,               // the kick's coefficient (leap, accept)
    eps: f32,             // the drift's step (leap)
    inv_2s2: f32,         // 1 / (2 s^2)
    k0: u32,              // the Philox key of the draw (momentum in begin, accept in accept)
    k1: u32,
    index_offset: u32,    // global index of the batch's first latent value (begin)
    example_offset: u32,  // global index of the batch's first example (accept)
}

@group(0) @binding(0) var<uniform> prm: Params;
@group(0) @binding(1) var<storage, read> step: array<u32>;
@group(0) @binding(2) var<storage, read_write> z: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> p: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> z0: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> sse: array<f32>;
@group(0) @binding(7) var<storage, read_write> h0: array<f32>;
@group(0) @binding(8) var<storage, read_write> accepted: array<f32>;

@compute @workgroup_size(256)
fn begin(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) li: u32) {
    for (var k = 0u; k < SLOTS; k = k + 1u) {
        let t = slot(wg, nwg, li, k);
        if t >= prm.n4 { return; }
        p[t] = philox_normal4(prm.k0, prm.k1, step[0], prm.index_offset + 4u * t);
        z0[t] = z[t];
    }
}

@compute @workgroup_size(256)
fn leap(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    for (var k = 0u; k < SLOTS; k = k + 1u) {
        let t = slot(wg, nwg, li, k);
        if t >= prm.n4 { return; }
        let zv = z[t];
        let pv = p[t] + prm.a * (g[t] - zv);
        p[t] = pv;
        let nz = zv + prm.eps * pv;
        let base = 4u * t;
        if base + 4u <= prm.n {
            z[t] = nz;
        } else {
            let keep = vec4<u32>(base) + vec4<u32>(0u, 1u, 2u, 3u) >= vec4<u32>(prm.n);
            z[t] = select(nz, zv, keep);
        }
    }
}

const WG: u32 = 64u;
var<workgroup> scratch: array<f32, 64>;
var<workgroup> take: u32;

fn at(v: vec4<f32>, c: u32) -> f32 {
    return v[c];
}

// H of example b with the momentum p + a (g - z) (a = 0: p itself), by the workgroup: thread li
// adds the values li, li + 64, ... in order, then a fixed tree. Every thread gets the result.
fn hamiltonian(b: u32, a: f32, li: u32) -> f32 {
    var acc = 0.0;
    let start = b * prm.d;
    for (var i = li; i < prm.d; i = i + WG) {
        let j = start + i;
        let q = j >> 2u;
        let c = j & 3u;
        let zj = at(z[q], c);
        let pj = at(p[q], c) + a * (at(g[q], c) - zj);
        acc = acc + (zj * zj + pj * pj);
    }
    scratch[li] = acc;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if li < s {
            scratch[li] = scratch[li] + scratch[li + s];
        }
        workgroupBarrier();
    }
    let h = sse[b] * prm.inv_2s2 + 0.5 * scratch[0];
    workgroupBarrier();
    return h;
}

@compute @workgroup_size(64)
fn energy(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    let b = flat_group(wg, nwg);
    if b >= prm.batch { return; }
    let h = hamiltonian(b, 0.0, li);
    if li == 0u {
        h0[b] = h;
    }
}

@compute @workgroup_size(64)
fn accept(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    let b = flat_group(wg, nwg);
    if b >= prm.batch { return; }
    let h1 = hamiltonian(b, prm.a, li);
    if li == 0u {
        let x = prm.example_offset + b;
        let r = philox4x32_10(vec4<u32>(x >> 2u, step[0], 0u, 0u), vec2<u32>(prm.k0, prm.k1));
        let u = philox_uniform_open(r[x & 3u]);
        // NaN (a diverged trajectory) compares false: rejected.
        let yes = philox_ln(u) < h0[b] - h1;
        take = select(0u, 1u, yes);
        if yes {
            accepted[b] = accepted[b] + 1.0;
        }
    }
    let t = workgroupUniformLoad(&take);
    if t == 0u {
        let start = b * prm.d;
        for (var i = li; i < prm.d; i = i + WG) {
            let j = start + i;
            let q = j >> 2u;
            let c = j & 3u;
            z[q][c] = z0[q][c];
        }
    }
}

@compute @workgroup_size(64)
fn clear(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) li: u32) {
    let b = flat_group(wg, nwg) * WG + li;
    if b < prm.batch {
        accepted[b] = 0.0;
    }
}
