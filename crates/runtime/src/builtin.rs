//! Built-in runtime on libcontainer (being written)
