//! The client side: attaching a bearer token to outgoing calls, for
//! goalpost's own clients (`goalpost demo`) and for tests.

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::{Request, Status};

/// A tonic interceptor that sends `authorization: Bearer <token>` on every
/// call, or nothing when it holds no token (for servers in anonymous mode).
#[derive(Clone, Default)]
pub struct BearerToken(Option<MetadataValue<Ascii>>);

impl BearerToken {
    /// An interceptor sending `token`, or nothing for `None` or an empty
    /// token. The error says the token cannot travel in metadata.
    pub fn new(token: Option<&str>) -> Result<BearerToken, String> {
        let token = token.map(str::trim).filter(|token| !token.is_empty());
        let Some(token) = token else {
            return Ok(BearerToken(None));
        };
        let mut value: MetadataValue<Ascii> = format!("Bearer {token}").parse().map_err(|_| {
            "the token holds characters that cannot be sent in gRPC metadata".to_owned()
        })?;
        // Keeps the value out of HTTP/2 header compression tables, where a
        // secret could be probed for by a peer sharing the connection.
        value.set_sensitive(true);
        Ok(BearerToken(Some(value)))
    }
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = if self.0.is_some() {
            "<redacted>"
        } else {
            "none"
        };
        write!(f, "BearerToken({shown})")
    }
}

impl Interceptor for BearerToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}
