// Shared by the GEMM micro-kernels (gemm.wgsl, gemm_lanes8.wgsl): parameters, bindings and the
// epilogue. The operands are packed panels (see gemm_pack.wgsl); C is written through an
// affine map so that one kernel serves plain matrices, convolution outputs and gradients:
//   C[row][col] -> c[c_off + row * c_sm + (col / c_ndiv) * c_sn1 + (col % c_ndiv) * c_sn2]
// plus an optional bias per column and an optional accumulation into c (used by
// chunked reductions, always in a fixed order). The packed-tile layout of C, used for
// intermediate results, is the affine map with c_sm = PN, c_ndiv = PN, c_sn1 = mt * 64 * PN,
// c_sn2 = 1: tile t = nt * mt + mt_index holds rows t * 64 .. t * 64 + 64 of PN floats.

struct GemmParams {
    m: u32,          // rows of C
    n: u32,          // columns of C
    k4: u32,         // K padded to a multiple of 4, divided by 4
    mt: u32,         // row tiles (of 64)
    nt: u32,         // column tiles (of the kernel's panel width)
    c_off: u32,
    c_sm: u32,
    c_ndiv: u32,
    c_sn1: u32,
    c_sn2: u32,
    bias_mode: u32,  // 0 none, 1 bias[col]
    accumulate: u32, // 1: c += result
    a_major: u32,    // tile order: 0: consecutive tiles share a B panel, 1: an A panel
}

// The (mt, nt) of the t-th tile in execution order. Consecutive tiles share the panel of the
// larger operand, which then streams from memory once while the smaller one stays in cache.
fn tile_of(t: u32) -> vec2<u32> {
    if p.a_major != 0u {
        return vec2<u32>(t / p.nt, t % p.nt);
    }
    return vec2<u32>(t % p.mt, t / p.mt);
}

@group(0) @binding(0) var<uniform> p: GemmParams;
@group(0) @binding(1) var<storage, read> ap: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> bp: array<vec4<f32>>;
// C as vec4 (the packed-tile fast path of gemm_lanes8.wgsl stores whole vec4s; the generic
// epilogue stores components). Buffers are padded to 16 bytes.
@group(0) @binding(3) var<storage, read_write> c_out: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

// The destination offsets, validity and bias of columns col .. col+4 (computed once per tile:
// the division is slow on CPU drivers).
struct Cols {
    part: vec4<u32>,
    ok: vec4<bool>,
    bias: vec4<f32>,
    run: bool, // all four inside C and at consecutive addresses
}

fn cols_at(col: u32) -> Cols {
    var c: Cols;
    for (var i = 0u; i < 4u; i = i + 1u) {
        let n = col + i;
        c.ok[i] = n < p.n;
        c.part[i] = (n / p.c_ndiv) * p.c_sn1 + (n % p.c_ndiv) * p.c_sn2;
        c.bias[i] = 0.0;
        if c.ok[i] && p.bias_mode == 1u {
            c.bias[i] = bias[n];
        }
    }
    c.run = all(c.ok) && all(c.part == vec4<u32>(c.part.x) + vec4<u32>(0u, 1u, 2u, 3u));
    return c;
}

// Row `row` of the columns described by `c`; the parts outside C are dropped.
fn store_row(row: u32, c: Cols, v: vec4<f32>) {
    if row >= p.m {
        return;
    }
    let base = p.c_off + row * p.c_sm;
    let idx0 = base + c.part.x;
    if c.run && (idx0 & 3u) == 0u {
        // Four consecutive, aligned floats: one vec4 store (row-major C, dw, dx).
        var x = v + c.bias;
        if p.accumulate != 0u {
            x = x + c_out[idx0 >> 2u];
        }
        c_out[idx0 >> 2u] = x;
        return;
    }
    for (var i = 0u; i < 4u; i = i + 1u) {
        if c.ok[i] {
            let idx = base + c.part[i];
            var x = v[i] + c.bias[i];
            if p.accumulate != 0u {
                x = x + c_out[idx >> 2u][idx & 3u];
            }
            c_out[idx >> 2u][idx & 3u] = x;
        }
    }
}
