//! requires: common
// Packs GEMM operands into the panel layouts of gemm.wgsl / gemm_lanes8.wgsl, with zeros outside
// the matrix so that the micro-kernels need no bounds checks:
//   pack_a: ap[(mt * k4 + q) * 64 + r][i] = A[mt*64 + r][4q + i]
//   pack_b: bp[(nt * kp + k) * pn4 + c][i] = B[k][nt*4*pn4 + 4c + i]   (kp = 4 * k4)
//
// Both gather through one "mixed-radix linear" map that covers plain and transposed matrices,
// batched channel views and the strided windows of a transposed convolution. Each index is
// split into three digits, i = (d2 * r1 + d1) * r0 + d0, and each digit contributes linearly to
// a source offset and to two coordinates (y, x):
//   (off, y, x) = base + sum over both indices and digits of d * coef
//   element = src[off] if y_lo <= y < y_hi and x_lo <= x < x_hi, else 0.
// The digits of the inner (K) index are stepped with carries, so the loops divide nothing; the
// outer index is split once per invocation. (Integer division is scalarised on CPU drivers.)

struct Side {
    r1: u32,
    r0: u32,
    c2: vec3<i32>, // (off, y, x) per unit of digit 2
    c1: vec3<i32>,
    c0: vec3<i32>,
}

struct PackParams {
    rows: u32,   // M (pack_a) or N (pack_b): the panel dimension
    k: u32,      // K
    kp: u32,     // K padded to a multiple of 4
    total: u32,  // pack_a: rows padded to 64; pack_b: vec4 columns (nt * pn4)
    pn4_log2: u32,
    kc: u32,     // K values per invocation
    pad0: u32,
    pad1: u32,
    base: vec3<i32>,
    pad2: i32,
    lo: vec2<i32>, // (y_lo, x_lo)
    hi: vec2<i32>, // (y_hi, x_hi)
    outer: Side, // the M (pack_a) or N (pack_b) index
    inner: Side, // the K index
}

@group(0) @binding(0) var<uniform> p: PackParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;

fn split(i: u32, s: Side) -> vec3<i32> {
    let d0 = i % s.r0;
    let t = i / s.r0;
    let d1 = t % s.r1;
    let d2 = t / s.r1;
    return i32(d2) * s.c2 + i32(d1) * s.c1 + i32(d0) * s.c0;
}

// Digit stepper for the inner index.
struct Step {
    d0: u32,
    d1: u32,
    v: vec3<i32>,
}

fn step_start(k: u32) -> Step {
    let s = p.inner;
    let d0 = k % s.r0;
    let d1 = (k / s.r0) % s.r1;
    return Step(d0, d1, split(k, s));
}

fn step_next(st: Step) -> Step {
    let s = p.inner;
    var r = st;
    r.d0 = r.d0 + 1u;
    r.v = r.v + s.c0;
    if r.d0 == s.r0 {
        r.d0 = 0u;
        r.v = r.v - i32(s.r0) * s.c0 + s.c1;
        r.d1 = r.d1 + 1u;
        if r.d1 == s.r1 {
            r.d1 = 0u;
            r.v = r.v - i32(s.r1) * s.c1 + s.c2;
        }
    }
    return r;
}

fn fetch(v: vec3<i32>) -> f32 {
    if v.y < p.lo.x || v.y >= p.hi.x || v.z < p.lo.y || v.z >= p.hi.y {
        return 0.0;
    }
    return src[v.x];
}

// fetch without branches: an in-bounds load of element 0 where the element is outside.
fn fetch_sel(v: vec3<i32>, ok: bool) -> f32 {
    let inside = ok && v.y >= p.lo.x && v.y < p.hi.x && v.z >= p.lo.y && v.z < p.hi.y;
    let x = src[select(0, v.x, inside)];
    return select(0.0, x, inside);
}

// One invocation per (row m, run of kc values of K): x = m, y (and z) = the run.
@compute @workgroup_size(64)
fn pack_a(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>,
          @builtin(num_workgroups) nwg: vec3<u32>) {
    let m = gid.x;
    if m >= p.total { return; }
    let k_start = (wg.y + wg.z * nwg.y) * p.kc;
    if k_start >= p.kp { return; }
    let k_end = min(k_start + p.kc, p.kp);
    let k4 = p.kp / 4u;
    let row_ok = m < p.rows;
    var mv = vec3<i32>(0);
    if row_ok {
        mv = p.base + split(m, p.outer);
    }
    var st = step_start(k_start);
    let o = (m >> 6u) * k4 * 64u + (m & 63u);
    for (var q = k_start / 4u; q * 4u < k_end; q = q + 1u) {
        var v = vec4<f32>(0.0);
        for (var i = 0u; i < 4u; i = i + 1u) {
            if row_ok && q * 4u + i < p.k {
                v[i] = fetch(mv + st.v);
            }
            st = step_next(st);
        }
        dst[o + q * 64u] = v;
    }
}

