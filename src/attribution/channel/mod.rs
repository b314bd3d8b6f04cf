//! Channel analysis over many journeys.
