//! Check character (helper: complete).
