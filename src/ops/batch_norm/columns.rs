//! The columns layout of batch normalization (shaders/batch_norm_columns.wgsl), for rows of
//! at most 64 units (many channels with small spatial, spatial 1 after a dense layer): one
//! workgroup per (block of `cpw` whole channels, chunk of `bper` examples), so neighbouring
//! threads read neighbouring units.

use super::{BnShape, Plan, PER_CHUNK, WORKGROUP};

/// The plan of a shape with `su` units per row (vec4 units when `v4`).
pub(super) fn plan(s: &BnShape, v4: bool, su: usize) -> Plan {
    let w = if v4 { 4 } else { 1 };
    let mu = s.batch * su;
    let cpw = WORKGROUP as usize / su;
    let bper = (PER_CHUNK / (w * su * cpw)).max(1);
    let chunks = s.batch.div_ceil(bper);
    let bper = s.batch.div_ceil(chunks);
    Plan {
        shader: "batch_norm_columns",
        v4,
        su,
        mu,
        chunks,
        per_chunk: mu,
        cpw,
        bper,
        groups: s.channels.div_ceil(cpw) * chunks,
    }
}
