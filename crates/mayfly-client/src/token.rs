//! Minting one-time tokens from a JWK provisioner's password-encrypted key, and checking a
//! token before it is sent (so a stale one fails with a useful message).

use std::time::{SystemTime, UNIX_EPOCH};

use mayfly_jwt::{Jwk, Operation, TokenClaims};
use mayfly_keys::Password;

use crate::{Client, ClientError, Provisioner};

/// What a token is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRequest {
    /// The operation (`sign` or `revoke`); it decides the audience.
    pub operation: Operation,
    /// The subject: the common name to sign, or the serial to revoke.
    pub subject: String,
    /// The names the certificate may carry; empty means `[subject]` for sign, none for
    /// revoke.
    pub sans: Vec<String>,
}

impl TokenRequest {
    /// A token request for `/1.0/sign`.
    pub fn sign(subject: &str, sans: Vec<String>) -> Self {
        Self {
            operation: Operation::Sign,
            subject: subject.to_owned(),
            sans,
        }
    }

    /// A token request for `/1.0/revoke` of the certificate with this serial.
    pub fn revoke(serial: &str) -> Self {
        Self {
            operation: Operation::Revoke,
            subject: serial.to_owned(),
            sans: Vec::new(),
        }
    }
}

/// Picks the JWK provisioner called `name`, or the only JWK provisioner when `name` is
/// `None`.
pub fn choose_provisioner<'a>(
    provisioners: &'a [Provisioner],
    name: Option<&str>,
) -> Result<&'a Provisioner, ClientError> {
    let jwk: Vec<&Provisioner> = provisioners.iter().filter(|p| p.kind == "JWK").collect();
    match name {
        Some(name) => jwk.into_iter().find(|p| p.name == name).ok_or_else(|| {
            ClientError::Provisioner(format!(
                "the CA has no JWK provisioner named {name:?} (it has: {})",
                names(provisioners)
            ))
        }),
        None => match jwk[..] {
            [one] => Ok(one),
            [] => Err(ClientError::Provisioner(format!(
                "the CA has no JWK provisioner (it has: {})",
                names(provisioners)
            ))),
            _ => Err(ClientError::Provisioner(format!(
                "the CA has several JWK provisioners; pick one with --provisioner ({})",
                names(provisioners)
            ))),
        },
    }
}

