//! api-server (being written)
