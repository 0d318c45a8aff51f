//! requires: common, philox_common
// The encoder's proposal of each chain's start (IABP, Sun, Liu and Zhou 2021) and the gradient
// of the encoder's fit to the improved chain.
// enc: the encoder's output [batch, 2d]: per example the means mu (first d values) and the
// log-variances lv = log sigma^2 (next d); z: [batch, d].
//   propose: z = mu + exp(lv / 2) eps (eps the N(0,1) sample of global element index_offset + i,
//            Philox key (k0, k1), counter step[0], see philox_common.wgsl); NOISE = false: z = mu.
//   fit:     the gradient of -[ |z - mu|^2 / (2 sigma^2) + (1/2) log sigma^2 ] (z fixed) w.r.t.
//            (mu, lv): g_mu = (z - mu) / sigma^2, g_lv = ((z - mu)^2 / sigma^2 - 1) / 2.
// lv is clamped to [LV_MIN, LV_MAX] where it is used (the gradient treats it as unclamped).

override NOISE: bool = true;
const LV_MIN: f32 = -12.0;
const LV_MAX: f32 = 8.0;

struct Params {
    n: u32,            // batch * d
    n4: u32,           // ceil(n / 4)
    d: u32,
    k0: u32,
    k1: u32,
    index_offset: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> step: array<u32>;
@group(0) @binding(2) var<storage, read> enc: array<f32>;
@group(0) @binding(3) var<storage, read_write> z: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;

fn lv_at(i: u32) -> f32 {
    let b = i / p.d;
    return clamp(enc[b * 2u * p.d + p.d + (i - b * p.d)], LV_MIN, LV_MAX);
}

fn mu_at(i: u32) -> f32 {
    let b = i / p.d;
    return enc[b * 2u * p.d + (i - b * p.d)];
}

@compute @workgroup_size(256)
fn propose(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
    for (var k = 0u; k < SLOTS; k = k + 1u) {
        let t = slot(wg, nwg, li, k);
        if t >= p.n4 { return; }
        var eps = vec4<f32>(0.0);
        if NOISE {
            eps = philox_normal4(p.k0, p.k1, step[0], p.index_offset + 4u * t);
        }
        for (var j = 0u; j < 4u; j = j + 1u) {
            let i = 4u * t + j;
            if i < p.n {
                z[i] = mu_at(i) + exp(0.5 * lv_at(i)) * eps[j];
            }
        }
    }
}

@compute @workgroup_size(256)
fn fit(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) li: u32) {
    for (var k = 0u; k < SLOTS; k = k + 1u) {
        let t = slot(wg, nwg, li, k);
        if t >= p.n4 { return; }
        for (var j = 0u; j < 4u; j = j + 1u) {
            let i = 4u * t + j;
            if i < p.n {
                let b = i / p.d;
                let m = b * 2u * p.d + (i - b * p.d);
                let r = z[i] - enc[m];
                let w = exp(-clamp(enc[m + p.d], LV_MIN, LV_MAX));
                grad[m] = r * w;
                grad[m + p.d] = 0.5 * (r * r * w - 1.0);
            }
        }
    }
}
