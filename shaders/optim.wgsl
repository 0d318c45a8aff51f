//! requires: common
// Optimizer steps in place, four elements per slot (SLOTS slots per invocation, common.wgsl).
// In order, per element:
//   ge = grad_scale * grad
//   CLIP 1: ge = clamp(ge, -c, c)
//   CLIP 2: ge = ge * (c / M) when M = max|grad| * |grad_scale| > c (M from reduce::max_abs
//           in gmax[0], computed on the GPU before this dispatch)
//   ge = ge + weight_decay * w                               (L2 weight decay)
//   sgd:  vel = momentum * vel + ge;  w = w - lr * vel
//   adam: m = b1 m + (1 - b1) ge;  v = b2 v + (1 - b2) ge^2
//         w = w - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
//   adamax: m = b1 m + (1 - b1) ge;  u = max(b2 u, |ge| + eps)   (u in v)
//         w = w - (lr / (1 - b1^t)) m / u
// The step state is a u32 tensor [t, bits(b1^t), bits(b2^t)] for t steps taken (1, 1 for SGD):
// the update uses b^(t+1) = b^t * b, and `advance`, recorded after it, stores them and t + 1.
// Powers kept by multiplication, not pow(): 1 - b2^t needs them exact (b2 = 0.999).

override CLIP: u32 = 1u;   // 0 none, 1 clamp each element, 2 rescale by c / max|g|

struct Params {
    n: u32,
    n4: u32,
    lr: f32,
    beta1: f32,        // sgd: the momentum
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    grad_scale: f32,
    clip: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> step: array<u32>;
@group(0) @binding(2) var<storage, read_write> w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> grad: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> m: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> v: array<vec4<f32>>;
// max|grad| (CLIP 2; otherwise any read-only buffer, never read).
@group(0) @binding(6) var<storage, read> gmax: array<f32>;

fn effective_grad(t: u32, wv: vec4<f32>) -> vec4<f32> {
    var ge = p.grad_scale * grad[t];
    if CLIP == 1u {
        ge = clamp(ge, vec4<f32>(-p.clip), vec4<f32>(p.clip));
    } else if CLIP == 2u {
        let mx = gmax[0] * abs(p.grad_scale);
        if mx > p.clip {
            ge = ge * (p.clip / mx);
        }
    }
    return ge + p.weight_decay * wv;
}

fn keep_mask(t: u32) -> vec4<bool> {
    return vec4<u32>(4u * t) + vec4<u32>(0u, 1u, 2u, 3u) >= vec4<u32>(p.n);
}

@compute @workgroup_size(256)
fn sgd(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_index) li: u32) {
    for (var k = 0u; k < SLOTS; k = k + 1u) {
        let t = slot(wg, nwg, li, k);
        if t >= p.n4 { return; }
        sgd_slot(t);
    }
}

fn sgd_slot(t: u32) {
    let wv = w[t];
    let mv = m[t];
    let ge = effective_grad(t, wv);
    var vel = p.beta1 * mv + ge;
    var nw = wv - p.lr * vel;
    if 4u * t + 4u > p.n {
        let keep = keep_mask(t);
        vel = select(vel, mv, keep);
        nw = select(nw, wv, keep);
    }
    m[t] = vel;
    w[t] = nw;
}

@compute @workgroup_size(256)
fn adam(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    for (var k = 0u; k < SLOTS; k = k + 1u) {
        let t = slot(wg, nwg, li, k);
        if t >= p.n4 { return; }
        adam_slot(t);
    }
}

fn adam_slot(t: u32) {
    let bc1 = 1.0 - bitcast<f32>(step[1]) * p.beta1;
    let bc2 = 1.0 - bitcast<f32>(step[2]) * p.beta2;
    let wv = w[t];
    let mv = m[t];
    let vv = v[t];
    let ge = effective_grad(t, wv);
    var nm = p.beta1 * mv + (1.0 - p.beta1) * ge;
    var nv = p.beta2 * vv + (1.0 - p.beta2) * (ge * ge);
    var nw = wv - p.lr * (nm / bc1) / (sqrt(nv / bc2) + p.eps);
    if 4u * t + 4u > p.n {
        let keep = keep_mask(t);
        nm = select(nm, mv, keep);
        nv = select(nv, vv, keep);
        nw = select(nw, wv, keep);
    }
    m[t] = nm;
    v[t] = nv;
    w[t] = nw;
}

@compute @workgroup_size(256)
fn adamax(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) li: u32) {
    for (var k = 0u; k < SLOTS; k = k + 1u) {
        let t = slot(wg, nwg, li, k);
        if t >= p.n4 { return; }
        adamax_slot(t);
    }
}

fn adamax_slot(t: u32) {
    let bc1 = 1.0 - bitcast<f32>(step[1]) * p.beta1;
    let wv = w[t];
    let mv = m[t];
    let uv = v[t];
    let ge = effective_grad(t, wv);
    var nm = p.beta1 * mv + (1.0 - p.beta1) * ge;
    var nu = max(p.beta2 * uv, abs(ge) + vec4<f32>(p.eps));
    var nw = wv - (p.lr / bc1) * nm / nu;
    if 4u * t + 4u > p.n {
        let keep = keep_mask(t);
        nm = select(nm, mv, keep);
        nu = select(nu, uv, keep);
        nw = select(nw, wv, keep);
    }
    m[t] = nm;
    v[t] = nu;
    w[t] = nw;
}

// After an update: t += 1 and the powers b1^t, b2^t (beta1 = beta2 = 1 for SGD).
@compute @workgroup_size(1)
fn advance() {
    step[0] = step[0] + 1u;
    step[1] = bitcast<u32>(bitcast<f32>(step[1]) * p.beta1);
    step[2] = bitcast<u32>(bitcast<f32>(step[2]) * p.beta2);
}
