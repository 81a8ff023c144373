//! `--expect-status 200-399,418`: which HTTP statuses count as healthy.

use std::str::FromStr;

/// A set of inclusive status ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRange(Vec<(u16, u16)>);

impl StatusRange {
    pub fn contains(&self, status: u16) -> bool {
        self.0
            .iter()
            .any(|(low, high)| (*low..=*high).contains(&status))
    }
}

impl FromStr for StatusRange {
    type Err = String;

    fn from_str(text: &str) -> Result<StatusRange, String> {
        let status = |part: &str| match part.trim().parse::<u16>() {
            Ok(code) if (100..=599).contains(&code) => Ok(code),
            _ => Err(format!("{part:?} is not an HTTP status (100-599)")),
        };
        let ranges = text
            .split(',')
            .map(|part| match part.split_once('-') {
                Some((low, high)) => {
                    let (low, high) = (status(low)?, status(high)?);
                    if low > high {
                        return Err(format!("empty range {part:?}"));
                    }
                    Ok((low, high))
                }
                None => status(part).map(|code| (code, code)),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(StatusRange(ranges))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_single_codes() {
        let range: StatusRange = "200-399,418".parse().unwrap();
        assert!(range.contains(200) && range.contains(399) && range.contains(418));
        assert!(!range.contains(199) && !range.contains(400) && !range.contains(500));
    }

    #[test]
    fn bad_ranges_name_the_part() {
        assert!("2xx"
            .parse::<StatusRange>()
            .unwrap_err()
            .contains("\"2xx\""));
        assert!("399-200"
            .parse::<StatusRange>()
            .unwrap_err()
            .contains("empty range"));
        assert!("99".parse::<StatusRange>().is_err());
    }
}
