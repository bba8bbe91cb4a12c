//! Registry client: references, auth and tokens, manifests, blob download and upload.
