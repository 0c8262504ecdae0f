//! The frozen SynthClickMatte test set: 50 foregrounds × 20 backgrounds = 1,000 images,
//! mirroring Composition-1k's test split, with deterministic clicks.
//!
//! Foreground `f` and the scene of pair `(f, b)` come from streams derived from a fixed
//! seed ([`TEST_SEED`], never the training seed) and their indices, so the set is the
//! same in every run and at every resolution (geometry is drawn in units of the image
//! side). Like Composition-1k, every foreground has its own 20 backgrounds; the
//! foreground is the unit of a bootstrap, not the image. Item `i` is foreground
//! `i / 20` over its background `i % 20`.
//!
//! Clicks ([`crate::clicks::test_clicks`]): one foreground click at the deepest point
//! of the solid core, then one background click per visible distractor. The
//! [`Protocol`]s give the network none of them, the first one, or all of them; the
//! interactive protocol starts from the first and adds [`crate::clicks::next_click`]s.

use serde::{Deserialize, Serialize};

use super::synth::{Kind, SceneSpec, SynthClickMatte, SynthConfig, TargetSpec};
use super::MattingSample;
use crate::clicks::{click_radius, test_clicks, Click};
use crate::{Error, Result};
use candor_core::SeededRng;

/// Foregrounds in the frozen test set.
pub const TEST_FOREGROUNDS: usize = 50;
/// Backgrounds per foreground.
pub const TEST_BACKGROUNDS: usize = 20;
/// The seed the test set is derived from (fixed; not the training seed).
pub const TEST_SEED: u64 = 0x7e57_5eed_c11c_4a77;

/// Which of the deterministic clicks the network sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// No click (what a trimap-free network sees).
    NoClick,
    /// The first deterministic click (the foreground click when the target has a
    /// solid core wide enough, else the first background click).
    OneClick,
    /// Every deterministic click.
    AllClicks,
}

/// One test image with its provenance and clicks.
#[derive(Debug, Clone)]
pub struct TestItem {
    /// The image, alpha, F, B and distractor map.
    pub sample: MattingSample,
    /// Foreground index, 0..50.
    pub foreground: usize,
    /// Background index of this foreground, 0..20.
    pub background: usize,
    /// The kind of the target.
    pub kind: Kind,
    /// The deterministic clicks (see the module docs).
    pub clicks: Vec<Click>,
}

impl TestItem {
    /// The clicks a protocol shows.
    pub fn clicks_for(&self, protocol: Protocol) -> &[Click] {
        match protocol {
            Protocol::NoClick => &[],
            Protocol::OneClick => &self.clicks[..self.clicks.len().min(1)],
            Protocol::AllClicks => &self.clicks,
        }
    }
}

/// The frozen test set rendered at one resolution.
#[derive(Debug, Clone)]
pub struct FrozenTestSet {
    gen: SynthClickMatte,
    targets: Vec<TargetSpec>,
}

impl FrozenTestSet {
    /// The test set at `size × size` (the generator's other settings are the defaults).
    pub fn new(size: usize) -> Result<Self> {
        let gen = SynthClickMatte::new(SynthConfig::with_size(size))?;
        let targets = (0..TEST_FOREGROUNDS)
            .map(|f| {
                let mut rng = SeededRng::derive(TEST_SEED, &format!("test/fg/{f}"));
                gen.sample_target(&mut rng)
            })
            .collect();
        Ok(FrozenTestSet { gen, targets })
    }

    /// Number of items (1,000).
    pub fn len(&self) -> usize {
        TEST_FOREGROUNDS * TEST_BACKGROUNDS
    }

    /// Always false.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Side of the images.
    pub fn size(&self) -> usize {
        self.gen.config().size
    }

    fn scene(&self, f: usize, b: usize) -> SceneSpec {
        let mut rng = SeededRng::derive(TEST_SEED, &format!("test/bg/{f}/{b}"));
        self.gen.sample_scene(&mut rng)
    }

    /// Item `i` (foreground `i / 20`, background `i % 20`).
    pub fn item(&self, i: usize) -> Result<TestItem> {
        if i >= self.len() {
            return Err(Error::invalid(format!(
                "test item {i} out of range ({} items)",
                self.len()
            )));
        }
        let (f, b) = (i / TEST_BACKGROUNDS, i % TEST_BACKGROUNDS);
        let target = &self.targets[f];
        let sample = self.gen.render(target, &self.scene(f, b), self.size())?;
        let clicks = test_clicks(
            &sample.alpha,
            sample.distractors.as_ref(),
            click_radius(self.size()),
        )?;
        Ok(TestItem {
            sample,
            foreground: f,
            background: b,
            kind: target.alpha.kind,
            clicks,
        })
    }

    /// The first `n` items in a balanced order: background `b` of every foreground
    /// before background `b + 1` of any, so any prefix covers the foregrounds evenly
    /// (e.g. 300 items = 6 backgrounds of each of the 50 foregrounds).
    pub fn balanced_indices(&self, n: usize) -> Vec<usize> {
        (0..self.len().min(n))
            .map(|k| (k % TEST_FOREGROUNDS) * TEST_BACKGROUNDS + k / TEST_FOREGROUNDS)
            .collect()
    }
}