// One invocation per (vec4 column j, run of kc values of K): x = j, y (and z) = the run.
@compute @workgroup_size(64)
fn pack_b(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>,
          @builtin(num_workgroups) nwg: vec3<u32>) {
    let j = gid.x;
    if j >= p.total { return; }
    let k_start = (wg.y + wg.z * nwg.y) * p.kc;
    if k_start >= p.kp { return; }
    let k_end = min(k_start + p.kc, p.kp);
    let n0 = j * 4u;
    var nv: array<vec3<i32>, 4>;
    var ok = vec4<bool>(false);
    for (var i = 0u; i < 4u; i = i + 1u) {
        ok[i] = n0 + i < p.rows;
        nv[i] = vec3<i32>(0);
        if ok[i] {
            nv[i] = p.base + split(n0 + i, p.outer);
        }
    }
    let n0v = nv[0];
    let n1v = nv[1];
    let n2v = nv[2];
    let n3v = nv[3];
    let mask = (1u << p.pn4_log2) - 1u;
    let o = (((j >> p.pn4_log2) * p.kp) << p.pn4_log2) + (j & mask);
    var st = step_start(k_start);
    for (var k = k_start; k < k_end; k = k + 1u) {
        var v = vec4<f32>(0.0);
        let kin = k < p.k;
        v.x = fetch_sel(n0v + st.v, kin && ok.x);
        v.y = fetch_sel(n1v + st.v, kin && ok.y);
        v.z = fetch_sel(n2v + st.v, kin && ok.z);
        v.w = fetch_sel(n3v + st.v, kin && ok.w);
        dst[o + (k << p.pn4_log2)] = v;
        st = step_next(st);
    }
}

// Fast paths of pack_a for plain gathers whose source is 16-byte aligned (src4 is the same
// buffer as src, seen as vec4):
//   VEC = 1: A[m][k] = src[base + outer(m) + k] with base + outer(m) = 0 mod 4: one vec4 per quad.
//   VEC = 2: A[m][k] = src[base + m + inner(k)] with base + inner(k) = 0 mod 4: an invocation
//            takes rows 4i .. 4i+4 and transposes 4 x 4 blocks.
// Quads that run past M or K fall back to scalar loads.
override VEC: u32 = 1u;

@group(0) @binding(3) var<storage, read> src4: array<vec4<f32>>;

@compute @workgroup_size(64)
fn pack_a_vec(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>,
              @builtin(num_workgroups) nwg: vec3<u32>) {
    let k_start = (wg.y + wg.z * nwg.y) * p.kc;
    if k_start >= p.kp { return; }
    let k_end = min(k_start + p.kc, p.kp);
    let k4 = p.kp / 4u;
    if VEC == 1u {
        let m = gid.x;
        if m >= p.total { return; }
        let o = (m >> 6u) * k4 * 64u + (m & 63u);
        if m >= p.rows {
            for (var q = k_start / 4u; q * 4u < k_end; q = q + 1u) {
                dst[o + q * 64u] = vec4<f32>(0.0);
            }
            return;
        }
        let row = p.base.x + split(m, p.outer).x;
        var st = step_start(k_start);
        for (var q = k_start / 4u; q * 4u < k_end; q = q + 1u) {
            var v = vec4<f32>(0.0);
            if q * 4u + 3u < p.k {
                v = src4[u32(row + st.v.x) / 4u];
                st = step_next(step_next(step_next(step_next(st))));
            } else {
                for (var i = 0u; i < 4u; i = i + 1u) {
                    if q * 4u + i < p.k {
                        v[i] = src[row + st.v.x];
                    }
                    st = step_next(st);
                }
            }
            dst[o + q * 64u] = v;
        }
    } else {
        let m0 = gid.x * 4u;
        if m0 >= p.total { return; }
        let o = (m0 >> 6u) * k4 * 64u + (m0 & 63u);
        let full = m0 + 3u < p.rows;
        let col = p.base.x + split(m0, p.outer).x;
        var st = step_start(k_start);
        for (var q = k_start / 4u; q * 4u < k_end; q = q + 1u) {
            var r0 = vec4<f32>(0.0);
            var r1 = vec4<f32>(0.0);
            var r2 = vec4<f32>(0.0);
            var r3 = vec4<f32>(0.0);
            for (var i = 0u; i < 4u; i = i + 1u) {
                var v = vec4<f32>(0.0);
                if q * 4u + i < p.k {
                    if full {
                        v = src4[u32(col + st.v.x) / 4u];
                    } else {
                        for (var c = 0u; c < 4u; c = c + 1u) {
                            if m0 + c < p.rows {
                                v[c] = src[col + st.v.x + i32(c) * p.outer.c0.x];
                            }
                        }
                    }
                }
                r0[i] = v.x;
                r1[i] = v.y;
                r2[i] = v.z;
                r3[i] = v.w;
                st = step_next(st);
            }
            dst[o + q * 64u] = r0;
            dst[o + q * 64u + 1u] = r1;
            dst[o + q * 64u + 2u] = r2;
            dst[o + q * 64u + 3u] = r3;
        }
    }
}
