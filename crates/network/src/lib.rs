//! network (being written)
