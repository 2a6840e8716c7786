//! TLS on the gRPC listener, with certificates made here: a CA, a server certificate for
//! 127.0.0.1 signed by it, and a client certificate for mutual TLS.

mod support;

use std::path::{Path, PathBuf};

use commentguard::api::pb::comment_service_client::CommentServiceClient;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use support::{TestServer, WAIT, within};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// PEM files of a CA, a server and a client certificate, in a temporary directory.
struct Pki {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: String,
    client_key: String,
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let issue = |names: Vec<String>| {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(names)
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_pem, server_key_pem) = issue(vec!["127.0.0.1".into(), "localhost".into()]);
    let (client_cert, client_key) = issue(vec!["site-backend.example".into()]);
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    Pki {
        ca: write("ca.pem", &ca.pem()),
        server_cert: write("server.pem", &server_pem),
        server_key: write("server.key", &server_key_pem),
        client_cert,
        client_key,
        _dir: dir,
    }
}

async fn start(pki: &Pki, data: &Path, client_ca: bool) -> (TestServer, String) {
    let mut config = support::config(data);
    config.tls_cert = Some(pki.server_cert.clone());
    config.tls_key = Some(pki.server_key.clone());
    config.tls_client_ca = client_ca.then(|| pki.ca.clone());
    let server = TestServer::start(config).await;
    let https = server.url.replacen("http://", "https://", 1);
    (server, https)
}

/// A TLS client trusting the test CA, with the client certificate when `identity`.
async fn connect(pki: &Pki, url: &str, identity: bool) -> Result<Channel, tonic::transport::Error> {
    let ca = std::fs::read(&pki.ca).unwrap();
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
    if identity {
        tls = tls.identity(Identity::from_pem(&pki.client_cert, &pki.client_key));
    }
    let endpoint = Endpoint::from_shared(url.to_owned())
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect_timeout(WAIT);
    let deadline = support::Deadline::start("the TLS server to come up");
    loop {
        match endpoint.connect().await {
            Ok(channel) => return Ok(channel),
            Err(e) if deadline.passed() => return Err(e),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
        }
    }
}

async fn submit(channel: Channel, content: &str) -> Result<String, tonic::Status> {
    let mut client = CommentServiceClient::new(channel);
    let reply = within(
        "a submission",
        client.submit_comment(support::submission("tls-post", content)),
    )
    .await?;
    Ok(reply.into_inner().comment_id)
}

#[tokio::test]
async fn tls_serves_and_plaintext_to_the_tls_port_fails_cleanly() {
    let pki = pki();
    let data = tempfile::tempdir().unwrap();
    let (server, https) = start(&pki, data.path(), false).await;

    let first = connect(&pki, &https, false).await.unwrap();
    let id = submit(first, "A thoughtful comment over TLS.")
        .await
        .unwrap();
    assert!(!id.is_empty());
    // The client subcommands' channel: an https address with the CA given by --tls-ca.
    let cli = commentguard::cli::client::channel(&https, Some(&pki.ca));
    let cli = within("the CLI's TLS connection", cli).await.unwrap();
    submit(cli, "A comment sent as the CLI sends it.")
        .await
        .unwrap();

    // Plaintext HTTP/2 to the TLS port: a clean failure, not a hang.
    let plain = Endpoint::from_shared(server.url.clone())
        .unwrap()
        .connect_timeout(WAIT)
        .timeout(WAIT);
    let refused = match within("a plaintext call", plain.connect()).await {
        Ok(channel) => submit(channel, "Plaintext should not get through.")
            .await
            .unwrap_err(),
        Err(e) => tonic::Status::unavailable(e.to_string()),
    };
    // tonic's client reports a connection the server closed as UNKNOWN "transport error".
    assert!(
        matches!(
            refused.code(),
            tonic::Code::Unavailable | tonic::Code::Unknown
        ),
        "{refused:?}"
    );

    // TLS clients are still served.
    let channel = connect(&pki, &https, false).await.unwrap();
    submit(channel, "Another comment after the plaintext attempt.")
        .await
        .unwrap();
    server.stop().await;
}

#[tokio::test]
async fn mutual_tls_refuses_a_client_without_a_certificate() {
    let pki = pki();
    let data = tempfile::tempdir().unwrap();
    let (server, https) = start(&pki, data.path(), true).await;

    let with_cert = connect(&pki, &https, true).await.unwrap();
    submit(with_cert, "From a site backend with its certificate.")
        .await
        .unwrap();

    // Without a certificate the handshake fails: either connecting or the first call does.
    let ca = std::fs::read(&pki.ca).unwrap();
    let endpoint = Endpoint::from_shared(https.clone())
        .unwrap()
        .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)))
        .unwrap()
        .connect_timeout(WAIT)
        .timeout(WAIT);
    let refused = match within("a connection without a certificate", endpoint.connect()).await {
        Ok(channel) => submit(channel, "No certificate, no comment.")
            .await
            .unwrap_err(),
        Err(e) => tonic::Status::unavailable(e.to_string()),
    };
    let why = format!("{refused:?}");
    assert!(why.contains("CertificateRequired"), "{why}");
    server.stop().await;
    assert_eq!(support::stored_count(data.path()).await, 1);
}
