//! `docker load` and `docker save`.

use std::io::{Read, Write};

use crate::{ImageError, ImageStore, LoadedImage};

pub(crate) fn load(_s: &ImageStore, _src: &mut dyn Read) -> Result<Vec<LoadedImage>, ImageError> {
    Err(ImageError::Internal(
        "docker load is not implemented yet".into(),
    ))
}

pub(crate) fn save(
    _s: &ImageStore,
    _names: &[String],
    _dst: &mut dyn Write,
) -> Result<(), ImageError> {
    Err(ImageError::Internal(
        "docker save is not implemented yet".into(),
    ))
}
