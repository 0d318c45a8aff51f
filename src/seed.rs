//! The one place where random streams are derived from a run's seed.
//!
//! A run has one [`Seed`] (the u64 `--seed` of every subcommand). Each use of random numbers is
//! a [`Stream`]; the pair (seed, stream) gives
//! - on the GPU, the two 32-bit words of the Philox4x32-10 key ([`Seed::key`]): both words
//!   depend on all 64 bits of the seed and on the stream, so seeds that differ only above
//!   2^32 draw different numbers, and no two streams of one seed share a key;
//! - on the CPU, a `StdRng` ([`Seed::rng`]) for the draws made there (initial weights,
//!   occlusion masks, sensing matrices, benchmark data), seeded from the same 64-bit mix.
//!
//! The counter of a Philox draw is (element / 4, step, 0, 0) (see `ops::philox`), so a value
//! depends only on (seed, stream, step, element), never on how work is batched or dispatched.
//!
//! The mix is SplitMix64's finalizer (Steele, Lea, Flood 2014) applied to the seed and then
//! to the result combined with the stream's number: `h = mix(mix(seed) ^ (stream + 1) * G)`,
//! with G = 0x9E3779B97F4A7C15; the key is (low word of h, high word of h).

use rand::{rngs::StdRng, SeedableRng};
use serde::{Deserialize, Serialize};

/// A run's seed: all 64 bits are used by every stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Seed(pub u64);

/// Every use of random numbers in abprop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// The Langevin noise of training (GPU).
    Langevin,
    /// The initial Z of the persistent chains, and Z ~ N(0, I) at the start of a reconstruction
    /// (GPU).
    InitZ,
    /// Z ~ N(0, I) of synthesized samples and training snapshots (GPU).
    Synthesize,
    /// Fresh short-run chains' Z at every iteration (GPU).
    FreshZ,
    /// The Langevin noise of inference with W fixed: reconstruction and evaluation (GPU).
    Reconstruct,
    /// The initial weights, N(0, 0.005^2) (CPU).
    Weights,
    /// The occlusion masks of training images (CPU; image i from its own sub-stream).
    TrainMasks,
    /// The occlusion masks of test images (CPU).
    TestMasks,
    /// The compressed-sensing matrix (CPU).
    Sensing,
    /// Random data of the benchmarks (CPU).
    BenchData,
    /// Z_0 and the innovations eta_t of a synthesized sequence of the learned dynamics (CPU).
    Dynamics,
    /// The same for the linear dynamic system baseline (CPU).
    LdsDynamics,
    /// The momenta of Hamiltonian Monte Carlo's leapfrog trajectories (GPU).
    Momentum,
    /// The uniforms of Hamiltonian Monte Carlo's per-example accept/reject (GPU).
    Accept,
    /// The noise eps of the encoder's proposals z_0 = mu + sigma eps (IABP/HiABP; GPU).
    Propose,
    /// The encoder's initial weights (CPU).
    EncoderWeights,
}

impl Stream {
    /// The stream's number in the derivation (fixed: changing one changes every result).
    fn id(self) -> u64 {
        match self {
            Stream::Langevin => 0,
            Stream::InitZ => 1,
            Stream::Synthesize => 2,
            Stream::FreshZ => 3,
            Stream::Reconstruct => 4,
            Stream::Weights => 5,
            Stream::TrainMasks => 6,
            Stream::TestMasks => 7,
            Stream::Sensing => 8,
            Stream::BenchData => 9,
            Stream::Dynamics => 10,
            Stream::LdsDynamics => 11,
            Stream::Momentum => 12,
            Stream::Accept => 13,
            Stream::Propose => 14,
            Stream::EncoderWeights => 15,
        }
    }
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's finalizer: a bijection of u64 that mixes every input bit into every output bit.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(GOLDEN);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl Seed {
    /// The 64-bit hash of (seed, stream).
    fn hash(self, s: Stream) -> u64 {
        mix(mix(self.0) ^ (s.id() + 1).wrapping_mul(GOLDEN))
    }

    /// The Philox4x32-10 key of `stream` (GPU draws).
    pub fn key(self, s: Stream) -> [u32; 2] {
        let h = self.hash(s);
        [h as u32, (h >> 32) as u32]
    }

    /// A CPU generator for `stream`.
    pub fn rng(self, s: Stream) -> StdRng {
        StdRng::seed_from_u64(self.hash(s))
    }

    /// A CPU generator for item `i` of `stream` (e.g. image i's mask), independent of how many
    /// items come before it.
    pub fn rng_at(self, s: Stream, i: u64) -> StdRng {
        StdRng::seed_from_u64(mix(self.hash(s) ^ i.wrapping_add(1).wrapping_mul(GOLDEN)))
    }
}

impl From<u64> for Seed {
    fn from(s: u64) -> Seed {
        Seed(s)
    }
}

impl std::fmt::Display for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for Seed {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Seed, Self::Err> {
        s.trim().parse().map(Seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Stream; 16] = [
        Stream::Langevin,
        Stream::InitZ,
        Stream::Synthesize,
        Stream::FreshZ,
        Stream::Reconstruct,
        Stream::Weights,
        Stream::TrainMasks,
        Stream::TestMasks,
        Stream::Sensing,
        Stream::BenchData,
        Stream::Dynamics,
        Stream::LdsDynamics,
        Stream::Momentum,
        Stream::Accept,
        Stream::Propose,
        Stream::EncoderWeights,
    ];

    #[test]
    fn seeds_differing_above_32_bits_differ() {
        for s in ALL {
            assert_ne!(Seed(1).key(s), Seed(1 + (1 << 32)).key(s), "{s:?}");
            assert_ne!(Seed(7).key(s), Seed(7 | (1 << 63)).key(s), "{s:?}");
        }
    }

    #[test]
    fn streams_of_one_seed_have_distinct_keys_and_both_words_vary() {
        for seed in [0u64, 1, 2, u64::MAX] {
            let keys: Vec<[u32; 2]> = ALL.iter().map(|&s| Seed(seed).key(s)).collect();
            for i in 0..keys.len() {
                for j in 0..i {
                    assert_ne!(keys[i], keys[j], "seed {seed}: {:?} and {:?}", ALL[i], ALL[j]);
                }
            }
        }
        // Each key word depends on the seed.
        let (a, b) = (Seed(3).key(Stream::Langevin), Seed(4).key(Stream::Langevin));
        assert!(a[0] != b[0] && a[1] != b[1], "{a:?} {b:?}");
    }

    #[test]
    fn items_of_a_stream_differ_and_seeds_parse() {
        use rand::Rng;
        let a: u64 = Seed(9).rng_at(Stream::TrainMasks, 0).random();
        let b: u64 = Seed(9).rng_at(Stream::TrainMasks, 1).random();
        let c: u64 = Seed(9).rng(Stream::TrainMasks).random();
        assert!(a != b && a != c && b != c);
        assert_eq!("42".parse::<Seed>().unwrap(), Seed(42));
        assert_eq!("18446744073709551615".parse::<Seed>().unwrap(), Seed(u64::MAX));
        assert!("-1".parse::<Seed>().is_err());
    }
}
