//! The models the service scores with, swappable while serving: `SIGHUP` reloads each model
//! file, and requests already running finish on the model they started with.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::classifier::{ModelError, SpamModel};
use crate::toxicity::ToxicityModel;

/// A model a file (or the binary) holds.
pub trait Loadable: Sized {
    /// What the shipped model is called in logs.
    const SHIPPED_NAME: &'static str;
    /// Loads the file at `path`, or the shipped model.
    ///
    /// # Errors
    /// When the file is missing, damaged or incompatible.
    fn load_from(path: Option<&Path>) -> Result<Self, ModelError>;
}

impl Loadable for SpamModel {
    const SHIPPED_NAME: &'static str = crate::classifier::SHIPPED_MODEL_NAME;
    fn load_from(path: Option<&Path>) -> Result<Self, ModelError> {
        SpamModel::load_or_shipped(path)
    }
}

impl Loadable for ToxicityModel {
    const SHIPPED_NAME: &'static str = crate::toxicity::SHIPPED_TOXICITY_MODEL_NAME;
    fn load_from(path: Option<&Path>) -> Result<Self, ModelError> {
        ToxicityModel::load_or_shipped(path)
    }
}

/// A shared slot holding the current model.
#[derive(Debug)]
pub struct Live<M> {
    /// The model file, or `None` for the shipped model built into the binary.
    path: Option<PathBuf>,
    current: RwLock<Arc<M>>,
}

/// The spam model in service.
pub type LiveModel = Live<SpamModel>;

impl<M: Loadable> Live<M> {
    /// Loads the model file at `path`, or the shipped model when `path` is `None`.
    ///
    /// # Errors
    /// When the file is missing, damaged or incompatible.
    pub fn load(path: Option<PathBuf>) -> Result<Self, ModelError> {
        let model = M::load_from(path.as_deref())?;
        Ok(Self {
            path,
            current: RwLock::new(Arc::new(model)),
        })
    }

    /// Where the model comes from, for the log: its file, or the shipped model.
    pub fn source(&self) -> String {
        self.path.as_ref().map_or_else(
            || M::SHIPPED_NAME.to_owned(),
            |path| path.display().to_string(),
        )
    }

    /// The model to use for one request. Holding the `Arc` keeps that model alive across a
    /// reload.
    pub fn get(&self) -> Arc<M> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            // Writers only swap an Arc, so a poisoned lock still holds a whole model.
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Loads the model file again and swaps it in whole; on failure the current model stays.
    /// The shipped model cannot change while the binary runs: reloading it keeps it.
    ///
    /// # Errors
    /// When the file is missing, damaged or incompatible.
    pub fn reload(&self) -> Result<Arc<M>, ModelError> {
        let model = Arc::new(M::load_from(self.path.as_deref())?);
        let mut slot = match self.current.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *slot = Arc::clone(&model);
        Ok(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classifier::model_file::ModelFile;

    fn shipped() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/default.json")
    }

    #[test]
    fn reload_swaps_whole_models_and_keeps_the_old_one_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.json");
        std::fs::copy(shipped(), &path).unwrap();
        let live = LiveModel::load(Some(path.clone())).unwrap();
        let first = live.get();

        // A retrained model (here: the same parameters under another recorded command, so
        // another checksum) replaces it; a request holding the old one keeps it.
        let mut retrained = ModelFile::load(&path).unwrap();
        retrained.training_command.push_str(" --retrained");
        retrained.checksum = retrained.compute_checksum();
        retrained.save(&path).unwrap();
        let second = live.reload().unwrap();
        assert_ne!(second.version(), first.version());
        assert_eq!(live.get().version(), second.version());
        assert!(!first.version().is_empty());

        // A damaged file is refused and the current model stays.
        std::fs::write(&path, "{ not a model").unwrap();
        assert!(live.reload().is_err());
        assert_eq!(live.get().version(), second.version());
    }
}
