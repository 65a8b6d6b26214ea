//! An Odoo-like database full of production secrets (`sample.sql`): what the tests
//! neutralize, and what the demo loads into its environment databases.
use anyhow::{Context, Result};
use sqlx::Connection;

/// Creates the tables (if missing) and their rows (once). Safe to run again.
pub const SAMPLE_SQL: &str = include_str!("sample.sql");

/// Every credential planted by [`SAMPLE_SQL`]. After neutralization with the default rules,
/// none of them may be found in any column of the database.
pub const SAMPLE_SECRETS: &[&str] = &[
    // ir_config_parameter
    "7f1d9c4e-3a2b-4c5d-8e9f-a1b2c3d4e5f6",
    "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",
    "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",
    "Qx98Q~Vd3kLp7Rt2Wm9Zc4Nb6Hf1Js8Ga5Ye0Ux",
    "AIzaSyD7kq2Lm9Xp4Tn8Rw3Vb6Hc1Js5Gf0EaZu",
    "AC2b5f8e1d4c7a0f3e6b9d2c5a8f1e4b7d",
    "9f3c6e1a4d7b0c2e5f8a1d4b7e0c3f6a",
    "8f4e2a1c-6d3b-4f5e-9a7c-1b2d3e4f5a6b",
    "kT3vQ9mX2pL7wR4nB8cY1zF6hJ0sD5gA3eU8iO2tK7",
    "AKIA4QJX7N2BZ5LKT3UP",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzk2Lq9TxRe",
    "6Lc8Xk4pAAAAAJq3Vn7Rt2Wm9Zc4Nb6Hf1Js8Ga5",
    // ir_mail_server
    "SG.ngeVfQFYQlKU0ufo8x5d1A.TwL2iGABf9DHoTf-09kqeF8tAmbihYzrnopKc1s5cr",
    "1//0gLq8m3Zp9XyCgYIARAAGBASNwF-L9IrKx2b7Vd4Qe1Nt8Ws5Pj3Hm6Rf0Uc",
    "ya29.a0AfB_byC3kD9eF2gH1iJ4kL7mN0oP3qR6sT9uV2wX5yZ8aB1cD4eF7gH0iJ3kL6",
    "M.R3_BAY.-CRm7Jq2Xv9Lp4Tn8Rw3Vb6Hc1Js5Gf0EaZu2Kd7Ye4Wm9!Qx3Nf8*Bt6Lh1",
    "EwBwA8l6BAAUkj1oR9nT2xZ7aQ4vL8mP3sK6wY1cF5hJ0gD9eU2iO7tB4nM8",
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7Vq3Xk9Lp2Tn8Rw4Zb6Hc1Js5Gf0EaYu",
    // payment_provider
    "sk_live_51HxQ3fKp7Lm2Tn8Rw4Zb6Hc1Js5Gf0EaYu3Kd7Ye4Wm9Qx3Nf8Bt6Lh1Vc2Xs5",
    "pk_live_51HxQ3fKp7Lm2Tn8Rw4Zb6Hc1Js5Gf0EaYu3Kd7Ye4Wm9Qx3Nf8Bt6Lh1Pk9Zq4",
    "whsec_8Kp2Lm7Tn3Rw9Zb4Hc6Js1Gf5EaYu0Kd",
    "AQEyhmfxL4jNaBJGw0m/n3Q5qf3VaY9UCJ1+XWZe9W27jmlZinBvGmUZlmmX8k7Y/7pDdR0QwV1bDb7kfNy1WIxIIkxgBw==-3Xk9Lp2Tn8Rw4Zb6Hc1Js5Gf0EaYu",
    "live_7KP2LM7TN3RW9ZB4HC6JS1GF5EAYU0KD",
    "4468D9782DEF54FCD706C9100C71EC43932B1EBC2ACF6BA0560C05AAA7550C48",
    "test_Hx7Kq2Lm9Tn4Rw8Zb3Vc6Js1Gf5EaYu",
    // fetchmail_server, iap_account
    "Imap-Sup0rt!2024-xQ7vLp",
    "J0bs#Inbox-9Tn4Rw8Zb3",
    "e0c7f3a9b2d4481f9a6c5e3b7d1f2a48",
    "5b8e1d4a7c0f3e6b9d2c5a8f1e4b7d0c",
    "a3f6c9e2b5d8401f7a4c1e8b5d2f9a6c",
    "0d3a6f9c2e5b8714a1d4c7f0e3b6a9d2",
    // res_users, res_users_settings
    "JBSWY3DPEHPK3PXPQM7V2RT9WMZC4NB6",
    "1//0gF7k2Lm9Tn4Rw8Zb3Vc6Js1Gf5EaYuCgYIARAAGBASNwF-L9Ir",
    "ya29.a0AfB_byK7mP3sL8wY1cF5hJ0gD9eU2iO7tB4nM8xQ",
    "CPjB9oGk0IEDEPjB9oGk0IEDGAUgk8Xv6gE=",
    "M.R3_BAY.-CRk2Lm9Tn4Rw8Zb3Vc6Js1Gf5EaYu0Kd7Ye4Wm9!Qx3Nf8*Marc",
    "ya29.a0AfB_byOAuthMarc7Lm2Tn8Rw4Zb6Hc1Js5Gf0Ea",
    "1//0gSettingsRt7Lm2Tn8Rw4Zb6Hc1Js5Gf0EaYuCgYIARAAGBASNwF",
    "ya29.a0AfB_bySettings3Vn7Rt2Wm9Zc4Nb6Hf1Js8Ga5",
    "CPjB9oGk0IEDEPjB9oGkSettings",
    "MSsync-Rt2Wm9Zc4Nb6Hf1Js8Ga5Ye0Ux3Kd7Lp2",
    // account_online_link, delivery_carrier, ir_act_server, mail_push_device
    "ofx-5e8b1d4a7c0f3e6b9d2c",
    "cons-7Lm2Tn8Rw4Zb6Hc1",
    "olink-at-9Zc4Nb6Hf1Js8Ga5Ye0Ux3",
    "olink-rt-Kd7Lp2Tn8Rw4Zb6Hc1Js5",
    "l7c3Kp2Lm7Tn3Rw9Zb4H",
    "FdxPw-8Rw4Zb6Hc1Js5Gf0E",
    "510087240",
    "119238426",
    "v62_AcmeSite77",
    "DhlPw-3Vn7Rt2Wm9Zc4N",
    "965269748",
    "Xq7pTnB2vWc9Lk3Rf8Hs1DyE",
    "tBHItJI5svbpez7KI4CCXg",
    "APA91bH7Lm2Tn8Rw4Zb6Hc1Js5Gf0EaYu",
    // integrations.webhooks, integrations.oauth_apps
    "sk_live_51HxQ3fIntegrationKp7Lm2Tn8Rw4Zb6Hc1Js5Gf0Ea",
    "whsec_Int3gr4t10nLm2Tn8Rw4Zb6Hc1Js5",
    "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",
    "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",
    "xoxb-2048-1337-Kx7Lm2Tn8Rw4Zb6Hc1Js5Gf0",
    "AWSsk/9Zc4Nb6Hf1Js8Ga5Ye0Ux3Kd7Lp2Tn8Rw4Zb6Hc",
    "MHcCAQEEIIrYSSNQFaA2Hwf1duRSxKtLYX5CB04fSeQ6tF1aY/PuoAoGCCqGSM49",
];

/// Loads [`SAMPLE_SQL`] into the database at `database_url` (which must exist).
pub async fn load_sample(database_url: &str) -> Result<()> {
    let mut conn = sqlx::PgConnection::connect(database_url).await.context("connecting to the sample database")?;
    sqlx::raw_sql(SAMPLE_SQL).execute(&mut conn).await.context("loading the Odoo-like sample data")?;
    conn.close().await.ok();
    Ok(())
}
