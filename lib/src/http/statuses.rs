//! Which HTTP statuses a caller accepts: probe's `--expect-status 200-399,418`, a webhook's
//! `200-299` or `204`. One type, so that every tool reads the same syntax the same way.

use std::fmt;
use std::str::FromStr;

/// A set of statuses: codes and inclusive ranges, each within 100-599.
///
/// ```
/// use podkit::http::Statuses;
/// let statuses: Statuses = "200-399,418".parse().unwrap();
/// assert!(statuses.contains(302) && statuses.contains(418) && !statuses.contains(404));
/// assert_eq!(statuses.to_string(), "200-399,418");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statuses(Vec<(u16, u16)>);

impl Statuses {
    /// The statuses from `low` to `high`, both included (none if `low > high`): for a default
    /// written in code, such as the kubelet's 200-399.
    pub fn between(low: u16, high: u16) -> Statuses {
        Statuses(vec![(low, high)])
    }

    pub fn contains(&self, status: u16) -> bool {
        self.0
            .iter()
            .any(|(low, high)| (*low..=*high).contains(&status))
    }
}

/// A status list that could not be read, naming the part at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusesError {
    /// Not a number from 100 to 599.
    NotAStatus(String),
    /// A range whose low end is above its high end.
    EmptyRange(String),
}

impl fmt::Display for StatusesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusesError::NotAStatus(part) => {
                write!(f, "{part:?} is not an HTTP status (100-599)")
            }
            StatusesError::EmptyRange(part) => write!(f, "empty range {part:?}"),
        }
    }
}

impl std::error::Error for StatusesError {}

impl FromStr for Statuses {
    type Err = StatusesError;

    /// Comma-separated codes and `low-high` ranges; blanks around each number are ignored.
    fn from_str(text: &str) -> Result<Statuses, StatusesError> {
        let status = |part: &str| match part.trim().parse::<u16>() {
            Ok(code) if (100..=599).contains(&code) => Ok(code),
            _ => Err(StatusesError::NotAStatus(part.to_owned())),
        };
        text.split(',')
            .map(|part| match part.split_once('-') {
                Some((low, high)) => {
                    let (low, high) = (status(low)?, status(high)?);
                    if low > high {
                        return Err(StatusesError::EmptyRange(part.to_owned()));
                    }
                    Ok((low, high))
                }
                None => status(part).map(|code| (code, code)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Statuses)
    }
}

impl fmt::Display for Statuses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (low, high)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if low == high {
                write!(f, "{low}")?;
            } else {
                write!(f, "{low}-{high}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_of_ranges_and_codes() {
        let statuses: Statuses = "200-399,418".parse().unwrap();
        assert!(statuses.contains(200) && statuses.contains(399) && statuses.contains(418));
        assert!(!statuses.contains(199) && !statuses.contains(400) && !statuses.contains(500));
    }

    #[test]
    fn one_range_or_one_code() {
        let range: Statuses = "200-299".parse().unwrap();
        assert_eq!(range, Statuses::between(200, 299));
        let one: Statuses = " 204 ".parse().unwrap();
        assert!(one.contains(204) && !one.contains(200) && !one.contains(205));
        assert_eq!(
            "100-599".parse::<Statuses>().unwrap().to_string(),
            "100-599"
        );
        assert_eq!(
            "200 - 204, 418".parse::<Statuses>().unwrap().to_string(),
            "200-204,418"
        );
    }

    #[test]
    fn bad_lists_name_the_part() {
        assert_eq!(
            "2xx".parse::<Statuses>().unwrap_err().to_string(),
            "\"2xx\" is not an HTTP status (100-599)"
        );
        assert_eq!(
            "399-200".parse::<Statuses>(),
            Err(StatusesError::EmptyRange("399-200".into()))
        );
        for bad in [
            "", "99", "600", "200-", "-200", "200,,204", "200-600", "1e2",
        ] {
            assert!(bad.parse::<Statuses>().is_err(), "{bad}");
        }
    }
}
