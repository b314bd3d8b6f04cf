//! Unit tests of the channel models and readers.
