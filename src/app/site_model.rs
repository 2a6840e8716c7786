//! Resetting the site model: what this site's labels taught it is dropped, durably and on
//! every frontend, with a record of who did it and why. The labels themselves stay (they are
//! the site's history, and `train --from-store` reads them); the model learns again from the
//! labels given after the reset.

use tracing::info;

use crate::comment::now_ms;
use crate::scoring::SiteModelReset;
use crate::store::StoreError;

use super::App;

/// The setting holding the latest reset.
const RESET_KEY: &str = "site_model_reset";
/// Each reset is also kept under this prefix and its time, as the log of resets.
const RESET_LOG_PREFIX: &str = "site_model_reset/";

impl App {
    /// Drops what the site's labels taught the site model, for every frontend and every
    /// later start: the reset is stored, then the model is rebuilt from the labels given
    /// after it (none yet). The version it reports changes, and with it `policy_version`.
    ///
    /// # Errors
    /// The store could not keep the reset or read the labels; nothing changes when the
    /// reset could not be stored.
    pub async fn reset_site_model(
        &self,
        by: &str,
        note: &str,
    ) -> Result<SiteModelReset, StoreError> {
        let reset = SiteModelReset {
            at_ms: now_ms(),
            by: by.to_owned(),
            note: note.to_owned(),
            labels_dropped: self.pipeline.scorer().site_model().labelled() as u64,
        };
        let json = serde_json::to_vec(&reset).unwrap_or_default();
        self.store
            .put_settings(vec![
                (RESET_KEY.to_owned(), json.clone()),
                (format!("{RESET_LOG_PREFIX}{:020}", reset.at_ms), json),
            ])
            .await?;
        self.relearn_all().await?;
        info!(
            moderator = by,
            labels_dropped = reset.labels_dropped,
            "site model reset"
        );
        Ok(reset)
    }

    /// The latest reset of the site model, if any.
    ///
    /// # Errors
    /// The store could not be read; a stored reset that does not decode is
    /// [`StoreError::Corrupt`].
    pub async fn site_model_reset(&self) -> Result<Option<SiteModelReset>, StoreError> {
        match self.store.setting(RESET_KEY).await? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|_| StoreError::Corrupt("site model reset".into())),
        }
    }

    /// Follows a reset made on another frontend of a shared store: rebuilds when the stored
    /// reset is not the one this frontend's site model started from.
    ///
    /// # Errors
    /// The store could not be read.
    pub async fn follow_site_model_reset(&self) -> Result<(), StoreError> {
        let stored = self.site_model_reset().await?.map_or(0, |r| r.at_ms);
        if stored != self.pipeline.scorer().site_reset_ms() {
            info!("site model reset by another frontend");
            self.relearn_all().await?;
        }
        Ok(())
    }
}
