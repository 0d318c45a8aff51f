//! requires: common
// The scatter step of the phase-split forward transposed convolution for 1-D layers
// (src/ops/conv_transpose.rs, `forward` when the phase split is cheaper). With stride s, an
// output ox has the phase r = (ox + pad) mod s and q = (ox + pad) / s, and receives only the taps
// kx = r + s a (a = 0, 1, ...) at the inputs ix = q - a, so one GEMM computes every output once:
//   C[(r, co)][(b, q - q0)] = sum over (ci, a) of w[ci, co, r + s a] x[b, ci, q - a]
// (zero where r + s a >= k or q - a falls outside x). This kernel moves C, in packed tiles
// (gemm_common.wgsl), to y[b0 + b, co, ox] and adds the bias: one read per output, no sums.

struct PhaseParams {
    c_out: u32,
    q_count: u32, // q values per batch element (columns of C per element)
    q0: u32,      // the first q
    stride: u32,
    pad: u32,
    w_out: u32,
    b0: u32,      // first batch element of this chunk
    planes: u32,  // (b, co) planes of this chunk
    pn_log2: u32, // C is in packed tiles of 2^pn_log2 columns
    tile_col: u32, // floats between column panels: mt * 64 * pn
}

@group(0) @binding(0) var<uniform> p: PhaseParams;
// C, read by component (cols[i >> 2][i & 3], one scalar load) or, with V4, a vec4 at a time.
@group(0) @binding(1) var<storage, read> cols: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

// V4: the host promises panels of >= 4 columns and q_count % 4 == 0 or a single batch
// element per chunk, so that C holds the values of q, q + 1, q + 2, q + 3 (qq % 4 == 0) in
// four consecutive, 16-byte aligned floats. A q past q0 + q_count (the last chunk of a row
// when q_count % 4 != 0) has all its outputs at or past w_out: the bounds test leaves them out.
override V4: bool = false;

fn c_at(row: u32, col: u32) -> f32 {
    let i = packed_index(row, col, p.pn_log2, p.tile_col);
    return cols[i >> 2u][i & 3u];
}

// Invocation (x = q - q0, workgroup y = plane (b, co)) writes the `stride` outputs of q (V4:
// x = (q - q0) / 4, the outputs of four q).
@compute @workgroup_size(64)
fn phase_scatter(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wg: vec3<u32>) {
    let plane = wg.y;
    if V4 {
        if 4u * gid.x >= p.q_count || plane >= p.planes { return; }
        scatter_q4(4u * gid.x, plane);
        return;
    }
    let qq = gid.x;
    if qq >= p.q_count || plane >= p.planes { return; }
    let b = plane / p.c_out;
    let co = plane - b * p.c_out;
    let col = b * p.q_count + qq;
    let first = i32(p.stride * (p.q0 + qq)) - i32(p.pad);
    let yb = (p.b0 * p.c_out + plane) * p.w_out;
    let bv = bias[co];
    for (var r = 0u; r < p.stride; r = r + 1u) {
        let ox = first + i32(r);
        if ox >= 0 && ox < i32(p.w_out) {
            y[yb + u32(ox)] = c_at(r * p.c_out + co, col) + bv;
        }
    }
}

// The outputs of q = q0 + qq .. q0 + qq + 3 (qq % 4 == 0): per phase r one vec4 load of C and
// four stores, stride apart in y.
fn scatter_q4(qq: u32, plane: u32) {
    let b = plane / p.c_out;
    let co = plane - b * p.c_out;
    let col = b * p.q_count + qq;
    let st = i32(p.stride);
    let first = vec4<i32>(st * i32(p.q0 + qq) - i32(p.pad)) + st * vec4<i32>(0, 1, 2, 3);
    let yb = (p.b0 * p.c_out + plane) * p.w_out;
    let bv = vec4<f32>(bias[co]);
    for (var r = 0u; r < p.stride; r = r + 1u) {
        let v = cols[packed_index(r * p.c_out + co, col, p.pn_log2, p.tile_col) >> 2u] + bv;
        let ox = first + vec4<i32>(i32(r));
        let ok = ox >= vec4<i32>(0) & ox < vec4<i32>(i32(p.w_out));
        let at = vec4<u32>(yb) + bitcast<vec4<u32>>(ox);
        if ok.x { y[at.x] = v.x; }
        if ok.y { y[at.y] = v.y; }
        if ok.z { y[at.z] = v.z; }
        if ok.w { y[at.w] = v.w; }
    }
}
