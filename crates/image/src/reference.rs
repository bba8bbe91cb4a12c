//! Image references: the `oci` crate's parser (distribution/reference rules), with
//! its errors as the store's `InvalidArgument`.

pub use oci::reference::{is_full_hex_id, valid_tag, Reference, DEFAULT_DOMAIN};

use crate::ImageError;

impl From<oci::ReferenceError> for ImageError {
    fn from(e: oci::ReferenceError) -> Self {
        ImageError::InvalidArgument(e.to_string())
    }
}
