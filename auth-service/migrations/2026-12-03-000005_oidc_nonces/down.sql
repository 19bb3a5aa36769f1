DROP TABLE oidc_nonces_spent;
