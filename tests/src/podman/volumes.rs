//! The ConfigMap and Secret volumes of a played pod, kept as the kubelet keeps them: written
//! with its AtomicWriter's steps (`kubelet.rs`), with `defaultMode` and `fsGroup` applied, and
//! updated the same way when the test edits the ConfigMap.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::kubelet::AtomicVolume;

/// A ConfigMap's or Secret's keys and their content.
pub(crate) type Payload = BTreeMap<String, Vec<u8>>;

/// A ConfigMap or Secret volume of one pod, as the kubelet keeps it.
pub(crate) struct KubeletVolume {
    /// The ConfigMap's or Secret's name.
    pub source: String,
    volume: AtomicVolume,
    mode: u32,
    group: Option<u32>,
}

impl KubeletVolume {
    pub(super) fn create(
        dir: &Path,
        source: &str,
        payload: &Payload,
        mode: u32,
        group: Option<u32>,
    ) -> Self {
        let volume = AtomicVolume::create(dir, &as_slices(payload));
        let volume = KubeletVolume {
            source: source.to_owned(),
            volume,
            mode,
            group,
        };
        volume.set_modes(payload);
        volume
    }

    /// Writes `payload` as the kubelet writes an update.
    pub fn update(&mut self, payload: &Payload) {
        self.volume.update(&as_slices(payload));
        self.set_modes(payload);
    }

    /// The files' `defaultMode` and `fsGroup`, as the kubelet sets them. (They are set just
    /// after the files appear, a moment the kubelet avoids: the files are readable before.)
    fn set_modes(&self, payload: &Payload) {
        let data = self.volume.dir().join(self.volume.data_dir());
        for key in payload.keys() {
            let file = data.join(key);
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(self.mode))
                .unwrap_or_else(|e| panic!("chmod {}: {e}", file.display()));
            std::os::unix::fs::chown(&file, None, self.group)
                .unwrap_or_else(|e| panic!("chgrp {}: {e}", file.display()));
        }
    }
}

fn as_slices(payload: &Payload) -> Vec<(&str, &[u8])> {
    payload
        .iter()
        .map(|(key, content)| (key.as_str(), content.as_slice()))
        .collect()
}
