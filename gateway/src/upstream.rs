//! Calls to the services: one shared channel per service (created once,
//! reconnecting by itself) and a codec for dynamic messages, so any RPC in the
//! descriptors can be called without generated code.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Buf;
use prost::Message;
use prost_reflect::{DynamicMessage, MessageDescriptor};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::{Channel, Endpoint};
use tonic::{Status, client::Grpc};

/// The channels to the services, by upstream name (`auth`, `workspace`).
#[derive(Debug, Clone, Default)]
pub struct Upstreams {
    channels: HashMap<String, Channel>,
}

impl Upstreams {
    /// Adds the service `name` at `url`. No connection is made until needed.
    pub fn add(&mut self, name: &str, url: &str) -> Result<(), tonic::transport::Error> {
        let channel = Endpoint::from_shared(url.to_owned())?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_while_idle(true)
            .connect_lazy();
        self.channels.insert(name.to_owned(), channel);
        Ok(())
    }

    /// The channel of `name`.
    pub fn channel(&self, name: &str) -> Option<Channel> {
        self.channels.get(name).cloned()
    }

    /// A ready client for `name`, and `path` parsed.
    async fn ready(
        &self,
        name: &str,
        path: &str,
    ) -> Result<(Grpc<Channel>, http::uri::PathAndQuery), Status> {
        let channel = self
            .channel(name)
            .ok_or_else(|| Status::unimplemented(format!("no upstream for {path}")))?;
        let mut grpc = Grpc::new(channel);
        grpc.ready()
            .await
            .map_err(|e| Status::unavailable(format!("transport error: {e}")))?;
        let path = path
            .parse()
            .map_err(|_| Status::internal("bad method path"))?;
        Ok((grpc, path))
    }

    /// Calls a unary RPC at `path` on `name`.
    pub async fn unary(
        &self,
        name: &str,
        path: &str,
        output: MessageDescriptor,
        request: tonic::Request<DynamicMessage>,
    ) -> Result<tonic::Response<DynamicMessage>, Status> {
        let (mut grpc, path) = self.ready(name, path).await?;
        grpc.unary(request, path, DynamicCodec { output }).await
    }

    /// Calls a client-streaming RPC at `path` on `name`, sending `request`'s
    /// messages as they come.
    pub async fn client_streaming<S>(
        &self,
        name: &str,
        path: &str,
        output: MessageDescriptor,
        request: tonic::Request<S>,
    ) -> Result<tonic::Response<DynamicMessage>, Status>
    where
        S: tokio_stream::Stream<Item = DynamicMessage> + Send + 'static,
    {
        let (mut grpc, path) = self.ready(name, path).await?;
        grpc.client_streaming(request, path, DynamicCodec { output })
            .await
    }

    /// Calls a server-streaming RPC at `path` on `name`.
    pub async fn server_streaming(
        &self,
        name: &str,
        path: &str,
        output: MessageDescriptor,
        request: tonic::Request<DynamicMessage>,
    ) -> Result<tonic::Response<tonic::Streaming<DynamicMessage>>, Status> {
        let (mut grpc, path) = self.ready(name, path).await?;
        grpc.server_streaming(request, path, DynamicCodec { output })
            .await
    }
}

/// Encodes any dynamic message; decodes the `output` type.
#[derive(Debug, Clone)]
pub struct DynamicCodec {
    output: MessageDescriptor,
}

impl Codec for DynamicCodec {
    type Encode = DynamicMessage;
    type Decode = DynamicMessage;
    type Encoder = DynamicEncoder;
    type Decoder = DynamicDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        DynamicEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        DynamicDecoder(self.output.clone())
    }
}

/// See [`DynamicCodec`].
#[derive(Debug)]
pub struct DynamicEncoder;

impl Encoder for DynamicEncoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        item.encode(dst)
            .map_err(|e| Status::internal(format!("cannot encode the request: {e}")))
    }
}

/// See [`DynamicCodec`].
#[derive(Debug)]
pub struct DynamicDecoder(MessageDescriptor);

impl Decoder for DynamicDecoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Self::Error> {
        let message = DynamicMessage::decode(self.0.clone(), src.copy_to_bytes(src.remaining()))
            .map_err(|e| Status::internal(format!("cannot decode the response: {e}")))?;
        Ok(Some(message))
    }
}
