//! The Dockerfile builder: build graph, cache keys, executor (through a backend trait).