fn names(provisioners: &[Provisioner]) -> String {
    if provisioners.is_empty() {
        return "none".into();
    }
    provisioners
        .iter()
        .map(|p| format!("{} ({})", p.name, p.kind))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether a provisioner key file's contents are an encrypted JWE (compact or JSON) rather
/// than a plain JWK, i.e. whether [`read_provisioner_key`] needs a password.
pub fn is_encrypted_key(contents: &str) -> bool {
    let trimmed = contents.trim();
    !trimmed.starts_with('{') || trimmed.contains("\"protected\"")
}

/// Reads a provisioner key given as a file's contents: an encrypted JWE (compact or JSON)
/// decrypted with `password`, or a plain private JWK.
pub fn read_provisioner_key(
    contents: &str,
    password: Option<&Password>,
) -> Result<Jwk, ClientError> {
    let trimmed = contents.trim();
    let jwk = if is_encrypted_key(trimmed) {
        let password = password.ok_or_else(|| {
            ClientError::Provisioner(
                "the provisioner key is encrypted: a password is needed".into(),
            )
        })?;
        mayfly_jwt::decrypt_jwk(trimmed, password)?
    } else {
        Jwk::from_json(trimmed.as_bytes())?
    };
    if !jwk.is_private() {
        return Err(ClientError::Provisioner(
            "the provisioner key is a public JWK; the private key is needed to sign tokens".into(),
        ));
    }
    Ok(jwk)
}

impl Client {
    /// Mints a token for `request` with provisioner `provisioner` (or the only JWK one):
    /// fetches the provisioner list, its encrypted key (from the list or
    /// `/provisioners/{kid}/encrypted-key`), decrypts it with `password`, and signs.
    pub async fn provisioner_token(
        &self,
        provisioner: Option<&str>,
        password: &Password,
        request: &TokenRequest,
    ) -> Result<String, ClientError> {
        let (name, key) = self.provisioner_key(provisioner, password).await?;
        self.mint_token(&name, &key, request)
    }

    /// The name and decrypted private key of JWK provisioner `provisioner` (or the only JWK
    /// one), found in the provisioner list: see [`Self::decrypt_provisioner_key`].
    pub async fn provisioner_key(
        &self,
        provisioner: Option<&str>,
        password: &Password,
    ) -> Result<(String, Jwk), ClientError> {
        let provisioners = self.provisioners().await?;
        let chosen = choose_provisioner(&provisioners, provisioner)?;
        let key = self.decrypt_provisioner_key(chosen, password).await?;
        Ok((chosen.name.clone(), key))
    }

    /// The private key of a JWK provisioner as the CA lists it: its `encryptedKey`, or when
    /// the list leaves that out, `GET /provisioners/{kid}/encrypted-key`; opened with
    /// `password`.
    pub async fn decrypt_provisioner_key(
        &self,
        provisioner: &Provisioner,
        password: &Password,
    ) -> Result<Jwk, ClientError> {
        let jwe = match &provisioner.encrypted_key {
            Some(jwe) => jwe.clone(),
            None => {
                let kid = provisioner.kid().ok_or_else(|| {
                    ClientError::Provisioner(format!("{} has no key id", provisioner.name))
                })?;
                self.encrypted_key(kid).await?
            }
        };
        read_provisioner_key(&jwe, Some(password))
    }

    /// Mints a token for `request` signed with the private provisioner `key` of provisioner
    /// `name`: audience from the CA URL, `sha` the root fingerprint, 5 minutes of life.
    pub fn mint_token(
        &self,
        name: &str,
        key: &Jwk,
        request: &TokenRequest,
    ) -> Result<String, ClientError> {
        let kid = match &key.kid {
            Some(kid) => kid.clone(),
            None => key.thumbprint()?,
        };
        let audience = self.url().audience(request.operation);
        let mut claims = TokenClaims::new(name, &request.subject, &audience, SystemTime::now())
            .with_root_fingerprint(self.fingerprint());
        claims.sans = match (request.operation, request.sans.is_empty()) {
            (Operation::Sign, true) => Some(vec![request.subject.clone()]),
            (Operation::Sign, false) => Some(request.sans.clone()),
            _ => None,
        };
        let signer = key.to_private_key()?;
        Ok(mayfly_jwt::mint_token(&signer, &kid, &claims)?)
    }
}

/// Checks a token's times before it is sent: an expired or not-yet-valid token gets a
/// message that points at the clocks.
pub fn check_token_times(token: &str, now: SystemTime) -> Result<(), ClientError> {
    let (_, claims) = mayfly_jwt::decode_unverified(token)?;
    let now = now
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default();
    let minutes = |secs: i64| match secs.div_euclid(60) {
        0 => format!("{secs} s"),
        m => format!("{m} min"),
    };
    let claim = |name| claims.get(name).and_then(serde_json::Value::as_i64);
    if let Some(exp) = claim("exp")
        && exp <= now
    {
        return Err(ClientError::Token(format!(
            "token expired {} ago: clocks differ, or mint a new one",
            minutes(now - exp)
        )));
    }
    // The CA allows one minute of leeway.
    if let Some(nbf) = claim("nbf")
        && nbf > now + 60
    {
        return Err(ClientError::Token(format!(
            "token is not valid for another {}: clocks differ?",
            minutes(nbf - now)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mayfly_jwt::{
        CaAddresses, ProvisionerKey, Provisioners, TokenValidator, ValidationContext,
    };
    use mayfly_keys::{KeyType, PrivateKey};

    use super::*;

    fn provisioner(kind: &str, name: &str) -> Provisioner {
        Provisioner {
            kind: kind.into(),
            name: name.into(),
            key: None,
            encrypted_key: None,
            other: serde_json::Map::new(),
        }
    }

    #[test]
    fn picks_the_named_or_only_jwk_provisioner() {
        let list = [provisioner("ACME", "acme"), provisioner("JWK", "ops")];
        assert_eq!(choose_provisioner(&list, None).unwrap().name, "ops");
        assert_eq!(choose_provisioner(&list, Some("ops")).unwrap().name, "ops");
        let err = choose_provisioner(&list, Some("acme"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no JWK provisioner named \"acme\""), "{err}");
        assert!(err.contains("ops (JWK)"), "{err}");
        let two = [provisioner("JWK", "a"), provisioner("JWK", "b")];
        let err = choose_provisioner(&two, None).unwrap_err().to_string();
        assert!(err.contains("--provisioner"), "{err}");
    }

    #[test]
    fn stale_tokens_fail_with_a_clock_hint() {
        let key = PrivateKey::generate(KeyType::EcP256).unwrap();
        let issued = SystemTime::now() - Duration::from_secs(10 * 60);
        let claims = TokenClaims::new("ops", "a", "https://ca/1.0/sign", issued);
        let token = mayfly_jwt::mint_token(&key, "kid", &claims).unwrap();
        let err = check_token_times(&token, SystemTime::now())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("token expired 5 min ago: clocks differ"),
            "{err}"
        );
        let future = SystemTime::now() + Duration::from_secs(3630);
        let claims = TokenClaims::new("ops", "a", "https://ca/1.0/sign", future);
        let token = mayfly_jwt::mint_token(&key, "kid", &claims).unwrap();
        let err = check_token_times(&token, SystemTime::now())
            .unwrap_err()
            .to_string();
        assert!(err.contains("not valid for another 60 min"), "{err}");
        assert!(check_token_times(&token, future).is_ok());
    }

    #[test]
    fn encrypted_provisioner_keys_mint_tokens_the_ca_accepts() {
        let key = PrivateKey::generate(KeyType::EcP256).unwrap();
        let jwk = Jwk::from_private_key(&key).unwrap();
        let password = Password::from_bytes(b"provisioner password".to_vec());
        let jwe = mayfly_jwt::encrypt_jwk(&jwk, &password).unwrap();
        let err = read_provisioner_key(&jwe, None).unwrap_err().to_string();
        assert!(err.contains("password is needed"), "{err}");
        let wrong = Password::from_bytes(b"wrong".to_vec());
        assert!(read_provisioner_key(&jwe, Some(&wrong)).is_err());
        let decrypted = read_provisioner_key(&jwe, Some(&password)).unwrap();
        let public = Jwk::from_json(decrypted.to_public().to_json().unwrap().as_bytes()).unwrap();
        assert!(matches!(
            read_provisioner_key(&public.to_json().unwrap(), None),
            Err(ClientError::Provisioner(_))
        ));

        let root = test_root();
        let url = crate::CaUrl::parse("https://ca.example.com:9000").unwrap();
        let client = Client::with_root(url, root).unwrap();
        let request = TokenRequest::sign(
            "svc.example.com",
            vec!["svc.example.com".into(), "10.0.0.1".into()],
        );
        let token = client.mint_token("ops", &decrypted, &request).unwrap();

        let kid = decrypted.thumbprint().unwrap();
        let mut provisioners = Provisioners::new();
        provisioners.insert("ops", &kid, ProvisionerKey::from_jwk(&public).unwrap());
        let ctx =
            ValidationContext::new(Operation::Sign, CaAddresses::new(["ca.example.com:9000"]));
        let validated = TokenValidator::new(&provisioners)
            .validate(&token, &ctx)
            .unwrap();
        assert_eq!(validated.sans, ["svc.example.com", "10.0.0.1"]);
        let (_, claims) = mayfly_jwt::decode_unverified(&token).unwrap();
        assert_eq!(claims["sha"], client.fingerprint());
        assert_eq!(claims["aud"], "https://ca.example.com:9000/1.0/sign");

        let revoke = client
            .mint_token("ops", &decrypted, &TokenRequest::revoke("1234"))
            .unwrap();
        let (_, claims) = mayfly_jwt::decode_unverified(&revoke).unwrap();
        assert_eq!(claims["aud"], "https://ca.example.com:9000/1.0/revoke");
        assert_eq!(claims["sub"], "1234");
        assert!(claims.get("sans").is_none());
    }

    fn test_root() -> mayfly_template::Certificate {
        let pem = std::fs::read_to_string(
            mayfly_testkit::step_fixtures().join("certificates/ca/testdata/secrets/root_ca.crt"),
        )
        .unwrap();
        mayfly_template::parse_certificate_pem(&pem).unwrap()
    }
}
