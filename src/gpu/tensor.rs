//! A tensor: one storage buffer of 32-bit elements (f32, or u32 for counters) and a shape.

use super::Gpu;
use anyhow::{anyhow, bail, Result};
use std::sync::mpsc;

pub struct Tensor {
    pub buffer: wgpu::Buffer,
    pub shape: Vec<usize>,
    pub label: String,
}

impl Tensor {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn bytes(&self) -> u64 {
        self.len() as u64 * 4
    }
}

impl Gpu {
    fn check_size(&self, label: &str, shape: &[usize]) -> Result<u64> {
        let n: usize = shape.iter().product();
        let bytes = n as u64 * 4;
        let max = self.limits.max_storage_buffer_binding_size;
        if bytes > max {
            bail!(
                "tensor {label} of shape {shape:?} needs {} MiB, more than the {} MiB a storage \
                 binding may hold on this device: use a smaller batch or shape",
                bytes >> 20,
                max >> 20
            );
        }
        Ok(bytes.max(16))
    }

    /// A zero-filled tensor.
    pub fn zeros(&self, label: &str, shape: &[usize]) -> Result<Tensor> {
        let size = self.check_size(label, shape)?;
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: size.next_multiple_of(16),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(Tensor {
            buffer,
            shape: shape.to_vec(),
            label: label.to_string(),
        })
    }

    /// A tensor holding `data` (f32 or u32), whose length must match the shape.
    pub fn upload<T: bytemuck::Pod>(&self, label: &str, shape: &[usize], data: &[T]) -> Result<Tensor> {
        assert_eq!(std::mem::size_of::<T>(), 4, "tensors hold 32-bit elements");
        let n: usize = shape.iter().product();
        if n != data.len() {
            bail!(
                "tensor {label}: shape {shape:?} holds {n} elements but {} were given",
                data.len()
            );
        }
        let t = self.zeros(label, shape)?;
        if n > 0 {
            self.queue.write_buffer(&t.buffer, 0, bytemuck::cast_slice(data));
        }
        Ok(t)
    }

    /// Overwrites a tensor's contents (takes effect at the next submit).
    pub fn write<T: bytemuck::Pod>(&self, t: &Tensor, data: &[T]) -> Result<()> {
        if data.len() != t.len() {
            bail!("write of {} elements into a tensor of shape {:?}", data.len(), t.shape);
        }
        if !data.is_empty() {
            self.queue.write_buffer(&t.buffer, 0, bytemuck::cast_slice(data));
        }
        Ok(())
    }

    /// Reads a tensor back to the CPU (blocks; never used inside the Langevin loop).
    pub fn read<T: bytemuck::Pod>(&self, t: &Tensor) -> Result<Vec<T>> {
        self.read_range(t, 0, t.len())
    }

    /// Reads `count` elements starting at element `start`.
    pub fn read_range<T: bytemuck::Pod>(&self, t: &Tensor, start: usize, count: usize) -> Result<Vec<T>> {
        assert_eq!(std::mem::size_of::<T>(), 4, "tensors hold 32-bit elements");
        if start + count > t.len() {
            bail!(
                "read of {start}..{} from a tensor of {} elements",
                start + count,
                t.len()
            );
        }
        if count == 0 {
            return Ok(Vec::new());
        }
        let bytes = (count as u64 * 4).next_multiple_of(4);
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("read-back"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("read-back"),
        });
        enc.copy_buffer_to_buffer(&t.buffer, start as u64 * 4, &staging, 0, bytes);
        self.queue.submit([enc.finish()]);
        self.readbacks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.wait()?;
        rx.recv()
            .map_err(|_| anyhow!("read-back of {} never completed", t.label))?
            .map_err(|e| anyhow!("read-back failed: {e}"))?;
        let view = staging
            .get_mapped_range(..)
            .map_err(|e| anyhow!("read-back failed: {e}"))?;
        let out: Vec<T> = bytemuck::cast_slice(&view[..count * 4]).to_vec();
        drop(view);
        staging.unmap();
        Ok(out)
    }

    /// Copies `src` into `dst` (same length) on the GPU.
    pub fn copy(&self, enc: &mut wgpu::CommandEncoder, src: &Tensor, dst: &Tensor) {
        assert_eq!(src.len(), dst.len(), "copy between tensors of different length");
        if !src.is_empty() {
            enc.copy_buffer_to_buffer(&src.buffer, 0, &dst.buffer, 0, src.bytes());
        }
    }
}
