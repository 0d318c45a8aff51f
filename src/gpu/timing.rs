//! Timing of a dispatch sequence: GPU timestamp queries where the adapter has them, the
//! wall clock around a blocking wait where it does not.

use super::{Dispatch, Gpu};
use anyhow::{anyhow, Result};
use std::time::Instant;

pub struct Timer {
    /// "timestamp" or "wall".
    pub method: &'static str,
}

impl Timer {
    pub fn new(gpu: &Gpu) -> Timer {
        Timer {
            method: if gpu.has_timestamps() { "timestamp" } else { "wall" },
        }
    }

    /// Seconds per run of `seq`, over `reps` runs recorded back to back in one pass (after one
    /// warm-up run that includes the driver's shader compilation).
    pub fn time(&self, gpu: &Gpu, seq: &[&Dispatch], reps: u32) -> Result<f64> {
        gpu.run(seq)?;
        if self.method == "wall" {
            let t = Instant::now();
            let mut enc = gpu.encoder();
            {
                let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("timed"),
                    timestamp_writes: None,
                });
                for _ in 0..reps {
                    for d in seq {
                        d.record(&mut pass);
                    }
                }
            }
            gpu.submit(enc, "timed sequence")?;
            gpu.wait()?;
            return Ok(t.elapsed().as_secs_f64() / reps as f64);
        }
        let qs = gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("timer"),
            ty: wgpu::QueryType::Timestamp,
            count: 2,
        });
        let resolve = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timer resolve"),
            size: 16,
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let read = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("timer read"),
            size: 16,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = gpu.encoder();
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("timed"),
                timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                    query_set: &qs,
                    beginning_of_pass_write_index: Some(0),
                    end_of_pass_write_index: Some(1),
                }),
            });
            for _ in 0..reps {
                for d in seq {
                    d.record(&mut pass);
                }
            }
        }
        enc.resolve_query_set(&qs, 0..2, &resolve, 0);
        enc.copy_buffer_to_buffer(&resolve, 0, &read, 0, 16);
        gpu.submit(enc, "timed sequence")?;
        let (tx, rx) = std::sync::mpsc::channel();
        read.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        gpu.wait()?;
        rx.recv()
            .map_err(|_| anyhow!("timestamp read-back never completed"))??;
        let view = read.get_mapped_range(..).map_err(|e| anyhow!("{e}"))?;
        let t: &[u64] = bytemuck::cast_slice(&view[..16]);
        let ns = t[1].wrapping_sub(t[0]) as f64 * gpu.queue.get_timestamp_period() as f64;
        Ok(ns * 1e-9 / reps as f64)
    }
}
