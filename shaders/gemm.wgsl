//! requires: common, gemm_common
// Workgroup-memory tiled GEMM on packed panels (see gemm_common.wgsl, gemm_pack.wgsl): the
// variant for GPUs and for adapters without subgroups (GL). A workgroup of 16 x 16
// invocations owns a 64 x 64 tile of C, each invocation a 4 x 4 block; K advances 16 at a time
// through workgroup memory (A transposed so that both operands are read as vec4).
//   ap: vec4 index (mt * k4 + q) * 64 + r   = A[mt*64 + r][4q .. 4q+4]
//   bp: vec4 index (nt * 4*k4 + k) * 16 + c = B[k][nt*64 + 4c .. 4c+4]

var<workgroup> As: array<vec4<f32>, 256>; // [kk][row / 4], 16 x 16
var<workgroup> Bs: array<vec4<f32>, 256>; // [kk][col / 4], 16 x 16

@compute @workgroup_size(256)
fn gemm_64x64(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
    let t = flat_group(wg, nwg);
    // No early return: barriers below must be reached by every invocation.
    let valid = t < p.mt * p.nt;
    let tile = tile_of(select(0u, t, valid));
    let mt = tile.x;
    let nt = tile.y;
    let tx = li % 16u; // column block
    let ty = li / 16u; // row block
    // Loader roles: A: row lr of the tile, k quad lq; B: k row lk, vec4 column lc.
    let lr = li % 64u;
    let lq = li / 64u;
    let lc = li % 16u;
    let lk = li / 16u;
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    let kp = p.k4 * 4u;
    for (var q0 = 0u; q0 < p.k4; q0 = q0 + 4u) {
        var av = vec4<f32>(0.0);
        var bv = vec4<f32>(0.0);
        if valid && q0 + lq < p.k4 {
            av = ap[(mt * p.k4 + q0 + lq) * 64u + lr];
        }
        if valid && q0 * 4u + lk < kp {
            bv = bp[(nt * kp + q0 * 4u + lk) * 16u + lc];
        }
        for (var i = 0u; i < 4u; i = i + 1u) {
            As[(lq * 4u + i) * 16u + lr / 4u][lr % 4u] = av[i];
        }
        Bs[lk * 16u + lc] = bv;
        workgroupBarrier();
        for (var kk = 0u; kk < 16u; kk = kk + 1u) {
            let a = As[kk * 16u + ty];
            let b = Bs[kk * 16u + tx];
            acc0 = fma(vec4<f32>(a.x), b, acc0);
            acc1 = fma(vec4<f32>(a.y), b, acc1);
            acc2 = fma(vec4<f32>(a.z), b, acc2);
            acc3 = fma(vec4<f32>(a.w), b, acc3);
        }
        workgroupBarrier();
    }
    if valid {
        let row = mt * 64u + ty * 4u;
        let col = nt * 64u + tx * 4u;
        let c = cols_at(col);
        store_row(row, c, acc0);
        store_row(row + 1u, c, acc1);
        store_row(row + 2u, c, acc2);
        store_row(row + 3u, c, acc3);
    }
}
