// Shared by the GEMM micro-kernels (gemm.wgsl, gemm_sg.wgsl): parameters, bindings and the
// epilogue. The operands are packed panels (see gemm_pack.wgsl); C is written through an
// affine map so that one kernel serves plain matrices, convolution outputs and gradients:
//   C[row][col] -> c[c_off + row * c_sm + (col / c_ndiv) * c_sn1 + (col % c_ndiv) * c_sn2]
// plus an optional bias (per column or per row) and an optional accumulation into c (used by
// chunked reductions, always in a fixed order).

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
    bias_mode: u32,  // 0 none, 1 bias[col], 2 bias[row]
    accumulate: u32, // 1: c += result
}

@group(0) @binding(0) var<uniform> p: GemmParams;
@group(0) @binding(1) var<storage, read> ap: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> bp: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> c_out: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

fn store1(row: u32, col: u32, v: f32) {
    let idx = p.c_off + row * p.c_sm + (col / p.c_ndiv) * p.c_sn1 + (col % p.c_ndiv) * p.c_sn2;
    var x = v;
    if p.bias_mode == 1u {
        x = x + bias[col];
    } else if p.bias_mode == 2u {
        x = x + bias[row];
    }
    if p.accumulate != 0u {
        x = x + c_out[idx];
    }
    c_out[idx] = x;
}

// Columns col .. col+4 of one row; the parts outside C are dropped.
fn store4(row: u32, col: u32, v: vec4<f32>) {
    if row >= p.m {
        return;
    }
    for (var i = 0u; i < 4u; i = i + 1u) {
        if col + i < p.n {
            store1(row, col + i, v[i]);
        }
    }
}
