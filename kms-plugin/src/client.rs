//! A client for the plugin's socket: what the tests, the harness and a future Status probe in
//! the webhook use to talk to a running plugin the way the apiserver does.

use tonic::transport::{Channel, Endpoint, Uri};

use crate::proto::{KeyManagementServiceClient, StatusRequest, StatusResponse};
use crate::socket::SocketAddress;

/// A connected client.
pub type PluginClient = KeyManagementServiceClient<Channel>;

/// Connects to the plugin at `address`. The apiserver sets the authority `localhost`; so do we.
pub async fn connect(address: &SocketAddress) -> Result<PluginClient, tonic::transport::Error> {
    let address = address.clone();
    let channel = Endpoint::from_static("http://localhost")
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
        .await?;
    Ok(KeyManagementServiceClient::new(channel))
}

/// One Status call.
pub async fn status(client: &mut PluginClient) -> Result<StatusResponse, tonic::Status> {
    Ok(client.status(StatusRequest {}).await?.into_inner())
}
