//! A client for the plugin's socket: what the tests, the harness and a future Status probe in
//! the webhook use to talk to a running plugin the way the apiserver does, over KMS v2 or v1.

use tonic::transport::{Channel, Endpoint, Uri};

use crate::proto::v1beta1;
use crate::proto::{KeyManagementServiceClient, StatusRequest, StatusResponse};
use crate::socket::SocketAddress;

/// A connected KMS v2 client.
pub type PluginClient = KeyManagementServiceClient<Channel>;

/// A connected KMS v1 client.
pub type PluginClientV1 = v1beta1::KeyManagementServiceClient<Channel>;

/// A channel to the plugin at `address`. The apiserver sets the authority `localhost`; so do we.
pub async fn channel(address: &SocketAddress) -> Result<Channel, tonic::transport::Error> {
    let address = address.clone();
    Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let address = address.clone();
            async move {
                // A unix connect does not block on the network; it succeeds or fails at once.
                let stream = address.connect()?;
                stream.set_nonblocking(true)?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                    tokio::net::UnixStream::from_std(stream)?,
                ))
            }
        }))
        .await
}

/// Connects a KMS v2 client to the plugin at `address`.
pub async fn connect(address: &SocketAddress) -> Result<PluginClient, tonic::transport::Error> {
    Ok(KeyManagementServiceClient::new(channel(address).await?))
}

/// Connects a KMS v1 client to the plugin at `address`.
pub async fn connect_v1(
    address: &SocketAddress,
) -> Result<PluginClientV1, tonic::transport::Error> {
    Ok(v1beta1::KeyManagementServiceClient::new(
        channel(address).await?,
    ))
}

/// One Status call.
pub async fn status(client: &mut PluginClient) -> Result<StatusResponse, tonic::Status> {
    Ok(client.status(StatusRequest {}).await?.into_inner())
}
