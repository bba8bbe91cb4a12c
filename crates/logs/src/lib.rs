//! logs (being written)
