//! When the kubelet committed the content being applied: the reload's delay is measured from
//! there, not from when podkit-reload noticed. The `..data` link's own time when it has one, else
//! the name of the timestamped directory it points at (`..2026_11_23_01_02_03.4152816290`, UTC
//! to the second).

use std::path::Path;
use std::time::{Duration, SystemTime};

/// The commit time of the kubelet volume at `dir`, or `None` for a plain directory: the
/// modification time of the `..data` link itself (made as `..data_tmp` just before the rename,
/// to the nanosecond), else the time in the timestamped directory's name (to the second).
pub fn time_of(dir: &Path) -> Option<SystemTime> {
    let link = dir.join("..data");
    let target = std::fs::read_link(&link).ok()?;
    let precise = std::fs::symlink_metadata(&link)
        .and_then(|m| m.modified())
        .ok();
    precise.or_else(|| parse(target.file_name()?.to_str()?))
}

/// `..YYYY_MM_DD_HH_MM_SS.<anything>` as a UTC time.
fn parse(name: &str) -> Option<SystemTime> {
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
        parse(name).map(|t| t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs())
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
}
