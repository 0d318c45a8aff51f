//! Checkpoints in the safetensors format: named f32 (or u32) tensors and string metadata,
//! written atomically (a temporary file in the same folder, synced, then renamed over the old
//! one), so a crash or a full disk never leaves a half-written checkpoint behind.

use anyhow::{bail, Context, Result};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

/// A named tensor on the host.
#[derive(Clone, Debug, PartialEq)]
pub enum HostTensor {
    F32(Vec<usize>, Vec<f32>),
    U32(Vec<usize>, Vec<u32>),
}

impl HostTensor {
    pub fn shape(&self) -> &[usize] {
        match self {
            HostTensor::F32(s, _) | HostTensor::U32(s, _) => s,
        }
    }
    pub fn f32(&self) -> Result<&[f32]> {
        match self {
            HostTensor::F32(_, v) => Ok(v),
            _ => bail!("expected an f32 tensor"),
        }
    }
    pub fn u32(&self) -> Result<&[u32]> {
        match self {
            HostTensor::U32(_, v) => Ok(v),
            _ => bail!("expected a u32 tensor"),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checkpoint {
    pub tensors: BTreeMap<String, HostTensor>,
    pub metadata: HashMap<String, String>,
}

impl Checkpoint {
    pub fn get(&self, name: &str) -> Result<&HostTensor> {
        self.tensors
            .get(name)
            .with_context(|| format!("the checkpoint has no tensor {name:?}"))
    }
    pub fn meta(&self, key: &str) -> Result<&str> {
        self.metadata
            .get(key)
            .map(|s| s.as_str())
            .with_context(|| format!("the checkpoint has no metadata {key:?}"))
    }

    /// Serializes to bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut views = Vec::new();
        for (name, t) in &self.tensors {
            let (dtype, shape, bytes): (Dtype, &[usize], &[u8]) = match t {
                HostTensor::F32(s, v) => (Dtype::F32, s, bytemuck::cast_slice(v)),
                HostTensor::U32(s, v) => (Dtype::U32, s, bytemuck::cast_slice(v)),
            };
            views.push((
                name.clone(),
                TensorView::new(dtype, shape.to_vec(), bytes).with_context(|| format!("tensor {name}"))?,
            ));
        }
        Ok(safetensors::serialize(views, Some(self.metadata.clone()))?)
    }

    pub fn from_bytes(bytes: &[u8], what: &str) -> Result<Checkpoint> {
        let st = SafeTensors::deserialize(bytes).with_context(|| format!("{what} is not a valid safetensors file"))?;
        let (_, meta) = SafeTensors::read_metadata(bytes)?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            let shape = view.shape().to_vec();
            let data = view.data();
            let t = match view.dtype() {
                Dtype::F32 => HostTensor::F32(shape, bytemuck::pod_collect_to_vec(data)),
                Dtype::U32 => HostTensor::U32(shape, bytemuck::pod_collect_to_vec(data)),
                d => bail!("{what}: tensor {name} has dtype {d:?}; abprop reads F32 and U32"),
            };
            tensors.insert(name, t);
        }
        Ok(Checkpoint {
            tensors,
            metadata: meta.metadata().clone().unwrap_or_default(),
        })
    }

    /// Writes atomically: the file at `path` is either the old one or the complete new one.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.to_bytes()?)
    }

    pub fn load(path: &Path) -> Result<Checkpoint> {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read checkpoint {}", path.display()))?;
        Checkpoint::from_bytes(&bytes, &path.display().to_string())
    }
}

/// Writes `bytes` to `path` through a synced temporary file renamed over it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?;
    let tmp = dir.join(format!(".{}.tmp{}", name.to_string_lossy(), std::process::id()));
    let result = (|| -> Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}
