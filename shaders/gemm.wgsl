//! requires: common, gemm_common
// Workgroup-memory tiled GEMMs on packed panels (see gemm_common.wgsl, gemm_pack.wgsl): the
// variants for GPUs and for adapters without subgroups (GL). gemm_64x64: a workgroup of 16 x 16
// invocations owns a 64 x 64 tile of C, each invocation a 4 x 4 block; K advances 16 at a time
// through workgroup memory (A transposed so that both operands are read as vec4).
// gemm_128x128 (panels of 128 columns): each invocation an 8 x 8 block, K advancing 8 at a time,
// so 16 multiply-adds per vec4 read from workgroup memory instead of 8.
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

var<workgroup> As2: array<vec4<f32>, 256>; // [kk][row / 4], 8 x 32
var<workgroup> Bs2: array<vec4<f32>, 256>; // [kk][col / 4], 8 x 32

@compute @workgroup_size(256)
fn gemm_128x128(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) li: u32) {
    let t = flat_group(wg, nwg);
    // Tiles of 128 rows: two 64-row A panels each (the second may not exist).
    let mt2 = (p.mt + 1u) / 2u;
    // No early return: barriers below must be reached by every invocation.
    let valid = t < mt2 * p.nt;
    let tt = select(0u, t, valid);
    let mt = tt % mt2;
    let nt = tt / mt2;
    let tx = li % 16u; // 8-column block
    let ty = li / 16u; // 8-row block
    // Loader roles: A: row lr of the tile, k quad lq; B: k row lk, vec4 column lc.
    let lr = li % 128u;
    let lq = li / 128u;
    let lc = li % 32u;
    let lk = li / 32u;
    let apanel = mt * 2u + lr / 64u;
    let a_ok = valid && apanel < p.mt;
    var acc0_0 = vec4<f32>(0.0);
    var acc0_1 = vec4<f32>(0.0);
    var acc1_0 = vec4<f32>(0.0);
    var acc1_1 = vec4<f32>(0.0);
    var acc2_0 = vec4<f32>(0.0);
    var acc2_1 = vec4<f32>(0.0);
    var acc3_0 = vec4<f32>(0.0);
    var acc3_1 = vec4<f32>(0.0);
    var acc4_0 = vec4<f32>(0.0);
    var acc4_1 = vec4<f32>(0.0);
    var acc5_0 = vec4<f32>(0.0);
    var acc5_1 = vec4<f32>(0.0);
    var acc6_0 = vec4<f32>(0.0);
    var acc6_1 = vec4<f32>(0.0);
    var acc7_0 = vec4<f32>(0.0);
    var acc7_1 = vec4<f32>(0.0);
    let kp = p.k4 * 4u;
    for (var q0 = 0u; q0 < p.k4; q0 = q0 + 2u) {
        var av = vec4<f32>(0.0);
        var bv = vec4<f32>(0.0);
        if a_ok && q0 + lq < p.k4 {
            av = ap[(apanel * p.k4 + q0 + lq) * 64u + lr % 64u];
        }
        if valid && q0 * 4u + lk < kp {
            bv = bp[(nt * kp + q0 * 4u + lk) * 32u + lc];
        }
        for (var i = 0u; i < 4u; i = i + 1u) {
            As2[(lq * 4u + i) * 32u + lr / 4u][lr % 4u] = av[i];
        }
        Bs2[lk * 32u + lc] = bv;
        workgroupBarrier();
        for (var kk = 0u; kk < 8u; kk = kk + 1u) {
            let a0 = As2[kk * 32u + ty * 2u];
            let a1 = As2[kk * 32u + ty * 2u + 1u];
            let b0 = Bs2[kk * 32u + tx * 2u];
            let b1 = Bs2[kk * 32u + tx * 2u + 1u];
            acc0_0 = fma(vec4<f32>(a0.x), b0, acc0_0);
            acc0_1 = fma(vec4<f32>(a0.x), b1, acc0_1);
            acc1_0 = fma(vec4<f32>(a0.y), b0, acc1_0);
            acc1_1 = fma(vec4<f32>(a0.y), b1, acc1_1);
            acc2_0 = fma(vec4<f32>(a0.z), b0, acc2_0);
            acc2_1 = fma(vec4<f32>(a0.z), b1, acc2_1);
            acc3_0 = fma(vec4<f32>(a0.w), b0, acc3_0);
            acc3_1 = fma(vec4<f32>(a0.w), b1, acc3_1);
            acc4_0 = fma(vec4<f32>(a1.x), b0, acc4_0);
            acc4_1 = fma(vec4<f32>(a1.x), b1, acc4_1);
            acc5_0 = fma(vec4<f32>(a1.y), b0, acc5_0);
            acc5_1 = fma(vec4<f32>(a1.y), b1, acc5_1);
            acc6_0 = fma(vec4<f32>(a1.z), b0, acc6_0);
            acc6_1 = fma(vec4<f32>(a1.z), b1, acc6_1);
            acc7_0 = fma(vec4<f32>(a1.w), b0, acc7_0);
            acc7_1 = fma(vec4<f32>(a1.w), b1, acc7_1);
        }
        workgroupBarrier();
    }
    if valid {
        let row = mt * 128u + ty * 8u;
        let col = nt * 128u + tx * 8u;
        let c0 = cols_at(col);
        let c1 = cols_at(col + 4u);
        store_row(row + 0u, c0, acc0_0);
        store_row(row + 0u, c1, acc0_1);
        store_row(row + 1u, c0, acc1_0);
        store_row(row + 1u, c1, acc1_1);
        store_row(row + 2u, c0, acc2_0);
        store_row(row + 2u, c1, acc2_1);
        store_row(row + 3u, c0, acc3_0);
        store_row(row + 3u, c1, acc3_1);
        store_row(row + 4u, c0, acc4_0);
        store_row(row + 4u, c1, acc4_1);
        store_row(row + 5u, c0, acc5_0);
        store_row(row + 5u, c1, acc5_1);
        store_row(row + 6u, c0, acc6_0);
        store_row(row + 6u, c1, acc6_1);
        store_row(row + 7u, c0, acc7_0);
        store_row(row + 7u, c1, acc7_1);
    }
}
