//! The checks on what a journey may hold, shared by [`JourneySetBuilder`](super::JourneySetBuilder)
//! and the readers: channel names, touch times, the time-decay half-life.

use super::{JourneyError, ModelError};

/// Validates and trims the channel names of a path given through the API.
pub(super) fn check_names<'a>(path: &[&'a str]) -> Result<Vec<&'a str>, JourneyError> {
    if path.is_empty() {
        return Err(JourneyError::EmptyPath);
    }
    path.iter()
        .enumerate()
        .map(|(i, name)| {
            let trimmed = name.trim();
            if trimmed.is_empty() {
                Err(JourneyError::EmptyChannel { touch: i + 1 })
            } else if trimmed.contains('>') {
                Err(JourneyError::SeparatorInChannel {
                    touch: i + 1,
                    name: (*name).to_owned(),
                })
            } else if let Some(c) = trimmed.chars().find(|&c| bad_in_name(c)) {
                Err(name_char_error(i + 1, c))
            } else {
                Ok(trimmed)
            }
        })
        .collect()
}

/// Whether a channel name may not hold `c`: control characters and bidi
/// formatting characters.
pub(crate) fn bad_in_name(c: char) -> bool {
    c.is_control() || crate::text::is_bidi_format(c)
}

/// The error for a character [`bad_in_name`] refuses, at touch `touch`.
pub(crate) fn name_char_error(touch: usize, c: char) -> JourneyError {
    if c.is_control() {
        JourneyError::ControlInChannel {
            touch,
            code_point: c as u32,
        }
    } else {
        JourneyError::BidiInChannel {
            touch,
            code_point: c as u32,
        }
    }
}

/// Checks touch times: one per touch, finite, ≥ 0.
pub(crate) fn check_hours(touches: usize, hours: &[f64]) -> Result<(), JourneyError> {
    if hours.len() != touches {
        return Err(JourneyError::HoursMismatch {
            touches,
            hours: hours.len(),
        });
    }
    for (i, &h) in hours.iter().enumerate() {
        if !h.is_finite() || h < 0.0 {
            return Err(JourneyError::InvalidHours {
                touch: i + 1,
                hours: h,
            });
        }
    }
    Ok(())
}

pub(crate) fn check_half_life(half_life_hours: f64) -> Result<(), ModelError> {
    if half_life_hours.is_finite() && half_life_hours > 0.0 {
        Ok(())
    } else {
        Err(ModelError::InvalidParameter(
            "time-decay half-life must be finite and > 0 hours",
        ))
    }
}
