//! The real SMTP relay (with `lettre`): releases captured mail and carries production mail.
use app::state::MailRelay;
use lettre::address::Envelope;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub struct LettreRelay {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl LettreRelay {
    /// `smtp://user:pass@host:port` (add `?tls=required` for STARTTLS) or `smtps://…`.
    pub fn from_url(url: &str) -> anyhow::Result<LettreRelay> {
        // The URL holds a password: errors name the problem, never the URL.
        let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|e| anyhow::anyhow!("ODOOOPS_MAIL_RELAY_URL is not a usable SMTP URL: {e}"))?;
        Ok(LettreRelay { transport: builder.timeout(Some(Duration::from_secs(30))).build() })
    }
}

impl MailRelay for LettreRelay {
    fn send(&self, from: String, to: Vec<String>, mut raw: Vec<u8>) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + 'static>> {
        let transport = self.transport.clone();
        Box::pin(async move {
            let from: Option<Address> = if from.is_empty() { None } else { Some(from.parse().map_err(|e| format!("sender {from}: {e}"))?) };
            let to: Vec<Address> = to.iter().map(|t| t.parse::<Address>().map_err(|e| format!("recipient {t}: {e}"))).collect::<Result<_, _>>()?;
            let envelope = Envelope::new(from, to).map_err(|e| e.to_string())?;
            // lettre always sends CRLF before the final dot; the message's own last line end
            // is that CRLF, so it is taken off here and the relay receives the exact bytes.
            if raw.ends_with(b"\r\n") {
                raw.truncate(raw.len() - 2);
            }
            let response = transport.send_raw(&envelope, &raw).await.map_err(|e| e.to_string())?;
            Ok(format!("{} {}", response.code(), response.message().collect::<Vec<_>>().join(" ")))
        })
    }
}
