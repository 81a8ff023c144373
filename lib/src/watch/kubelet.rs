//! The kubelet's layout of a Secret, ConfigMap, downward API or projected volume, known here and
//! nowhere else: which names are its internals, and when it committed the content in place.
//!
//! The kubelet's AtomicWriter writes each version of the payload into a new directory named for
//! the time of the write, `..2026_11_23_01_02_03.4152816290` (UTC, to the second, then a random
//! suffix), points a `..data_tmp` symlink at it and renames that over `..data`: the rename is the
//! commit. The user-visible names (`tls.crt`) are symlinks to `..data/tls.crt`. This module only
//! reads that layout; watching it is [`super::VolumeWatch`]'s job.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// The symlink whose rename commits an update.
pub const DATA: &str = "..data";

/// Whether `name`, an entry of a volume directory, is the kubelet's own (`..data`, `..data_tmp`,
/// a timestamped directory) rather than a key of the payload: those hold the same files again
/// under other names, and a reader that walks the volume skips them.
pub fn is_internal(name: &OsStr) -> bool {
    name.as_bytes().starts_with(b"..")
}

/// When the kubelet committed the content of the volume at `dir`, or `None` for a directory the
/// kubelet does not write (no `..data` link).
///
/// The modification time of the `..data` link itself (made as `..data_tmp` just before the
/// rename, to the nanosecond) when the filesystem keeps one, else the time in the timestamped
/// directory's name (to the second). A tool measures its delay from here, not from when it
/// noticed the change.
pub fn commit_time(dir: &Path) -> Option<SystemTime> {
    let link = dir.join(DATA);
    let target = std::fs::read_link(&link).ok()?;
    let precise = std::fs::symlink_metadata(&link)
        .and_then(|m| m.modified())
        .ok();
    precise.or_else(|| timestamp(target.file_name()?.to_str()?))
}

/// Whether `path` is a regular file mounted on its own: what a `subPath` mount of a ConfigMap or
/// Secret key is. The kubelet binds the file once, when the container starts, and never updates
/// it: a watcher of it waits for nothing.
///
/// A mount point is found in `/proc/self/mountinfo` (a bind mount of a file from the same
/// filesystem has the same device as its directory), or, without it, by a device that differs
/// from its directory's.
pub fn is_single_file_mount(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(metadata) = std::fs::metadata(path) else {
        return false;
    };
    if !metadata.is_file() {
        return false;
    }
    let Ok(real) = std::fs::canonicalize(path) else {
        return false;
    };
    match std::fs::read_to_string("/proc/self/mountinfo") {
        Ok(mountinfo) => mountinfo
            .lines()
            .filter_map(|line| line.split(' ').nth(4))
            .any(|mount_point| Path::new(&unescape(mount_point)) == real),
        Err(_) => real
            .parent()
            .and_then(|dir| std::fs::metadata(dir).ok())
            .is_some_and(|dir| dir.dev() != metadata.dev()),
    }
}

/// A mountinfo field with its octal escapes (`\040` for a space) undone.
fn unescape(field: &str) -> std::ffi::OsString {
    use std::os::unix::ffi::OsStringExt;
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|digits| {
            let text = std::str::from_utf8(digits).ok()?;
            u8::from_str_radix(text, 8).ok()
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    std::ffi::OsString::from_vec(out)
}

/// `..YYYY_MM_DD_HH_MM_SS.<anything>` as a UTC time.
fn timestamp(name: &str) -> Option<SystemTime> {
    let stamp = name.strip_prefix("..")?.split('.').next()?;
    let fields: Vec<u64> = stamp
        .split('_')
        .map(|field| field.parse().ok())
        .collect::<Option<_>>()?;
    let [year, month, day, hour, minute, second] = fields[..] else {
        return None;
    };
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day)?;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: u64, month: u64, day: u64) -> Option<u64> {
    let year = i64::try_from(year).ok()? - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::try_from(month).ok()?;
    let day_of_year =
        (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + i64::try_from(day).ok()? - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    u64::try_from(era * 146_097 + day_of_era - 719_468).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unix(name: &str) -> Option<u64> {
        timestamp(name).map(|t| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs())
    }

    #[test]
    fn reads_the_kubelet_timestamp_as_utc() {
        assert_eq!(unix("..1970_01_01_00_00_00.1"), Some(0));
        // date -u -d 2026-11-23T01:02:03 +%s
        assert_eq!(
            unix("..2026_11_23_01_02_03.4152816290"),
            Some(1_795_395_723)
        );
        assert_eq!(unix("..2024_02_29_12_00_00.7"), Some(1_709_208_000));
    }

    #[test]
    fn other_names_have_no_time() {
        for name in [
            "data",
            "..data",
            "..2026_13_01_00_00_00.1",
            "..2026_11_23.1",
            "..x_y_z_a_b_c.1",
        ] {
            assert_eq!(unix(name), None, "{name}");
        }
    }

    #[test]
    fn the_commit_time_is_the_data_links_own_and_a_plain_directory_has_none() {
        let dir = std::env::temp_dir().join(format!("podkit-kubelet-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("..2001_01_01_00_00_00.1")).unwrap();
        assert_eq!(commit_time(&dir), None, "no ..data yet: a plain directory");

        let before = SystemTime::now() - Duration::from_secs(1);
        std::os::unix::fs::symlink("..2001_01_01_00_00_00.1", dir.join(DATA)).unwrap();
        let committed = commit_time(&dir).expect("a kubelet volume has a commit time");
        assert!(
            committed >= before,
            "the link's own time, not the 2001 of its target's name: {committed:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn mountinfo_escapes_are_undone_and_a_plain_file_is_no_mount() {
        assert_eq!(unescape(r"/etc/my\040app/a\134b"), "/etc/my app/a\\b");
        assert_eq!(unescape(r"/x\0"), r"/x\0");
        let file = std::env::temp_dir().join(format!("podkit-mount-{}", std::process::id()));
        std::fs::write(&file, "x").unwrap();
        assert!(!is_single_file_mount(&file));
        assert!(
            !is_single_file_mount(Path::new("/")),
            "a directory, not a file"
        );
        std::fs::remove_file(&file).unwrap();
    }

    #[test]
    fn internal_names_start_with_two_dots() {
        for name in ["..data", "..data_tmp", "..2026_11_23_01_02_03.1"] {
            assert!(is_internal(OsStr::new(name)), "{name}");
        }
        for name in ["tls.crt", ".hidden", "a..b"] {
            assert!(!is_internal(OsStr::new(name)), "{name}");
        }
    }
}
