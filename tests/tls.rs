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

/// The console binary with the test PKI's server certificate (and `client_ca` for mutual TLS).
fn start_https_console(pki: &Pki, data: &Path, client_ca: bool) -> support::ConsoleBinary {
    let mut toml = format!(
        "tls_cert = {:?}\ntls_key = {:?}\n",
        pki.server_cert, pki.server_key
    );
    if client_ca {
        toml.push_str(&format!("tls_client_ca = {:?}\n", pki.ca));
    }
    let config = data.join("commentguard.toml");
    std::fs::write(&config, toml).unwrap();
    support::start_console(&data.join("db"), &config)
}

/// A browser-like TLS client of the test CA: offers `h2` and `http/1.1`, with the client
/// certificate when `identity`.
fn https_client(pki: &Pki, identity: bool) -> tokio_rustls::TlsConnector {
    use tokio_rustls::rustls::pki_types::pem::PemObject as _;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls::{ClientConfig, RootCertStore, crypto};
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(&pki.ca).unwrap())
        .unwrap();
    let builder = ClientConfig::builder_with_provider(crypto::ring::default_provider().into())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = if identity {
        let chain = vec![CertificateDer::from_pem_slice(pki.client_cert.as_bytes()).unwrap()];
        let key = PrivateKeyDer::from_pem_slice(pki.client_key.as_bytes()).unwrap();
        builder.with_client_auth_cert(chain, key).unwrap()
    } else {
        builder.with_no_client_auth()
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
}

/// GET `path` over TLS: the negotiated ALPN protocol and what the server sent, or the error
/// that ended the exchange.
async fn https_get(
    console: &str,
    connector: &tokio_rustls::TlsConnector,
    path: &str,
) -> std::io::Result<(Option<Vec<u8>>, String)> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let address = console.strip_prefix("https://").unwrap();
    let tcp = tokio::net::TcpStream::connect(address).await?;
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    tls.read_to_end(&mut answer).await?;
    let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    Ok((alpn, String::from_utf8_lossy(&answer).into_owned()))
}

#[tokio::test]
async fn the_console_listener_serves_https_and_plaintext_to_it_fails_cleanly() {
    let pki = pki();
    let data = tempfile::tempdir().unwrap();
    let console = start_https_console(&pki, data.path(), false);
    assert!(console.http.starts_with("https://"), "{}", console.http);

    let client = https_client(&pki, false);
    let (alpn, answer) = within(
        "an HTTPS health check",
        https_get(&console.http, &client, "/healthz"),
    )
    .await
    .unwrap();
    assert_eq!(
        alpn.as_deref(),
        Some(&b"http/1.1"[..]),
        "a browser offering h2 gets HTTP/1.1"
    );
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (_, login) = within(
        "the login page over HTTPS",
        https_get(&console.http, &client, "/login"),
    )
    .await
    .unwrap();
    assert!(
        login.starts_with("HTTP/1.1 200") && login.contains("name=\"token\""),
        "{login}"
    );

    // Plain HTTP to the TLS port gets no HTTP answer, and TLS clients are still served.
    let plain = async {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let address = console.http.strip_prefix("https://").unwrap();
        let mut tcp = tokio::net::TcpStream::connect(address).await?;
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await?;
        let mut answer = Vec::new();
        tcp.read_to_end(&mut answer).await.map(|_| answer)
    };
    // A reset is a clean refusal too; an answer must not be HTTP.
    if let Ok(answer) = within("a plaintext request to the HTTPS port", plain).await {
        assert!(!answer.starts_with(b"HTTP/"), "{answer:?}");
    }
    let (_, again) = within(
        "HTTPS after the plaintext attempt",
        https_get(&console.http, &client, "/healthz"),
    )
    .await
    .unwrap();
    assert!(again.starts_with("HTTP/1.1 200"), "{again}");
}

#[tokio::test]
async fn the_console_listener_with_mutual_tls_refuses_a_client_without_a_certificate() {
    let pki = pki();
    let data = tempfile::tempdir().unwrap();
    let console = start_https_console(&pki, data.path(), true);

    let with_cert = https_client(&pki, true);
    let (_, answer) = within(
        "HTTPS with a client certificate",
        https_get(&console.http, &with_cert, "/healthz"),
    )
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // TLS 1.3 checks the client's certificate after the client's side of the handshake, so the
    // refusal shows on the connection or on the first read; either way no answer comes.
    let without = https_client(&pki, false);
    match within(
        "HTTPS without a client certificate",
        https_get(&console.http, &without, "/healthz"),
    )
    .await
    {
        Ok((_, answer)) => assert!(answer.is_empty(), "{answer}"),
        Err(e) => assert!(e.to_string().contains("CertificateRequired"), "{e}"),
    }
}
