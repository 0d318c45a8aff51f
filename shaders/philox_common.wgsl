// Shared piece (prepended by `//! requires: philox_common`): the Philox4x32-10 counter-based random
// number generator (Salmon, Moraes, Dror, Shaw, SC 2011) and standard normals from it.
// Mirrored bit for bit (up to the rounding of a division, a sqrt and fused multiply-adds) by
// src/ops/philox.rs `cpu`.
//
// Mapping used by every kernel of this crate (src/ops/philox.rs documents it too):
//   key     = (k0, k1): two words derived from the run seed and the use (src/seed.rs)
//   counter = (e / 4, step, 0, 0)
//   out     = philox4x32_10(counter, key) = (x0, x1, x2, x3)
//   the normals of global elements 4q .. 4q+3 (q = e / 4) are, in order,
//     r0 cos(pi t1), r0 sin(pi t1), r2 cos(pi t3), r2 sin(pi t3)
//   with r = sqrt(-2 ln u(x0 or x2)), t = 2 u(x1 or x3) - 1 and u(x) = ((x >> 9) + 1/2) / 2^23,
//   a uniform on the open interval (0, 1) (exact in f32: it never rounds to 0 or 1).
// So a value depends on (key, step, element) only, never on the dispatch layout.
//
// WGSL has no 64-bit integers: the high word of a 32x32-bit product is built from 16-bit
// halves, keeping every carry. ln, sin and cos are computed here (not with the builtins) so
// that every backend gives the same values to a few ulps: the builtins' guaranteed accuracy
// is too loose near ln(1) (absolute 2^-21) and for sin/cos (absolute 2^-11).

const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;

// (high word, low word) of the 64-bit product a * b. With 16-bit halves a = a1 2^16 + a0 and
// b = b1 2^16 + b0: a b0 = x 2^16 + (a0 b0 mod 2^16) with x = a1 b0 + (a0 b0 >> 16) < 2^32, and
// likewise a b1 = y 2^16 + (a0 b1 mod 2^16); so hi = y + ((x + (a0 b1 mod 2^16)) >> 16), where
// the inner sum stays below 2^32. (b is a constant here, so its halves cost nothing.)
fn philox_mulhilo(a: u32, b: u32) -> vec2<u32> {
    let a0 = a & 0xffffu;
    let a1 = a >> 16u;
    let b0 = b & 0xffffu;
    let b1 = b >> 16u;
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let x = a1 * b0 + (p00 >> 16u);
    let y = a1 * b1 + (p01 >> 16u);
    let hi = y + ((x + (p01 & 0xffffu)) >> 16u);
    return vec2<u32>(hi, a * b);
}

fn philox4x32_10(ctr: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = ctr;
    var k = key;
    for (var r = 0u; r < 10u; r = r + 1u) {
        let p0 = philox_mulhilo(PHILOX_M0, c.x);
        let p1 = philox_mulhilo(PHILOX_M1, c.z);
        c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
        k = k + vec2<u32>(PHILOX_W0, PHILOX_W1);
    }
    return c;
}

// A uniform in the open interval (0, 1): ((x >> 9) + 0.5) / 2^23, exact.
fn philox_uniform_open(x: u32) -> f32 {
    return (f32(x >> 9u) + 0.5) * (1.0 / 8388608.0);
}

// Natural log of a positive normal f32: x = m 2^e with m in [sqrt(1/2), sqrt(2)),
// ln x = e ln 2 + 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172; relative error ~ 1e-7.
fn philox_ln(x: f32) -> f32 {
    let b = bitcast<u32>(x);
    var e = i32((b >> 23u) & 0xffu) - 127;
    var m = bitcast<f32>((b & 0x007fffffu) | 0x3f800000u);
    if m > 1.41421356 {
        m = m * 0.5;
        e = e + 1;
    }
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let poly = 1.0 + s2 * (0.33333333 + s2 * (0.2 + s2 * (0.14285715 + s2 * 0.11111111)));
    let fe = f32(e);
    return fe * 0.693145751953125 + (fe * 1.4286068e-6 + 2.0 * s * poly);
}

// (cos(pi t), sin(pi t)) for t in [-1, 1]. The reduction to r in [-1/4, 1/4] is exact because
// it works in units of pi; then Cephes' minimax polynomials on [-pi/4, pi/4].
fn philox_cospi_sinpi(t: f32) -> vec2<f32> {
    let j = floor(2.0 * t + 0.5);
    let r = t - 0.5 * j;
    let x = r * 3.14159265;
    let z = x * x;
    let s = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * x + x;
    let c = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z
        - 0.5 * z + 1.0;
    switch (i32(j) + 4) & 3 {
        case 0: { return vec2<f32>(c, s); }
        case 1: { return vec2<f32>(-s, c); }
        case 2: { return vec2<f32>(-c, -s); }
        default: { return vec2<f32>(s, -c); }
    }
}

// Box-Muller: two normals from the uniforms of words a (radius) and b (angle).
fn philox_box_muller2(a: u32, b: u32) -> vec2<f32> {
    let r = sqrt(max(-2.0 * philox_ln(philox_uniform_open(a)), 0.0));
    return r * philox_cospi_sinpi(2.0 * philox_uniform_open(b) - 1.0);
}

// Four normals from one Philox output.
fn philox_box_muller(x: vec4<u32>) -> vec4<f32> {
    return vec4<f32>(philox_box_muller2(x.x, x.y), philox_box_muller2(x.z, x.w));
}

// The normals of global elements 4q .. 4q+3.
fn philox_normal_quad(k0: u32, k1: u32, step: u32, q: u32) -> vec4<f32> {
    return philox_box_muller(philox4x32_10(vec4<u32>(q, step, 0u, 0u), vec2<u32>(k0, k1)));
}

// PHILOX_ALIGNED: the host promises that every e given to philox_normal4 is a multiple of 4
// (src/ops/philox.rs `aligned`). philox_normal4 then compiles to philox_normal_quad alone: the
// same values, in about 0.6x the time on lavapipe, where the never-taken cases of
// philox_normal4_at otherwise cost as if they ran.
override PHILOX_ALIGNED: bool = false;

// The normals of global elements e .. e+3.
fn philox_normal4(k0: u32, k1: u32, step: u32, e: u32) -> vec4<f32> {
    if PHILOX_ALIGNED {
        return philox_normal_quad(k0, k1, step, e >> 2u);
    }
    return philox_normal4_at(k0, k1, step, e);
}

// The normals of global elements e .. e+3 for any e (two Philox calls when e % 4 != 0; the
// branch depends on e % 4 only, uniform when every invocation's e has the same remainder).
fn philox_normal4_at(k0: u32, k1: u32, step: u32, e: u32) -> vec4<f32> {
    let q = e >> 2u;
    let a = philox_normal_quad(k0, k1, step, q);
    switch e & 3u {
        case 0u: { return a; }
        case 1u: {
            let b = philox_normal_quad(k0, k1, step, q + 1u);
            return vec4<f32>(a.y, a.z, a.w, b.x);
        }
        case 2u: {
            let b = philox_normal_quad(k0, k1, step, q + 1u);
            return vec4<f32>(a.z, a.w, b.x, b.y);
        }
        default: {
            let b = philox_normal_quad(k0, k1, step, q + 1u);
            return vec4<f32>(a.w, b.x, b.y, b.z);
        }
    }
}
