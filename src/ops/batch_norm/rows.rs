//! The rows layout of batch normalization (shaders/batch_norm_rows.wgsl), for rows of more
//! than 64 units: one workgroup per (channel, chunk of `per_chunk` consecutive units of the
//! channel), whose threads stride the chunk.

use super::{BnShape, Plan, PER_CHUNK};

/// The plan of a shape with `su` units per row (vec4 units when `v4`).
pub(super) fn plan(s: &BnShape, v4: bool, su: usize) -> Plan {
    let mu = s.batch * su;
    let per = PER_CHUNK / if v4 { 4 } else { 1 };
    let chunks = mu.div_ceil(per).max(1);
    Plan {
        shader: "batch_norm_rows",
        v4,
        su,
        mu,
        chunks,
        per_chunk: if chunks == 1 { mu } else { per },
        cpw: 1,
        bper: s.batch,
        groups: s.channels * chunks,
    }
}
